#!/bin/bash
# The bad-input corpus: every case must exit non-zero with exactly one line on
# stderr, "error: ..." naming the offending file, and leave no output (and no
# temporary file) behind.
set -u
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts/make-synthetic-session.py "$tmp/s" 4 || exit 1
s=$tmp/s; out=$tmp/out; mkdir -p $out
fails=0

. tests/lib.sh
# expect NAME NEEDLE -- command...: NEEDLE must appear in the error line
expect() { local name=$1 needle=$2; shift 3; expect_error "$name" "$needle" $out/d.h5 -- "$@"; }

mk() { mkdir -p "$1"; cp $s/images/image1.png $s/images/image2.png "$1"/; }

# truncated PNG
mk $tmp/tpng; head -c 300 $s/images/image2.png > $tmp/tpng/image2.png
expect "truncated PNG" "image2.png: corrupt or truncated PNG" -- $DT import -i $tmp/tpng -r $s/resp2.npy
# truncated JPEG (from the shared-data photos if present, else made by PIL)
mkdir -p $tmp/tjpg
/usr/bin/python3 -c "
from PIL import Image; import numpy as np, io
b = io.BytesIO(); Image.fromarray(np.random.default_rng(0).integers(0,256,(40,40,3),dtype=np.uint8)).save(b,'JPEG')
open('$tmp/tjpg/a1.jpg','wb').write(b.getvalue()); open('$tmp/tjpg/a2.jpg','wb').write(b.getvalue()[:len(b.getvalue())//2])"
/usr/bin/python3 -c "import numpy as np; np.save('$s/resp2.npy', np.ones((3, 2)))"
expect "truncated JPEG" "a2.jpg: corrupt or truncated JPEG" -- $DT import -i $tmp/tjpg -r $s/resp2.npy
# a text file named .png
mk $tmp/txt; echo "hello" > $tmp/txt/image3.png
/usr/bin/python3 -c "import numpy as np; np.save('$s/resp3.npy', np.ones((3, 3)))"
expect "text named .png" "image3.png: not a PNG or JPEG" -- $DT import -i $tmp/txt -r $s/resp3.npy
# empty directory, empty zip
mkdir -p $tmp/empty
expect "empty directory" "empty: no .png or .jpg images" -- $DT import -i $tmp/empty -r $s/resp3.npy
/usr/bin/python3 -c "import zipfile; zipfile.ZipFile('$tmp/empty.zip','w').close()"
expect "empty zip" "empty.zip: no .png or .jpg images" -- $DT import -i $tmp/empty.zip -r $s/resp3.npy
# not a zip at all
expect "text as image source" "split.txt: not a zip archive" -- $DT import -i $s/split.txt -r $s/resp3.npy
cp $s/split.txt $tmp/bad.zip
expect "corrupt zip" "bad.zip: not a zip archive" -- $DT import -i $tmp/bad.zip -r $s/resp3.npy
# mixed sizes without --resize
expect "mixed sizes" "pass --resize" -- $DT import -i $s/mixed -r $s/resp3.npy
# response count differs from the image count
expect "count mismatch" "responses.npy: 5 x 12 responses, but" -- $DT import -i $tmp/tpng/../txt/../s/mixed -r $s/responses.npy --resize 8
expect "count mismatch, explicit layout" "gives 12 stimuli" -- $DT import -i $s/mixed -r $s/responses.npy --layout neurons-x-stimuli --resize 8
# Inf in responses (.npy and .csv)
/usr/bin/python3 -c "
import numpy as np; r = np.load('$s/responses.npy'); r[1, 3] = np.inf; np.save('$tmp/inf.npy', r)"
expect "Inf in .npy" "inf.npy: infinite value for stimulus 3, neuron 1" -- $DT import -i $s/images -r $tmp/inf.npy
sed '3s/^[^,]*,/inf,/' $s/responses.csv > $tmp/inf.csv
expect "Inf in .csv" "inf.csv: infinite value for stimulus 1, neuron 0" -- $DT import -i $s/images -r $tmp/inf.csv
# .npy of an unsupported dtype, and a corrupt header
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/c.npy', np.zeros((5, 12), np.complex64))"
expect "unsupported dtype" "c.npy: unsupported dtype '<c8'" -- $DT import -i $s/images -r $tmp/c.npy
/usr/bin/python3 -c "
d = open('$s/responses.npy','rb').read(); open('$tmp/hdr.npy','wb').write(d[:10] + d[10:].replace(b'shape', b'shapx', 1))"
expect "corrupt header" "hdr.npy: corrupt .npy header" -- $DT import -i $s/images -r $tmp/hdr.npy
head -c 100 $s/responses.npy > $tmp/short.npy
expect "truncated .npy" "short.npy: corrupt .npy" -- $DT import -i $s/images -r $tmp/short.npy
# HDF5 without the named dataset
expect "missing HDF5 dataset" "responses.h5: no dataset '/data/nope'" -- $DT import -i $s/images -r $s/responses.h5:/data/nope
expect "missing default dataset" "responses.h5: no dataset 'responses'" -- $DT import -i $s/images -r $s/responses.h5
# a forged .npy shape whose element count wraps around to the file's (empty) length
/usr/bin/python3 -c "
h = b\"{'descr': '<f8', 'fortran_order': False, 'shape': (12, 4611686018427387904), }\"
h += b' ' * (63 - (len(h) + 10) % 64) + b'\n'
open('$tmp/wrap.npy', 'wb').write(b'\x93NUMPY\x01\x00' + len(h).to_bytes(2, 'little') + h)"
expect "wrapping .npy shape" "wrap.npy: corrupt .npy header (shape too large)" -- $DT import -i $s/images -r $tmp/wrap.npy
# a --split value other than 0/1 in a .npy (the message used to read freed memory)
/usr/bin/python3 -c "import numpy as np; s = np.zeros(12); s[5] = 2; np.save('$tmp/split2.npy', s)"
expect "split value 2 in .npy" "split2.npy: split value 2 at stimulus 5; use 0 (train) or 1 (test)" -- $DT import -i $s/images -r $s/responses.npy --split $tmp/split2.npy
# names that are not UTF-8 (every name is stored as a UTF-8 string, which h5py
# must be able to read), and a zip member that appears twice
/usr/bin/python3 - "$tmp" <<'PY'
import sys, zipfile, warnings
t = sys.argv[1]
png = open(f"{t}/s/images/image1.png", "rb").read()
with zipfile.ZipFile(f"{t}/latin1.zip", "w") as z:
    z.writestr("stim/a1.png", png)
    z.writestr("stim/bX.png", png)
d = open(f"{t}/latin1.zip", "rb").read()  # the name in Latin-1, as old Windows zips have it
open(f"{t}/latin1.zip", "wb").write(d.replace(b"stim/bX.png", b"stim/b\xe9.png"))
warnings.simplefilter("ignore")
with zipfile.ZipFile(f"{t}/dup.zip", "w") as z:
    for name in ("stim/a1.png", "stim/a2.png", "stim/a1.png"):
        z.writestr(name, png)
open(f"{t}/ids.txt", "wb").write(b"n0\nn\xe91\nn2\nn3\nn4\n")
PY
/usr/bin/python3 -c "import numpy as np; np.save('$s/resp2x2.npy', np.ones((2, 2)) + np.eye(2))"
expect "zip name not UTF-8" "latin1.zip: entry name 'stim/b\xe9.png' is not valid UTF-8" -- $DT import -i $tmp/latin1.zip -r $s/resp2x2.npy --layout stimuli-x-neurons
expect "duplicate zip member" "dup.zip: entry 'stim/a1.png' appears more than once" -- $DT import -i $tmp/dup.zip -r $s/resp3.npy --layout stimuli-x-neurons
expect "neuron id not UTF-8" "ids.txt: neuron id 1 ('n\xe91') is not valid UTF-8" -- $DT import -i $s/images -r $s/responses.npy --neuron-ids $tmp/ids.txt
expect "--units not UTF-8" "--units 'spikes/s \xb5': not valid UTF-8" -- $DT import -i $s/images -r $s/responses.npy --units $'spikes/s \xb5'
# a 69-byte PNG declaring 65536 x 65536 and a JPEG declaring 60000 x 60000 are
# refused from their headers, before any pixel memory is asked for
mkdir -p $tmp/huge $tmp/hugej
/usr/bin/python3 - "$tmp" <<'PY'
import sys, struct, zlib, io
import numpy as np
from PIL import Image
t = sys.argv[1]
def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
open(f"{t}/huge/a.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 65536, 65536, 8, 2, 0, 0, 0))
                                    + chunk(b"IDAT", zlib.compress(b"\0" * 40)) + chunk(b"IEND", b""))
b = io.BytesIO(); Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(b, "JPEG"); j = bytearray(b.getvalue())
k = j.index(b"\xff\xc0"); j[k + 5:k + 9] = struct.pack(">HH", 60000, 60000)
open(f"{t}/hugej/a.jpg", "wb").write(j)
np.save(f"{t}/resp1.npy", np.ones((1, 2)))
PY
expect "PNG of 65536x65536" "a.png: PNG declares 65536x65536 pixels; deeptune decodes at most 16384 pixels per side" -- $DT import -i $tmp/huge -r $tmp/resp1.npy
expect "JPEG of 60000x60000" "a.jpg: JPEG declares 60000x60000 pixels; deeptune decodes at most 16384 pixels per side" -- $DT import -i $tmp/hugej -r $tmp/resp1.npy
# fit refuses features that are not finite and responses its sums of squares
# cannot hold (both used to give NaN readouts marked fitted, with exit 0),
# naming the file, the dataset and the place; an error writing the readouts
# file names it
tiny_session 30 3 2
/usr/bin/python3 - "$tmp" <<'PY'
import sys, numpy as np
r = np.random.default_rng(1).normal(size=(30, 2))
np.save(f"{sys.argv[1]}/resp.npy", r)
np.save(f"{sys.argv[1]}/big.npy", r * 1e300)
PY
for v in resp big; do
  $DT import -q -i $tmp/img -r $tmp/$v.npy -o $tmp/d$v.h5 2>/dev/null
  $DT features -q -d $tmp/d$v.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/f$v.h5 2>/dev/null
done
cp $tmp/fresp.h5 $tmp/finf.h5
/usr/bin/python3 -c "
import h5py, numpy as np
with h5py.File('$tmp/finf.h5', 'r+') as f:
    x = f['features/cat'][...]; x[3, 1, 0, 0] = np.inf; f['features/cat'][...] = x"
for m in ridge lasso; do
  expect "fit $m: Inf in features" "finf.h5: /features/cat: stimulus 3, feature 64 is inf; the file is damaged: re-run deeptune features" -- \
    $DT fit -q -d $tmp/dresp.h5 -f $tmp/finf.h5 -l cat --method $m
  expect "fit $m: responses of 1e300" "dbig.h5: /responses: stimulus 0, neuron 0 is" -- $DT fit -q -d $tmp/dbig.h5 -f $tmp/fbig.h5 -l cat --method $m
done
$DT fit -q -d $tmp/dresp.h5 -f $tmp/fresp.h5 -l cat -o $out/app.h5 2>/dev/null
/usr/bin/python3 -c "
import h5py
with h5py.File('$out/app.h5', 'r+') as f:
    del f['models']; f['models'] = [1, 2]"
expect_fail "fit --append: /models not a group" "app.h5: cannot create group '/models/x'" -- \
  $DT fit -q -d $tmp/dresp.h5 -f $tmp/fresp.h5 -l cat -o $out/app.h5 --append --name x
rm -f $out/app.h5
# numbers: every numeric option is read whole (no atoi/atof), so text, a
# trailing unit, NaN or a signed seed is an error naming the option, before
# any file is opened or written
o=$out/n.h5
for c in "tune --steps abc" "tune --inits 3x" "tune --init-sd abc" "tune --lr 1:x" "tune --tv nan" \
         "tune --blur 1:" "tune --contrast inf" "tune --jitter 1.5" "tune --threads two" "tune --min-r 0.3.1" \
         "tune --seed -1" "tune --check-gradients=" "fit --folds x" "fit --alpha 0.5a" "fit --tol 1e-400x" \
         "fit --seed 1.5" "fit --bootstrap 10k" "stimuli --random 2x" "stimuli --seed abc" "cluster --k 2x" \
         "cluster --height h" "features --batch 0x10" "features --threads 99999999999" \
         "fit --lambdas 1,,2" "fit --lambdas 1e3," "stimuli --sizes 0.5,x" "stimuli --sizes ,0.5"; do
  set -- $c
  case $1 in
    tune) args="-m $tmp/none.h5 --neurons 0 -o $o" ;;
    fit) args="-d $tmp/none.h5 -f $tmp/none.h5 -l conv1 -o $o" ;;
    stimuli) args="-t $tmp/none.h5 -o $out/stim" ;;
    cluster) args="-t $tmp/none.h5 -o $o" ;;
    features) args="-d $tmp/none.h5 -l conv1 -o $o" ;;
  esac
  opt=${2%%=*}
  expect_fail "$c" "error: $opt '" -- $DT $1 $args "${@:2}"
