#!/bin/bash
# scripts/pth-to-h5.py on a torchvision AlexNet saved with random weights:
# the converted network, run by `deeptune features` and `deeptune classify`,
# must reproduce torchvision's own outputs.
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import sys, numpy as np, torch, torchvision
from PIL import Image
tmp = sys.argv[1]
torch.manual_seed(0)
m = torchvision.models.alexnet(weights=None).eval()
torch.save(m.state_dict(), f"{tmp}/alexnet.pth")
rng = np.random.default_rng(1)
import os; os.makedirs(f"{tmp}/img")
imgs = []
for i in range(3):
    a = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    Image.fromarray(a).save(f"{tmp}/img/s{i + 1}.png"); imgs.append(a)
np.save(f"{tmp}/resp.npy", rng.normal(size=(3, 2)))
x = torch.tensor(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
with torch.no_grad():
    np.save(f"{tmp}/ref_features12.npy", m.features(x).numpy())
    np.save(f"{tmp}/ref_logits.npy", m(x).numpy())
PY
scripts/pth-to-h5.py $tmp/alexnet.pth $tmp/alexnet.h5
# refuses to overwrite
if scripts/pth-to-h5.py $tmp/alexnet.pth $tmp/alexnet.h5 2>/dev/null; then echo "overwrote"; exit 1; fi
$DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/ds.h5 2>/dev/null
$DT features -q -d $tmp/ds.h5 --weights $tmp/alexnet.h5 --layers features.12,classifier.6 -o $tmp/f.h5 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
tmp = sys.argv[1]
f = h5py.File(f"{tmp}/f.h5")
for name, ref in (("features.12", "ref_features12"), ("classifier.6", "ref_logits")):
    ours, want = f["features"][name][...], np.load(f"{tmp}/{ref}.npy")
    assert ours.shape == want.shape, (name, ours.shape, want.shape)
    err = np.abs(ours - want).max() / np.abs(want).max()
    # float32 on both sides, different summation orders over ~9k-term dot products
    assert err < 1e-4, (name, err)
    print(f"{name}: {ours.shape}, max error {err:.2e} of max|ref|")
PY
# classify: same top class as torchvision's logits, labels absent -> "class N"
$DT classify --weights $tmp/alexnet.h5 --geometry whole --top 1 $tmp/img/s1.png > $tmp/cls 2>/dev/null
want=$(/usr/bin/python3 -c "import numpy as np; print(int(np.load('$tmp/ref_logits.npy')[0].argmax()))")
grep -q "class $want" $tmp/cls || { cat $tmp/cls; echo "classify top-1 differs from torchvision ($want)"; exit 1; }
echo "cli_convert ok"
