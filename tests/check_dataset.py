#!/usr/bin/python3
"""Check a deeptune dataset file against the truth written by
scripts/make-synthetic-session.py, reading both independently (h5py, NumPy).

  check_dataset.py FILE.h5 TRUTH.npz [parts...]

parts: stimuli responses trials split ids names=PREFIX
Exits 1 with a message on the first mismatch.
"""
import sys

import h5py
import numpy as np

path, truth_path, parts = sys.argv[1], sys.argv[2], sys.argv[3:]
t = np.load(truth_path)
f = h5py.File(path, "r")


def fail(msg):
    print(f"check_dataset: {path}: {msg}")
    sys.exit(1)


for key in ("format", "format_version", "deeptune_version", "command_line", "source_images"):
    if key not in f.attrs:
        fail(f"root attribute {key} missing")
if f.attrs["format"] != "deeptune-dataset" or f.attrs["format_version"] != 1:
    fail("wrong format attributes")
for p in parts:
    if p == "stimuli":
        s = f["stimuli"][...]
        if s.dtype != np.uint8 or s.shape != t["stimuli"].shape or not np.array_equal(s, t["stimuli"]):
            fail(f"stimuli differ: {s.dtype} {s.shape}")
    elif p == "responses":
        r = f["responses"][...]
        want = t["responses"]
        if r.shape != want.shape or not np.array_equal(np.isnan(r), np.isnan(want)):
            fail(f"responses shape/NaN pattern differ: {r.shape} vs {want.shape}")
        if not np.allclose(r[~np.isnan(r)], want[~np.isnan(want)], rtol=1e-6, atol=0):
            fail("responses values differ")
    elif p == "trials":
        r = f["trials"][...]
        want = t["trials"]
        if r.shape != want.shape or not np.array_equal(np.isnan(r), np.isnan(want)) or \
                not np.array_equal(r[~np.isnan(r)], want[~np.isnan(want)]):
            fail(f"trials differ: {r.shape} vs {want.shape}")
    elif p == "split":
        if not np.array_equal(f["split"][...], t["split"]):
            fail("split differs")
    elif p == "ids":
        ids = [x.decode() for x in f["neuron_ids"][...]]
        if ids != list(t["neuron_ids"]):
            fail(f"neuron ids differ: {ids}")
    elif p.startswith("names="):
        names = [x.decode() for x in f["stimulus_names"][...]]
        want = [p[6:] + n for n in t["names"]]
        if names != want:
            fail(f"stimulus names/order differ: {names[:4]}...")
    else:
        fail(f"unknown part {p}")
print(f"check_dataset: {path}: {' '.join(parts)} ok")
