#!/bin/bash
# The chain test of clustering: nine synthetic neurons of three known types,
# each type reading one conv1 channel of the BVLC AlexNet (three channels
# with different orientations) near the centre of the input, each neuron
# with its own positive weights over a 3 x 3 patch of positions.  Their
# readouts are built by hand in place of fitted ones, tuned (single-model
# DeepTune), embedded in the network's relu1 features and clustered: the
# three clusters must be the three types (ARI >= 0.9), for two linkages.
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
data=${DEEPTUNE_DATA:-../shared/data}
W=$data/weights/alexnet-bvlc-int8.h5
[ -f "$W" ] || { echo "SKIP: $W not found (set DEEPTUNE_DATA to the shared data directory)"; exit 0; }
tmp=${KEEP_TMP:-$(mktemp -d)}; mkdir -p $tmp; [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" "$data/v4-cowley2023/images_190925.zip" <<'PY'
import sys, os, zipfile, numpy as np
t, z = sys.argv[1], sys.argv[2]
os.makedirs(f"{t}/img", exist_ok=True)
with zipfile.ZipFile(z) as f:
    names = sorted(n for n in f.namelist() if n.lower().endswith((".jpg", ".png")))[:60]
    for i, n in enumerate(names):
        open(f"{t}/img/{i:03d}{os.path.splitext(n)[1]}", "wb").write(f.read(n))
np.save(f"{t}/resp.npy", np.random.default_rng(1).normal(size=(60, 9)))
PY
$DT import -q -i $tmp/img -r $tmp/resp.npy --resize 227x227 -o $tmp/d.h5 --force 2>/dev/null
$DT features -q -d $tmp/d.h5 --weights $W --layers relu1 -o $tmp/f.h5 --force 2>/dev/null
rm -f $tmp/r.h5
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer relu1 --folds 2 --nlambda 2 -o $tmp/r.h5 2>/dev/null
/usr/bin/python3 - "$tmp" "$W" <<'PY'
import sys, h5py, numpy as np
t, w = sys.argv[1], sys.argv[2]
Wc = h5py.File(w)["conv1/weight"][...]            # (96, 3, 11, 11), BGR
lum = Wc[:, ::-1].transpose(0, 2, 3, 1) @ np.array([0.299, 0.587, 0.114])
def orient(p):
    P = np.abs(np.fft.fft2(p - p.mean(), s=(64, 64))) ** 2
    P[0, 0] = 0
    fy, fx = np.unravel_index(P.argmax(), P.shape)
    fy, fx = (fy + 32) % 64 - 32, (fx + 32) % 64 - 32
    return np.degrees(np.arctan2(fy, fx)) % 180, P.max() / P.mean()
o = np.array([orient(f) for f in lum])
# the most oriented filter near each of 0, 60 and 120 degrees
types = []
for a in (0, 60, 120):
    d = np.minimum(np.abs(o[:, 0] - a), 180 - np.abs(o[:, 0] - a))
    types.append(int(np.argmax(np.where(d <= 20, o[:, 1], -1))))
r = np.random.default_rng(5)
g = h5py.File(f"{t}/r.h5", "a")["models"]["alexnet-caffe:relu1:ridge"]
Wr = np.zeros((9, 96, 55, 55))
for j in range(9):
    Wr[j, types[j % 3], 26:29, 26:29] = 1 + 0.5 * r.random((3, 3))
g["weights"][...] = Wr.reshape(9, -1)
g["intercepts"][...] = 0
print(f"types: conv1 channels {types} (orientations {[round(o[k, 0]) for k in types]} deg)")
PY
$DT tune -q -m $tmp/r.h5 --neurons all --inits 1 --steps 60 --consensus none -o $tmp/t.h5 --force 2>/dev/null
for link in average complete; do
  $DT cluster -q -t $tmp/t.h5 --k 3 --distance correlation --linkage $link -o $tmp/c-$link.h5 --force 2>/dev/null
done
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
from sklearn.metrics import adjusted_rand_score
t = sys.argv[1]
for link in ("average", "complete"):
    C = h5py.File(f"{t}/c-{link}.h5")
    assert C.attrs["embedding_layer"] == "relu1"
    lab, types = C["labels"][...], C["neurons"][...] % 3
    ari = adjusted_rand_score(types, lab)
    assert ari >= 0.9, (link, ari, lab)
    print(f"chain: 9 neurons of 3 planted conv1 types, tuned, embedded in relu1, {link} linkage: ARI {ari:.2f} (labels {lab.tolist()})")
PY
