#!/usr/bin/env bash
# perf.sh [BUILD_DIR]: measure the figures kept in docs/performance.md.
#
# Builds heaplay and its benchmarks in Release (BUILD_DIR, default
# build-bench), makes the traces it needs under $HEAPLAY_PERF_DIR (default
# /tmp/heaplay-perf; about 1.5 GB at the default sizes) and prints each figure
# with the command behind it. Timings are medians of repeated runs; run it on
# a quiet machine, and compare ratios from one run, not across machines.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-bench}
dir=${HEAPLAY_PERF_DIR:-/tmp/heaplay-perf}
mkdir -p "$dir"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEAPLAY_TESTS=ON >/dev/null
cmake --build "$build" -j2 --target heaplay native_bench stats_bench text_bench heaptrack_bench replay_bench pooled_bench raw_sim_bench collector_bench ht_workload alloc_loop >/dev/null
cmake --build "$build" -j2 --target alloc_loop_pymalloc >/dev/null 2>&1 || true  # needs python3.11-dev
heaplay=$build/heaplay

echo "== machine"
echo "$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(git rev-parse --short HEAD)"

echo "== native format: bytes per event (pylike, 100M records)"
[ -f "$dir/p100.heaplay" ] || "$heaplay" -q synth pylike --events 100000000 --seed 1 -o "$dir/p100.heaplay"
[ -f "$dir/p10.heaplay" ] || "$heaplay" -q synth pylike --events 10000000 --seed 1 -o "$dir/p10.heaplay"
[ -f "$dir/b100.heaplay" ] || "$heaplay" -q synth pylike --no-objects --events 100000000 --seed 1 -o "$dir/b100.heaplay"
for f in p100 b100; do
  awk -v b="$(stat -c %s "$dir/$f.heaplay")" -v f="$f" 'BEGIN { printf "%s.heaplay: %.3f bytes/event\n", f, b / 1e8 }'
done

echo "== decode and stats microbenchmarks (Google Benchmark, 20M records)"
HEAPLAY_BENCH_EVENTS=20000000 "$build/tests/native_bench" --benchmark_filter=Decode \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"
"$build/tests/stats_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"
HEAPLAY_BENCH_EVENTS=5000000 "$build/tests/text_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"
HEAPLAY_BENCH_EVENTS=5000000 "$build/tests/heaptrack_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"

echo "== layers and the replay loop (Google Benchmark, events in memory)"
HEAPLAY_BENCH_EVENTS=5000000 "$build/tests/replay_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"
"$build/tests/raw_sim_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"
"$build/tests/pooled_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"
HEAPLAY_BENCH_EVENTS=5000000 "$build/tests/collector_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "median"

echo "== heaplay stats, whole process, 100M records, one and two threads (hyperfine medians)"
hyperfine -N -w 1 -r 5 --export-json "$dir/stats.json" \
  "$heaplay stats $dir/p100.heaplay --format json --threads 1" \
  "$heaplay stats $dir/p100.heaplay --format json --threads 2" \
  "$heaplay stats $dir/b100.heaplay --format json --threads 1" \
  "$heaplay stats $dir/b100.heaplay --format json --threads 2" >/dev/null
python3 - "$dir/stats.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']}: median {r['median']:.3f} s = {1e8 / r['median'] / 1e6:.1f}M events/s")
PY

echo "== peak RSS: memory follows the live set, not the trace length"
cc -O2 tests/bench/steady.c -o "$dir/steady"
for n in 10 100; do
  [ -f "$dir/s$n.heaplay" ] || { "$dir/steady" ${n}000000 > "$dir/s$n.trace" && "$heaplay" -q convert "$dir/s$n.trace" "$dir/s$n.heaplay"; }
done
for f in s10.trace s100.trace s10.heaplay s100.heaplay p10.heaplay p100.heaplay; do
  /usr/bin/time -f "$f: %e s, peak RSS %M KiB" "$heaplay" stats "$dir/$f" --format json 2>&1 >"$dir/out.json" |
    tr '\n' ' '
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"(peak live blocks {d['peak_live_blocks']})\")" "$dir/out.json"
done

