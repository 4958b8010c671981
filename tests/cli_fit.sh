#!/bin/bash
# deeptune fit (ridge) end to end: features from the tiny test network,
# responses made as a known linear function of them plus noise; the readout
# must equal scikit-learn's Ridge on the same training stimuli with the
# chosen lambda, the held-out r must match NumPy's, the test stimuli must not
# influence anything, and bad input gets clear errors.
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tiny_session 200 3 3
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
F = h5py.File(f"{t}/f0.h5")["features"]["cat"][...].reshape(200, -1).astype(np.float64)
r = np.random.default_rng(4)
w = r.normal(size=(F.shape[1], 3))          # dense: what ridge is for
Y = F @ w; Y += r.normal(size=Y.shape) * Y.std(0) * np.array([0.3, 1.0, 3.0])
Y[:, 2] += 5
np.save(f"{t}/resp.npy", Y)
Y2 = Y.copy(); Y2[:, 1] = 7.0          # a constant neuron
np.save(f"{t}/resp_const.npy", Y2)
PY
$DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/d.h5 2>/dev/null
$DT features -q -d $tmp/d.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat,p2 -o $tmp/f.h5 2>/dev/null
# 320 features, 160 training stimuli: the dual form, in single precision by
# default, and in double with --precision double
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/r.h5 --metrics $tmp/m.csv --seed 9 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/rd.h5 --seed 9 --precision double 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np, csv
from sklearn.linear_model import Ridge
t = sys.argv[1]
F = h5py.File(f"{t}/f.h5")["features"]["cat"][...].reshape(200, -1).astype(np.float64)
Y = np.load(f"{t}/resp.npy")
gd = h5py.File(f"{t}/rd.h5")["models"]["tiny:cat:ridge"]
assert gd.attrs["precision"] == "double"
R = h5py.File(f"{t}/r.h5")
assert R.attrs["format"] == "deeptune-readouts"
g = R["models"]["tiny:cat:ridge"]
assert g.attrs["precision"] == "single"
test = g["test_stimuli"][...].astype(bool)
assert test.sum() == 40                                   # 20% of 200
W, b, lam = g["weights"][...], g["intercepts"][...], g["lambda"][...]
assert (np.argmin(g["cv_mse"][...], 1) == np.argmin(gd["cv_mse"][...], 1)).all()   # the same lambdas chosen
cverr = np.abs(g["cv_mse"][...] / gd["cv_mse"][...] - 1).max()
worst = [0, 0]
for j in range(3):
    sk = Ridge(alpha=gd["lambda"][j]).fit(F[~test], Y[~test, j])
    for k, (Wk, bk) in enumerate(((W, b), (gd["weights"][...], gd["intercepts"][...]))):
        err = np.abs(Wk[j] - sk.coef_).max() / np.abs(sk.coef_).max()
        worst[k] = max(worst[k], err)
        assert err < (5e-5, 1e-9)[k], (k, j, err)          # single (float rounding x conditioning); double on both sides
        assert abs(bk[j] - sk.intercept_) < (5e-5, 1e-9)[k] * (1 + abs(sk.intercept_))
    pred = F[test] @ W[j] + b[j]
    r = np.corrcoef(pred, Y[test, j])[0, 1]
    assert abs(r - g["r_test"][j]) < 1e-9, (r, g["r_test"][j])
# the noisier neuron predicts worse
assert g["r_test"][0] > 0.7 and g["r_test"][0] > g["r_test"][2]
rows = list(csv.DictReader(open(f"{t}/m.csv")))
assert [x["neuron"] for x in rows] == ["0", "1", "2"] and abs(float(rows[0]["r_test"]) - g["r_test"][0]) < 1e-6
print(f"fit: weights equal sklearn Ridge at the chosen lambdas (single {worst[0]:.1e}, double {worst[1]:.1e}; "
      f"CV curves {cverr:.1e} apart); r_test", np.round(g["r_test"][...], 3))
