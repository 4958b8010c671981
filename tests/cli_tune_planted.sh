#!/bin/bash
# A planted neuron: a readout built by hand that reads one conv1 unit of the
# BVLC AlexNet (after its ReLU) at the centre of the input, put in place of
# a fitted readout.  Its DeepTune image must drive the unit to within 10% of
# the largest value any image in 0..255 can give it (known in closed form
# for a linear-ReLU unit), far above every natural stimulus (1.5 times the
# best of 100 V4 stimuli), and the image
# at the unit's receptive field must carry the filter's preference: the
# orientation of the most oriented (Gabor-like) conv1 filter, and a high
# correlation with the filter itself (the optimal stimulus of a linear-ReLU
# unit under a norm bound).
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
data=${DEEPTUNE_DATA:-../shared/data}
W=$data/weights/alexnet-bvlc-int8.h5
[ -f "$W" ] || { echo "SKIP: $W not found (set DEEPTUNE_DATA to the shared data directory)"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" "$data/v4-cowley2023/images_190925.zip" <<'PY'
import sys, os, zipfile, numpy as np
t, z = sys.argv[1], sys.argv[2]
os.makedirs(f"{t}/img")
with zipfile.ZipFile(z) as f:
    names = sorted(n for n in f.namelist() if n.lower().endswith((".jpg", ".png")))[:100]
    for i, n in enumerate(names):
        open(f"{t}/img/{i:03d}{os.path.splitext(n)[1]}", "wb").write(f.read(n))
np.save(f"{t}/resp.npy", np.random.default_rng(1).normal(size=(100, 2)))
PY
# 227 x 227 stimuli: the network sees them without resampling
$DT import -q -i $tmp/img -r $tmp/resp.npy --resize 227x227 -o $tmp/d.h5 2>/dev/null
$DT features -q -d $tmp/d.h5 --weights $W --layers relu1 -o $tmp/f.h5 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer relu1 --folds 2 --nlambda 2 -o $tmp/r.h5 2>/dev/null
/usr/bin/python3 - "$tmp" "$W" <<'PY'
import sys, h5py, numpy as np
t, w = sys.argv[1], sys.argv[2]
Wc = h5py.File(w)["conv1/weight"][...]            # (96, 3, 11, 11), BGR
lum = Wc[:, ::-1].transpose(0, 2, 3, 1) @ np.array([0.299, 0.587, 0.114])   # RGB luminance filters
def orient(p):
    P = np.abs(np.fft.fft2(p - p.mean(), s=(64, 64))) ** 2
    P[0, 0] = 0
    fy, fx = np.unravel_index(P.argmax(), P.shape)
    fy, fx = (fy + 32) % 64 - 32, (fx + 32) % 64 - 32
    return np.degrees(np.arctan2(fy, fx)) % 180, P.max() / P.mean()
scores = [orient(f)[1] for f in lum]
k = int(np.argmax(scores))
# and the most oriented oblique one
obl = [i for i in range(96) if 30 <= orient(lum[i])[0] <= 60 or 120 <= orient(lum[i])[0] <= 150]
k2 = max(obl, key=lambda i: scores[i])
np.save(f"{t}/k.npy", np.array([k, k2]))
g = h5py.File(f"{t}/r.h5", "a")["models"]["alexnet-caffe:relu1:ridge"]
W = np.zeros(g["weights"].shape)
W[0, (k * 55 + 27) * 55 + 27] = 1.0                  # unit (k, 27, 27): input rows/cols 108..118
W[1, (k2 * 55 + 27) * 55 + 27] = 1.0
g["weights"][...] = W
g["intercepts"][...] = 0
print(f"planted: conv1 channels {k} and {k2} (orientations {orient(lum[k])[0]:.0f} and {orient(lum[k2])[0]:.0f} deg) at the centre")
PY
$DT tune -q -m $tmp/r.h5 --neurons 0,1 --inits 2 --steps 150 --consensus none -o $tmp/t.h5 2>/dev/null
/usr/bin/python3 - "$tmp" "$W" <<'PY'
import sys, h5py, numpy as np
t, w = sys.argv[1], sys.argv[2]
for j, k in enumerate(np.load(f"{t}/k.npy")):
  nat = h5py.File(f"{t}/f.h5")["features"]["relu1"][:, k, 27, 27]
  g = h5py.File(f"{t}/t.h5")["neurons"][str(j)]
  pred, img = g["predicted"][0, :, 0], g["images"][0]
  Wc = h5py.File(w)["conv1/weight"][k][::-1].transpose(1, 2, 0)      # (11, 11, 3) RGB
  b = float(h5py.File(w)["conv1/bias"][k])
  mean = np.array([123.0, 117.0, 104.0])                                # RGB
  best = b + (np.where(Wc > 0, Wc * (255 - mean), Wc * (0 - mean))).sum()
  assert (pred > 0.9 * best).all() and (pred > 1.5 * nat.max()).all(), (pred, best, nat.max())
  def orient(p):   # power-weighted mean orientation of the spectrum (doubled angles)
    P = np.abs(np.fft.fft2(p - p.mean(), s=(64, 64))) ** 2
    f = np.fft.fftfreq(64)
    phi = np.arctan2(*np.meshgrid(f, f, indexing="ij"))
    return np.degrees(0.5 * np.arctan2((P * np.sin(2 * phi)).sum(), (P * np.cos(2 * phi)).sum())) % 180
  lumw = lambda a: a @ np.array([0.299, 0.587, 0.114])
  for i in range(2):
    patch = img[i, 108:119, 108:119]
    c = np.corrcoef(patch.ravel(), Wc.ravel())[0, 1]
    d = abs(orient(lumw(patch)) - orient(lumw(Wc)))
    d = min(d, 180 - d)
    assert c > 0.8 and d <= 15, (j, i, c, d)
    print(f"channel {k} init {i}: unit {pred[i]:.0f} (largest possible {best:.0f}, best natural {nat.max():.0f}); "
          f"patch-filter correlation {c:.2f}; orientation {orient(lumw(patch)):.0f} deg, filter {orient(lumw(Wc)):.0f} deg")
PY
