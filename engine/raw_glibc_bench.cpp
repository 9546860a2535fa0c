// raw_glibc_bench.cpp: what the raw glibc layer adds to glibc's own malloc
// and free (Google Benchmark).
//
//   BM_GlibcDirect    malloc and free straight, on a sliding window of live blocks
//   BM_RawGlibcLayer  the same requests through RawGlibc (arg: touch mode,
//                     0 none, 1 first, 2 all): usable-size and IS_MMAPPED
//                     bookkeeping, the footprint and its peak per request
//
// items_per_second counts request pairs (one free and one malloc). Sizes
// cycle through a CPython-like mix (mostly 16..512 bytes, some KiB); 4096
// blocks are live at any time.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>

#include "engine/raw_glibc.hpp"

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

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