done
# the rule is the option's, not the parser's: --init-sd only with noise
expect_fail "tune --init-sd with --init gray" "--init-sd sets the noise of --init noise" -- $DT tune -m $tmp/none.h5 --neurons 0 --init gray --init-sd 3 -o $o
if [ -z "$(ls -A $out)" ]; then echo "ok   bad numbers leave no output"
else echo "FAIL bad numbers left $(ls -A $out)"; fails=$((fails + 1)); fi
# unwritable output path
$DT import -i $s/images -r $s/responses.npy -o $tmp/no/such/dir/d.h5 2>$tmp/stderr
if [ $? -ne 0 ] && [ "$(wc -l <$tmp/stderr)" -eq 1 ] && grep -q "no/such/dir/d.h5: cannot write output" $tmp/stderr; then
  echo "ok   unwritable output: $(cat $tmp/stderr)"
else echo "FAIL unwritable output: $(cat $tmp/stderr)"; fails=$((fails + 1)); fi
# a failed run with --force leaves the user's existing file untouched
echo "precious" > $out/keep.h5
$DT import -i $tmp/txt -r $s/resp3.npy -o $out/keep.h5 --force 2>/dev/null
if [ $? -ne 0 ] && [ "$(cat $out/keep.h5)" = precious ] && [ "$(ls -A $out)" = keep.h5 ]; then echo "ok   failed --force keeps the old file"
else echo "FAIL failed --force damaged the old file"; fails=$((fails + 1)); fi

