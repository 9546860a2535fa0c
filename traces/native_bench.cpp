// native_bench.cpp: throughput of the native format (Google Benchmark).
//
//   BM_PylikeSynth   the synthetic Python-like source alone (records/s)
//   BM_NativeEncode  events already in memory -> a committed *.heaplay file
//   BM_NativeDecode  a *.heaplay file -> a consumer that only counts
//                    (first arg 1: the objects workload, 0: blocks only;
//                    second arg 1: frames inflated ahead on a second thread
//                    (ReadOptions::prefetch), 0: everything on one core)
//
// items_per_second counts records (Death events excluded, as in ReadSummary).
// The workload is make_pylike_source(HEAPLAY_BENCH_EVENTS, seed 1), default
// 20M records; the encode benchmark holds the whole stream in memory
// (32 bytes an event, Deaths included), so mind the size when raising it.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/memory_source.hpp"
#include "tests/test_util.hpp"
#include "traces/formats.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

// The whole pylike stream in memory, replayable into any consumer.
testing::MemorySource& memory_source() {
  static testing::MemorySource source(make_pylike_source(testing::bench_events(20'000'000), 1));
  return source;
}

// Written once per process from the pylike source, with objects (and their
// reference traffic and deaths) or plain blocks only.
const std::string& native_file(bool objects) {
  static std::string paths[2];
  std::string& path = paths[objects];
  if (path.empty()) {
    std::string p = testing::temp_path(objects ? "pylike.heaplay" : "pylike-blocks.heaplay");
    auto writer = make_native_writer(p, {});
    make_pylike_source(testing::bench_events(20'000'000), 1, objects)->read(*writer);
    writer->commit();
    path = p;
  }
  return path;
}

void BM_PylikeSynth(benchmark::State& state) {
  uint64_t n = testing::bench_events(20'000'000);
  for (auto _ : state) {
    testing::CountingConsumer c;
    make_pylike_source(n, 1)->read(c);
    benchmark::DoNotOptimize(c.n);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_NativeEncode(benchmark::State& state) {
  testing::MemorySource& src = memory_source();
  std::string out = testing::temp_path("encode.heaplay");
  for (auto _ : state) {
    auto writer = make_native_writer(out, {});
    src.read(*writer);
    writer->commit();
  }
  double bytes = static_cast<double>(std::filesystem::file_size(out));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * src.records()));
  state.counters["bytes_per_event"] = bytes / static_cast<double>(src.records());
  state.counters["events"] = static_cast<double>(src.records());
}

// Args: objects (1) or blocks only (0); prefetch thread (1) or one core (0).
void BM_NativeDecode(benchmark::State& state) {
  const std::string& path = native_file(state.range(0) != 0);
  ReadOptions options;
  options.prefetch = state.range(1) != 0;
  uint64_t records = 0;
  for (auto _ : state) {
    testing::CountingConsumer c;
    ReadSummary s = open_native_trace(path, options)->read(c);
    records = s.events;
  }
  double bytes = static_cast<double>(std::filesystem::file_size(path));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records));
  state.counters["bytes_per_event"] = bytes / static_cast<double>(records);
  state.counters["events"] = static_cast<double>(records);
}

BENCHMARK(BM_PylikeSynth)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_NativeEncode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_NativeDecode)
    ->Args({1, 0})
    ->Args({0, 0})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
