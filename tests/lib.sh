# tests/lib.sh — shared by the command-line tests (sourced, not run).
#
# expect_error NAME NEEDLE OUT -- COMMAND...
#   runs COMMAND -o OUT and counts a failure in $fails unless it exits
#   non-zero with exactly one line on stderr, "error: ..." containing NEEDLE,
#   and leaves neither OUT nor a temporary OUT.tmp.* behind.
fails=${fails:-0}
expect_error() {
  local name=$1 needle=$2 out=$3
  shift 4
  rm -f "$out"
  local rc=0 msg
  "$@" -o "$out" >/dev/null 2>"$out.err" || rc=$?
  msg=$(cat "$out.err")
  if [ $rc -eq 0 ] || [ "$(wc -l <"$out.err")" -ne 1 ] || ! grep -q '^error: ' "$out.err" || ! grep -qF -- "$needle" "$out.err" \
     || [ -e "$out" ] || ls "$out".tmp.* >/dev/null 2>&1; then
    echo "FAIL $name: rc=$rc stderr=[$msg]"
    fails=$((fails + 1))
  else
    echo "ok   $name: $msg"
  fi
  rm -f "$out.err"
}

# expect_fail NAME NEEDLE -- COMMAND...
#   like expect_error for commands whose outputs are given in COMMAND itself
#   (nothing is added or removed): non-zero exit, one "error: ..." line
#   containing NEEDLE.
expect_fail() {
  local name=$1 needle=$2 err
  shift 3
  err=$(mktemp)
  local rc=0
  "$@" >/dev/null 2>"$err" || rc=$?
  if [ $rc -eq 0 ] || [ "$(wc -l <"$err")" -ne 1 ] || ! grep -q '^error: ' "$err" || ! grep -qF -- "$needle" "$err"; then
    echo "FAIL $name: rc=$rc stderr=[$(cat "$err")]"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(cat "$err")"
  fi
  rm -f "$err"
}

# tiny_session N SEED M
#   the tiny test session in $tmp (tests/make-tiny.py): N stimuli, M neurons
#   with zero responses, the tiny network's weights; imported as $tmp/d0.h5,
#   with the features of its layer 'cat' in $tmp/f0.h5.
tiny_session() {
  /usr/bin/python3 tests/make-tiny.py "$tmp" "$1" "$2" "$3"
  $DT import -q -i $tmp/img -r $tmp/zero.npy -o $tmp/d0.h5 2>/dev/null
  $DT features -q -d $tmp/d0.h5 --weights $tmp/tiny.h5 --spec tests/fixtures/tiny.spec --layers cat -o $tmp/f0.h5 2>/dev/null
}
