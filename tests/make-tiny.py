#!/usr/bin/python3
"""The tiny test session of the command-line tests: N random 16x16 RGB
stimuli (DIR/img/s000.png ...), zero responses for M neurons (DIR/zero.npy,
to be replaced by each test's own), and random weights for the tiny network
of tests/fixtures/tiny.spec (DIR/tiny.h5), all from one seeded generator.

Usage: tests/make-tiny.py DIR N SEED M
"""
import os
import sys

import h5py
import numpy as np
from PIL import Image

t, n, seed, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = np.random.default_rng(seed)
os.makedirs(f"{t}/img")
for i in range(n):
    Image.fromarray(r.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(f"{t}/img/s{i:03d}.png")
np.save(f"{t}/zero.npy", np.zeros((n, m)))
with h5py.File(f"{t}/tiny.h5", "w") as f:
    f.attrs["architecture"] = "tiny-test"
    f.attrs["input_size"] = 16
    for name, shape in (("c1", (4, 3, 3, 3)), ("c2a", (3, 4, 1, 1)), ("c2b", (2, 2, 3, 3)), ("f1", (5, 80))):
        f[name + "/weight"] = r.normal(size=shape).astype(np.float32)
        f[name + "/bias"] = r.normal(size=shape[0]).astype(np.float32)
