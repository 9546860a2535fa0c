// synth_test.cpp: the object-level `heaplay synth` workloads (service,
// numeric, graph): determinism, exact record counts, valid streams, frozen
// record mixes, the cycles each leaves, and bounded live sets.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/synth.hpp"
#include "traces/synth_common.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

constexpr std::array<const char*, 3> kObjectWorkloads = {"service", "numeric", "graph"};

// Follows the object graph as a reader derives it and, at the end, finds what
// CPython's collector would: objects referenced only from other objects and
// unreachable from any object with an outside reference (refcount minus
// incoming edges > 0) are cyclic garbage.
class GraphConsumer final : public EventConsumer {
 public:
  void begin(const TraceInfo& info) override { strings = info.strings; }
  void events(std::span<const Event> batch) override {
    for (const Event& e : batch) {
      ++kinds[static_cast<int>(e.kind)];
      uint32_t s = e.slot.value, d = e.dst.value;
      switch (e.kind) {
        case EventKind::Object:
          grow(s);
          rc[s] = 1;
          live[s] = true;
          edges[s].clear();
          ++types[std::string(strings->at(e.str))];
          break;
        case EventKind::Incref: ++rc[s]; break;
        case EventKind::Decref: --rc[s]; break;
        case EventKind::Link:
          ++rc[d];
          edges[s].push_back(d);
          break;
        case EventKind::Unlink: {
          --rc[d];
          auto it = std::find(edges[s].begin(), edges[s].end(), d);
          ASSERT_NE(it, edges[s].end());
          edges[s].erase(it);
          break;
        }
        case EventKind::Death:
          if (live[s]) {  // a block's Death never comes; objects only
            live[s] = false;
            for (uint32_t x : edges[s]) --rc[x];
            edges[s].clear();
          }
          break;
        default: break;
      }
    }
  }
  void end(const TraceInfo&, const ReadSummary& s) override { summary = s; }

  uint64_t live_objects() const { return static_cast<uint64_t>(std::count(live.begin(), live.end(), true)); }
  // Live objects no outside reference reaches: left for the cyclic collector.
  uint64_t cyclic_garbage() const {
    std::vector<int64_t> outside(rc.begin(), rc.end());
    for (size_t s = 0; s < live.size(); ++s)
      if (live[s])
        for (uint32_t x : edges[s]) --outside[x];
    std::vector<char> reached(live.size(), 0);
    std::vector<uint32_t> todo;
    for (uint32_t s = 0; s < live.size(); ++s)
      if (live[s] && outside[s] > 0) {
        reached[s] = 1;
        todo.push_back(s);
      }
    while (!todo.empty()) {
      uint32_t s = todo.back();
      todo.pop_back();
      for (uint32_t x : edges[s])
        if (!reached[x]) {
          reached[x] = 1;
          todo.push_back(x);
        }
    }
    uint64_t garbage = 0;
    for (size_t s = 0; s < live.size(); ++s) garbage += live[s] && !reached[s];
    return garbage;
  }

  std::array<uint64_t, kEventKinds> kinds{};
  std::map<std::string, uint64_t> types;
  ReadSummary summary;

 private:
  void grow(uint32_t s) {
    if (s >= live.size()) {
      live.resize(s + 1);
      rc.resize(s + 1);
      edges.resize(s + 1);
    }
  }
  const StringTable* strings = nullptr;
  std::vector<bool> live;
  std::vector<int64_t> rc;
  std::vector<std::vector<uint32_t>> edges;
};

GraphConsumer run(const char* workload, uint64_t events, uint64_t seed) {
  GraphConsumer c;
  make_synth_source(workload, events, seed)->read(c);
  return c;
}

