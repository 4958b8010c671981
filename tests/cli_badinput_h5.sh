#!/bin/bash
# The bad-input corpus of deeptune's own HDF5 files: valid readouts, tune and
# cluster files of the tiny session, corrupted with h5py (datasets longer or
# shorter than the weights' rows, deleted, retyped or reshaped; stability
# datasets of another rank or length; an unknown format_version; malformed
# neuron groups).  Every stage that reads them (tune, stimuli, predict,
# cluster, inspect) must exit non-zero with exactly one line on stderr,
# "error: ..." naming the file and the dataset or group, print nothing on
# stdout, and leave no output (and no temporary) behind.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
DT=${DEEPTUNE:-./deeptune}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

# valid files: 4 neurons of the tiny network, readouts of 3 models (ridge,
# Lasso, a bootstrap refit), 2 initialisations of 2 steps, clusters with
# stability
tiny_session 60 31 4
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
A = h5py.File(f"{t}/f0.h5")["features"]["cat"][...].reshape(60, -1)
r = np.random.default_rng(32)
np.save(f"{t}/resp.npy", A @ r.normal(size=(A.shape[1], 4)) + 0.1 * r.normal(size=(60, 4)))
PY
{
  $DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/d.h5
  $DT features -q -d $tmp/d.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/f.h5
  $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/r.h5
  $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method lasso --nlambda 10 -o $tmp/r.h5 --append
  $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --bootstrap 1 --name boot -o $tmp/r.h5 --append
  $DT tune -q -m $tmp/r.h5 --neurons all --inits 2 --steps 2 -o $tmp/t.h5
  $DT cluster -q -t $tmp/t.h5 --k 2 --stability -o $tmp/c.h5
} 2>/dev/null
for f in r t c; do
  [ -f $tmp/$f.h5 ] || { echo "FAIL setup: no $f.h5"; exit 1; }
done
$DT inspect $tmp/r.h5 $tmp/t.h5 $tmp/c.h5 >/dev/null 2>&1 || { echo "FAIL setup: inspect refuses the valid files"; exit 1; }

# the corrupt files, all made in one Python run: bad/NAME.h5 is a copy of
# r.h5, t.h5 or c.h5 with one change.  A tune file tr-NAME.h5 that records
# readouts bad/NAME.h5 (with its sha256) lets stimuli reach the readouts.
mkdir -p $tmp/bad $tmp/out
/usr/bin/python3 - "$tmp" <<'PY'
import sys, shutil, hashlib, h5py, numpy as np
t = sys.argv[1]
R, T, C = f"{t}/r.h5", f"{t}/t.h5", f"{t}/c.h5"
m = "models/tiny:cat:ridge"

def resize(n):          # a 1-D dataset n longer (or shorter)
    def op(f, p):
        v = f[p][...]
        del f[p]
        f[p] = np.concatenate([v, v[:n]]) if n > 0 else v[:n]
    return op

def retype(kind):         # same shape, another type
    def op(f, p):
        shape = f[p].shape
        del f[p]
        f[p] = np.full(shape, b"x", dtype="S1") if kind == "string" else np.zeros(shape, kind)
    return op

def reshape(shape):
    def op(f, p):
        v = f[p][...].ravel()
        del f[p]
        f[p] = np.resize(v, shape)
    return op

def delete(f, p): del f[p]

def huge(f, p):         # declares 2.5 PB, stores nothing
    del f[p]
    f.create_dataset(p, shape=(10**12, 320), dtype="f8", chunks=(1, 320))

