#!/bin/bash
# deeptune features end to end against PyTorch: the alexnet-bvlc fixture's
# two photos (recovered exactly as 8-bit 227x227 images from its /input) go
# through import and features, and the activations must match the fixture's.
# Then the three shared networks on V4 stimuli, and the CNN bad-input cases.
set -u
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
data=${DEEPTUNE_DATA:-../shared/data}
if [ ! -d "$data/weights" ]; then echo "SKIP cli_features: $data/weights is absent (set DEEPTUNE_DATA)"; exit 0; fi
W=$data/weights
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
set -e
/usr/bin/python3 - "$tmp" <<'PY'
import sys, os, h5py, numpy as np
from PIL import Image
tmp = sys.argv[1]
f = h5py.File("tests/fixtures/cnn/alexnet-bvlc.h5")
x = f["input"][...]                                   # (2, 3, 227, 227) BGR minus (104, 117, 123)
rgb = x[:, ::-1] + np.array([123, 117, 104], np.float32).reshape(1, 3, 1, 1)
img = np.rint(rgb).astype(np.uint8).transpose(0, 2, 3, 1)
assert np.abs(rgb - np.rint(rgb)).max() < 1e-3          # the input was made from 8-bit pixels
os.makedirs(f"{tmp}/img")
for i in range(2):
    Image.fromarray(img[i]).save(f"{tmp}/img/p{i}.png")
np.save(f"{tmp}/resp.npy", np.zeros((2, 1)))
PY
$DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/ds.h5 2>/dev/null
$DT features -q -d $tmp/ds.h5 --weights $W/alexnet-bvlc-int8.h5 --layers conv1,norm1,pool2,conv5,pool5 -o $tmp/f.h5 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
tmp = sys.argv[1]
ref = h5py.File("tests/fixtures/cnn/alexnet-bvlc.h5")
f = h5py.File(f"{tmp}/f.h5")
assert f.attrs["format"] == "deeptune-features" and f.attrs["network"] == "alexnet-caffe"
for key in ("weights_sha256", "dataset_sha256", "network_spec", "preprocessing", "command_line"):
    assert key in f.attrs, key
for name in ("conv1", "norm1", "pool2", "conv5", "pool5"):
    ours = f["features"][name][...]
    g = ref["act"][name]
    assert ours.shape[1:] == tuple(g.attrs["shape"]), (name, ours.shape)
    flat = ours.reshape(2, -1)[:, g["index"][...]]
    err = np.abs(flat - g["value"][...]).max() / g.attrs["max_abs"].max()
    assert err < 1e-4, (name, err)        # float32 both sides (see tests/test_cnn.c)
    print(f"features {name}: {ours.shape}, max error {err:.1e} of max|a| vs PyTorch")
PY
$DT inspect $tmp/f.h5 | grep -q "features    pool2 .*2 x 256 x 13 x 13"

# the three shared networks on 40 V4 stimuli
if [ -d "$data/v4-cowley2023" ]; then
  /usr/bin/python3 - "$data/v4-cowley2023/images_210305.zip" "$tmp/v4" <<'PY'
import sys, zipfile, os, numpy as np
z = zipfile.ZipFile(sys.argv[1]); os.makedirs(sys.argv[2])
for i in range(1, 41):
    open(f"{sys.argv[2]}/image{i:04d}.jpg", "wb").write(z.read(f"image{i:04d}.jpg"))
np.save(sys.argv[2] + "/../v4resp.npy", np.load(sys.argv[1].replace("images_", "responses_").replace(".zip", ".npy"))[:, :40])
PY
  $DT import -q -i $tmp/v4 -r $tmp/v4resp.npy -o $tmp/v4.h5 2>/dev/null
  $DT features -q -d $tmp/v4.h5 --weights $W/alexnet-bvlc-int8.h5 --layers pool2 -o $tmp/fa.h5 2>/dev/null
  $DT features -q -d $tmp/v4.h5 --weights $W/alexnet-uoguelph.h5 --layers pool2 -o $tmp/fu.h5 2>/dev/null
  $DT features -q -d $tmp/v4.h5 --weights $W/googlenet-bvlc.h5 --layers inception_3a/output,inception_4a/output -o $tmp/fg.h5 2>/dev/null
  /usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
