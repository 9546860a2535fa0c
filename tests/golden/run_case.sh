#!/usr/bin/env bash
# run_case.sh HEAPLAY CASE_DIR: one golden CLI test.
#
# CASE_DIR/cmd     a bash snippet, run in CASE_DIR with $HEAPLAY (the binary)
#                  and $TMP (a fresh directory) set
# CASE_DIR/stdout  the exact expected standard output
# CASE_DIR/status  the expected exit status (0 when absent)
# CASE_DIR/stderr  when present, the exact expected standard error
# CASE_DIR/needs_glibc_malloc  when present, the reason the case needs glibc's
#                  own malloc (--raw glibc and the real allocators are refused
#                  under a sanitizer): with HEAPLAY_SANITIZED=1 (the ASan tree)
#                  the case is skipped (exit 77) with that reason
# Set HEAPLAY_GOLDEN_UPDATE=1 to rewrite stdout/stderr/status from the actual run.
set -u
if [ "${HEAPLAY_SANITIZED:-0}" = 1 ] && [ -f "$2/needs_glibc_malloc" ]; then
  echo "skipped under a sanitizer: $(cat "$2/needs_glibc_malloc")"
  exit 77
fi
HEAPLAY=$(realpath "$1")
case_dir=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export HEAPLAY TMP
cd "$case_dir" || exit 1
bash ./cmd >"$TMP/.stdout" 2>"$TMP/.stderr"
status=$?
if [ "${HEAPLAY_GOLDEN_UPDATE:-0}" = 1 ]; then
  cp "$TMP/.stdout" stdout
  [ -f stderr ] && cp "$TMP/.stderr" stderr
  [ "$status" = 0 ] && rm -f status || echo "$status" >status
  exit 0
fi
expected_status=0
[ -f status ] && expected_status=$(cat status)
fail=0
if [ "$status" != "$expected_status" ]; then
  echo "exit status $status, expected $expected_status"
  fail=1
fi
if ! diff -u stdout "$TMP/.stdout"; then
  echo "stdout differs (above: - expected, + actual)"
  fail=1
fi
if [ -f stderr ] && ! diff -u stderr "$TMP/.stderr"; then
  echo "stderr differs (above: - expected, + actual)"
  fail=1
fi
if [ $fail = 1 ]; then
  echo "--- stderr of the run:"
  cat "$TMP/.stderr"
fi
exit $fail
