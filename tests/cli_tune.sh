#!/bin/bash
# deeptune tune end to end on the tiny network: ridge and Lasso readouts at
# two layers of one network make a 3-model ensemble.  Checks: the pixel
# gradients of the full image -> response functions against central
# differences (alone and as members of a consensus); the output's shapes
# and ranges; each single-model image beats every natural stimulus under its
# own model, the consensus image beats the median natural stimulus under
# every model; the same seed gives the same images; PNGs and contact
# sheets; and bad input (errors before any work, earlier outputs intact).
set -eu
cd "$(dirname "$0")/.."
. tests/lib.sh
DT=${DEEPTUNE:-./deeptune}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import sys, os, h5py, numpy as np
from PIL import Image
t = sys.argv[1]
r = np.random.default_rng(11)
for d, n, s in (("img", 160, 16), ("img20", 60, 20)):
    os.makedirs(f"{t}/{d}")
    for i in range(n):
        Image.fromarray(r.integers(0, 256, (s, s, 3), dtype=np.uint8)).save(f"{t}/{d}/s{i:03d}.png")
with h5py.File(f"{t}/tiny.h5", "w") as f:
    f.attrs["architecture"] = "tiny-test"; f.attrs["input_size"] = 16
    for name, shape in (("c1", (4, 3, 3, 3)), ("c2a", (3, 4, 1, 1)), ("c2b", (2, 2, 3, 3)), ("f1", (5, 80))):
        f[name + "/weight"] = r.normal(size=shape).astype(np.float32)
        f[name + "/bias"] = r.normal(size=shape[0]).astype(np.float32)
np.save(f"{t}/zero.npy", np.zeros((160, 2)))
np.save(f"{t}/zero20.npy", np.zeros((60, 2)))
PY
$DT import -q -i $tmp/img -r $tmp/zero.npy -o $tmp/d0.h5 2>/dev/null
$DT features -q -d $tmp/d0.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat,p2 -o $tmp/f0.h5 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
F = h5py.File(f"{t}/f0.h5")["features"]
r = np.random.default_rng(12)
A, B = F["cat"][...].reshape(160, -1), F["p2"][...].reshape(160, -1)
Y = np.stack([A @ r.normal(size=A.shape[1]) + B @ r.normal(size=B.shape[1]) for _ in range(2)], 1)
Y += 0.3 * Y.std(0) * r.normal(size=Y.shape)
np.save(f"{t}/resp.npy", Y)
PY
$DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/d.h5 2>/dev/null
$DT features -q -d $tmp/d.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat,p2 -o $tmp/f.h5 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/r.h5 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method lasso --nlambda 30 -o $tmp/r.h5 --append 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer p2 -o $tmp/r.h5 --append 2>/dev/null

# 1. gradients against central differences
$DT tune -m $tmp/r.h5 --neurons all --check-gradients=0.001 2>/dev/null | tee $tmp/gc.txt
/usr/bin/python3 - "$tmp" <<'PY'
import sys, re
lines = open(f"{sys.argv[1]}/gc.txt").read().strip().split("\n")
assert len(lines) == 2 and all("3 models" in l for l in lines), lines
for l in lines:
    s, c = map(float, re.findall(r"single ([0-9.e+-]+), consensus ([0-9.e+-]+)", l)[0])
    assert s < 5e-3 and c < 5e-3, l
PY

# --init-sd: the initial noise's standard deviation (one step of 1e-6 pixels
# leaves the initial images as they were), recorded in the file
for sd in 0 10; do
  $DT tune -q -m $tmp/r.h5 --neurons 0 --inits 4 --steps 1 --lr 1e-6 --no-single --init-sd $sd -o $tmp/sd$sd.h5 2>/dev/null
done
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
for sd in (0, 10):
    T = h5py.File(f"{sys.argv[1]}/sd{sd}.h5")
    im = T["neurons"]["0"]["images"][...]
    assert T.attrs["init_sd"] == sd, T.attrs["init_sd"]
    assert abs(im.mean() - 128) < 0.5 + sd / 10 and abs(im.std() - sd) < 0.05 + sd / 20, (sd, im.mean(), im.std())