PY
# Lasso and elastic net through the stage: at the chosen lambda the readout
# attains scikit-learn's Lasso / ElasticNet objective (glmnet's objective;
# with more features than stimuli the weights themselves can differ slightly
# between solvers while the objective agrees)
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method lasso --nlambda 30 --tol 1e-12 -o $tmp/rl.h5 --seed 9 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method enet --alpha 0.5 --nlambda 30 --tol 1e-12 --rule 1se -o $tmp/re.h5 --seed 9 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
from sklearn.linear_model import Lasso, ElasticNet
t = sys.argv[1]
F = h5py.File(f"{t}/f.h5")["features"]["cat"][...].reshape(200, -1).astype(np.float64)
Y = np.load(f"{t}/resp.npy")
for fn, name, mk in (("rl", "tiny:cat:lasso", lambda l: Lasso(alpha=l, tol=1e-12, max_iter=10**6)),
                     ("re", "tiny:cat:enet", lambda l: ElasticNet(alpha=l, l1_ratio=0.5, tol=1e-12, max_iter=10**6))):
    g = h5py.File(f"{t}/{fn}.h5")["models"][name]
    test = g["test_stimuli"][...].astype(bool)
    a = 1.0 if fn == "rl" else 0.5
    worst = 0
    for j in range(3):
        lam = g["lambda"][j]
        sk = mk(lam).fit(F[~test], Y[~test, j])
        def obj(w, b):
            r = Y[~test, j] - F[~test] @ w - b
            return (r @ r) / (2 * r.size) + lam * (a * np.abs(w).sum() + (1 - a) / 2 * (w @ w))
        ours, theirs = obj(g["weights"][j], g["intercepts"][j]), obj(sk.coef_, sk.intercept_)
        worst = max(worst, abs(ours - theirs) / theirs)
        assert ours <= theirs * (1 + 1e-6), (name, j, ours, theirs)
        assert g["nonzero"][j] == np.count_nonzero(g["weights"][j])
    print(f"fit {name}: objective at the chosen lambdas within {worst:.1e} of scikit-learn's; non-zero {list(g['nonzero'][...])}")
