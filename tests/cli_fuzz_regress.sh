#!/bin/bash
# The fuzzers' bad-input corpus, tests/badinput/NAME/ (NAME = the harness in
# tests/fuzz/): the inputs `make fuzz` found to crash, hang, leak or run out
# of memory, once fixed, and hand-made hostile inputs for each parser.  Each
# goes through the command that reads that kind of file, which must exit
# non-zero with exactly one line on stderr, "error: ..." (naming the file
# where the message can), and leave no output behind:
#   npy, csv  deeptune import -r FILE
#   zip       deeptune import -i FILE
#   image     deeptune import -i DIR, DIR holding only FILE
#   spec      deeptune features --spec FILE (the tiny session's weights)
#   h5        deeptune inspect FILE; responses-*.h5: deeptune import -r FILE
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
DT=${DEEPTUNE:-./deeptune}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tiny_session 2 1 1
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/one.npy', np.ones((1, 1)))"
out=$tmp/out.h5
n=0
for f in tests/badinput/npy/* tests/badinput/csv/*; do
  expect_error "import -r $f" "$(basename "$f")" $out -- $DT import -i $tmp/img -r "$f"
  n=$((n + 1))
done
for f in tests/badinput/zip/*; do
  expect_error "import -i $f" "$(basename "$f")" $out -- $DT import -i "$f" -r $tmp/zero.npy
  n=$((n + 1))
done
for f in tests/badinput/image/*; do
  d=$tmp/img-$n; mkdir -p $d; cp "$f" $d/
  expect_error "import image $f" "$(basename "$f")" $out -- $DT import -i $d -r $tmp/one.npy
  n=$((n + 1))
done
# a spec may parse and still not fit the input or the weights: any one-line
# error will do, so the needle is the line's start
for f in tests/badinput/spec/*; do
  expect_error "features --spec $f" "error: " $out -- $DT features -d $tmp/d0.h5 --weights $tmp/tiny.h5 --spec "$f" --layers cat
  n=$((n + 1))
done
for f in tests/badinput/h5/*; do
  case $(basename "$f") in
    responses-*) expect_error "import -r $f" "$(basename "$f")" $out -- $DT import -i $tmp/img -r "$f" ;;
    *) expect_fail "inspect $f" "$(basename "$f")" -- $DT inspect "$f" ;;
  esac
  n=$((n + 1))
done
echo "$n bad inputs, $fails failed"
[ $fails -eq 0 ]
