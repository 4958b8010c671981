#!/usr/bin/python3
"""Write tests/fixtures/cluster/scipy.h5: SciPy's hierarchical clustering
(scipy.cluster.hierarchy) and scikit-learn's adjusted Rand index on random
data, for tests/test_cluster.c.

Layout (all float64 unless said):
  /{case}/X                          float32 (n, d); case small (40, 7), medium (300, 50)
  /{case}/{metric}/pdist             condensed distances of X, metric in
                                     euclidean, cosine, correlation
  /{case}/{metric}/{method}/Z        linkage (n-1, 4); method in single,
                                     complete, average, and ward (euclidean only)
  /{case}/{metric}/{method}/coph_corr  cophenetic correlation (scalar)
  /{case}/{metric}/{method}/coph     condensed cophenetic distances
  /{case}/{metric}/{method}/leaves   int32 (n,) leaves_list(Z)
  /{case}/{metric}/{method}/cut      int32 (5, n) cut_tree labels, row i for i+2 clusters
  /ari/a, /ari/b                     int32 (10, 200) labelings
  /ari/value                         (10,) adjusted_rand_score(a[i], b[i])

The data are continuous random values, and every linkage's merge heights are
checked to be distinct (the C test relies on a tree without ties); a case
whose data give a tie is redrawn with the next seed, and the seed used is kept
in the case's "seed" attribute.
"""
import os

import h5py
import numpy as np
import scipy
import sklearn
from scipy.cluster.hierarchy import cophenet, cut_tree, leaves_list, linkage
from scipy.spatial.distance import pdist
from sklearn.metrics import adjusted_rand_score

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "tests", "fixtures", "cluster")
os.makedirs(out, exist_ok=True)

CASES = (("small", 40, 7, 2018), ("medium", 300, 50, 2019))
METRICS = ("euclidean", "cosine", "correlation")
METHODS = ("single", "complete", "average", "ward")
KS = (2, 3, 4, 5, 6)


def draw(n, d, seed):
    rng = np.random.default_rng(seed)
    scale = np.array([1.0, 2.0, 0.5])[np.arange(d) % 3]
    offset = 0.3 * np.arange(d) / d
    return (rng.normal(size=(n, d)) * scale + offset).astype(np.float32)


def cluster(X):
    """Every reference for one data matrix, or None if some tree has a tie."""
    n = X.shape[0]
    X64 = X.astype(np.float64)
    res = {}
    for metric in METRICS:
        D = pdist(X64, metric)
        res[metric] = {"pdist": D}
        for method in METHODS:
            if method == "ward" and metric != "euclidean":
                continue
            Z = linkage(D, method)
            if method == "ward":
                assert np.array_equal(Z, linkage(X64, "ward")), \
                    "ward from vectors differs from ward on the euclidean pdist"
            if len(np.unique(Z[:, 2])) != n - 1:
                return None
            c, coph = cophenet(Z, D)
            assert np.array_equal(coph, cophenet(Z))
            cut = cut_tree(Z, n_clusters=list(KS)).T.astype(np.int32)
            for i, k in enumerate(KS):
                assert len(np.unique(cut[i])) == k
            res[metric][method] = {
                "Z": Z, "coph_corr": np.float64(c), "coph": coph,
                "leaves": leaves_list(Z).astype(np.int32), "cut": cut}
    return res


def labelings(rng, pairs=10, m=200):
    a = np.zeros((pairs, m), dtype=np.int32)
    b = np.zeros((pairs, m), dtype=np.int32)
    for i in range(pairs):
        ka = 2 + i % 7
        a[i] = rng.integers(0, ka, size=m)
        if i % 2 == 0:           # similar: a copy of a with 20% of entries redrawn
            b[i] = a[i]
            idx = rng.choice(m, size=m // 5, replace=False)
            b[i, idx] = rng.integers(0, ka, size=idx.size)
        else:                    # independent, with its own number of labels
            b[i] = rng.integers(0, 2 + (3 * i) % 7, size=m)
    return a, b


# Byte shuffling helps the distances (all distinct) but not the cophenetic
# distances (n - 1 distinct values, repeated: plain deflate finds them).
gz = dict(compression="gzip", compression_opts=9, shuffle=True)
gz_plain = dict(compression="gzip", compression_opts=9)
with h5py.File(os.path.join(out, "scipy.h5"), "w") as f:
    f.attrs["script"] = "scripts/make-cluster-fixtures.py"
    f.attrs["scipy_version"] = scipy.__version__
    f.attrs["sklearn_version"] = sklearn.__version__
    f.attrs["numpy_version"] = np.__version__
    for case, n, d, seed in CASES:
        for attempt in range(100):
            X = draw(n, d, seed + 10000 * attempt)
            res = cluster(X)
            if res is not None:
                break
        else:
            raise SystemExit(f"{case}: no seed without ties in 100 attempts")
        g = f.create_group(case)
        g.attrs["seed"] = seed + 10000 * attempt
        g.create_dataset("X", data=X, **gz)
        for metric, r in res.items():
            gm = g.create_group(metric)
            gm.create_dataset("pdist", data=r.pop("pdist"), **gz)
            for method, v in r.items():
                gk = gm.create_group(method)
                gk["coph_corr"] = v.pop("coph_corr")
                for name, arr in v.items():
                    gk.create_dataset(name, data=arr, **(gz_plain if name == "coph" else gz))
                print(f"{case:6s} n={n:3d} d={d:2d} seed={g.attrs['seed']} {metric:11s} {method:8s} "
                      f"coph_corr={gk['coph_corr'][()]:.4f} top height={v['Z'][-1, 2]:.4f}")
    a, b = labelings(np.random.default_rng(2020))
    value = np.array([adjusted_rand_score(a[i], b[i]) for i in range(len(a))])
    ga = f.create_group("ari")
    ga["a"], ga["b"], ga["value"] = a, b, value
    print("ARI:", np.round(value, 4))
print("wrote", os.path.join(out, "scipy.h5"),
      os.path.getsize(os.path.join(out, "scipy.h5")), "bytes")