print("--init-sd: initial noise of standard deviation 0 and 10 pixels, recorded")
PY

# --contrast: every image (single-model and consensus) keeps the standard
# deviation asked, within 0.1%, inside 0..255 (scaling alone would push
# pixels out of range at 100); 128 is more than 0..255 allows (at most
# 127.5), so the images go as near as it allows and stay inside 0..255
for ct in 30 100 128; do
  $DT tune -q -m $tmp/r.h5 --neurons 0 --inits 2 --steps 20 --lr 0.1:0.02 --jitter 0 --contrast $ct -o $tmp/ct$ct.h5 2>/dev/null
done
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
for ct in (30, 100, 128):
    T = h5py.File(f"{sys.argv[1]}/ct{ct}.h5")
    im = T["neurons"]["0"]["images"][...].astype(np.float64)
    sd = im.reshape(im.shape[0], im.shape[1], -1).std(2)
    assert T.attrs["contrast"] == ct and im.shape[0] == 4, (T.attrs["contrast"], im.shape)
    assert im.min() >= 0 and im.max() <= 255, (ct, im.min(), im.max())
    assert (np.abs(sd / ct - 1) < 1e-3).all() if ct < 127.5 else (sd > 120).all(), (ct, sd)
    print(f"--contrast {ct}: standard deviations {sd.min():.3f}..{sd.max():.3f}, pixels within 0..255")
PY

# 2. tune: shapes, ranges, the images beat the natural stimuli, reproducible.
# The tiny net with random weights is far rougher per pixel than a trained
# network on a 227-pixel input: small steps, and no jitter on 16 pixels.
$DT tune -q -m $tmp/r.h5 --neurons all --inits 2 --steps 60 --lr 0.1:0.02 --jitter 0 --seed 4 -o $tmp/t.h5 --png-dir $tmp/png 2>/dev/null
$DT tune -q -m $tmp/r.h5 --neurons 1 --inits 2 --steps 60 --lr 0.1:0.02 --jitter 0 --seed 4 -o $tmp/t2.h5 2>/dev/null
for m in tiny:cat:ridge tiny:cat:lasso tiny:p2:ridge; do
  $DT predict -m $tmp/r.h5 --model $m -d $tmp/d.h5 --csv $tmp/p-$m.csv 2>/dev/null
done
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np, csv
from PIL import Image
t = sys.argv[1]
T = h5py.File(f"{t}/t.h5")
assert T.attrs["format"] == "deeptune-tune" and T.attrs["seed"] == 4 and T.attrs["consensus_rule"] == "minmod"
models = [m.decode() if isinstance(m, bytes) else m for m in T["models"][...]]
assert models == ["tiny:cat:lasso", "tiny:cat:ridge", "tiny:p2:ridge"], models
nat = {m: np.array([float(x["predicted"]) for x in csv.DictReader(open(f"{t}/p-{m}.csv"))]).reshape(160, 2) for m in models}
for j in (0, 1):
    g = T["neurons"][str(j)]
    im, pr, tr, ag = g["images"][...], g["predicted"][...], g["trace"][...], g["agreement"][...]
    assert im.shape == (4, 2, 16, 16, 3) and pr.shape == (4, 2, 3) and tr.shape == (4, 2, 60) and ag.shape == (2, 16, 16)
    assert im.min() >= 0 and im.max() <= 255 and 0 <= ag.min() and ag.max() <= 1
    for v in range(3):   # single-model images: above every natural stimulus under their model
        best = nat[models[v]][:, j].max()
        assert (pr[v, :, v] > best).all(), (j, v, pr[v, :, v], best)
        assert tr[v, :, -1].mean() > tr[v, :, 0].mean()
    for i, m in enumerate(models):   # consensus: above the median natural stimulus under every model
        assert (pr[3, :, i] > np.median(nat[m][:, j])).all(), (j, m)
    for k in ("stability_inits_pixels", "stability_inits_features"):
        assert g[k].shape == (4,) and np.isfinite(g[k][...]).all()