PY
$DT inspect $tmp/r.h5 | grep -q "model       tiny:cat:ridge: ridge on cat, 3 neurons x 320 features, 0 skipped"
$DT inspect $tmp/r.h5 | grep -q "held-out r: median"
# predict rebuilds image -> response: on the dataset and on image files it
# reproduces the readout applied to the features
$DT predict -m $tmp/r.h5 -d $tmp/d.h5 --csv $tmp/p.csv 2>/dev/null
$DT predict -m $tmp/r.h5 --csv $tmp/p2.csv $tmp/img/s000.png $tmp/img/s006.png 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np, csv
t = sys.argv[1]
F = h5py.File(f"{t}/f.h5")["features"]["cat"][...].reshape(200, -1).astype(np.float64)
g = h5py.File(f"{t}/r.h5")["models"]["tiny:cat:ridge"]
want = F @ g["weights"][...].T + g["intercepts"][...]
rows = list(csv.DictReader(open(f"{t}/p.csv")))
assert len(rows) == 600 and rows[0]["image"] == "s000.png" and rows[0]["model"] == "tiny:cat:ridge"
got = np.array([float(x["predicted"]) for x in rows]).reshape(200, 3)
err = np.abs(got - want).max() / want.std()
assert err < 1e-5, err          # the same float activations, recomputed (float32 summation order)
files = list(csv.DictReader(open(f"{t}/p2.csv")))
f2 = np.array([float(x["predicted"]) for x in files]).reshape(2, 3)
assert np.abs(f2 - got[[0, 6]]).max() / want.std() < 1e-5
print(f"predict: dataset and image files reproduce the readouts on the features ({err:.1e} of the response sd)")
PY
# the test stimuli never influence the fit: change their responses and images
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np, os, shutil
from PIL import Image
t = sys.argv[1]
test = h5py.File(f"{t}/r.h5")["models"]["tiny:cat:ridge"]["test_stimuli"][...].astype(bool)
Y = np.load(f"{t}/resp.npy"); Y[test] = Y[test] * 50 - 3
np.save(f"{t}/resp_p.npy", Y)
shutil.copytree(f"{t}/img", f"{t}/img_p")
r = np.random.default_rng(5)
for i in np.flatnonzero(test):
    Image.fromarray(r.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(f"{t}/img_p/s{i:03d}.png")
PY
$DT import -q -i $tmp/img_p -r $tmp/resp_p.npy -o $tmp/dp.h5 2>/dev/null
$DT features -q -d $tmp/dp.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/fp.h5 2>/dev/null
$DT fit -q -d $tmp/dp.h5 -f $tmp/fp.h5 --layer cat -o $tmp/rp.h5 --seed 9 --standardize 2>/dev/null
$DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/rs.h5 --seed 9 --standardize 2>/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
a, b = h5py.File(f"{t}/rs.h5")["models"]["tiny:cat:ridge"], h5py.File(f"{t}/rp.h5")["models"]["tiny:cat:ridge"]
for k in ("weights", "intercepts", "lambda", "cv_mse", "test_stimuli"):
    assert np.array_equal(a[k][...], b[k][...]), k
assert not np.array_equal(a["r_test"][...], b["r_test"][...])   # only the evaluation changed
print("fit: perturbing the test stimuli' images and responses leaves lambda and weights bit-identical")
PY
# a constant neuron is skipped with a warning recorded in the output
$DT import -q -i $tmp/img -r $tmp/resp_const.npy -o $tmp/dc.h5 2>/dev/null
$DT features -q -d $tmp/dc.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/fc.h5 2>/dev/null
$DT fit -q -d $tmp/dc.h5 -f $tmp/fc.h5 --layer cat -o $tmp/rc.h5 2>$tmp/err
grep -q "warning: neuron 1 skipped (constant responses)" $tmp/err
/usr/bin/python3 -c "import h5py; s = h5py.File('$tmp/rc.h5')['models']['tiny:cat:ridge']['status'][...]; assert list(s) == [0, 2, 0], s"

# bad input: one error line, non-zero exit, no output
expect() { local name=$1 needle=$2; shift 3; expect_error "$name" "$needle" $tmp/o.h5 -- "$@"; }
set +e
expect "features of another dataset" "computed from a different dataset" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f0.h5 --layer cat
expect "layer not in the features" "no layer 'pool2'; this file has: cat,p2" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer pool2
expect "fewer stimuli than folds" "cannot be split into 500 folds" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --folds 500
expect "bad precision" "--precision half: use single or double" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --precision half -o $tmp/bad.h5
expect "unsorted grid" "strictly increasing for ridge (value 2 is 1)" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --lambdas 10,1
expect "non-positive grid" "positive and strictly increasing for ridge (value 1 is 0)" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --lambdas 0,1
expect "lasso grid increasing" "strictly decreasing for lasso (value 2 is 10)" -- $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method lasso --lambdas 1,10
expect "not a features file" "not a deeptune features file" -- $DT fit -q -d $tmp/d.h5 -f $tmp/d.h5 --layer cat
/usr/bin/python3 -c "
import h5py, numpy as np, shutil; shutil.copy('$tmp/tiny.h5', '$tmp/tiny2.h5')
with h5py.File('$tmp/tiny2.h5', 'r+') as f: f['c1/bias'][0] += 1"
rm -f $tmp/o.csv
if $DT predict -m $tmp/r.h5 -d $tmp/d.h5 --csv $tmp/o.csv --weights $tmp/tiny2.h5 2>$tmp/err >/dev/null || [ -e $tmp/o.csv ] \
   || ! grep -q "not the weight file the readouts were fitted with" $tmp/err; then echo "FAIL predict with other weights: $(cat $tmp/err)"; fails=$((fails + 1))
else echo "ok   predict with other weights: $(cat $tmp/err)"; fi
if $DT predict -m $tmp/r.h5 --model nope -d $tmp/d.h5 --csv $tmp/o.csv 2>$tmp/err >/dev/null || ! grep -q "no model 'nope'; it has: tiny:cat:ridge" $tmp/err; then
  echo "FAIL unknown model: $(cat $tmp/err)"; fails=$((fails + 1))
else echo "ok   unknown model: $(cat $tmp/err)"; fi
echo "$fails failures"
[ $fails -eq 0 ] && echo "cli_fit ok"
