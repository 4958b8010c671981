#!/usr/bin/python3
"""Write the fixtures of tests/test_tune.c into tests/fixtures/tune.

Independent reference: SciPy's gaussian_filter for the Gaussian blur that
`deeptune tune` applies to gradients (or images): the kernel exp(-i^2/2s^2)
normalised over |i| <= r with r = ceil(3 s) (truncate = r / s in SciPy),
borders reflected (SciPy's mode 'reflect': d c b a | a b c d), along height
and width but not across channels.

Usage: scripts/make-tune-fixtures.py
"""
import math
import os

import numpy as np
from scipy.ndimage import gaussian_filter

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "tests", "fixtures", "tune")
os.makedirs(out, exist_ok=True)

rng = np.random.default_rng(11)
# (height, width, channels, sigma): the default schedule's ends (1 and 0.5),
# a radius of most of the height (7 of 9), gray, a stimulus-sized image.
# Radii stay below the size: one reflection, where SciPy and deeptune agree
# (beyond it deeptune repeats the edge pixel).
cases = [(23, 17, 3, 1.0), (23, 17, 3, 0.5), (9, 30, 3, 2.3), (16, 12, 1, 0.8), (64, 48, 3, 1.0)]
for h, w, c, s in cases:
    x = rng.normal(0, 1, (h, w, c)).astype("<f4").astype(np.float64)  # the float32 the test reads
    r = math.ceil(3 * s)
    y = gaussian_filter(x, sigma=(s, s, 0), mode="reflect", truncate=r / s)
    name = f"blur_{h}x{w}x{c}_s{s:g}"
    np.save(os.path.join(out, name + "_in.npy"), x.astype("<f4"))
    np.save(os.path.join(out, name + "_out.npy"), y.astype("<f8"))
    print(name, "radius", r)
