#!/bin/bash
# deeptune import / inspect on a synthetic session, in every input form, with
# the contents checked independently by tests/check_dataset.py.
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts/make-synthetic-session.py "$tmp/s" 3
s=$tmp/s; chk="tests/check_dataset.py"

# directory + .npy (Fortran-order float32, neurons x stimuli) + trials + split + ids
$DT import -q -i $s/images -r $s/responses.npy -t $s/trials.npy --split $s/split.txt \
   --neuron-ids $s/neuron_ids.txt -o $tmp/a.h5
$chk $tmp/a.h5 $s/truth.npz stimuli responses trials split ids names=

# zip (images in a folder) + CSV, stimuli x neurons
$DT import -q -i $s/images.zip -r $s/responses.csv -o $tmp/b.h5
$chk $tmp/b.h5 $s/truth.npz stimuli responses names=stim/
# explicit layout that contradicts the data is an error
if $DT import -q -i $s/images.zip -r $s/responses.csv --layout neurons-x-stimuli -o $tmp/x.h5 2>$tmp/err; then
  echo "contradicting --layout accepted"; exit 1; fi
grep -q "gives 5 stimuli" $tmp/err

# HDF5 dataset
$DT import -q -i $s/images -r $s/responses.h5:/data/resp -o $tmp/c.h5
$chk $tmp/c.h5 $s/truth.npz stimuli responses

# trials only, as long-format CSV: responses become the trial means
$DT import -q -i $s/images -t $s/trials.csv -o $tmp/d.h5
$chk $tmp/d.h5 $s/truth.npz responses trials

# --resize and --color gray, against PIL
$DT import -q -i $s/mixed -r $s/responses.npy --layout neurons-x-stimuli -o $tmp/e.h5 2>$tmp/err && {
  echo "mixed sizes without --resize accepted"; exit 1; } || true
/usr/bin/python3 - "$s" <<'PY'
import numpy as np, sys
n = np.load(sys.argv[1] + "/responses.npy")[:, :3]
np.save(sys.argv[1] + "/resp3.npy", n)
PY
$DT import -q -i $s/mixed -r $s/resp3.npy --resize 8x6 -o $tmp/e.h5
$DT import -q -i $s/mixed -r $s/resp3.npy --resize 8x6 --color gray -o $tmp/g.h5
/usr/bin/python3 - "$s" "$tmp" <<'PY'
import sys, h5py, numpy as np
from PIL import Image
s, tmp = sys.argv[1:]
e = h5py.File(tmp + "/e.h5")["stimuli"][...]
g = h5py.File(tmp + "/g.h5")["stimuli"][...]
assert e.shape == (3, 6, 8, 3), e.shape      # a3 is gray: promoted to RGB
assert g.shape == (3, 6, 8), g.shape
for i, name in enumerate(["a1.png", "a2.png", "a3.png"]):
    im = Image.open(f"{s}/mixed/{name}").convert("RGB")
    ref = np.asarray(im.resize((8, 6), Image.BILINEAR)).astype(int)
    d = np.abs(e[i].astype(int) - ref).max()
    assert d == 0, (name, d)                 # 8-bit resampling is bit-exact with PIL
    refg = np.asarray(Image.open(f"{s}/mixed/{name}").resize((8, 6), Image.BILINEAR).convert("L")).astype(int)
    dg = np.abs(g[i].astype(int) - refg).max()
    refg2 = np.asarray(Image.fromarray(ref.astype(np.uint8)).convert("L")).astype(int)
    assert np.array_equal(g[i].astype(int), refg2), name   # resize, then PIL's luma
print("resize/color ok")
PY

# an existing output is never replaced without --force; with --force the
# same command gives a byte-identical file (no timestamps)
cp $tmp/a.h5 $tmp/a.orig
if $DT import -q -i $s/images -r $s/responses.npy -o $tmp/a.h5 2>$tmp/err; then echo "overwrote"; exit 1; fi
grep -q "already exists" $tmp/err
cmp -s $tmp/a.h5 $tmp/a.orig
for k in 1 2; do
  $DT import -q -i $s/images -r $s/responses.npy -t $s/trials.npy -o $tmp/r.h5 --force
  cp $tmp/r.h5 $tmp/r$k.h5
done
cmp $tmp/r1.h5 $tmp/r2.h5
ls $tmp | grep -q tmp && { echo "temporary file left behind"; exit 1; }

# inspect: summary and per-neuron table; NaN counted
$DT inspect $tmp/a.h5 > $tmp/insp
grep -q "stimuli     12 x 12 x 16 x 3 uint8 (RGB)" $tmp/insp
grep -q "responses   12 stimuli x 5 neurons float64, 1 NaN" $tmp/insp
grep -q "split       9 train, 3 test" $tmp/insp
grep -Eq "^unit-102 +11 +1 " $tmp/insp
grep -q "trials      12 x 5 x 4 float64" $tmp/insp
# not a deeptune file / not HDF5
if $DT inspect $s/responses.h5 2>$tmp/err; then echo "inspect accepted foreign h5"; exit 1; fi
grep -q "not a deeptune file" $tmp/err
if $DT inspect $s/split.txt 2>$tmp/err; then echo "inspect accepted text"; exit 1; fi
grep -q "not an HDF5 file" $tmp/err
echo "cli_import ok"
