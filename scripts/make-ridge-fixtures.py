#!/usr/bin/python3
"""Write tests/fixtures/ridge/sklearn.h5: scikit-learn's Ridge weights for a
grid of alphas and RidgeCV's per-target alpha (efficient leave-one-out), on a
small random problem with more features than stimuli, for tests/test_ridge.c.
"""
import os

import h5py
import numpy as np
import sklearn
from sklearn.linear_model import Ridge, RidgeCV

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "tests", "fixtures", "ridge")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(2018)
n, p, m = 40, 60, 4
X = (rng.normal(size=(n, p)) * (1 + np.arange(p) % 3) + 0.1 * np.arange(p)).astype(np.float32)
w = np.zeros((p, m))
w[:5] = rng.normal(size=(5, m))
Y = X.astype(np.float64) @ w + rng.normal(size=(n, m)) * np.array([1, 4, 8, 16]) + np.arange(m)
alphas = np.logspace(-2, 4, 13)
coef = np.zeros((len(alphas), m, p))
icpt = np.zeros((len(alphas), m))
for g, a in enumerate(alphas):
    r = Ridge(alpha=a, fit_intercept=True, solver="cholesky").fit(X.astype(np.float64), Y)
    coef[g], icpt[g] = r.coef_, r.intercept_
cv = RidgeCV(alphas=alphas, fit_intercept=True, alpha_per_target=True).fit(X.astype(np.float64), Y)
with h5py.File(os.path.join(out, "sklearn.h5"), "w") as f:
    f.attrs["sklearn_version"] = sklearn.__version__
    f.attrs["script"] = "scripts/make-ridge-fixtures.py"
    f["X"], f["Y"], f["alphas"] = X, Y, alphas
    f["coef"], f["intercept"] = coef, icpt
    f["ridgecv_alpha"] = np.asarray(cv.alpha_, dtype=np.float64)
print("RidgeCV alphas:", cv.alpha_)