T2 = h5py.File(f"{t}/t2.h5")
assert (T2["neurons"]["1"]["images"][...] == T["neurons"]["1"]["images"][...]).all()   # same seed, same images
im = Image.open(f"{t}/png/n0-sheet.png")
assert im.size == (2 + 2 * 18, 2 + 4 * 18), im.size
assert Image.open(f"{t}/png/n1-consensus-i1.png").size == (16, 16)
print("tune: 3 models x 2 neurons x 2 inits; single-model images beat every natural stimulus, consensus beats the median under every model; reproducible")
PY

# 3. closed-loop stimulus sets: the manifest's predictions are those of
# `predict` on the PNGs; the controls keep the image's mean, contrast and
# (phase-scrambled) power spectrum
$DT stimuli -t $tmp/t.h5 --variants all --sizes 0.5,0.75 --random 1 --recombine 2 --scrambles 1 -o $tmp/stim 2>/dev/null
$DT predict -m $tmp/r.h5 --model tiny:p2:ridge --csv $tmp/ps.csv $tmp/stim/*.png 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, csv, os, numpy as np
from PIL import Image
t = sys.argv[1]
rows = list(csv.DictReader(open(f"{t}/stim/manifest.csv")))
assert list(rows[0].keys())[:4] == ["file", "neuron", "kind", "parameters"] and len(rows[0]) == 7, rows[0].keys()
kinds = {}
for r in rows: kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
# 2 neurons x 4 variants x 2 inits = 16 images; 2 sizes; 1 random; 1 + 1 controls; 2 recombinations per neuron
assert kinds == {"deeptune": 16, "crop": 32, "random_crop": 16, "phase_scrambled": 16, "pixel_shuffled": 16, "recombination": 4}, kinds
pred = {os.path.basename(r["image"]): float(r["predicted"]) for r in csv.DictReader(open(f"{t}/ps.csv")) if r["neuron"] == "0"}
for r in rows:
    if r["neuron"] == "0":
        assert abs(pred[r["file"]] - float(r["predicted:tiny:p2:ridge"])) < 1e-3 * (1 + abs(pred[r["file"]])), r["file"]
    assert Image.open(f"{t}/stim/{r['file']}").size == (16, 16)
img = lambda f: np.asarray(Image.open(f"{t}/stim/{f}"), dtype=np.float64)
for a, b in zip([r for r in rows if r["kind"] == "deeptune"], [r for r in rows if r["kind"] == "phase_scrambled"]):
    x, y = img(a["file"]), img(b["file"])
    assert abs(x.mean() - y.mean()) < 3 and abs(x.std() - y.std()) < 3, (x.mean(), y.mean(), x.std(), y.std())
    px = np.abs(np.fft.fft2(x - x.mean(), axes=(0, 1))) ** 2
    py = np.abs(np.fft.fft2(y - y.mean(), axes=(0, 1))) ** 2
    assert np.corrcoef(np.log(px.ravel() + 1), np.log(py.ravel() + 1))[0, 1] > 0.8
for r in rows:   # a recombination joins two different images
    if r["kind"] == "recombination":
        left, right = (p.split("=")[1].rsplit("/", 1)[0] for p in r["parameters"].split(";"))
        assert left != right, r["parameters"]
print("stimuli:", kinds, "; manifest predictions equal predict's on the PNGs; controls keep mean, contrast and power spectrum;"
      " recombinations join two images")
PY

# recombinations always join two different images: 30 per neuron from two
# consensus images (4 windows, a third of which share the first's image);
# none from a run with one image per neuron
$DT stimuli -t $tmp/t.h5 --sizes 0.5,0.75 --random 0 --recombine 30 --scrambles 0 -o $tmp/stimr 2>/dev/null
$DT tune -q -m $tmp/r.h5 --neurons all --inits 1 --steps 2 --no-single -o $tmp/t1.h5 2>/dev/null
$DT stimuli -t $tmp/t1.h5 --random 0 --recombine 30 --scrambles 0 -o $tmp/stim1 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, csv
t = sys.argv[1]
rec = [r for r in csv.DictReader(open(f"{t}/stimr/manifest.csv")) if r["kind"] == "recombination"]
assert len(rec) == 60, len(rec)
for r in rec:
    left, right = (p.split("=")[1].rsplit("/", 1)[0] for p in r["parameters"].split(";"))
    assert left != right, r["parameters"]
one = [r for r in csv.DictReader(open(f"{t}/stim1/manifest.csv")) if r["kind"] == "recombination"]
assert not one, one
print("stimuli: 60 recombinations, each of two different images; none with one image per neuron")
PY

# 4. bad input
sum=$(sha256sum < $tmp/t.h5)
expect_fail neuron-range "neuron 7 is out of range" -- $DT tune -m $tmp/r.h5 --neurons 0,7 -o $tmp/t.h5 --force
expect_fail neuron-list "expected indices like 3,5,7-9" -- $DT tune -m $tmp/r.h5 --neurons 0, -o $tmp/t.h5 --force
expect_fail init-sd-bad "--init-sd -1" -- $DT tune -m $tmp/r.h5 --neurons 0 --init-sd -1 -o $tmp/t.h5 --force
expect_fail tv-bad "--tv -1:2" -- $DT tune -m $tmp/r.h5 --neurons 0 --tv -1 -o $tmp/t.h5 --force
expect_fail rule-bad "--consensus" -- $DT tune -m $tmp/r.h5 --neurons 0 --consensus max -o $tmp/t.h5 --force
expect_fail stimuli-not-tune "not a deeptune tune file" -- $DT stimuli -t $tmp/r.h5 -o $tmp/s2
expect_fail stimuli-sizes "--sizes 0,2" -- $DT stimuli -t $tmp/t.h5 --sizes 0,2 -o $tmp/s2
expect_fail stimuli-exists "already exists" -- $DT stimuli -t $tmp/t.h5 -o $tmp/stim
# stimuli and cluster need the readouts the tune run was made with, and
# stimuli a consensus unless --variants all
$DT tune -q -m $tmp/r.h5 --neurons 0 --inits 1 --steps 2 --consensus none -o $tmp/tn.h5 2>/dev/null
expect_fail stimuli-no-consensus "made no consensus images (--consensus none); pass --variants all" -- $DT stimuli -t $tmp/tn.h5 -o $tmp/s2
cp $tmp/r.h5 $tmp/rc.h5
$DT tune -q -m $tmp/rc.h5 --neurons all --inits 1 --steps 2 -o $tmp/tc.h5 2>/dev/null
/usr/bin/python3 -c "import h5py; f = h5py.File('$tmp/rc.h5', 'a'); w = f['models/tiny:cat:ridge/weights']; w[0, 0] += 1"
expect_fail stimuli-readouts-changed "rc.h5 has changed since the tune run" -- $DT stimuli -t $tmp/tc.h5 -o $tmp/s2
expect_fail cluster-readouts-changed "rc.h5 has changed since the tune run" -- $DT cluster -t $tmp/tc.h5 --embed weights -o $tmp/c2.h5
# an unclipped image that runs away is an error, not NaN pixels in the output
expect_fail no-clip-diverges "diverged (non-finite pixels)" -- $DT tune -m $tmp/r.h5 --neurons 0 --inits 1 --steps 10 --no-clip --lp 100:6 --lr 50 --init-sd 60 -o $tmp/t.h5 --force
[ ! -e $tmp/s2 ] && [ ! -e $tmp/c2.h5 ] || { echo "FAIL stimuli or cluster left output behind"; fails=$((fails + 1)); }
expect_fail model-bad "no model 'nope'" -- $DT tune -m $tmp/r.h5 --models nope --neurons 0 -o $tmp/t.h5 --force
$DT import -q -i $tmp/img20 -r $tmp/zero20.npy -o $tmp/d20.h5 2>/dev/null
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/r20.npy', np.random.default_rng(1).normal(size=(60, 2)))"
$DT import -q -i $tmp/img20 -r $tmp/r20.npy -o $tmp/d20.h5 --force 2>/dev/null
$DT features -q -d $tmp/d20.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/f20.h5 2>/dev/null
$DT fit -q -d $tmp/d20.h5 -f $tmp/f20.h5 --layer cat -o $tmp/r20.h5 2>/dev/null
expect_fail other-dataset "a consensus needs one session" -- $DT tune -m $tmp/r.h5,$tmp/r20.h5 --neurons 0 -o $tmp/t.h5 --force
# a tune file without readouts_sha256 (older versions) pointing at readouts
# of another session: stimuli refuses them by dataset
$DT tune -q -m $tmp/r.h5 --models tiny:cat:ridge --neurons all --inits 1 --steps 2 -o $tmp/told.h5 2>/dev/null
/usr/bin/python3 -c "
import h5py; f = h5py.File('$tmp/told.h5', 'a')
del f.attrs['readouts_sha256']; f.attrs['readouts'] = '$tmp/r20.h5'"
expect_fail stimuli-other-session "made from dataset $tmp/d.h5, but $tmp/r20.h5 was fitted on $tmp/d20.h5" -- $DT stimuli -t $tmp/told.h5 -o $tmp/s2
# the models share their weights and features files, each verified once: a
# later model recording another sha256 for the same features file is still
# refused, by name
last=$(/usr/bin/python3 - "$tmp" <<'PY'
import sys, shutil, h5py
t = sys.argv[1]
shutil.copy(f"{t}/r.h5", f"{t}/rsha.h5")
with h5py.File(f"{t}/rsha.h5", "a") as f:
    names = sorted(f["models"])
    assert len(names) >= 2 and len({f["models"][n].attrs["features"] for n in names}) == 1
    f["models"][names[-1]].attrs["features_sha256"] = "0" * 64
    print(names[-1])
PY
)
expect_fail features-sha-later-model "model $last: its features file" -- $DT tune -m $tmp/rsha.h5 --neurons 0 -o $tmp/t.h5 --force
cp $tmp/tiny.h5 $tmp/tiny.bak
/usr/bin/python3 -c "import h5py; f = h5py.File('$tmp/tiny.h5', 'a'); f['c1/bias'][0] += 1"
expect_fail weights-changed "has changed since the fit" -- $DT tune -m $tmp/r.h5 --neurons 0 -o $tmp/t.h5 --force
mv $tmp/tiny.h5 $tmp/gone.h5
expect_fail weights-missing "cannot be found" -- $DT tune -m $tmp/r.h5 --neurons 0 -o $tmp/t.h5 --force
mv $tmp/tiny.bak $tmp/tiny.h5
# a tune stopped by a signal (SIGTERM, SIGINT) part-way, over an earlier
# tune.h5 and picture directory with --force: both kept as they were, and
# neither the temporary file nor the temporary picture directory is left
pngs=$(cd $tmp/png && ls | sha256sum)
for sig in TERM INT; do
  $DT tune -q -m $tmp/r.h5 --neurons all --inits 2 --steps 100000 --jitter 0 -o $tmp/t.h5 --png-dir $tmp/png --force 2>/dev/null &
  pid=$!
  for i in $(seq 100); do ls -d $tmp/png.tmp.* >/dev/null 2>&1 && break; sleep 0.05; done
  sleep 0.3
  kill -$sig $pid
  wait $pid && { echo "FAIL: SIG$sig: tune finished before the signal"; exit 1; }
  ls $tmp | grep -q '\.tmp\.' && { echo "FAIL: SIG$sig left $(ls $tmp | grep '\.tmp\.')"; exit 1; }
  echo "ok   SIG$sig part-way: no temporary file or picture directory left"
done
[ "$(cd $tmp/png && ls | sha256sum)" = "$pngs" ] || { echo "FAIL: an interrupted tune changed the earlier picture directory"; exit 1; }
[ "$(sha256sum < $tmp/t.h5)" = "$sum" ] || { echo "FAIL: a failed tune changed the earlier tune.h5"; exit 1; }
ls $tmp | grep -q '\.tmp\.' && { echo "FAIL: temporary files left behind"; exit 1; }
echo "$fails failures"
[ $fails -eq 0 ]
