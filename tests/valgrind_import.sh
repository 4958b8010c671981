#!/bin/bash
# valgrind memcheck on real imports: no leaks, no memory errors.  Runs on a
# synthetic session with every optional part, on features through a tiny
# network with every layer kind, and on the shared V4 session 210305 (400
# images).  Skipped in sanitizer builds (ASan and valgrind do not
# mix).
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
if [ -n "${DEEPTUNE_SANITIZE:-}" ]; then echo "SKIP valgrind_import: sanitizer build"; exit 0; fi
command -v valgrind >/dev/null || { echo "valgrind not installed: run scripts/install-deps"; exit 1; }
# Under valgrind deeptune cannot start itself again with OpenBLAS held to one
# thread (main.c), so set it here: OpenBLAS's own pool is never used, and its
# threads' stacks would show as possibly lost.
export OPENBLAS_NUM_THREADS=1
# valgrind cannot run AVX-512 code: an AVX-512 OpenBLAS kernel is not checked
case "${OPENBLAS_CORETYPE:-}" in
  SkylakeX|Cooperlake|SapphireRapids) echo "SKIP valgrind_import: valgrind cannot run the AVX-512 kernel OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"; exit 0 ;;
esac
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts/make-synthetic-session.py "$tmp/s" 5
vg="valgrind -q --suppressions=tests/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9"
$vg $DT import -q -i $tmp/s/images.zip -r $tmp/s/responses.csv -t $tmp/s/trials.npy --split $tmp/s/split.txt \
    --neuron-ids $tmp/s/neuron_ids.txt -o $tmp/a.h5
$vg $DT inspect $tmp/a.h5 >/dev/null
# the error paths free what they allocated too
if $vg $DT import -q -i $tmp/s/mixed -r $tmp/s/responses.npy -o $tmp/b.h5 2>$tmp/err; then exit 1; fi
grep -q "pass --resize" $tmp/err
grep -q "ERROR SUMMARY\|definitely lost" $tmp/err && { cat $tmp/err; exit 1; }
# features through a tiny network with every layer kind (random weights)
/usr/bin/python3 - "$tmp" <<'PY'
import sys, h5py, numpy as np
r = np.random.default_rng(0)
with h5py.File(sys.argv[1] + "/tiny.h5", "w") as f:
    f.attrs["architecture"] = "tiny-test"; f.attrs["input_size"] = 16
    for name, shape in (("c1", (4, 3, 3, 3)), ("c2a", (3, 4, 1, 1)), ("c2b", (2, 2, 3, 3)), ("f1", (5, 5 * 4 * 4))):
        f[name + "/weight"] = r.normal(size=shape).astype(np.float32)
        f[name + "/bias"] = r.normal(size=shape[0]).astype(np.float32)
PY
$vg $DT features -q -d $tmp/a.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat,prob -o $tmp/f.h5
$vg $DT inspect $tmp/f.h5 >/dev/null
# ridge readouts and predictions on them
$vg $DT fit -q -d $tmp/a.h5 -f $tmp/f.h5 --layer cat --folds 3 -o $tmp/r.h5 --metrics $tmp/m.csv 2>/dev/null
$vg $DT predict -m $tmp/r.h5 -d $tmp/a.h5 --csv $tmp/p.csv 2>/dev/null
$vg $DT inspect $tmp/r.h5 >/dev/null
# the Lasso with bootstrap refits appended, then DeepTune and stimulus sets on them
$vg $DT fit -q -d $tmp/a.h5 -f $tmp/f.h5 --layer cat --method lasso --nlambda 10 --folds 3 --bootstrap 1 -o $tmp/r.h5 --append 2>/dev/null
$vg $DT tune -q -m $tmp/r.h5 --neurons 0,1,2 --inits 2 --steps 3 -o $tmp/t.h5 --png-dir $tmp/png 2>/dev/null
$vg $DT stimuli -t $tmp/t.h5 --sizes 0.5 --random 1 --recombine 1 -o $tmp/stim 2>/dev/null
$vg $DT inspect $tmp/t.h5 >/dev/null
# clustering with stability and pictures, a readout embedding, and an error path
$vg $DT cluster -q -t $tmp/t.h5 --k 2 --stability --linkage average --png-dir $tmp/cpng -o $tmp/c.h5 2>/dev/null
$vg $DT cluster -q -t $tmp/t.h5 --embed responses --k 2 --stability -o $tmp/c2.h5 2>/dev/null
$vg $DT inspect $tmp/c.h5 >/dev/null
if $vg $DT cluster -q -t $tmp/t.h5 --k 9 -o $tmp/c3.h5 2>$tmp/err; then exit 1; fi
grep -q "^error: --k 9" $tmp/err
data=${DEEPTUNE_DATA:-../shared/data}
if [ -d "$data/v4-cowley2023" ]; then
  $vg $DT import -q -i $data/v4-cowley2023/images_210305.zip -r $data/v4-cowley2023/responses_210305.npy -o $tmp/v.h5
else
  echo "SKIP valgrind_import (V4 part): $data/v4-cowley2023 is absent"
fi
echo "valgrind_import ok: no leaks, no errors"
