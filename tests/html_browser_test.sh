#!/usr/bin/env bash
# html_browser_test.sh HEAPLAY: the --html report in a real browser (headless Chromium).
#
# Replays a synthetic service trace on the gc stack with --html, then has
# Debian's chromium (installed by .ci/setup) load the page twice: --dump-dom
# (the DOM after parsing must have the four charts, the summary table and
# the footprint polylines) and --screenshot (a 1200x2000 PNG must appear;
# kept as $HEAPLAY_HTML_SHOT when that is set, to look at). Any console
# message (an uncaught error, console.error: the page has no scripts, so
# there should be none) fails the test; a planted error first checks that
# such messages are seen at all.
#
# Without chromium the test FAILS (CI installs it). Developers without it can
# set HEAPLAY_SKIP_BROWSER_TEST=1: the test then reports itself skipped (exit 77).
set -u
HEAPLAY=$(realpath "$1")
if [ "${HEAPLAY_SKIP_BROWSER_TEST:-0}" = 1 ]; then
  echo "html_browser_test: skipped (HEAPLAY_SKIP_BROWSER_TEST=1)"
  exit 77
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "html_browser_test: FAIL: chromium not found. Run .ci/setup (apt-get install chromium)," >&2
  echo "or set HEAPLAY_SKIP_BROWSER_TEST=1 to skip this test on a developer machine." >&2
  exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
fail() {
  echo "html_browser_test: FAIL: $*" >&2
  exit 1
}

# Headless, no sandbox (CI runs as root), a fresh profile per run, logs on stderr.
browse() {  # browse PROFILE ARGS...: chromium's stdout; stderr goes to PROFILE.log
  local profile=$1
  shift
  timeout 120 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$TMP/$profile" --enable-logging=stderr --v=0 "$@" 2>"$TMP/$profile.log"
}
console_lines() { grep -E 'CONSOLE|Uncaught' "$1" || true; }

# The detector sees a planted script error.
echo '<!DOCTYPE html><html><body><script>undefined_function();</script></body></html>' >planted.html
browse planted --dump-dom planted.html >/dev/null || fail "chromium failed on a trivial page: $(tail -5 planted.log)"
[ -n "$(console_lines planted.log)" ] || fail "chromium's log did not show a planted script error; the console check would see nothing"

"$HEAPLAY" -q synth service --events 200000 -o trace.heaplay || fail "heaplay synth"
"$HEAPLAY" -q replay trace.heaplay --stack gc --html page.html >/dev/null || fail "heaplay replay --html"
[ -s page.html ] || fail "page.html was not written"

browse dom --dump-dom page.html >dom.html || fail "chromium --dump-dom exited $?: $(tail -5 dom.log)"
for id in chart-footprint chart-jw4 chart-fragmentation chart-throughput summary; do
  grep -q "id=\"$id\"" dom.html || fail "the DOM has no element id=\"$id\""
done
grep -q '<table id="summary"' dom.html || fail "the summary is not a table"
[ "$(grep -c '<polyline class="series held"' dom.html)" = 1 ] || fail "expected one held polyline"
[ "$(grep -c '<polyline class="series live"' dom.html)" = 1 ] || fail "expected one live polyline"
grep -q '</html>' dom.html || fail "the DOM dump is incomplete"
errors=$(console_lines dom.log)
[ -z "$errors" ] || fail "console messages while loading the page: $errors"

browse shot --screenshot="$TMP/shot.png" --window-size=1200,2000 page.html >/dev/null ||
  fail "chromium --screenshot exited $?: $(tail -5 shot.log)"
[ -s shot.png ] || fail "no screenshot written"
[ "$(head -c 8 shot.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "shot.png is not a PNG"
# IHDR: width and height, big-endian, at bytes 16 and 20.
size=$(od -An -tu1 -j16 -N8 shot.png | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}')
[ "$size" = 1200x2000 ] || fail "screenshot is $size, expected 1200x2000"
errors=$(console_lines shot.log)
[ -z "$errors" ] || fail "console messages while rendering the screenshot: $errors"
[ -z "${HEAPLAY_HTML_SHOT:-}" ] || cp shot.png "$HEAPLAY_HTML_SHOT"
echo "html_browser_test: ok (4 charts, summary table, ${size} screenshot, no console messages)"
