#!/bin/bash
# Same answer whatever the threads: features, fit, tune and predict give
# bit-identical outputs for 1, 2, 3 and 5 threads (and features for any
# --batch); the default thread count follows the affinity mask and
# OMP_NUM_THREADS; a memory limit gives a clean error or a finished run,
# never a hang (OpenBLAS's own thread pool is kept out).
set -u
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
data=${DEEPTUNE_DATA:-../shared/data}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
. tests/lib.sh
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# same H5 A B...: every dataset of the files equal, bit for bit
same() {
  /usr/bin/python3 - "$@" <<'PY'
import sys, h5py, numpy as np
def items(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[...]) if isinstance(o, h5py.Dataset) else None)
    return out
ref = items(sys.argv[1])
for p in sys.argv[2:]:
    got = items(p)
    assert got.keys() == ref.keys(), (p, set(got) ^ set(ref))
    for k in ref:
        a, b = ref[k], got[k]
        eq = a.tobytes() == b.tobytes() if a.dtype.kind != "O" else list(a.ravel()) == list(b.ravel())
        assert eq, f"{p}: dataset {k} differs from {sys.argv[1]}"
PY
}

# ---- the tiny network: fit and tune ----
tiny_session 160 3 2
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
t = sys.argv[1]
A = h5py.File(f"{t}/f0.h5")["features/cat"][...].reshape(160, -1)
r = np.random.default_rng(5)
Y = np.stack([A @ r.normal(size=A.shape[1]) for _ in range(3)], 1)
np.save(f"{t}/resp.npy", Y + 0.3 * Y.std(0) * r.normal(size=Y.shape))
PY
$DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/d.h5 2>/dev/null
$DT features -q -d $tmp/d.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/f.h5 2>/dev/null
for n in 1 2 3 5; do
  OMP_NUM_THREADS=$n $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat -o $tmp/r$n.h5 2>/dev/null
  OMP_NUM_THREADS=$n $DT fit -q -d $tmp/d.h5 -f $tmp/f.h5 --layer cat --method lasso --nlambda 20 --name lasso -o $tmp/r$n.h5 --append 2>/dev/null
done
if same $tmp/r1.h5 $tmp/r2.h5 $tmp/r3.h5 $tmp/r5.h5; then ok "fit (ridge and lasso): identical on 1, 2, 3, 5 threads"; else bad "fit differs with the thread count"; fi
for n in 1 2 3 5; do
  $DT tune -q -m $tmp/r1.h5 --neurons all --inits 3 --steps 5 --seed 7 --threads $n -o $tmp/t$n.h5 2>/dev/null
done
if same $tmp/t1.h5 $tmp/t2.h5 $tmp/t3.h5 $tmp/t5.h5; then ok "tune: identical on 1, 2, 3, 5 threads"; else bad "tune differs with the thread count"; fi
for n in 1 2 3 5; do
  $DT predict -m $tmp/r1.h5 -d $tmp/d.h5 --threads $n --csv $tmp/p$n.csv 2>/dev/null
  $DT stimuli -t $tmp/t1.h5 --sizes 0.5 --random 1 --recombine 2 --scrambles 1 --threads $n -o $tmp/st$n 2>/dev/null
  $DT cluster -q -t $tmp/t1.h5 --k 2 --stability --threads $n -o $tmp/c$n.h5 2>/dev/null
done
if cmp -s $tmp/p1.csv $tmp/p2.csv && cmp -s $tmp/p1.csv $tmp/p3.csv && cmp -s $tmp/p1.csv $tmp/p5.csv && [ -s $tmp/p1.csv ]; then
  ok "predict: identical on 1, 2, 3, 5 threads"; else bad "predict differs with the thread count"; fi
