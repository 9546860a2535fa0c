// heaptrack_bench.cpp: throughput of the heaptrack importer (Google Benchmark).
//
//   BM_HeaptrackRead/0  a plain heaptrack data file -> a consumer that only counts
//   BM_HeaptrackRead/1  the same file compressed with zstd (as heaptrack writes it)
//
// The file is synthetic but shaped like a recording: 4096 allocation infos
// over 512 traces, HEAPLAY_BENCH_EVENTS `+`/`-` lines (default 5M) around a
// live set of about 50,000 blocks, each `-` naming the info of a live block,
// and a `c` time stamp every 1,000 lines. items_per_second counts records;
// bytes_per_second the bytes of the file read. The whole-process comparison
// with heaptrack_print on real recordings is in tests/bench/perf.sh.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/bench_read.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/synth_common.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

std::string make_heaptrack_file(uint64_t events) {
  std::string path = testing::temp_path("bench.heaptrack");
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw Error("heaptrack_bench: cannot write " + path, 1);
  std::fputs("v 10400 3\nX ./bench\nI 1000 5e2991\n", f);
  for (const char* s : {"./bench", "main"}) fmt::print(f, "s {:x} {}\n", std::string_view(s).size(), s);
  constexpr uint32_t kTraces = 512, kInfos = 4096, kLive = 50'000;
  for (uint32_t t = 1; t <= kTraces; ++t) {
    fmt::print(f, "i {:x} 1 2\n", 0x401000 + 16 * t);  // ip, module 1, function "main"
    fmt::print(f, "t {:x} {:x}\n", t, t > 1 ? (t - 1) / 2 : 0);
  }
  synth::Rng rng(1);
  for (uint32_t i = 0; i < kInfos; ++i) {
    // Mostly small requests, a few large ones, as in a Python process.
    uint64_t size = rng.below(8) == 0 ? 512 + rng.below(1 << 16) : 8 + 8 * rng.below(64);
    fmt::print(f, "a {:x} {:x}\n", size, 1 + rng.below(kTraces));
  }
  std::vector<uint32_t> live;  // the infos of live blocks, in no order
  live.reserve(kLive * 2);
  for (uint64_t n = 0; n < events; ++n) {
    if (n % 1000 == 0) fmt::print(f, "c {:x}\n", n / 1000 + 1);
    if (live.empty() || (live.size() < 2 * kLive && rng.below(2 * kLive) >= live.size())) {
      uint32_t info = rng.below(kInfos);
      live.push_back(info);
      fmt::print(f, "+ {:x}\n", info);
    } else {
      uint32_t k = rng.below(static_cast<uint32_t>(live.size()));
      fmt::print(f, "- {:x}\n", live[k]);
      live[k] = live.back();
      live.pop_back();
    }
  }
  if (std::fclose(f) != 0) throw Error("heaptrack_bench: write failed", 1);
  return path;
}

const std::string& heaptrack_file(int which) {
  static std::string paths[2];
  if (paths[which].empty()) {
    const std::string plain = make_heaptrack_file(testing::bench_events(5'000'000));
    paths[0] = plain;
    paths[1] = plain + ".zst";
    if (std::system(fmt::format("zstd -q -f '{}' -o '{}'", plain, paths[1]).c_str()) != 0)
      throw Error("heaptrack_bench: zstd failed", 1);
  }
  return paths[which];
}

void BM_HeaptrackRead(benchmark::State& state) {
  testing::bench_read_file(state, heaptrack_file(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_HeaptrackRead)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
