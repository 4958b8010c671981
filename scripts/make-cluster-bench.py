#!/usr/bin/python3
"""Write a random clustering benchmark problem for scripts/bench-cluster-peer.py
and the C clustering benchmark: OUT.h5 with dataset X, float32 (N, D),
feature-like (non-negative, ReLU of a normal), with a few planted groups so
the tree is not built on pure noise.

Usage: scripts/make-cluster-bench.py N D OUT.h5 [--seed 7] [--groups 8]

Row i belongs to group labels[i] (stored as int32 "labels"); each group has
its own mean on a random tenth of the features, so X = max(0, mean + N(0,1)).
Attributes: seed, groups, script.  Written to OUT.h5.tmp and renamed.
"""
import argparse
import os

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("d", type=int)
ap.add_argument("out")
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--groups", type=int, default=8)
a = ap.parse_args()
if a.n < 2 or a.d < 1 or a.groups < 1:
    ap.error("need N >= 2, D >= 1, --groups >= 1")

rng = np.random.default_rng(a.seed)
means = np.zeros((a.groups, a.d), dtype=np.float32)
for g in range(a.groups):
    cols = rng.choice(a.d, size=max(1, a.d // 10), replace=False)
    means[g, cols] = rng.uniform(0.5, 1.5, size=cols.size)
labels = rng.integers(0, a.groups, size=a.n).astype(np.int32)

tmp = a.out + ".tmp"
os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
with h5py.File(tmp, "w") as f:
    f.attrs["script"] = "scripts/make-cluster-bench.py"
    f.attrs["seed"] = a.seed
    f.attrs["groups"] = a.groups
    X = f.create_dataset("X", shape=(a.n, a.d), dtype=np.float32)
    for i in range(0, a.n, 256):  # row chunks: never an N x D float64 array
        k = min(256, a.n - i)
        B = rng.standard_normal((k, a.d), dtype=np.float32) + means[labels[i:i + k]]
        X[i:i + k] = np.maximum(B, 0)
    f["labels"] = labels
os.replace(tmp, a.out)
print(f"make-cluster-bench: {a.out} X ({a.n}, {a.d}) float32, {a.groups} groups, seed {a.seed}")