cases = {
    # B, C: per-neuron datasets longer or shorter than the weights' rows
    "intercepts-long": (R, f"{m}/intercepts", resize(3)),
    "intercepts-short": (R, f"{m}/intercepts", resize(-2)),
    "rtest-long": (R, f"{m}/r_test", resize(3)),
    "rtest-short": (R, f"{m}/r_test", resize(-2)),
    "status-long": (R, f"{m}/status", resize(3)),
    "status-short": (R, f"{m}/status", resize(-2)),
    "status-string": (R, f"{m}/status", retype("string")),
    "intercepts-2d": (R, f"{m}/intercepts", reshape((4, 1))),
    "weights-3d": (R, f"{m}/weights", reshape((4, 32, 10))),
    "weights-huge": (R, f"{m}/weights", huge),
    # D: readouts
    "r-no-lambda": (R, f"{m}/lambda", delete),
    "r-lambda-short": (R, f"{m}/lambda", resize(-1)),
    "r-grid-string": (R, f"{m}/lambda_grid", retype("string")),
    "r-cvmse-shape": (R, f"{m}/cv_mse", reshape((4, 7))),
    "r-boot-no-resample": (R, "models/boot#b1/resample_counts", delete),
    "r-lasso-no-cvse": (R, "models/tiny:cat:lasso/cv_se", delete),
    "r-test-stimuli-long": (R, "models/tiny:cat:lasso/test_stimuli", resize(5)),
    "r-version2": (R, None, lambda f, p: f.attrs.__setitem__("format_version", 2)),
    # D: tune
    "t-no-predicted": (T, "neurons/1/predicted", delete),
    "t-images-string": (T, "neurons/2/images", retype("string")),
    "t-images-4d": (T, "neurons/0/images", reshape((4, 2, 16, 48))),
    "t-trace-short": (T, "neurons/3/trace", reshape((4, 2, 1))),
    "t-agreement-int": (T, "neurons/0/agreement", retype("int32")),
    "t-variants-float": (T, "variants", retype("float64")),
    "t-version2": (T, None, lambda f, p: f.attrs.__setitem__("format_version", 2)),
    # D: cluster
    "c-ari-2d": (C, "stability/ari", reshape((5, 2))),
    "c-jaccard-mean-long": (C, "stability/jaccard_mean", resize(3)),
    "c-jaccard-mean-short": (C, "stability/jaccard_mean", resize(-1)),
    "c-no-linkage": (C, "linkage", delete),
    "c-labels-float": (C, "labels", retype("float64")),
    "c-labels-long": (C, "labels", resize(2)),
    "c-embedding-1d": (C, "embedding", reshape((1280,))),
    "c-distances-short": (C, "distances", resize(-1)),
    "c-coassignment-shape": (C, "stability/coassignment", reshape((4, 3))),
    "c-version2": (C, None, lambda f, p: f.attrs.__setitem__("format_version", 2)),
    # F: malformed neuron groups of a tune file
    "n-dataset": (T, "neurons/2", lambda f, p: (f.__delitem__(p), f.__setitem__(p, np.zeros(3)))),
    "n-no-rtest": (T, "neurons/2", lambda f, p: f[p].attrs.__delitem__("r_test")),
    "n-rtest-string": (T, "neurons/2", lambda f, p: f[p].attrs.__setitem__("r_test", "high")),
    "n-bad-name": (T, "neurons/2", lambda f, p: f.move(p, "neurons/two")),
}
for name, (src, path, op) in cases.items():
    dst = f"{t}/bad/{name}.h5"
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        op(f, path)
    if src == R:        # a tune file made from these readouts, for stimuli
        shutil.copy(T, f"{t}/bad/tr-{name}.h5")
        with h5py.File(f"{t}/bad/tr-{name}.h5", "r+") as f:
            f.attrs["readouts"] = dst
            f.attrs["readouts_sha256"] = hashlib.sha256(open(dst, "rb").read()).hexdigest()
PY

