#!/usr/bin/python3
"""Check an imported V4 session against the shared files, read independently:
responses with NumPy from the .npy (neurons x images; column i is image i+1),
stimuli decoded by PIL from the zip in natural name order.

  check_v4.py DATASET.h5 images_S.zip responses_S.npy NEURONS IMAGES
"""
import hashlib
import io
import re
import sys
import zipfile

import h5py
import numpy as np
from PIL import Image

path, zpath, rpath, m, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
f = h5py.File(path, "r")
resp = np.load(rpath)
assert resp.shape == (m, n), (resp.shape, m, n)           # the README's table
r = f["responses"][...]
assert r.shape == (n, m) and r.dtype == np.float64, (r.shape, r.dtype)
assert np.array_equal(r, resp.T), "responses differ from the .npy"
sums = (float(np.sum(resp)), hashlib.sha256(np.ascontiguousarray(resp.T).tobytes()).hexdigest()[:16])

z = zipfile.ZipFile(zpath)
names = [x for x in z.namelist() if x.lower().endswith((".jpg", ".jpeg", ".png")) and not x.endswith("/")]
key = lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]
names.sort(key=key)
assert len(names) == n
# image0001.jpg is stimulus 0: the numbers must run 1..n in order
nums = [int(re.findall(r"(\d+)\.jpe?g$", x)[0]) for x in names]
assert nums == list(range(1, n + 1)), "images are not numbered 1..N"
stored = [x.decode() for x in f["stimulus_names"][...]]
assert stored == names, "stimulus names/order differ"
s = f["stimuli"]
assert s.shape == (n, 112, 112, 3) and s.dtype == np.uint8, (s.shape, s.dtype)
h = hashlib.sha256()
for i, name in enumerate(names):
    a = np.asarray(Image.open(io.BytesIO(z.read(name))).convert("RGB"))
    b = s[i]
    if not np.array_equal(a, b):
        sys.exit(f"{path}: stimulus {i} ({name}) differs from PIL's decoding")
    h.update(a.tobytes())
print(f"{path}: {n} images x {m} neurons; responses sum {sums[0]:.6f} sha256 {sums[1]}; stimuli sha256 {h.hexdigest()[:16]}")
