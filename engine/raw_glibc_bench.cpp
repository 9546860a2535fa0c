// raw_glibc_bench.cpp: what the raw glibc layer adds to glibc's own malloc
// and free (Google Benchmark).
//
//   BM_GlibcDirect    malloc and free straight, on a sliding window of live blocks
//   BM_RawGlibcLayer  the same requests through RawGlibc (arg: touch mode,
//                     0 none, 1 first, 2 all): usable-size and IS_MMAPPED
//                     bookkeeping, the footprint and its peak per request
//   BM_ReplayHere     make_pylike_source (blocks only) replayed into RawGlibc
//                     (touch none), reading on the same thread
//   BM_ReplayOnAThread  the same, reading on a second thread (ReaderThread),
//                     as `replay --raw glibc` does
//
// The first two: items_per_second counts request pairs (one free and one
// malloc); sizes cycle through a CPython-like mix (mostly 16..512 bytes,
// some KiB); 4096 blocks are live at any time. The replays: records per
// second of wall time, HEAPLAY_BENCH_EVENTS records (default 2M).
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>

#include "engine/raw_glibc.hpp"
#include "tests/mini_replay.hpp"
#include "tests/test_util.hpp"
#include "traces/reader_thread.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

constexpr size_t kLive = 4096;
constexpr std::array<uint64_t, 16> kSizes = {24, 32, 48, 56, 64, 72, 100, 128, 16, 40, 200, 512, 33, 1500, 4096, 80};

uint64_t size_at(size_t i) { return kSizes[(i * 7) % kSizes.size()]; }

void BM_GlibcDirect(benchmark::State& state) {
  std::array<void*, kLive> live{};
  for (size_t i = 0; i < kLive; ++i) live[i] = std::malloc(size_at(i));
  size_t i = kLive;
  for (auto _ : state) {
    void*& slot = live[i % kLive];
    std::free(slot);
    slot = std::malloc(size_at(i));
    benchmark::DoNotOptimize(slot);
    ++i;
  }
  for (void* p : live) std::free(p);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_GlibcDirect);

void BM_RawGlibcLayer(benchmark::State& state) {
  RawGlibc layer(static_cast<Touch>(state.range(0)), 0);
  std::array<Block, kLive> live{};
  for (size_t i = 0; i < kLive; ++i) live[i] = layer.allocate(Request{size_at(i), {}, Domain::Mem});
  size_t i = kLive;
  for (auto _ : state) {
    Block& slot = live[i % kLive];
    layer.release(slot, Request{size_at(i - kLive), {}, Domain::Mem});
    slot = layer.allocate(Request{size_at(i), {}, Domain::Mem});
    benchmark::DoNotOptimize(slot);
    ++i;
  }
  for (size_t k = 0; k < kLive; ++k) layer.release(live[(i + k) % kLive], Request{size_at(i + k - kLive), {}, Domain::Mem});
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RawGlibcLayer)->Arg(0)->Arg(1)->Arg(2);

void BM_ReplayHere(benchmark::State& state) {
  const uint64_t n = testing::bench_events(2'000'000);
  for (auto _ : state) {
    RawGlibc layer(Touch::None, 0);
    testing::MiniReplay replay(layer);
    make_pylike_source(n, 1, false)->read(replay);
    replay.release_all();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ReplayHere)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplayOnAThread(benchmark::State& state) {
  const uint64_t n = testing::bench_events(2'000'000);
  for (auto _ : state) {
    ReaderThread reading([n] { return make_pylike_source(n, 1, false); });
    RawGlibc layer(Touch::None, 0);
    testing::MiniReplay replay(layer);
    reading.run(replay);
    replay.release_all();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ReplayOnAThread)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
