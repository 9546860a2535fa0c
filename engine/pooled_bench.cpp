// pooled_bench.cpp: the pooled layer's request throughput, alone.
//
//   BM_PooledSmallObjects  a pre-built stream of allocations, frees and a few
//                          reallocs, as the replay loop issues them (one Block
//                          per live slot, virtual calls through Layer&), over
//                          the test fixture raw layer (a bump allocator: the
//                          raw layer's own cost is left out). Sizes follow a
//                          CPython-like mix: mostly 16-64 bytes, a tail to
//                          512, a few 0 and larger than 512 (sent below).
//                          The argument is the number of live blocks kept
//                          (cache footprint). Goal: >= 25M requests/s.
//
// items_per_second counts requests.
//
//   cmake -S . -B ../build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build ../build-rel -j2 --target pooled_bench && ../build-rel/tests/pooled_bench
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/pooled.hpp"
#include "tests/fixture_raw.hpp"

namespace heaplay {
namespace {

constexpr size_t kRequests = 4'000'000;

struct Op {
  uint8_t kind;  // 0 allocate, 1 release, 2 reallocate
  uint32_t slot;
  uint64_t size;
  uint64_t old_size;
};

uint64_t pick_size(std::mt19937_64& rng) {
  const uint64_t r = rng() % 1000;
  if (r < 5) return 0;
  if (r < 20) return 513 + rng() % 4096;
  if (r < 700) return 16 + rng() % 49;  // small objects: ints, floats, short tuples
  return 1 + rng() % 512;
}

// Alternates between filling up to `live` blocks and draining to half of it,
// freeing random live slots, so pools fill, empty and are reused.
std::vector<Op> make_ops(size_t live) {
  std::mt19937_64 rng(42);
  std::vector<Op> ops;
  ops.reserve(kRequests);
  std::vector<uint32_t> live_slots, free_slots;
  std::vector<uint64_t> sizes;
  bool filling = true;
  while (ops.size() < kRequests) {
    if (filling && live_slots.size() >= live) filling = false;
    if (!filling && live_slots.size() <= live / 2) filling = true;
    const uint64_t r = rng() % 100;
    if (!live_slots.empty() && r < 4) {
      const uint32_t slot = live_slots[rng() % live_slots.size()];
      const uint64_t size = pick_size(rng);
      ops.push_back({2, slot, size, sizes[slot]});
      sizes[slot] = size;
    } else if (!live_slots.empty() && (filling ? r < 40 : r < 60)) {
      const size_t i = rng() % live_slots.size();
      const uint32_t slot = live_slots[i];
      ops.push_back({1, slot, sizes[slot], 0});
      live_slots[i] = live_slots.back();
      live_slots.pop_back();
      free_slots.push_back(slot);
    } else {
      uint32_t slot;
      if (free_slots.empty()) {
        slot = static_cast<uint32_t>(sizes.size());
        sizes.push_back(0);
      } else {
        slot = free_slots.back();
        free_slots.pop_back();
      }
      sizes[slot] = pick_size(rng);
      ops.push_back({0, slot, sizes[slot], 0});
      live_slots.push_back(slot);
    }
  }
  return ops;
}

void BM_PooledSmallObjects(benchmark::State& state) {
  const auto ops = make_ops(static_cast<size_t>(state.range(0)));
  PooledParams params;
  params.arena_alignment = ArenaAlignment::Aligned;
  for (auto _ : state) {
    state.PauseTiming();
    testing::FixtureRaw raw;
    PooledLayer pooled(params, &raw, 0);
    Layer& top = pooled;
    std::vector<Block> blocks(ops.size());
    state.ResumeTiming();
    for (const Op& op : ops) {
      const Request r{op.size, StringId{}, Domain::Obj};
      switch (op.kind) {
        case 0: blocks[op.slot] = top.allocate(r); break;
        case 1: top.release(blocks[op.slot], r); break;
        default: blocks[op.slot] = top.reallocate(blocks[op.slot], op.old_size, r); break;
      }
    }
    benchmark::DoNotOptimize(blocks.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ops.size()));
}
BENCHMARK(BM_PooledSmallObjects)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
