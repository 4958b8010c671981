#!/usr/bin/python3
"""Time the peers of the C hierarchical clustering on raw vectors: SciPy's
scipy.cluster.hierarchy.linkage and, when importable, fastcluster.linkage
(and fastcluster.linkage_vector for ward), all with the euclidean metric.

Usage:
  scripts/bench-cluster-peer.py X.h5 [--methods average,ward] [--threads 2]
      [--save-z DIR]

X.h5 holds dataset X, float32 (n, d) (scripts/make-cluster-bench.py writes
one).  OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are set to --threads before
NumPy is imported.  Each (peer, method) runs once in a fresh process (the
script calls itself with --one PEER METHOD), so the peak resident memory is
that run's: it includes X as read (float32) and the float64 copy the peers
work on.  The timing covers the conversion to float64 and the linkage.
Prints one line per run:
  peer=scipy method=average seconds=6.53 peak_mb=512.3
With --save-z DIR, each linkage matrix is saved as DIR/{peer}-{method}.npy
(float64, (n-1, 4)) so the C benchmark can compare merge heights.
"""
import argparse
import importlib.util
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("x_h5")
ap.add_argument("--methods", default="average,ward")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--save-z", metavar="DIR")
ap.add_argument("--one", nargs=2, metavar=("PEER", "METHOD"), help=argparse.SUPPRESS)
a = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)

if a.one is None:
    # Parent: one child process per run.  NumPy is never imported here.
    methods = [m for m in a.methods.split(",") if m]
    peers = ["scipy"]
    if importlib.util.find_spec("fastcluster") is not None:
        peers += ["fastcluster", "fastcluster_vector"]
    else:
        print("bench-cluster-peer: fastcluster not importable; timing SciPy only", file=sys.stderr)
    if a.save_z:
        os.makedirs(a.save_z, exist_ok=True)
    failed = 0
    for method in methods:
        for peer in peers:
            if peer == "fastcluster_vector" and method != "ward":
                continue
            cmd = [sys.executable, os.path.abspath(__file__), a.x_h5,
                   "--threads", str(a.threads), "--one", peer, method]
            if a.save_z:
                cmd += ["--save-z", a.save_z]
            sys.stdout.flush()
            if subprocess.run(cmd).returncode != 0:
                print(f"bench-cluster-peer: peer={peer} method={method} failed", file=sys.stderr)
                failed = 1
    sys.exit(failed)

# Child: one peer, one method.
import resource
import time

import h5py
import numpy as np

peer, method = a.one
with h5py.File(a.x_h5, "r") as f:
    X = f["X"][()]
if X.ndim != 2:
    sys.exit(f"bench-cluster-peer: {a.x_h5}: X must be 2-D, got shape {X.shape}")

if peer == "scipy":
    import scipy
    from scipy.cluster.hierarchy import linkage
    version = scipy.__version__
elif peer in ("fastcluster", "fastcluster_vector"):
    import fastcluster
    version = fastcluster.__version__
    linkage = fastcluster.linkage if peer == "fastcluster" else fastcluster.linkage_vector
else:
    sys.exit(f"bench-cluster-peer: unknown peer {peer}")

t0 = time.perf_counter()
Z = linkage(X.astype(np.float64), method=method, metric="euclidean")
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

if a.save_z:
    np.save(os.path.join(a.save_z, f"{peer}-{method}.npy"), np.asarray(Z, dtype=np.float64))
print(f"peer={peer} method={method} seconds={seconds:.3f} peak_mb={peak_mb:.1f}", flush=True)
print(f"bench-cluster-peer: {peer} {version}, X {X.shape[0]}x{X.shape[1]}, threads {a.threads}",
      file=sys.stderr)
