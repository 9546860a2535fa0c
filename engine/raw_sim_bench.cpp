// raw_sim_bench.cpp: raw sim throughput (Google Benchmark), through the Layer
// interface as the replay loop calls it.
//
//   BM_RawSimPylike   traces/synth_pylike's blocks-only stream (a, f, r of a
//                     CPython service's sizes and mostly LIFO-ish lifetimes),
//                     HEAPLAY_BENCH_EVENTS records (default 4M) of which the
//                     a/f/r ones are replayed; the goal is >= 10M events/s.
//   BM_RawSimRandom   a Python-like size mix (70% <= 128 B, 20% to 512 B, 8%
//                     to 8 KiB, 2% to 64 KiB, 0.1% >= 128 KiB) with frees of
//                     random live blocks and 5% reallocs, around a live set
//                     of the argument's size: the hard case for the caches
//                     and for fragmentation.
//
// events/s counts allocate + release + reallocate calls; each pass starts from
// a fresh layer (so it includes growing the record table). peak_held_MiB is
// the simulated footprint, for scale.
//
//   cmake -S . -B ../build-rawsim-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build ../build-rawsim-rel -j2 --target raw_sim_bench
//   ../build-rawsim-rel/tests/raw_sim_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "engine/raw_sim.hpp"
#include "engine/stack.hpp"
#include "tests/test_util.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

struct Op {
  EventKind kind;   // Alloc, Free or Realloc
  uint32_t slot;
  uint64_t size;      // Alloc, Realloc: the new size; Free: the size released
  uint64_t old_size;  // Realloc
};

struct Workload {
  std::vector<Op> ops;
  uint32_t slots = 0;  // largest slot + 1
};

Workload pylike_workload() {
  struct Keep final : EventConsumer {
    Workload w;
    void events(std::span<const Event> batch) override {
      for (const Event& e : batch) {
        if (e.kind != EventKind::Alloc && e.kind != EventKind::Free && e.kind != EventKind::Realloc) continue;
        w.ops.push_back(Op{e.kind, e.slot.value, e.size, e.old_size});
        w.slots = std::max(w.slots, e.slot.value + 1);
      }
    }
  } keep;
  make_pylike_source(testing::bench_events(4'000'000), 1, /*objects=*/false)->read(keep);
  return std::move(keep.w);
}

uint64_t python_size(std::mt19937_64& rng) {
  const unsigned p = rng() % 1000;
  if (p < 700) return 8 + rng() % 121;
  if (p < 900) return 129 + rng() % 384;
  if (p < 980) return 513 + rng() % 7680;
  if (p < 999) return 8193 + rng() % (56 << 10);
  return (128 << 10) + rng() % (1 << 20);
}

Workload random_workload(size_t live_target) {
  Workload w;
  std::mt19937_64 rng(42);
  std::vector<uint32_t> live, spare;  // live slots; released slots to reuse
  std::vector<uint64_t> size_of;
  const size_t n = 4'000'000;
  w.ops.reserve(n);
  while (w.ops.size() < n) {
    const unsigned op = rng() % 100;
    const bool grow = live.size() < live_target;
    if (live.empty() || (grow ? op < 60 : op < 45)) {
      uint32_t slot;
      if (!spare.empty()) {
        slot = spare.back();
        spare.pop_back();
      } else {
        slot = static_cast<uint32_t>(size_of.size());
        size_of.push_back(0);
      }
      size_of[slot] = python_size(rng);
      live.push_back(slot);
      w.ops.push_back(Op{EventKind::Alloc, slot, size_of[slot], 0});
    } else if (op < 95) {
      const size_t k = rng() % live.size();
      const uint32_t slot = live[k];
      live[k] = live.back();
      live.pop_back();
      spare.push_back(slot);
      w.ops.push_back(Op{EventKind::Free, slot, size_of[slot], 0});
    } else {
      const uint32_t slot = live[rng() % live.size()];
      const uint64_t old = size_of[slot];
      size_of[slot] = python_size(rng);
      w.ops.push_back(Op{EventKind::Realloc, slot, size_of[slot], old});
    }
  }
  w.slots = static_cast<uint32_t>(size_of.size());
  return w;
}

void replay(benchmark::State& state, const Workload& w) {
  uint64_t peak = 0;
  for (auto _ : state) {
    std::unique_ptr<Layer> raw = make_raw_sim(RawParams{}, 0);
    Layer& layer = *raw;
    std::vector<Block> blocks(w.slots);
    for (const Op& op : w.ops) {
      switch (op.kind) {
        case EventKind::Alloc: blocks[op.slot] = layer.allocate(Request{op.size, kNoString, Domain::None}); break;
        case EventKind::Free: layer.release(blocks[op.slot], Request{op.size, kNoString, Domain::None}); break;
        default:
          blocks[op.slot] = layer.reallocate(blocks[op.slot], op.old_size, Request{op.size, kNoString, Domain::None});
      }
    }
    peak = layer.peak_held_bytes();
    benchmark::DoNotOptimize(peak);
  }
  const double events = static_cast<double>(state.iterations() * w.ops.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.ops.size()));
  state.counters["events/s"] = benchmark::Counter(events, benchmark::Counter::kIsRate);
  state.counters["peak_held_MiB"] = static_cast<double>(peak) / (1 << 20);
}

void BM_RawSimPylike(benchmark::State& state) {
  static const Workload w = pylike_workload();
  replay(state, w);
}
BENCHMARK(BM_RawSimPylike)->Unit(benchmark::kMillisecond);

void BM_RawSimRandom(benchmark::State& state) {
  static std::map<int64_t, Workload> cache;
  auto it = cache.find(state.range(0));
  if (it == cache.end()) it = cache.emplace(state.range(0), random_workload(static_cast<size_t>(state.range(0)))).first;
  replay(state, it->second);
}
BENCHMARK(BM_RawSimRandom)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
