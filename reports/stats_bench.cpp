// stats_bench.cpp: StatsConsumer throughput on pre-built event batches.
//
//   BM_StatsConsumer    the consumer alone on a random CPython-like mix, made
//                       once by a deterministic program run through a
//                       Lifetimes (what a reader delivers: slots assigned,
//                       free sizes filled in, deaths derived); the argument is
//                       the number of live blocks it keeps (cache footprint).
//                       Random kind order: the hardest case for branches.
//   BM_StatsPylike      the consumer alone on traces/synth_pylike's stream
//   BM_StatsNativeFile  decode a native file + consumer, end to end: what
//                       `heaplay stats` does; the goal is >= 50M records/s.
//
// items_per_second counts events handed to the consumer (Deaths included)
// except in BM_StatsNativeFile, which counts records.
//
//   cmake -S . -B ../build-reports-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build ../build-reports-rel -j2 --target stats_bench
//   ../build-reports-rel/tests/stats_bench   (or wherever the build puts it)
//
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "reports/stats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

constexpr size_t kEvents = 2'000'000;
constexpr size_t kBatch = 2048;  // ReadOptions' default batch size

class Keep : public EventConsumer {
 public:
  void events(std::span<const Event> b) override { all.insert(all.end(), b.begin(), b.end()); }
  std::vector<Event> all;
};

struct Workload {
  StringTable strings;
  TraceInfo info;
  std::vector<Event> events;
};

// A CPython-like mix: mostly a/f pairs of small sizes over ~64 types, some
// reallocs, objects with refcount traffic and links, time stamps now and then.
std::unique_ptr<Workload> make_workload(size_t live_target) {
  auto w = std::make_unique<Workload>();
  w->info.path = "bench";
  w->info.strings = &w->strings;
  std::vector<StringId> types;
  for (int i = 0; i < 64; ++i) types.push_back(w->strings.intern("type" + std::to_string(i)));

  Keep keep;
  keep.all.reserve(kEvents + 1024);
  EventBatch batch(keep, kBatch);
  Lifetimes lt;
  std::mt19937_64 rng(12345);
  std::vector<SlotId> blocks, objects;
  uint64_t now = 0;
  const auto take = [&](std::vector<SlotId>& v) {
    size_t k = rng() % v.size();
    SlotId s = v[k];
    v[k] = v.back();
    v.pop_back();
    return s;
  };
  while (keep.all.size() < kEvents) {
    Event e;
    unsigned op = static_cast<unsigned>(rng() % 100);
    bool grow = blocks.size() + objects.size() < live_target;
    // Allocations outnumber frees until the live set reaches its target, then balance.
    if (grow ? op < 55 : op < 40) {
      e.kind = EventKind::Alloc;
      e.size = 8 + (rng() % 512);
      e.str = types[rng() % types.size()];
      e.domain = static_cast<Domain>(1 + rng() % 2);
    } else if (op < 75 && !blocks.empty()) {
      e.kind = EventKind::Free;
      e.slot = take(blocks);
    } else if (op < 80 && !blocks.empty()) {
      e.kind = EventKind::Realloc;
      e.slot = blocks[rng() % blocks.size()];
      e.size = 8 + (rng() % 4096);
    } else if (op < 88) {
      e.kind = EventKind::Object;
      e.size = 16 + (rng() % 256);
      e.str = types[rng() % types.size()];
    } else if (op < 94 && !objects.empty()) {
      e.kind = EventKind::Decref;
      e.slot = take(objects);  // dies unless some link keeps it
    } else if (op < 97 && objects.size() >= 2) {
      e.kind = EventKind::Link;
      e.slot = objects[rng() % objects.size()];
      e.dst = objects[rng() % objects.size()];
    } else {
      e.kind = EventKind::Time;
      e.size = now += 1 + rng() % 1000;
    }
    if (lt.apply(e, batch) != Anomaly::None) continue;
    if (e.kind == EventKind::Alloc) blocks.push_back(e.slot);
    if (e.kind == EventKind::Object) objects.push_back(e.slot);
  }
  batch.flush();
  w->events = std::move(keep.all);
  return w;
}

const Workload& workload(size_t live_target) {
  static std::map<size_t, std::unique_ptr<Workload>> cache;
  auto& w = cache[live_target];
  if (!w) w = make_workload(live_target);
  return *w;
}

void BM_StatsConsumer(benchmark::State& state) {
  const Workload& w = workload(static_cast<size_t>(state.range(0)));
  const std::vector<Event>& ev = w.events;
  for (auto _ : state) {
    StatsConsumer c;  // a fresh consumer per pass, as per trace: includes growing its arrays
    c.begin(w.info);
    for (size_t i = 0; i < ev.size(); i += kBatch)
      c.events(std::span<const Event>(ev.data() + i, std::min(kBatch, ev.size() - i)));
    TraceStats s = c.finish();
    benchmark::DoNotOptimize(s.peak_live_bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ev.size()));
  state.counters["ns_per_event"] = benchmark::Counter(
      static_cast<double>(state.iterations() * ev.size()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_StatsConsumer)->Arg(1 << 10)->Arg(1 << 14)->Arg(1 << 18)->Unit(benchmark::kMillisecond);

// The traces library's synthetic CPython-like stream (traces/synth_pylike.hpp),
// held in memory: the consumer alone on a more realistic mix.
constexpr uint64_t kPylikeRecords = 4'000'000;

struct PylikeEvents {
  std::unique_ptr<TraceReader> source = make_pylike_source(kPylikeRecords, 1);
  Keep keep;
  ReadSummary summary = source->read(keep);
};

const PylikeEvents& pylike() {
  static PylikeEvents p;
  return p;
}

void BM_StatsPylike(benchmark::State& state) {
  const PylikeEvents& p = pylike();
  const std::vector<Event>& ev = p.keep.all;
  for (auto _ : state) {
    StatsConsumer c;
    c.begin(p.source->info());
    for (size_t i = 0; i < ev.size(); i += kBatch)
      c.events(std::span<const Event>(ev.data() + i, std::min(kBatch, ev.size() - i)));
    c.end(p.source->info(), p.summary);
    TraceStats s = c.finish();
    benchmark::DoNotOptimize(s.peak_live_bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ev.size()));
}
BENCHMARK(BM_StatsPylike)->Unit(benchmark::kMillisecond);

// What `heaplay stats FILE.heaplay` does: decode a native file and compute the
// stats, end to end. items_per_second counts records (Deaths excluded), the
// unit of the >= 50M events/s goal. The file goes to the temporary directory.
void BM_StatsNativeFile(benchmark::State& state) {
  struct File {  // written once, removed at exit
    std::string path = (std::filesystem::temp_directory_path() /
                        ("heaplay-stats-bench-" + std::to_string(::getpid()) + ".heaplay"))
                           .string();
    File() {
      auto writer = make_writer(path, OutputFormat::Native);
      make_pylike_source(kPylikeRecords, 1)->read(*writer);
      writer->commit();
    }
    ~File() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  };
  static const File file;
  const std::string& path = file.path;
  uint64_t records = 0;
  for (auto _ : state) {
    StatsConsumer c;
    records = open_trace(path)->read(c).events;
    TraceStats s = c.finish();
    benchmark::DoNotOptimize(s.peak_live_bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records));
}
BENCHMARK(BM_StatsNativeFile)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
