#!/usr/bin/python3
"""Time scikit-learn RidgeCV (generalized CV, one alpha for all neurons) on a
readout benchmark problem written by scripts/make-readout-bench.py.

Usage:
  OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 \
      /usr/bin/python3 scripts/bench-ridge-peer.py OUTDIR

Alphas: np.logspace(-3, 3, 10) times trace(Xc Xc^T)/n_train (the mean squared
norm of a column-centred training stimulus).  Only the fit is timed.  Prints
one JSON line: peer, version, seconds, alpha, median_r, r (per-neuron Pearson
r on the test rows), peak_rss_mb, x_mb.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import sklearn
from sklearn.linear_model import RidgeCV

d = sys.argv[1]
n, p, m = (int(v) for v in open(os.path.join(d, "meta.txt")).read().split()[:3])
X = np.memmap(os.path.join(d, "X.f32"), dtype="<f4", mode="r", shape=(n, p))
Y = np.fromfile(os.path.join(d, "Y.f64"), dtype="<f8").reshape(n, m)
test = np.fromfile(os.path.join(d, "test.u8"), dtype=np.uint8).astype(bool)

Xtr, Ytr = np.ascontiguousarray(X[~test]), Y[~test]  # float32, in memory
ntr = len(Xtr)

# Alpha scale: trace(Xc Xc^T)/n_train = sum of squared centred entries / n_train,
# in float64 over column blocks (untimed).
ss = 0.0
for j in range(0, p, 4096):
    B = Xtr[:, j:j + 4096].astype(np.float64)
    ss += ((B - B.mean(axis=0)) ** 2).sum()
alphas = np.logspace(-3, 3, 10) * ss / ntr

t0 = time.perf_counter()
model = RidgeCV(alphas=alphas, fit_intercept=True).fit(Xtr, Ytr)
seconds = time.perf_counter() - t0

pred = model.predict(np.asarray(X[test]))
Yte = Y[test]
pc, yc = pred - pred.mean(axis=0), Yte - Yte.mean(axis=0)
r = (pc * yc).sum(axis=0) / np.sqrt((pc ** 2).sum(axis=0) * (yc ** 2).sum(axis=0))

print(json.dumps({
    "peer": "sklearn RidgeCV",
    "version": sklearn.__version__,
    "seconds": seconds,
    "alpha": float(model.alpha_),
    "median_r": float(np.median(r)),
    "r": [float(v) for v in r],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "x_mb": X.nbytes / 2**20,
}))
