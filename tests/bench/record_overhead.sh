#!/usr/bin/env bash
# record_overhead.sh [BUILD_DIR]: what `heaplay record` costs a program, side
# by side with the bare program and with heaptrack, on the same workloads
# (docs/performance.md, "heaplay record overhead").
#
# For each workload, one hyperfine run of three commands (bare, heaplay
# record, heaptrack), RUNS runs each (default 7), after a warm-up; prints the
# medians, each recorder's slowdown (median / bare median) and the ratio of
# the two overheads ((record - bare) / (heaptrack - bare)). The workloads: a
# C++ program (cpp_churn, userland allocations; ht_workload, the heaptrack
# tests' program, which spends its time in the kernel) and CPython with
# PYTHONMALLOC=malloc on two scripts. Run it on a quiet machine: the program
# and the recorder each want a core.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-rel}
runs=${RUNS:-7}
out=${HEAPLAY_PERF_DIR:-/tmp/heaplay-perf}/record
mkdir -p "$out"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target heaplay ht_workload cpp_churn >/dev/null
heaplay=$build/heaplay

echo "== machine"
echo "$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME ENV COMMAND...: the three commands in one hyperfine run.
measure() {
  local name=$1 env=$2
  shift 2
  local cmd="$*"
  hyperfine -N -w 1 -r "$runs" --export-json "$out/$name.json" \
    -n bare "env $env $cmd" \
    -n record "env $env $heaplay -q record -o $out/$name.heaplay -- $cmd" \
    -n heaptrack "env $env heaptrack -o $out/$name.heaptrack $cmd" >/dev/null
  python3 - "$out/$name.json" "$name" <<'EOF'
import json, sys
r = {x["command"]: sorted(x["times"]) for x in json.load(open(sys.argv[1]))["results"]}
med = {k: v[len(v) // 2] for k, v in r.items()}
b, rec, ht = med["bare"], med["record"], med["heaptrack"]
print(f"{sys.argv[2]:<14} bare {b*1000:7.0f} ms   record {rec*1000:7.0f} ms ({rec/b:4.2f}x)   "
      f"heaptrack {ht*1000:7.0f} ms ({ht/b:5.2f}x)   overheads {(rec-b)/(ht-b):4.2f}")
EOF
}

echo "== medians of $runs runs; slowdown = median / bare median; overheads = (record - bare) / (heaptrack - bare)"
measure cpp_churn "" "$build/tests/cpp_churn" 20
measure ht_workload "" "$build/tests/ht_workload" 300
measure ht_big PYTHONMALLOC=malloc /usr/bin/python3 tests/workloads/ht_big.py
measure json_loop PYTHONMALLOC=malloc /usr/bin/python3 tests/workloads/json_loop.py