for fn, name, shape in (("fa", "pool2", (40, 256, 13, 13)), ("fu", "pool2", (40, 256, 13, 13)),
                        ("fg", "inception_4a/output", (40, 512, 14, 14))):
    a = h5py.File(f"{t}/{fn}.h5")["features"][name][...]
    assert a.shape == shape and np.isfinite(a).all() and (a > 0).mean() > 0.05, (fn, a.shape)
    print(f"V4 {fn} {name}: {a.shape}, {100 * (a > 0).mean():.0f}% positive")
# the two AlexNets are different networks: their pool2 features differ
a = h5py.File(f"{t}/fa.h5")["features"]["pool2"][...].reshape(40, -1)
u = h5py.File(f"{t}/fu.h5")["features"]["pool2"][...].reshape(40, -1)
assert np.abs(np.corrcoef(a.mean(1), u.mean(1))[0, 1]) < 0.999
PY
else
  echo "SKIP cli_features (V4 part): $data/v4-cowley2023 is absent"
fi

# bad input: one error line naming the problem, non-zero exit, no output
set +e
. tests/lib.sh
expect() { local name=$1 needle=$2; shift 3; expect_error "$name" "$needle" $tmp/out.h5 -- "$@"; }
/usr/bin/python3 - "$tmp" "$W" <<'PY'
import sys, h5py, numpy as np, shutil
t, W = sys.argv[1:]
shutil.copy(f"{W}/alexnet-bvlc-int8.h5", f"{t}/nan.h5")
with h5py.File(f"{t}/nan.h5", "r+") as f:
    w = f["conv3/weight"][...]; w[5, 1, 1, 1] = np.nan; f["conv3/weight"][...] = w
with h5py.File(f"{t}/wrong.h5", "w") as f:      # torchvision-sized conv1 labelled as Caffe AlexNet
    for k, v in h5py.File(f"{W}/alexnet-bvlc-int8.h5").attrs.items(): f.attrs[k] = v
    f["conv1/weight"] = np.zeros((64, 3, 11, 11), np.float32); f["conv1/bias"] = np.zeros(64, np.float32)
from PIL import Image
import os; os.makedirs(f"{t}/small")
for i in range(2): Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(f"{t}/small/s{i}.png")
np.save(f"{t}/small.npy", np.zeros((2, 1)))
PY
$DT import -q -i $tmp/small -r $tmp/small.npy -o $tmp/small.h5 2>/dev/null
expect "wrong architecture" "layer conv1: weight should be 96x3x11x11 for this architecture but is 64x3x11x11" -- \
  $DT features -q -d $tmp/ds.h5 --weights $tmp/wrong.h5 --layers pool1
expect "missing layer" "no weights for layer fc6, which fc7 needs; this file supports layers up to pool5" -- \
  $DT features -q -d $tmp/ds.h5 --weights $W/alexnet-bvlc-int8.h5 --layers pool2,fc7
expect "NaN in weights" "layer conv3: weight has a non-finite value (NaN)" -- \
  $DT features -q -d $tmp/ds.h5 --weights $tmp/nan.h5 --layers conv5
expect "unknown layer" "no layer 'pool9' in alexnet-caffe; its layers are: conv1, relu1, norm1, pool1" -- \
  $DT features -q -d $tmp/ds.h5 --weights $W/alexnet-bvlc-int8.h5 --layers pool9
expect "stimulus too small" "input 40x40 is too small for alexnet-caffe (layer pool5 would be empty); the smallest input is 55x55" -- \
  $DT features -q -d $tmp/small.h5 --weights $W/alexnet-bvlc-int8.h5 --layers pool5 --geometry native
expect "not a weight file" "no 'input_size' attribute" -- \
  $DT features -q -d $tmp/ds.h5 --weights $tmp/ds.h5 --layers pool5
echo "$fails failures"
[ $fails -eq 0 ] && echo "cli_features ok"