std::string written(const char* workload, uint64_t events, uint64_t seed, const char* ext) {
  std::string path = testing::temp_path(fmt::format("{}-{}-{}{}", workload, events, seed, ext));
  auto writer = make_writer(path, output_format_for(path));
  make_synth_source(workload, events, seed)->read(*writer);
  writer->commit();
  return testing::read_file(path);
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  for (const char* w : kObjectWorkloads) {
    for (const char* ext : {".trace", ".heaplay"}) {
      SCOPED_TRACE(fmt::format("{} {}", w, ext));
      std::string a = written(w, 30'000, 7, ext);
      EXPECT_EQ(a, written(w, 30'000, 7, ext));
      EXPECT_NE(a, written(w, 30'000, 8, ext));
    }
  }
}

TEST(Synth, ExactRecordCountAndTheStreamReadsBackValid) {
  for (const char* w : kObjectWorkloads) {
    for (uint64_t n : {1ull, 2ull, 3ull, 17ull, 4'999ull, 50'000ull}) {
      SCOPED_TRACE(fmt::format("{} {}", w, n));
      GraphConsumer c = run(w, n, 3);
      EXPECT_EQ(c.summary.events, n);
      uint64_t written_records = 0;
      for (int k = 0; k < kEventKinds; ++k)
        if (static_cast<EventKind>(k) != EventKind::Death) written_records += c.kinds[k];
      EXPECT_EQ(written_records, n);
    }
    // Read back through the text reader's own checks: no anomaly even when lenient.
    std::string path = testing::temp_path(fmt::format("{}-valid.trace", w));
    testing::write_file(path, written(w, 50'000, 3, ".trace"));
    ReadOptions lenient;
    lenient.lenient = true;
    GraphConsumer back;
    ReadSummary s = open_trace(path, lenient)->read(back);
    EXPECT_EQ(s.events, 50'000u);
    EXPECT_EQ(s.anomalies.total(), 0u);
    EXPECT_EQ(s.deaths, run(w, 50'000, 3).summary.deaths);
  }
}

std::string mix(const GraphConsumer& c) {
  std::string out;
  for (int k = 0; k < kEventKinds; ++k)
    if (c.kinds[k]) out += fmt::format("{}={} ", kind_name(static_cast<EventKind>(k)), c.kinds[k]);
  return out;
}

// Frozen: the generators are deterministic. A change here is a change of the
// workloads (docs/synth.md quotes these mixes): update both on purpose.
TEST(Synth, RecordMixIsFrozen) {
  EXPECT_EQ(mix(run("service", 10'000, 1)), "a=527 f=476 r=40 o=2619 -=2585 l=3714 t=37 m=2 death=2250 ");
  EXPECT_EQ(mix(run("numeric", 10'000, 1)), "a=49 f=48 r=47 o=4039 +=78 -=4113 l=1616 t=9 m=1 death=3720 ");
  // tests/golden/synth_service_counts counts this one from the text output with awk.
  EXPECT_EQ(mix(run("service", 2'000, 3)), "a=110 f=85 r=5 o=544 -=507 l=738 t=9 m=2 death=375 ");
  EXPECT_EQ(mix(run("graph", 10'000, 1)), "a=518 f=32 r=40 o=2186 +=617 -=2780 l=3797 u=18 t=6 m=6 death=357 ");
}

TEST(Synth, NumericIsFloatAndTupleChurnWithoutCycles) {
  GraphConsumer c = run("numeric", 200'000, 1);
  uint64_t objects = c.kinds[static_cast<int>(EventKind::Object)];
  uint64_t churn = c.types["float"] + c.types["tuple"];
  std::printf("numeric: %.1f%% of objects are floats or tuples\n", 100.0 * churn / objects);
  EXPECT_GT(churn * 100, objects * 75);
  EXPECT_EQ(c.cyclic_garbage(), 0u);
  // Most objects die by counting, and soon: deaths close to objects made.
  EXPECT_GT(c.summary.deaths * 100, objects * 90);
}

TEST(Synth, ServiceLeavesSomeCyclesGraphLeavesMore) {
  GraphConsumer service = run("service", 1'000'000, 1), graph = run("graph", 1'000'000, 1);
  uint64_t sg = service.cyclic_garbage(), gg = graph.cyclic_garbage();
  std::printf("cyclic garbage per 1M records: service %llu of %llu live objects, graph %llu of %llu\n",
              static_cast<unsigned long long>(sg), static_cast<unsigned long long>(service.live_objects()),
              static_cast<unsigned long long>(gg), static_cast<unsigned long long>(graph.live_objects()));
  EXPECT_GT(sg, 0u);
  EXPECT_GT(gg, 5 * sg);
  for (const char* cls : {"Request", "Response", "Record"}) EXPECT_GT(service.types[cls], 0u) << cls;
  for (const char* cls : {"Session", "User", "Order", "Item", "Product"}) EXPECT_GT(graph.types[cls], 0u) << cls;
}

// What outlives the cycles is bounded by the caches and the results list,
// however long the trace: ten times the records, about the same live set.
TEST(Synth, ReachableLiveSetIsBounded) {
  for (const char* w : kObjectWorkloads) {
    GraphConsumer small = run(w, 300'000, 2), large = run(w, 3'000'000, 2);
    uint64_t a = small.live_objects() - small.cyclic_garbage(), b = large.live_objects() - large.cyclic_garbage();
    std::printf("%s: reachable live objects %llu after 300k records, %llu after 3M\n", w,
                static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
    EXPECT_LT(a, 30'000u) << w;
    EXPECT_LT(b, 30'000u) << w;
    EXPECT_LT(b, 2 * a + 5'000) << w;
  }
}

TEST(Synth, Sizes) {
  using synth::PyHeap;
  // Checked against sys.getsizeof and tracemalloc on CPython 3.11 (docs/synth.md).
  EXPECT_EQ(PyHeap::keys_bytes(3, true), 120u);   // {'a': 1}: 184 - 64
  EXPECT_EQ(PyHeap::keys_bytes(3, false), 160u);  // {1: 1}: 224 - 64
  EXPECT_EQ(PyHeap::keys_bytes(4, true), 208u);   // six str keys: 272 - 64
  EXPECT_EQ(PyHeap::values_bytes(3), 40u);
  EXPECT_EQ(PyHeap::values_bytes(8), 88u);
  std::vector<uint32_t> caps;
  for (uint32_t n = 0, cap = 0; n < 40; ++n)
    if (n == cap) caps.push_back(cap = PyHeap::list_capacity(n, n + 1));
  EXPECT_EQ(caps, (std::vector<uint32_t>{4, 8, 16, 24, 32, 40}));
}

TEST(Synth, UnknownWorkloadAndNoObjectsAreUsageErrors) {
  try {
    make_synth_source("web", 10, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_status(), kExitBadInput);
    EXPECT_STREQ(e.what(), "synth: unknown workload 'web' (pylike, service, numeric, graph)");
  }
  for (const char* w : kObjectWorkloads) {
    try {
      make_synth_source(w, 10, 1, false);
      FAIL() << w;
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_status(), kExitBadInput);
    }
  }
  EXPECT_NE(make_synth_source("pylike", 10, 1, false), nullptr);
}

}  // namespace
}  // namespace heaplay
