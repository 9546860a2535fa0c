// gc_test.cpp: the gc layer's collector (engine/collector.hpp) on hand-built
// heaps with known answers: threshold timing, promotion, the long-lived rule,
// CPython's list order, untracked referents, cascades out of the garbage,
// stale records, and object caches that do not count.
#include <gtest/gtest.h>

#include <vector>

#include "engine/collector.hpp"
#include "engine/refgraph.hpp"
#include "tests/object_test_util.hpp"

namespace heaplay {
namespace {

using testing::counter;
using testing::LogLayer;
using testing::replay_text;

// A RefGraph and a Collector over a LogLayer, every object a tracked "dict".
struct Heap {
  explicit Heap(std::vector<uint64_t> thresholds) : gc(params(thresholds), mem), graph(mem, live) {
    strings.intern("dict");
    strings.intern("str");
    gc.use_strings(strings);
    gc.attach(graph);
    graph.set_collector(&gc);
  }
  static GcParams params(const std::vector<uint64_t>& t) {
    GcParams p;
    for (int i = 0; i < 3; ++i) p.thresholds[i] = t[i];
    return p;
  }
  void add(uint32_t slot, uint64_t size, const char* type = "dict") {
    graph.create(slot, size, strings.find(type));
  }
  // The sizes of generation gen's members, in list order.
  std::vector<uint64_t> generation(uint32_t gen) const {
    std::vector<uint64_t> out;
    for (uint32_t i = graph.rec(gen).gc_next; i != gen; i = graph.rec(i).gc_next) out.push_back(graph.rec(i).size);
    return out;
  }
  bool valid() const { return graph.is_valid() && gc.is_valid(); }