# a run killed by SIGKILL cannot remove its temporary output; the next run
# writing the same output removes it, as its process is gone, but never the
# temporary of a live process or of another machine
$DT fit -q -d $tmp/dresp.h5 -f $tmp/fresp.h5 -l cat --bootstrap 10000 -o $out/k.h5 2>/dev/null & pid=$!
for i in $(seq 500); do ls $out/k.h5.tmp.* >/dev/null 2>&1 && break; sleep 0.01; done
kill -KILL $pid; { wait $pid; } 2>/dev/null
stale=$(ls $out/k.h5.tmp.* 2>/dev/null)
sleep 60 & live=$!
alive=$(echo "$stale" | sed "s/\.$pid\.\([A-Za-z0-9]*\)$/.$live.\1/")
other=$out/k.h5.tmp.elsewhere.$pid.abcdef
[ -n "$stale" ] && [ "$alive" != "$stale" ] && touch "$alive" "$other"
if [ -n "$stale" ] && [ "$alive" != "$stale" ] && $DT fit -q -d $tmp/dresp.h5 -f $tmp/fresp.h5 -l cat -o $out/k.h5 2>/dev/null &&
   [ -e $out/k.h5 ] && [ ! -e "$stale" ] && [ -e "$alive" ] && [ -e "$other" ]; then
  echo "ok   a killed run's temporary is removed by the next run, a live one's is kept"
else
  echo "FAIL stale temporaries: killed run left [$stale]; now $(ls $out | grep k.h5 | tr '\n' ' ')"; fails=$((fails + 1))
fi
kill $live; { wait $live; } 2>/dev/null
rm -f $out/k.h5 "$alive" "$other"

echo "$fails failures"
[ $fails -eq 0 ]