# the stimulus images (the manifest records the command line, so only the pictures)
sd=0; for n in 2 3 5; do
  for f in $tmp/st1/*.png; do cmp -s "$f" "$tmp/st$n/$(basename "$f")" || sd=$((sd + 1)); done
done
if [ $sd -eq 0 ] && ls $tmp/st1/*.png >/dev/null 2>&1; then ok "stimuli: identical images on 1, 2, 3, 5 threads"; else bad "stimuli: $sd images differ with the thread count"; fi
if same $tmp/c1.h5 $tmp/c2.h5 $tmp/c3.h5 $tmp/c5.h5; then ok "cluster: identical on 1, 2, 3, 5 threads"; else bad "cluster differs with the thread count"; fi

# ---- a real network: features for any threads and batch, predict ----
if [ -d "$data/weights" ]; then
  scripts/make-synthetic-session.py $tmp/s 4 >/dev/null
  $DT import -q -i $tmp/s/images -r $tmp/s/responses.npy -o $tmp/ds.h5 2>/dev/null
  W=$data/weights/alexnet-bvlc-int8.h5
  for n in 1 2 3 5; do
    $DT features -q -d $tmp/ds.h5 --weights $W --layers conv2,conv5,pool5 --threads $n -o $tmp/F$n.h5 2>/dev/null
  done
  for b in 1 3; do
    $DT features -q -d $tmp/ds.h5 --weights $W --layers conv2,conv5,pool5 --threads 2 --batch $b -o $tmp/Fb$b.h5 2>/dev/null
  done
  if same $tmp/F1.h5 $tmp/F2.h5 $tmp/F3.h5 $tmp/F5.h5 $tmp/Fb1.h5 $tmp/Fb3.h5; then
    ok "features (AlexNet conv2, conv5, pool5): identical on 1, 2, 3, 5 threads and --batch 1, 3, default"
  else bad "features differ with the thread count or batch"; fi
  # under a memory limit: a clean one-line error, or a finished run; never a
  # hang (not with sanitizers: their shadow memory cannot live under ulimit -v)
  if [ -n "${DEEPTUNE_SANITIZE:-}" ]; then echo "SKIP ulimit -v: sanitizer build"; else
  rc=0; (ulimit -v 100000; timeout 60 $DT features -q -d $tmp/ds.h5 --weights $W --layers conv3 -o $tmp/m.h5) 2>$tmp/m.err || rc=$?
  if [ $rc -eq 1 ] && [ "$(wc -l <$tmp/m.err)" -eq 1 ] && grep -q "^error: .*ulimit -v" $tmp/m.err && [ ! -e $tmp/m.h5 ]; then
    ok "ulimit -v 100 MB: $(cat $tmp/m.err)"
  else bad "ulimit -v 100 MB: rc=$rc [$(cat $tmp/m.err)]"; fi
  rc=0; (ulimit -v 1000000; timeout 120 $DT features -q -d $tmp/ds.h5 --weights $W --layers conv3 -o $tmp/m6.h5) 2>$tmp/m.err || rc=$?
  if [ $rc -eq 0 ] && same $tmp/m6.h5 $tmp/m6.h5; then ok "ulimit -v 1000 MB: finished"; else bad "ulimit -v 1000 MB: rc=$rc (124 = hung) [$(cat $tmp/m.err)]"; fi
  fi
else
  echo "SKIP the AlexNet checks: $data/weights is absent (set DEEPTUNE_DATA)"
fi

# ---- the default thread count: affinity mask, then OMP_NUM_THREADS ----
$DT import -i $tmp/img -r $tmp/resp.npy -o $tmp/x1.h5 2>$tmp/e1 >/dev/null
if command -v taskset >/dev/null; then
  taskset -c 0 $DT import -i $tmp/img -r $tmp/resp.npy -o $tmp/x2.h5 2>$tmp/e2 >/dev/null
  if grep -q "1 CPU available" $tmp/e2; then ok "taskset -c 0: $(tail -1 $tmp/e2)"; else bad "taskset -c 0: [$(tail -1 $tmp/e2)]"; fi
else echo "SKIP taskset: not installed"; fi
OMP_NUM_THREADS=3 $DT import -i $tmp/img -r $tmp/resp.npy -o $tmp/x3.h5 2>$tmp/e3 >/dev/null
if grep -q "3 CPUs available" $tmp/e3; then ok "OMP_NUM_THREADS=3: $(tail -1 $tmp/e3)"; else bad "OMP_NUM_THREADS=3: [$(tail -1 $tmp/e3)]"; fi
# started without OPENBLAS_NUM_THREADS (deeptune sets it and starts again)
if env -u OPENBLAS_NUM_THREADS $DT import -q -i $tmp/img -r $tmp/resp.npy -o $tmp/x4.h5 2>/dev/null && same $tmp/x1.h5 $tmp/x4.h5; then
  ok "without OPENBLAS_NUM_THREADS in the environment"
else bad "without OPENBLAS_NUM_THREADS in the environment"; fi

echo "cli_determinism: $fails failed"
[ $fails -eq 0 ]
