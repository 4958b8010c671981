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
  "$@" -o "$out" >/dev/null 2>"$out.err"
  local rc=$? msg
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
