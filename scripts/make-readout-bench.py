#!/usr/bin/python3
"""Generate a synthetic neural-readout benchmark problem (AlexNet pool2 size
by default) as raw little-endian files, for timing readout fits against peers.

Usage:
  /usr/bin/python3 scripts/make-readout-bench.py OUTDIR [--n 4000] [--p 32448]
      [--m 71] [--k 20] [--seed 7] [--test-fraction 0.2]

Writes into OUTDIR:
  X.f32     float32 (n, p) row-major: features max(0, N(0,1)) (ReLU-like)
  W.f64     float64 (m, p): true weights, k nonzero N(0,1) per neuron
  Y.f64     float64 (n, m): X W^T + noise (variance = signal variance, so
            the best possible R^2 is 0.5) + 5.0
  test.u8   uint8 (n): 1 for the round(test_fraction*n) test stimuli
  meta.txt  "n p m k seed test_fraction"
Everything is written to OUTDIR.tmp and renamed at the end.  If OUTDIR
already holds a matching meta.txt, prints "up to date" and does nothing.
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("outdir")
ap.add_argument("--n", type=int, default=4000)
ap.add_argument("--p", type=int, default=32448)
ap.add_argument("--m", type=int, default=71)
ap.add_argument("--k", type=int, default=20)
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--test-fraction", type=float, default=0.2)
a = ap.parse_args()
n, p, m, k = a.n, a.p, a.m, a.k
meta = f"{n} {p} {m} {k} {a.seed} {a.test_fraction}\n"

out = a.outdir.rstrip("/")
try:
    with open(os.path.join(out, "meta.txt")) as f:
        if f.read() == meta:
            print("up to date")
            sys.exit(0)
except OSError:
    # Never replace a directory that is not a benchmark problem.
    if os.path.isdir(out) and os.listdir(out):
        sys.exit(f"make-readout-bench: {out} exists and has no meta.txt; not touching it")

t0 = time.perf_counter()
tmp = out + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)  # leftovers of an interrupted run
os.makedirs(tmp)
rng = np.random.default_rng(a.seed)

# True weights: k distinct features per neuron, N(0,1) weights.
W = np.zeros((m, p))
for j in range(m):
    W[j, rng.choice(p, size=k, replace=False)] = rng.standard_normal(k)
W.astype("<f8").tofile(os.path.join(tmp, "W.f64"))

# Features in row chunks (float32, never a float64 n x p array); the noiseless
# signal S = X W^T is accumulated in float64 from the stored float32 values.
S = np.empty((n, m))
chunk = 256
with open(os.path.join(tmp, "X.f32"), "wb") as fx:
    for i in range(0, n, chunk):
        Xc = rng.standard_normal((min(chunk, n - i), p), dtype=np.float32)
        np.maximum(Xc, 0, out=Xc)
        Xc.astype("<f4", copy=False).tofile(fx)
        S[i:i + len(Xc)] = Xc.astype(np.float64) @ W.T

# Noise with the signal's variance per neuron (best R^2 = 0.5), offset 5.
Y = S + rng.standard_normal((n, m)) * S.std(axis=0) + 5.0
Y.astype("<f8").tofile(os.path.join(tmp, "Y.f64"))

test = np.zeros(n, dtype=np.uint8)
test[rng.choice(n, size=int(round(a.test_fraction * n)), replace=False)] = 1
test.tofile(os.path.join(tmp, "test.u8"))

with open(os.path.join(tmp, "meta.txt"), "w") as f:
    f.write(meta)
shutil.rmtree(out, ignore_errors=True)  # stale problem (or empty dir)
os.rename(tmp, out)
print(f"make-readout-bench: {out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
