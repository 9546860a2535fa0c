#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...]: runs heaplay's libFuzzer targets.
#
# Builds the clang ASan+UBSan tree (build-asan, or $HEAPLAY_FUZZ_BUILD) with
# the fuzz targets, then runs each target for SECONDS (default 60), two at a
# time, starting from its committed seeds (tests/fuzz/corpus/, read only). New
# inputs go to a scratch corpus under the build tree (kept between runs, so
# a later run starts where this one stopped); a crash, leak, timeout or
# oversized allocation is written to BUILD/fuzz-findings/TARGET/ and makes
# the script fail. Logs: BUILD/fuzz-logs/TARGET.log. With no TARGET, all.
#
# Environment: HEAPLAY_FUZZ_BUILD (build dir), HEAPLAY_FUZZ_JOBS (targets at
# once, default 2), HEAPLAY_FUZZ_NO_BUILD=1 (use the binaries as they are).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
build=${HEAPLAY_FUZZ_BUILD:-build-asan}
jobs=${HEAPLAY_FUZZ_JOBS:-2}
all=(text native heaptrack mtrace native_frames replay_raw replay_pooled replay_objspec replay_gc)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if [ "${HEAPLAY_FUZZ_NO_BUILD:-0}" != 1 ]; then
  # The same configuration as .ci/run's sanitizer tree, so either builds for the other.
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DHEAPLAY_SANITIZE=ON -DHEAPLAY_FUZZ=ON -DHEAPLAY_BENCH=OFF >/dev/null
  cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"
fi

# The seeds a target starts from: replay targets share theirs.
seeds_of() { case $1 in replay_*) echo tests/fuzz/corpus/replay ;; *) echo "tests/fuzz/corpus/$1" ;; esac; }

run_one() {
  local t=$1 work="$build/fuzz-work/$1" found="$build/fuzz-findings/$1" log="$build/fuzz-logs/$1.log"
  mkdir -p "$work" "$found" "$(dirname "$log")"
  # -malloc_limit_mb: a single allocation past 256 MiB is a finding (the
  # largest a reader may make is a native block's 64 MiB payload);
  # -timeout: an input that takes 10 s is one; -max_len: inputs up to 16 KiB.
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$found/" "$work" "$(seeds_of "$t")" >"$log" 2>&1; then
    echo "fuzz_$t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs in ${seconds}s," \
      "$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')/s, no findings"
  else
    echo "fuzz_$t: FINDING (see $log and $found/)"
    tail -n 40 "$log" >&2
    return 1
  fi
}

status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
