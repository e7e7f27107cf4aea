# Tests for src/calc.sh; run by ../run-tests.sh.
. ./src/calc.sh
check() {
  if [ "$2" = "$3" ]; then echo "ok   - $1"; else echo "FAIL - $1: expected $3, got $2"; failures=$((failures + 1)); fi
}
failures=0
check "add 2 3" "$(add 2 3)" 5
check "mul 4 5" "$(mul 4 5)" 20
