// reader_thread_bench.cpp: reading on a worker thread and consuming on this
// one (ReaderThread) against reading and consuming on one thread
// (Google Benchmark).
//
//   BM_ReadHere        make_pylike_source -> a counting consumer, one thread
//   BM_ReadOnAThread   the same through ReaderThread (4 x 64Ki-event buffers)
//
// items_per_second counts records per second of wall time; the workload is make_pylike_source(
// HEAPLAY_BENCH_EVENTS, seed 1, blocks only), default 2M records.
#include <benchmark/benchmark.h>

#include "tests/test_util.hpp"
#include "traces/reader_thread.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

void BM_ReadHere(benchmark::State& state) {
  const uint64_t n = testing::bench_events(2'000'000);
  for (auto _ : state) {
    testing::CountingConsumer c;
    make_pylike_source(n, 1, false)->read(c);
    benchmark::DoNotOptimize(c.n);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ReadHere)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReadOnAThread(benchmark::State& state) {
  const uint64_t n = testing::bench_events(2'000'000);
  for (auto _ : state) {
    testing::CountingConsumer c;
    ReaderThread reading([n] { return make_pylike_source(n, 1, false); });
    reading.run(c);
    benchmark::DoNotOptimize(c.n);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ReadOnAThread)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
