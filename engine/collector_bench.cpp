// collector_bench.cpp: the collector and reference counting (Google Benchmark).
//
//   BM_FullCollection    one collection of generation 2 over 1M tracked
//                        objects (lists and dicts in trees of 4-way fan-out,
//                        every 64th object held from outside, 10% of the
//                        objects in garbage cycles of two), on gc+pooled;
//                        time per collection (building the heap is excluded)
//   BM_ObjectReplay/WORKLOAD/STACK   `heaplay synth WORKLOAD` (pylike: with
//                        objects; service: the request/response workload),
//                        HEAPLAY_BENCH_EVENTS records (default 5M), in memory
//                        -> Replayer over STACK (gc: the whole stack with free
//                        lists; gc+pooled; pooled: counting, no collector); records/s
#include <benchmark/benchmark.h>

#include <memory>
#include <span>
#include <vector>

#include "engine/gc_layer.hpp"
#include "engine/replay.hpp"
#include "engine/stack.hpp"
#include "tests/memory_source.hpp"
#include "tests/test_util.hpp"
#include "traces/synth.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

void BM_FullCollection(benchmark::State& state) {
  constexpr uint32_t kObjects = 1'000'000;
  Params params = params_for(kDefaultPython);
  params.gc.thresholds[0] = 0;  // no automatic collections while the heap is built
  StringTable strings;
  const StringId list = strings.intern("list"), dict = strings.intern("dict");
  uint64_t collected = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Stack stack = build_stack(parse_stack("gc+pooled"), params, {});
    auto& gc_layer = static_cast<GcLayer&>(stack.top());
    LiveBytes live;
    RefGraph graph(*gc_layer.below(), live);
    Collector& gc = gc_layer.collector();
    gc_layer.use_strings(strings);
    gc.attach(graph);
    graph.set_collector(&gc);
    const uint32_t live_objects = kObjects - kObjects / 10;
    for (uint32_t s = 0; s < live_objects; ++s) {
      graph.create(s, s % 3 ? 56 : 232, s % 3 ? list : dict);
      if (s > 0) graph.link((s - 1) / 4, s);
      if (s % 64 != 0) graph.decref(s);  // held by its parent only
    }
    for (uint32_t s = live_objects; s < kObjects; s += 2) {  // garbage: two-object cycles
      graph.create(s, 56, list);
      graph.create(s + 1, 232, dict);
      graph.link(s, s + 1);
      graph.link(s + 1, s);
      graph.decref(s);
      graph.decref(s + 1);
    }
    const uint64_t before = gc.summary().collected_objects;
    state.ResumeTiming();
    gc.collect(2);
    state.PauseTiming();
    collected = gc.summary().collected_objects - before;
    if (collected != kObjects / 10) state.SkipWithError("wrong garbage count");
    state.ResumeTiming();
  }
  state.counters["collected"] = static_cast<double>(collected);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kObjects));
}

testing::MemorySource& workload(std::string_view name) {
  const uint64_t events = testing::bench_events(5'000'000);
  static testing::MemorySource pylike(make_pylike_source(events, 1, /*objects=*/true)),
      service(make_service_source(events, 1));
  return name == "pylike" ? pylike : service;
}

void BM_ObjectReplay(benchmark::State& state, const char* workload_name, const char* stack_name) {
  testing::MemorySource& w = workload(workload_name);
  const Params params = params_for(kDefaultPython);
  const StackOptions options;
  uint64_t collections = 0;
  for (auto _ : state) {
    Stack stack = build_stack(parse_stack(stack_name), params, options);
    Replayer replayer(stack, params, options);
    w.read(replayer);
    const ReplayResult r = replayer.finish();
    collections = r.gc.collections[0] + r.gc.collections[1] + r.gc.collections[2];
    benchmark::DoNotOptimize(r.peak_footprint_bytes);
  }
  state.counters["gc_collections"] = static_cast<double>(collections);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.records()));
}

BENCHMARK(BM_FullCollection)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK_CAPTURE(BM_ObjectReplay, pylike/gc+pooled, "pylike", "gc+pooled")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ObjectReplay, pylike/pooled, "pylike", "pooled")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ObjectReplay, service/gc, "service", "gc")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ObjectReplay, service/objspec, "service", "objspec")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ObjectReplay, service/gc+pooled, "service", "gc+pooled")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ObjectReplay, service/pooled, "service", "pooled")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
