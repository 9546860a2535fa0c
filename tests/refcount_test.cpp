// refcount_test.cpp: the replay's reference counting (engine/refgraph.hpp) on
// hand-built graphs and traces with known answers: deallocation order,
// cascades (a 10-million-object chain, iteratively), diamonds, multiplicity,
// cycles left unreclaimed without a collector, skipped f ID gc records.
#include <gtest/gtest.h>

#include <vector>

#include "engine/refgraph.hpp"
#include "tests/object_test_util.hpp"

namespace heaplay {
namespace {

using testing::counter;
using testing::LogLayer;
using testing::replay_text;

TEST(Refcount, CascadeReleasesChildrenFirstInLinkOrder) {
  LogLayer mem;
  LiveBytes live;
  RefGraph g(mem, live);
  for (uint32_t s = 0; s < 4; ++s) ASSERT_TRUE(g.create(s, 100 + s, StringId{}));  // A B C D
  ASSERT_TRUE(g.link(0, 1));
  ASSERT_TRUE(g.link(0, 2));
  ASSERT_TRUE(g.link(1, 3));
  for (uint32_t s = 1; s < 4; ++s) ASSERT_TRUE(g.decref(s));  // only the references hold them now
  EXPECT_TRUE(mem.released.empty());
  EXPECT_EQ(live.now, 406u);
  EXPECT_TRUE(g.is_valid());
  ASSERT_TRUE(g.decref(0));
  // A drops B (oldest link), B drops D: D, then B; then C; A last.
  EXPECT_EQ(mem.released, (std::vector<uint64_t>{103, 101, 102, 100}));
  EXPECT_EQ(g.live_objects(), 0u);
  EXPECT_EQ(g.deaths(), 4u);
  EXPECT_EQ(g.live_edges(), 0u);
  EXPECT_EQ(live.now, 0u);
  EXPECT_EQ(live.peak, 406u);
  EXPECT_TRUE(g.is_valid());
}

TEST(Refcount, DiamondFreesTheSharedChildOnItsLastReference) {
  LogLayer mem;
  LiveBytes live;
  RefGraph g(mem, live);
  for (uint32_t s = 0; s < 4; ++s) g.create(s, 100 + s, StringId{});  // A B C D
  g.link(0, 1);
  g.link(0, 2);
  g.link(1, 3);
  g.link(2, 3);
  for (uint32_t s = 1; s < 4; ++s) g.decref(s);
  g.decref(0);
  // B goes first (D keeps C's reference), then C lets go of D: D, C, A.
  EXPECT_EQ(mem.released, (std::vector<uint64_t>{101, 103, 102, 100}));
  EXPECT_TRUE(g.is_valid());
}

TEST(Refcount, LinksHaveMultiplicityAndUnknownUnlinksAreRefused) {
  LogLayer mem;
  LiveBytes live;
  RefGraph g(mem, live);
  g.create(0, 10, StringId{});
  g.create(1, 11, StringId{});
  g.link(0, 1);
  g.link(0, 1);
  EXPECT_EQ(g.live_edges(), 1u);
  g.decref(1);  // B: 2 references from A
  EXPECT_TRUE(g.unlink(0, 1));
  EXPECT_TRUE(mem.released.empty());
  EXPECT_EQ(g.live_edges(), 1u);
  EXPECT_FALSE(g.unlink(1, 0));  // never linked
  EXPECT_TRUE(g.unlink(0, 1));   // the last reference: B goes
  EXPECT_EQ(mem.released, (std::vector<uint64_t>{11}));
  EXPECT_EQ(g.live_edges(), 0u);
  // A dead slot: records naming it are refused until the reader's Death frees it.
  EXPECT_FALSE(g.incref(1));
  EXPECT_FALSE(g.link(0, 1));
  g.death(1);
  EXPECT_TRUE(g.create(1, 12, StringId{}));
  EXPECT_EQ(g.live_objects(), 2u);
  EXPECT_TRUE(g.is_valid());
}

TEST(Refcount, TenMillionChainIsFreedIteratively) {
  // A recursive teardown would need 10M nested frames: this would overflow the stack.
  constexpr uint32_t kN = 10'000'000;
  LogLayer mem;
  mem.log_releases = false;
  LiveBytes live;
  RefGraph g(mem, live);
  for (uint32_t s = 0; s < kN; ++s) {
    g.create(s, 16, StringId{});
    if (s > 0) {
      g.link(s - 1, s);
      g.decref(s);
    }
  }
  EXPECT_EQ(g.live_edges(), kN - 1);
  EXPECT_EQ(mem.release_count, 0u);
  g.decref(0);
  EXPECT_EQ(mem.release_count, kN);
  EXPECT_EQ(g.deaths(), kN);
  EXPECT_EQ(g.live_objects(), 0u);
  EXPECT_EQ(g.live_edges(), 0u);
  EXPECT_EQ(live.now, 0u);
}

TEST(Refcount, ObjectsReplayOnEveryStackWithTheReadersDeaths) {
  // samples/request.trace: a dict holding a list, freed by counting; a float
  // block freed; a 4096-byte raw buffer leaks.
  for (const char* stack : {"raw", "pooled", "gc+pooled"}) {
    std::string text = testing::read_file(std::string(HEAPLAY_SOURCE_DIR) + "/samples/request.trace");
    ReplayResult r = replay_text(text, stack);
    EXPECT_EQ(r.objects, 2u) << stack;
    EXPECT_EQ(r.object_deaths, 2u) << stack;
    EXPECT_EQ(r.final_live_objects, 0u) << stack;
    EXPECT_EQ(r.peak_live_bytes, 64u + 56u + 4096u) << stack;  // objects count as live bytes
    EXPECT_EQ(r.final_live_bytes, 4096u) << stack;
    EXPECT_EQ(r.events, 12u) << stack;  // Deaths are not records
    EXPECT_EQ(r.stale_object_events, 0u) << stack;
  }
}

const char* kLeakyCycles =
    "o 1 64 list\n"
    "o 2 48 list\n"
    "o 3 200 dict\n"  // held only by the 1-2 cycle
    "o 4 32 str\n"    // held by the cycle and from outside
    "o 5 56 list\n"   // a cycle held from outside
    "o 6 72 dict\n"
    "l 1 2\nl 2 1\nl 1 3\nl 2 4\nl 5 6\nl 6 5\n"
    "- 1\n- 2\n- 3\n- 6\n";

TEST(Refcount, CyclesLeakWithoutTheCollectorAndAreCounted) {
  ReplayResult r = replay_text(kLeakyCycles, "pooled");
  EXPECT_EQ(r.objects, 6u);
  EXPECT_EQ(r.object_deaths, 0u);
  EXPECT_EQ(r.final_live_objects, 6u);
  EXPECT_EQ(r.final_live_bytes, 64u + 48 + 200 + 32 + 56 + 72);
  EXPECT_EQ(r.unreclaimed_cyclic_objects, 3u);  // 1, 2 and what only they hold (3)
  EXPECT_EQ(r.unreclaimed_cyclic_bytes, 64u + 48 + 200);
  EXPECT_FALSE(r.has_gc);
  EXPECT_EQ(counter(r, "pooled", "blocks_in_use"), 6u);
  // Without a collector, g is counted and does nothing.
  ReplayResult g = replay_text(std::string(kLeakyCycles) + "g 0\ng\n", "pooled");
  EXPECT_EQ(g.collections, 2u);
  EXPECT_EQ(g.unreclaimed_cyclic_objects, 3u);
  EXPECT_EQ(g.final_live_objects, 6u);
}

TEST(Refcount, FreesByTheProgramsCollectorAreSkippedWithoutGc) {
  const char* text = "a 1 100\na 2 50\nf 1 gc\nf 2\na 3 100\n";
  ReplayResult r = replay_text(text, "pooled");
  EXPECT_EQ(r.frees, 2u);
  EXPECT_EQ(r.skipped_gc_frees, 1u);
  EXPECT_EQ(r.final_live_blocks, 2u);  // the kept block and 3
  EXPECT_EQ(r.final_live_bytes, 200u);
  EXPECT_EQ(counter(r, "pooled", "blocks_in_use"), 2u);
  // With the collector it is an ordinary free.
  ReplayResult gc = replay_text(text, "gc+pooled");
  EXPECT_EQ(gc.skipped_gc_frees, 0u);
  EXPECT_EQ(gc.final_live_blocks, 1u);
  EXPECT_EQ(gc.final_live_bytes, 100u);
  EXPECT_EQ(counter(gc, "pooled", "blocks_in_use"), 1u);
}

}  // namespace
}  // namespace heaplay