  StringTable strings;
  LogLayer mem;
  LiveBytes live;
  Collector gc;
  RefGraph graph;
};

TEST(Gc, CyclesAreCollectedByAGRecord) {
  const char* text =
      "o 1 64 list\no 2 48 list\no 3 200 dict\no 4 32 str\no 5 56 list\no 6 72 dict\n"
      "l 1 2\nl 2 1\nl 1 3\nl 2 4\nl 5 6\nl 6 5\n- 1\n- 2\n- 3\n- 6\n";
  ReplayResult before = replay_text(text, "gc+pooled");
  EXPECT_TRUE(before.has_gc);
  EXPECT_EQ(before.gc.collections[0], 0u);
  EXPECT_EQ(before.unreclaimed_cyclic_objects, 3u);  // garbage waiting for a collection
  EXPECT_EQ(before.unreclaimed_cyclic_bytes, 312u);
  ReplayResult r = replay_text(std::string(text) + "g 0\n", "gc+pooled");
  EXPECT_EQ(r.collections, 1u);
  EXPECT_EQ(r.gc.collections[0], 1u);
  EXPECT_EQ(r.gc.examined_objects, 5u);  // the str is not tracked
  EXPECT_EQ(r.gc.collected_objects, 3u);
  EXPECT_EQ(r.gc.collected_bytes, 312u);
  EXPECT_EQ(r.gc.cascade_freed_objects, 0u);  // the str is still referenced from outside
  EXPECT_EQ(r.object_deaths, 3u);
  EXPECT_EQ(r.final_live_objects, 3u);
  EXPECT_EQ(r.final_live_bytes, 32u + 56 + 72);
  EXPECT_EQ(r.unreclaimed_cyclic_objects, 0u);
  EXPECT_EQ(counter(r, "gc", "tracked_objects"), 2u);
  EXPECT_EQ(counter(r, "gc", "gen1_count"), 1u);
  EXPECT_EQ(counter(r, "pooled", "blocks_in_use"), 3u);
  EXPECT_GE(r.gc.seconds, r.gc.max_pause_seconds);
}

TEST(Gc, TheAllocationThatExceedsThreshold0CollectsWithoutItself) {
  const std::vector<std::string> sets = {"gc.thresholds=3,10,10"};
  const std::string three =
      "o 1 64 list\no 2 64 list\nl 1 2\nl 2 1\n- 1\n- 2\no 3 64 list\no 4 28 int\n";  // the int does not count
  ReplayResult r3 = replay_text(three, "gc+pooled", sets);
  EXPECT_EQ(r3.gc.collections[0], 0u);
  EXPECT_EQ(counter(r3, "gc", "gen0_count"), 3u);
  ReplayResult r4 = replay_text(three + "o 5 80 dict\n", "gc+pooled", sets);
  EXPECT_EQ(r4.gc.collections[0], 1u);
  EXPECT_EQ(r4.gc.examined_objects, 3u);  // 1, 2, 3: not 5
  EXPECT_EQ(r4.gc.collected_objects, 2u);
  EXPECT_EQ(r4.gc.collected_bytes, 128u);
  EXPECT_EQ(counter(r4, "gc", "gen0_count"), 0u);
  EXPECT_EQ(counter(r4, "gc", "gen1_count"), 1u);
  EXPECT_EQ(counter(r4, "gc", "tracked_objects"), 2u);  // 3 in generation 1, 5 in generation 0
  // A gen-0 collection now sees only 5.
  ReplayResult g0 = replay_text(three + "o 5 80 dict\ng 0\n", "gc+pooled", sets);
  EXPECT_EQ(g0.gc.collections[0], 2u);
  EXPECT_EQ(g0.gc.examined_objects, 4u);
  EXPECT_EQ(counter(g0, "gc", "gen1_count"), 2u);
  // Deallocations take the count back down: short-lived objects never trigger.
  std::string churn;
  for (int i = 0; i < 20; ++i) churn += "o 7 64 list\n- 7\n";
  ReplayResult c = replay_text(churn, "gc+pooled", sets);
  EXPECT_EQ(c.gc.collections[0], 0u);
  EXPECT_EQ(counter(c, "gc", "gen0_count"), 0u);
  EXPECT_EQ(c.object_deaths, 20u);
}

TEST(Gc, PromotionAndTheLongLivedRule) {
  Heap h({1, 1, 0});
  for (uint32_t s = 0; s < 40; ++s) h.add(s, 8);
  h.gc.collect(2);
  EXPECT_EQ(h.gc.long_lived_total(), 40u);
  EXPECT_EQ(h.gc.long_lived_pending(), 0u);
  const GcSummary base = h.gc.summary();
  const int clears = h.mem.clears;
  auto delta = [&](int gen) { return h.gc.summary().collections[gen] - base.collections[gen]; };
  uint32_t next = 100;
  auto alloc = [&](int n) {
    for (int i = 0; i < n; ++i) h.add(next++, 8);
  };
  alloc(2);  // count0 2 > 1: generation 0 (one object: the second is not in it)
  EXPECT_EQ(delta(0), 1u);
  EXPECT_EQ(h.generation(1).size(), 1u);
  alloc(2);
  EXPECT_EQ(delta(0), 2u);
  alloc(2);  // count1 2 > 1: generation 1 (3 + 2 objects), all survive: pending 5
  EXPECT_EQ(delta(1), 1u);
  EXPECT_EQ(h.gc.long_lived_pending(), 5u);
  EXPECT_EQ(h.gc.count(2), 1u);
  alloc(2);  // count2 1 > 0, but pending 5 < 40 / 4: generation 0 instead
  EXPECT_EQ(delta(2), 0u);
  EXPECT_EQ(delta(0), 3u);
  alloc(4);  // gen 0, then gen 1 (pending still short): 6 more survive, pending 11
  EXPECT_EQ(delta(0), 4u);
  EXPECT_EQ(delta(1), 2u);
  EXPECT_EQ(delta(2), 0u);
  EXPECT_EQ(h.gc.long_lived_pending(), 11u);
  alloc(2);  // 11 >= 10: the full collection
  EXPECT_EQ(delta(2), 1u);
  EXPECT_EQ(h.gc.long_lived_total(), 53u);  // 40 + 13 (the 14th is not in it)
  EXPECT_EQ(h.gc.long_lived_pending(), 0u);
  EXPECT_EQ(h.gc.tracked_objects(), 54u);
  EXPECT_EQ(h.generation(0).size(), 1u);
  EXPECT_EQ(h.mem.clears, clears + 1);  // a full collection clears the caches below
  EXPECT_TRUE(h.valid());
}

TEST(Gc, ListOrderFollowsCPythonsMoveUnreachable) {
  Heap h({1000, 10, 10});
  h.add(0, 1);  // A
  h.add(1, 2);  // B
  h.add(2, 3);  // C: held from outside; C -> B -> A
  h.graph.link(2, 1);
  h.graph.link(1, 0);
  h.graph.decref(0);
  h.graph.decref(1);
  h.gc.collect(0);
  // A and B are tentatively unreachable until C is scanned, then move back
  // to the end of the list in the order they are found: C, B, A.
  EXPECT_EQ(h.generation(1), (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_EQ(h.gc.summary().collected_objects, 0u);
  // A garbage cycle X -> Y -> Z -> X, and Y holds an untracked str only it references.
  h.add(10, 10);
  h.add(11, 11);
  h.add(12, 12);
  h.add(13, 13, "str");
  h.graph.link(10, 11);
  h.graph.link(11, 12);
  h.graph.link(12, 10);
  h.graph.link(11, 13);
  for (uint32_t s = 10; s < 14; ++s) h.graph.decref(s);
  h.mem.released.clear();
  h.gc.collect(1);
  // The str goes while the garbage drops its references; then X, Y, Z in list order.
  EXPECT_EQ(h.mem.released, (std::vector<uint64_t>{13, 10, 11, 12}));
  EXPECT_EQ(h.gc.summary().collected_objects, 3u);
  EXPECT_EQ(h.gc.summary().collected_bytes, 33u);
  EXPECT_EQ(h.gc.summary().cascade_freed_objects, 1u);
  EXPECT_EQ(h.gc.summary().examined_objects, 3u + 6u);
  EXPECT_EQ(h.generation(2), (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_TRUE(h.valid());
}

TEST(Gc, UntrackedReferrersAreExternal) {
  const std::string held =
      "o 1 28 int\no 2 64 list\no 3 64 list\nl 1 2\nl 2 3\nl 3 2\n- 2\n- 3\n"
      "g 2\n";  // the int holds the cycle: it survives, into generation 2
  ReplayResult r = replay_text(held, "gc+pooled");
  EXPECT_EQ(r.gc.collected_objects, 0u);
  EXPECT_EQ(r.unreclaimed_cyclic_objects, 0u);
  const std::string dropped = held + "- 1\ng 0\n";  // the int goes; generation 0 does not hold the cycle
  ReplayResult d = replay_text(dropped, "gc+pooled");
  EXPECT_EQ(d.gc.collected_objects, 0u);
  EXPECT_EQ(d.object_deaths, 1u);
  EXPECT_EQ(d.unreclaimed_cyclic_objects, 2u);
  EXPECT_EQ(d.unreclaimed_cyclic_bytes, 128u);
  ReplayResult f = replay_text(dropped + "g 2\n", "gc+pooled");
  EXPECT_EQ(f.gc.collections[2], 2u);
  EXPECT_EQ(f.gc.collected_objects, 2u);
  EXPECT_EQ(f.gc.collected_bytes, 128u);
  EXPECT_EQ(f.final_live_objects, 0u);
  EXPECT_EQ(f.unreclaimed_cyclic_objects, 0u);
  // Without gc every object is a candidate: the int is one, held from outside.
  EXPECT_EQ(replay_text(held, "pooled").unreclaimed_cyclic_objects, 0u);
  EXPECT_EQ(replay_text(dropped, "pooled").unreclaimed_cyclic_objects, 2u);
}

TEST(Gc, GarbageFreesAnOlderObjectOnlyItHeld) {
  const char* text =
      "o 9 100 dict\ng 2\n"  // 9 is in generation 2
      "o 1 64 list\no 2 64 list\nl 1 2\nl 2 1\nl 1 9\n- 9\n- 1\n- 2\n"
      "g 0\n";
  ReplayResult r = replay_text(text, "gc+pooled");
  EXPECT_EQ(r.gc.collected_objects, 2u);
  EXPECT_EQ(r.gc.collected_bytes, 128u);
  EXPECT_EQ(r.gc.cascade_freed_objects, 1u);
  EXPECT_EQ(r.object_deaths, 3u);
  EXPECT_EQ(r.final_live_objects, 0u);
  EXPECT_EQ(r.final_live_bytes, 0u);
  EXPECT_EQ(counter(r, "gc", "tracked_objects"), 0u);
}

TEST(Gc, RecordsNamingCollectedObjectsAreStale) {
  const char* text =
      "o 1 64 list\no 2 64 list\nl 1 2\nl 2 1\n- 1\n- 2\n"
      "g 0\n"     // this replay frees 1 and 2; the recorded program has not yet
      "+ 1\n- 1\n"
      "u 1 2\n"   // its own collector clears 1: the reader's 2, then 1, die
      "o 3 64 list\n- 3\n";  // a slot freed by those deaths, reused
  ReplayResult r = replay_text(text, "gc+pooled");
  EXPECT_EQ(r.stale_object_events, 3u);
  EXPECT_EQ(r.gc.collected_objects, 2u);
  EXPECT_EQ(r.objects, 3u);
  EXPECT_EQ(r.object_deaths, 3u);
  EXPECT_EQ(r.final_live_objects, 0u);
  EXPECT_EQ(r.final_live_bytes, 0u);
  EXPECT_EQ(counter(r, "pooled", "blocks_in_use"), 0u);
  // Without the collector nothing is stale: the reader's deaths are the engine's.
  ReplayResult p = replay_text(text, "pooled");
  EXPECT_EQ(p.stale_object_events, 0u);
  EXPECT_EQ(p.object_deaths, 3u);
}

TEST(Gc, ObjectCachesDoNotMoveGeneration0) {
  Heap h({1000, 10, 10});
  h.mem.cached_sizes = {48};
  h.mem.kept_sizes = {64};
  h.add(0, 48);  // from a free list: not counted
  EXPECT_EQ(h.gc.count(0), 0u);
  h.add(1, 64);
  h.add(2, 80);
  EXPECT_EQ(h.gc.count(0), 2u);
  h.graph.decref(1);  // kept by the cache: not counted
  EXPECT_EQ(h.gc.count(0), 2u);
  h.graph.decref(2);
  EXPECT_EQ(h.gc.count(0), 1u);
  h.graph.decref(0);
  EXPECT_EQ(h.gc.count(0), 0u);
  h.graph.decref(0);  // already gone: refused, the count stays at 0
  EXPECT_EQ(h.gc.count(0), 0u);
  h.add(3, 8, "str");  // untracked: not counted
  EXPECT_EQ(h.gc.count(0), 0u);
  EXPECT_EQ(h.gc.tracked_objects(), 0u);
  h.gc.collect(0);
  EXPECT_EQ(h.mem.clears, 0);
  h.gc.collect(2);
  EXPECT_EQ(h.mem.clears, 1);
  EXPECT_TRUE(h.valid());
}

}  // namespace
}  // namespace heaplay

namespace heaplay {
namespace {

// The whole gc stack (gc+objspec+pooled+raw) by hand, with thresholds 2,10,10:
// free-list hits and pushes leave generation 0's count alone, and a full
// collection empties the real free lists into pooled.
TEST(GcWithObjspec, FreeListsNeitherCountNorSurviveAFullCollection) {
  const char* text =
      "o 1 56 list\n"   // miss, a real allocation: count 1
      "- 1\n"           // kept by the list free list: count stays 1
      "o 2 56 list\n"   // hit: count stays 1
      "o 3 56 list\n"   // miss: count 2
      "o 4 64 dict\n"   // miss: count 3 > 2 collects generation 0 = {2, 3}; 4 joins after
      "- 2\n"           // kept by the list free list
      "g\n";            // full collection of {3, 4} (gen 1: 2 is gone), then the lists are cleared
  ReplayResult r = testing::replay_text(text, "gc", {"gc.thresholds=2,10,10"});
  EXPECT_EQ(r.gc.collections[0], 1u);
  EXPECT_EQ(r.gc.collections[1], 0u);
  EXPECT_EQ(r.gc.collections[2], 1u);
  EXPECT_EQ(r.gc.examined_objects, 4u);  // {2, 3}, then {3, 4}
  EXPECT_EQ(r.gc.collected_objects, 0u);
  EXPECT_EQ(r.freelist_hits, 1u);
  EXPECT_EQ(r.freelist_misses, 3u);
  EXPECT_EQ(r.final_live_objects, 2u);
  EXPECT_EQ(r.final_live_bytes, 120u);
  const FreeListReport* list = nullptr;
  for (const FreeListReport& l : r.free_lists)
    if (l.name == "list") list = &l;
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->hits, 1u);
  EXPECT_EQ(list->misses, 2u);
  EXPECT_EQ(list->cleared, 1u);
  EXPECT_EQ(list->held_objects, 0u);
  EXPECT_EQ(list->peak_held_bytes, 56u);
  // Pooled saw three real list allocations and one dict; the cleared list came back to it.
  EXPECT_EQ(testing::counter(r, "pooled", "blocks_in_use"), 2u);
  EXPECT_EQ(testing::counter(r, "gc", "gen0_count"), 0u);
  EXPECT_EQ(testing::counter(r, "gc", "tracked_objects"), 2u);
}

}  // namespace
}  // namespace heaplay
