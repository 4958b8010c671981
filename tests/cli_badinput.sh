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

echo "$fails failures"
[ $fails -eq 0 ]
