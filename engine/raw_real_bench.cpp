// raw_real_bench.cpp: what the raw layer over a real allocator library adds
// to the library's own malloc and free (Google Benchmark).
//
//   BM_LibraryDirect/K  the library's malloc and free called straight
//                       (through the resolved pointers, as the layer does)
//   BM_RawRealLayer/K   the same requests through RawReal (touch none): the
//                       usable-size cache, counters, the held figure per request
// K: 2 jemalloc, 3 mimalloc, 4 tcmalloc (RawKind). A sliding window of 4096
// live blocks; each iteration frees the oldest block and allocates one,
// sizes cycling through a CPython-like mix (mostly 16..512 bytes, some KiB,
// nothing past 4096: the sizes the usable-size cache covers).
// items_per_second counts those pairs. All three libraries load into this one
// process (each serves only its own calls); heaplay keeps one per process.
#include <benchmark/benchmark.h>

#include <array>

#include "engine/malloc_library.hpp"
#include "engine/raw_real.hpp"

namespace heaplay {
namespace {

constexpr size_t kWindow = 4096;
constexpr std::array<uint64_t, 16> kMix = {24, 32, 48, 56, 64, 72, 100, 128, 16, 40, 200, 512, 33, 1500, 4096, 80};

uint64_t mix(size_t i) { return kMix[(i * 7) % kMix.size()]; }

RawKind kind_of(const benchmark::State& state) { return static_cast<RawKind>(state.range(0)); }

void BM_LibraryDirect(benchmark::State& state) {
  const MallocApi api = load_malloc_library(kind_of(state)).api();
  state.SetLabel(std::string(raw_kind_name(kind_of(state))));
  std::array<void*, kWindow> window{};
  for (size_t k = 0; k < kWindow; ++k) window[k] = api.malloc(mix(k));
  for (size_t n = kWindow; auto _ : state) {
    void*& oldest = window[n % kWindow];
    api.free(oldest);
    oldest = api.malloc(mix(n++));
    benchmark::DoNotOptimize(oldest);
  }
  for (void* p : window) api.free(p);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LibraryDirect)->DenseRange(2, 4);

void BM_RawRealLayer(benchmark::State& state) {
  state.SetLabel(std::string(raw_kind_name(kind_of(state))));
  RawReal layer(load_malloc_library(kind_of(state)), Touch::None, UINT64_MAX, 0);
  std::array<Block, kWindow> window{};
  std::array<uint64_t, kWindow> sizes{};
  for (size_t k = 0; k < kWindow; ++k) window[k] = layer.allocate(Request{sizes[k] = mix(k), {}, Domain::Mem});
  for (size_t n = kWindow; auto _ : state) {
    const size_t at = n % kWindow;
    layer.release(window[at], Request{sizes[at], {}, Domain::Mem});
    window[at] = layer.allocate(Request{sizes[at] = mix(n++), {}, Domain::Mem});
    benchmark::DoNotOptimize(window[at]);
  }
  for (size_t k = 0; k < kWindow; ++k) layer.release(window[k], Request{sizes[k], {}, Domain::Mem});
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RawRealLayer)->DenseRange(2, 4);

}  // namespace
}  // namespace heaplay

int main(int argc, char** argv) {
  // jemalloc's dlopen needs static TLS reserved from the start (malloc_library.hpp).
  heaplay::reexec_with_static_tls(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
