#!/bin/bash
# Import all eight shared V4 sessions (../shared/data/v4-cowley2023) and check
# each against the source files read independently (tests/check_v4.py).
set -eu
cd "$(dirname "$0")/.."
DT=${DEEPTUNE:-./deeptune}
data=${DEEPTUNE_DATA:-../shared/data}
v4=$data/v4-cowley2023
if [ ! -d "$v4" ]; then echo "SKIP cli_v4: $v4 is absent (set DEEPTUNE_DATA)"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# session neurons images, from ../shared/data/README.md
while read -r sess m n; do
  $DT import -q -i $v4/images_$sess.zip -r $v4/responses_$sess.npy --units "spikes per 100 ms bin, repeat-averaged" \
     -o $tmp/$sess.h5 2>/dev/null
  tests/check_v4.py $tmp/$sess.h5 $v4/images_$sess.zip $v4/responses_$sess.npy $m $n
  $DT inspect --brief $tmp/$sess.h5 | grep -q "responses   $n stimuli x $m neurons float64, 0 NaN"
done <<'T'
190925 36 1200
190927 31 1200
190928 24 1200
190929 33 1200
210621 51 1200
210305 70 400
210322 59 1200
210224 67 800
T
echo "cli_v4 ok"
