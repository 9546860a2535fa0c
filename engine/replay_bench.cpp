// replay_bench.cpp: replay throughput of the allocator stacks (Google Benchmark).
//
//   BM_Replay/raw      events in memory -> Replayer over raw sim
//   BM_Replay/pooled   events in memory -> Replayer over pooled + raw sim
//
// The workload is `synth pylike --no-objects` (a malloc-level trace of a
// CPython service: mostly small, short-lived requests), HEAPLAY_BENCH_EVENTS
// records (default 5M), decoded once and kept in memory (32 bytes an event)
// so that only the stack is measured. items_per_second counts records, as
// `heaplay replay` reports events_per_second. Each iteration builds a fresh
// stack, so the figures include growing the heap from nothing.
#include <benchmark/benchmark.h>

#include "engine/replay.hpp"
#include "engine/stack.hpp"
#include "tests/memory_source.hpp"
#include "tests/test_util.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

testing::MemorySource& workload() {
  static testing::MemorySource w(make_pylike_source(testing::bench_events(5'000'000), 1, /*objects=*/false));
  return w;
}

void BM_Replay(benchmark::State& state, const char* stack_name) {
  testing::MemorySource& w = workload();
  const Params params = params_for(kDefaultPython);
  const StackOptions options;
  for (auto _ : state) {
    Stack stack = build_stack(parse_stack(stack_name), params, options);
    Replayer replayer(stack, params, options);
    w.read(replayer);
    benchmark::DoNotOptimize(replayer.finish().peak_footprint_bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.records()));
}

BENCHMARK_CAPTURE(BM_Replay, raw, "raw")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Replay, pooled, "pooled")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
