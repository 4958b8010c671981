#!/usr/bin/python3
"""Write the fixtures of the I/O tests (tests/test_io.c) into tests/fixtures/io.

Independent references: NumPy writes the .npy files, Python's zipfile the
archives, PIL decodes, resizes and converts the shared photographs.

Usage: scripts/make-io-fixtures.py [DATA_DIR]   (default ../shared/data)
"""
import hashlib
import io
import os
import sys
import zipfile

import numpy as np
from PIL import Image

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
data = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DEEPTUNE_DATA", os.path.join(root, "..", "shared", "data"))
out = os.path.join(root, "tests", "fixtures", "io")
os.makedirs(out, exist_ok=True)

# .npy in every supported dtype / order.  Value at C index (i, j[, k]) is
# v = i*100 + j*10 + k - 7 (negative values only for signed types).
def grid(shape, signed=True):
    idx = np.indices(shape)
    v = idx[0] * 100 + idx[1] * 10 + (idx[2] if len(shape) > 2 else 0)
    return v - 7 if signed else v

np.save(os.path.join(out, "f4_c.npy"), grid((3, 4)).astype("<f4"))
np.save(os.path.join(out, "f8_fortran.npy"), np.asfortranarray(grid((3, 4)).astype("<f8")))
np.save(os.path.join(out, "i2_big.npy"), grid((3, 4)).astype(">i2"))
np.save(os.path.join(out, "u1.npy"), grid((3, 4), signed=False).astype("u1"))
np.save(os.path.join(out, "i8_3d_fortran.npy"), np.asfortranarray(grid((2, 3, 4)).astype("<i8")))
np.save(os.path.join(out, "bool.npy"), (grid((3, 4), signed=False) // 10) % 2 == 1)  # True where j is odd
np.save(os.path.join(out, "c16.npy"), np.zeros((2, 2), dtype=np.complex128))
np.save(os.path.join(out, "str.npy"), np.array(["a", "b"]))
with open(os.path.join(out, "f8_c.npy"), "wb") as f:            # format version 2.0
    np.lib.format.write_array(f, grid((3, 4)).astype("<f8"), version=(2, 0))

# A stored (uncompressed) zip with images in a folder, a macOS metadata
# entry and a non-image file; names chosen so natural and plain sort differ.
buf = io.BytesIO()
rng = np.random.default_rng(7)
with zipfile.ZipFile(os.path.join(out, "stored.zip"), "w", compression=zipfile.ZIP_STORED) as z:
    for k in (10, 2, 1):
        im = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
        b = io.BytesIO()
        im.save(b, format="PNG")
        z.writestr(f"stim/img{k}.png", b.getvalue())
    z.writestr("__MACOSX/stim/._img1.png", b"junk")
    z.writestr("stim/readme.txt", b"not an image")

# Decoded photographs: size, channels and sha256 of the raw pixels as PIL
# gives them (Debian's PIL uses the same libjpeg-turbo and libpng).
rows = []
for name in sorted(os.listdir(os.path.join(data, "images"))):
    im = Image.open(os.path.join(data, "images", name))
    im = im.convert("L" if im.mode in ("L", "I;16", "1") else "RGB")
    a = np.asarray(im)
    c = 1 if a.ndim == 2 else 3
    rows.append(f"{name},{a.shape[1]},{a.shape[0]},{c},{hashlib.sha256(a.tobytes()).hexdigest()}")
with open(os.path.join(out, "photos.csv"), "w") as f:
    f.write("file,width,height,channels,sha256\n" + "\n".join(rows) + "\n")

# Resampling and gray conversion references.
ast = Image.open(os.path.join(data, "images", "astronaut.png")).convert("RGB")
np.save(os.path.join(out, "astronaut_57x43_bilinear.npy"), np.asarray(ast.resize((57, 43), Image.BILINEAR)))
small = ast.resize((20, 15), Image.BILINEAR)
np.save(os.path.join(out, "astronaut_20x15.npy"), np.asarray(small))
np.save(os.path.join(out, "astronaut_20x15_up_47x31_bilinear.npy"), np.asarray(small.resize((47, 31), Image.BILINEAR)))
np.save(os.path.join(out, "astronaut_20x15_gray.npy"), np.asarray(small.convert("L")))
print("wrote", out)
