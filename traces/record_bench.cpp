// record_bench.cpp: what `heaplay record` costs on its own side (Google
// Benchmark): RecordStream turning the preload library's raw records into a
// native file, fed from memory in 1 MiB reads as the socket would deliver them.
//
//   BM_RecordStream/T   T threads' records (T = 1 or 8), interleaved in bursts
//
// items_per_second counts interposed calls. The stream is synthetic but
// shaped like `PYTHONMALLOC=malloc python3`: malloc and free in about equal
// numbers, frees of recent blocks, addresses reused last-freed-first as
// glibc's tcache does, a few thousand blocks live. HEAPLAY_BENCH_EVENTS sets
// the number of calls (default 4M).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/test_util.hpp"
#include "traces/record_stream.hpp"
#include "traces/synth_common.hpp"

namespace heaplay {
namespace {

namespace w = record_wire;

// The bytes of one connection after its Hello.
std::string make_stream(uint64_t calls, int threads) {
  synth::Rng rng(7);
  struct Thread {
    std::vector<uint64_t> live, freed;
    std::vector<w::Record> buf;
  };
  std::vector<Thread> ts(static_cast<size_t>(threads));
  std::string out;
  auto flush = [&](int t) {
    Thread& th = ts[static_cast<size_t>(t)];
    if (th.buf.empty()) return;
    w::ChunkHeader h;
    h.count = static_cast<uint32_t>(th.buf.size());
    h.tid = 1000 + static_cast<uint64_t>(t);
    out.append(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(reinterpret_cast<const char*>(th.buf.data()), th.buf.size() * sizeof(w::Record));
    th.buf.clear();
  };
  uint64_t next_addr = 0x10000;
  int t = 0;
  for (uint64_t seq = 0; seq < calls; ++seq) {
    if (rng.below(100) == 0) t = static_cast<int>(rng.below(static_cast<uint32_t>(threads)));  // bursts
    Thread& th = ts[static_cast<size_t>(t)];
    w::Record r;
    r.ticks = 1000 + seq * 30;
    if (!th.live.empty() && rng.below(1000) < 500) {
      size_t back = std::min<size_t>(th.live.size(), 64);
      size_t i = th.live.size() - 1 - rng.below(static_cast<uint32_t>(back));
      r.seq_op = seq << 8 | w::kFree;
      r.addr = th.live[i];
      th.live[i] = th.live.back();
      th.live.pop_back();
      th.freed.push_back(r.addr);
    } else {
      r.seq_op = seq << 8 | w::kMalloc;
      if (!th.freed.empty()) {
        r.addr = th.freed.back();
        th.freed.pop_back();
      } else {
        r.addr = next_addr += 64;
      }
      r.size = 16 + rng.below(500);
      th.live.push_back(r.addr);
    }
    th.buf.push_back(r);
    if (th.buf.size() == 4096) flush(t);
  }
  for (int i = 0; i < threads; ++i) flush(i);
  return out;
}

void BM_RecordStream(benchmark::State& state) {
  const uint64_t calls = testing::bench_events(4'000'000);
  const int threads = static_cast<int>(state.range(0));
  const std::string bytes = make_stream(calls, threads);
  const std::string path = testing::temp_path("record-bench.heaplay");
  for (auto _ : state) {
    Metadata header;
    header.set("source", "record_bench");
    RecordStream s(path, {}, header, 0, 100'000);
    for (size_t at = 0; at < bytes.size(); at += 1 << 20)
      s.feed(bytes.data() + at, std::min<size_t>(1 << 20, bytes.size() - at));
    s.finish(Metadata{});
    if (s.counts().calls != calls) state.SkipWithError("not every call came out");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * calls));
}
BENCHMARK(BM_RecordStream)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