echo "== heaptrack: heaplay stats vs heaptrack_print (floor: zstd -dc), hyperfine medians"
if command -v heaptrack >/dev/null; then
  [ -f "$dir/ht_py.zst" ] || PYTHONMALLOC=malloc heaptrack -o "$dir/ht_py" /usr/bin/python3 tests/workloads/ht_big.py >/dev/null 2>&1
  [ -f "$dir/ht_cpp.zst" ] || heaptrack -o "$dir/ht_cpp" "$build/tests/ht_workload" 4000 >/dev/null 2>&1
  for f in ht_py ht_cpp; do
    hyperfine -N -w 1 -r 7 --export-json "$dir/$f.json" "heaptrack_print $dir/$f.zst" \
      "$heaplay stats $dir/$f.zst --threads 2" "$heaplay stats $dir/$f.zst --threads 1" "zstd -dc $dir/$f.zst" >/dev/null
    python3 - "$dir/$f.json" "$f" <<'PY'
import json, sys
m = {}
for r in json.load(open(sys.argv[1]))["results"]:
    c = r["command"]
    m["two" if "threads 2" in c else "one" if "threads 1" in c else c.split()[0]] = r["median"]
print(f"{sys.argv[2]}: heaptrack_print {m['heaptrack_print']*1e3:.1f} ms, heaplay {m['two']*1e3:.1f} ms "
      f"(one thread {m['one']*1e3:.1f} ms), zstd -dc {m['zstd']*1e3:.1f} ms: "
      f"print/heaplay {m['heaptrack_print']/m['two']:.2f}x (one thread {m['heaptrack_print']/m['one']:.2f}x), "
      f"heaplay/zstd {m['two']/m['zstd']:.2f}x")
PY
  done
else
  echo "heaptrack is not installed (bash .ci/setup installs it)"
fi

echo "== replay against bare allocator loops (whole process, alternating rounds, medians, 10M records)"
# The loops make the trace's requests from an array decoded beforehand
# (tests/bench/alloc_loop.cpp); heaplay reads, validates, replays and reports.
[ -f "$dir/b10.heaplay" ] || "$heaplay" -q synth pylike --no-objects --events 10000000 --seed 1 -o "$dir/b10.heaplay"
"$build/tests/alloc_loop" decode "$dir/b10.heaplay" "$dir/b10.ops" >/dev/null
loops=("$build/tests/alloc_loop run $dir/b10.ops --touch first")
[ -x "$build/tests/alloc_loop_pymalloc" ] && loops+=("$build/tests/alloc_loop_pymalloc run $dir/b10.ops")
replay="$heaplay replay $dir/b10.heaplay --format json --no-progress"
# Alternating rounds (interleave.py), not hyperfine's back-to-back runs: the
# ratios are medians of per-round ratios, robust to the shared machine's
# drifting load. The pymalloc loop's line gives pooled's ratio to it.
python3 tests/bench/interleave.py 15 "${loops[0]}" \
  "$replay --raw glibc --stack raw --touch first" \
  "$replay --raw glibc --stack raw --touch first --samples 1" \
  "$replay --stack pooled" "$replay --stack pooled --raw glibc --touch first"
if [ "${#loops[@]}" -gt 1 ]; then
  python3 tests/bench/interleave.py 15 "${loops[1]}" "$replay --stack pooled"
fi
# Random frees among 50K live blocks (the steady trace made above).
"$build/tests/alloc_loop" decode "$dir/s10.heaplay" "$dir/s10.ops" >/dev/null
python3 tests/bench/interleave.py 11 "$build/tests/alloc_loop run $dir/s10.ops --touch first" \
  "$heaplay replay $dir/s10.heaplay --format json --no-progress --raw glibc --stack raw --touch first"

# Trace length 10M/100M/1B, memory per live block, compare --jobs 1 vs 2
# (about 6 minutes and 3 GB more; HEAPLAY_SCALING_SIZES to change the sizes).
bash tests/bench/scaling.sh "$heaplay" "$dir"