# has TEXT NEEDLE: TEXT contains NEEDLE, whose parts separated by " ... "
# appear in that order with anything between them
has() {
  local text=$1 rest=$2 part
  while :; do
    part=${rest%% ... *}
    [[ $text == *"$part"* ]] || return 1
    text=${text#*"$part"}
    [ "$part" = "$rest" ] && return 0
    rest=${rest#*" ... "}
  done
}
# bad NAME NEEDLE OUT -- COMMAND...: non-zero exit, one "error: ..." line
# containing NEEDLE, nothing on stdout, no OUT and no OUT.tmp.* ("-": the
# command writes no output)
bad() {
  local name=$1 needle=$2 out=$3
  shift 4
  [ "$out" = - ] || rm -rf "$out"
  local rc=0
  timeout -s KILL 60 "$@" >$tmp/stdout 2>$tmp/stderr || rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ] || [ "$(wc -l <$tmp/stderr)" -ne 1 ] || ! grep -q '^error: ' $tmp/stderr \
     || ! has "$(cat $tmp/stderr)" "$needle" || [ -s $tmp/stdout ] \
     || { [ "$out" != - ] && { [ -e "$out" ] || ls -d "$out".tmp.* >/dev/null 2>&1; }; }; then
    echo "FAIL $name: rc=$rc stdout=$(wc -c <$tmp/stdout) bytes stderr=[$(head -c 300 $tmp/stderr)]"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(cat $tmp/stderr)"
  fi
}
b=$tmp/bad
o=$tmp/out
tune="$DT tune -q --models tiny:cat:ridge --neurons all --inits 1 --steps 1 -o $o/t.h5 -m"
model="dataset '/models/tiny:cat:ridge"

# B: tune and stimuli; C: predict
for c in intercepts-long:intercepts:7 intercepts-short:intercepts:2 rtest-long:r_test:7 rtest-short:r_test:2 \
         status-long:status:7 status-short:status:2; do
  IFS=: read -r name ds len <<<"$c"
  needle="$b/$name.h5: $model/$ds' has shape $len, expected 4 (one per neuron, as the rows of weights); make the readouts again with deeptune fit"
  bad "tune $name" "$needle" $o/t.h5 -- $tune $b/$name.h5
  bad "stimuli $name" "$needle" $o/s -- $DT stimuli -t $b/tr-$name.h5 -o $o/s
  [ $ds = intercepts ] && bad "predict $name" "$needle" $o/p.csv -- $DT predict -m $b/$name.h5 -d $tmp/d.h5 --csv $o/p.csv
done
bad "tune status as strings" "$model/status' has type string, expected integer" $o/t.h5 -- $tune $b/status-string.h5
bad "tune intercepts 2-D" "$model/intercepts' has shape 4x1, expected 4 (one per neuron" $o/t.h5 -- $tune $b/intercepts-2d.h5
bad "predict intercepts 2-D" "$model/intercepts' has shape 4x1, expected 4 (one per neuron" $o/p.csv -- \
  $DT predict -m $b/intercepts-2d.h5 -d $tmp/d.h5 --csv $o/p.csv
bad "tune weights 3-D" "$model/weights' has shape 4x32x10, expected *x*" $o/t.h5 -- $tune $b/weights-3d.h5
bad "predict weights 3-D" "$model/weights' has shape 4x32x10, expected *x*" $o/p.csv -- \
  $DT predict -m $b/weights-3d.h5 -d $tmp/d.h5 --csv $o/p.csv
bad "tune weights declared huge" "$model/weights' declares 2560000000000000 bytes but the file stores far less" $o/t.h5 -- \
  $tune $b/weights-huge.h5
bad "predict weights declared huge" "$model/weights' declares 2560000000000000 bytes but the file stores far less" $o/p.csv -- \
  $DT predict -m $b/weights-huge.h5 -d $tmp/d.h5 --csv $o/p.csv
bad "tune readouts version 2" "r-version2.h5: deeptune-readouts format_version 2, but this deeptune ... reads version 1; open it with the deeptune that wrote it" $o/t.h5 -- $tune $b/r-version2.h5

# D: inspect checks every dataset of every format before printing anything
ins() { bad "inspect $1" "$2" - -- $DT inspect $b/$1.h5; }
for c in intercepts-long:intercepts:7 status-short:status:2 rtest-long:r_test:7; do
  IFS=: read -r name ds len <<<"$c"
  ins $name "$b/$name.h5: $model/$ds' has shape"
done
ins status-string "$model/status' has type string, expected integer"
ins intercepts-2d "$model/intercepts' has shape 4x1, expected 4 (one per neuron"
ins weights-3d "$model/weights' has shape 4x32x10, expected 4x320"
ins weights-huge "$model/weights' has shape 1000000000000x320, expected 4x320"
ins r-no-lambda "$model/lambda' is missing"
ins r-lambda-short "$model/lambda' has shape 3, expected 4"
ins r-grid-string "$model/lambda_grid' has type string, expected float"
ins r-cvmse-shape "$model/cv_mse' has shape 4x7, expected 4x20"
ins r-boot-no-resample "dataset '/models/boot#b1/resample_counts' is missing"
ins r-lasso-no-cvse "dataset '/models/tiny:cat:lasso/cv_se' is missing"
ins r-test-stimuli-long "dataset '/models/tiny:cat:lasso/test_stimuli' has shape 65, expected 60"
ins r-version2 "r-version2.h5: deeptune-readouts format_version 2, but this deeptune ... reads version 1; open it with the deeptune that wrote it"
ins t-no-predicted "t-no-predicted.h5: dataset '/neurons/1/predicted' is missing"
ins t-images-string "dataset '/neurons/2/images' has type string, expected float"
ins t-images-4d "dataset '/neurons/0/images' has shape 4x2x16x48, expected 4x2x*x*x*"
ins t-trace-short "dataset '/neurons/3/trace' has shape 4x2x1, expected 4x2x2"
ins t-agreement-int "dataset '/neurons/0/agreement' has type integer, expected float"
ins t-variants-float "dataset '/variants' has type float, expected string"
ins t-version2 "t-version2.h5: deeptune-tune format_version 2, but this deeptune ... reads version 1; open it with the deeptune that wrote it"
ins c-ari-2d "dataset '/stability/ari' has shape 5x2, expected 5"
ins c-jaccard-mean-long "dataset '/stability/jaccard_mean' has shape 4, expected 2"
ins c-jaccard-mean-short "dataset '/stability/jaccard_mean' has shape 1, expected 2"
ins c-no-linkage "c-no-linkage.h5: dataset '/linkage' is missing"
ins c-labels-float "dataset '/labels' has type float, expected integer"
ins c-labels-long "dataset '/labels' has shape 6, expected 4"
ins c-embedding-1d "dataset '/embedding' has shape 1280, expected 4x*"
ins c-distances-short "dataset '/distances' has shape 5, expected 6"
ins c-coassignment-shape "dataset '/stability/coassignment' has shape 4x3, expected 4x4"
ins c-version2 "c-version2.h5: deeptune-cluster format_version 2, but this deeptune ... reads version 1; open it with the deeptune that wrote it"
ins n-dataset "'/neurons/2' is not a group (a tuned neuron)"
ins n-no-rtest "group /neurons/2: attribute 'r_test' is missing"
ins n-bad-name "/neurons/two is not named by a neuron number"

# F: cluster refuses a malformed neuron group instead of dropping the neuron
cl() { bad "cluster $1" "$2" $o/c.h5 -- $DT cluster -q -t $b/$1.h5 --k 2 ${3:+$3} -o $o/c.h5; }
cl n-dataset "n-dataset.h5: /neurons/2 is a dataset, not the group of a tuned neuron"
cl n-no-rtest "n-no-rtest.h5: group /neurons/2: attribute 'r_test' is missing" "--min-r -1"
cl n-rtest-string "n-rtest-string.h5: group /neurons/2: attribute 'r_test' is not numeric" "--min-r -1"
cl n-bad-name "n-bad-name.h5: /neurons/two is not named by a neuron number"
cl t-version2 "t-version2.h5: deeptune-tune format_version 2, but this deeptune ... reads version 1; open it with the deeptune that wrote it"
cl t-images-4d "dataset '/neurons/0/images' has shape 4x2x16x48, expected *x*x*x*x*"
cl t-images-string "dataset '/neurons/2/images' has type string, expected float"

echo "$fails failures"
[ $fails -eq 0 ]
