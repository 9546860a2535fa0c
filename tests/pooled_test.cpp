// pooled_test.cpp: the pooled layer on small, hand-computed cases: size
// classes, pools filling and emptying, arenas kept and given back, realloc,
// what goes to raw, arena alignment, and the statistics text. The long random
// comparisons with real CPython are in pooled_oracle_test.cpp.
//
// Figures for 3.11 on 64-bit: 16 KiB pools, 1 MiB arenas (64 pools), 48-byte
// pool headers; a pool of 16-byte blocks holds (16384 - 48) / 16 = 1021.
#include <gtest/gtest.h>

#include <string>

#include "engine/pooled.hpp"
#include "engine/stack.hpp"
#include "reports/pymalloc_stats.hpp"
#include "tests/fixture_raw.hpp"
#include "traces/error.hpp"

namespace heaplay {
namespace {

using testing::FixtureRaw;

PooledParams aligned_params(PythonVersion v = PythonVersion::V3_11) {
  PooledParams p = params_for(v).pooled;
  p.arena_alignment = ArenaAlignment::Aligned;
  return p;
}

Request obj(uint64_t size) { return Request{size, StringId{}, Domain::Obj}; }

constexpr uint64_t kArena = 1 << 20;

TEST(SizeClasses, CPythonTable) {
  const SizeClasses c(aligned_params());
  EXPECT_EQ(c.count(), 32u);
  EXPECT_EQ(c.class_of(1), 0u);
  EXPECT_EQ(c.class_of(16), 0u);
  EXPECT_EQ(c.class_of(17), 1u);
  EXPECT_EQ(c.class_of(512), 31u);
  EXPECT_EQ(c.class_of(0), SizeClasses::kNotPooled);
  EXPECT_EQ(c.class_of(513), SizeClasses::kNotPooled);
  EXPECT_EQ(c.block_size(0), 16u);
  EXPECT_EQ(c.block_size(31), 512u);
  EXPECT_EQ(c.blocks_per_pool(0), 1021u);
  EXPECT_EQ(c.blocks_per_pool(31), 31u);
  EXPECT_EQ(c.quantization(31), 464u);
  const SizeClasses c38(aligned_params(PythonVersion::V3_8));
  EXPECT_EQ(c38.blocks_per_pool(0), 253u);  // (4096 - 48) / 16
}

TEST(PymallocStatsText, PrintoneColumnsAndCommas) {
  EXPECT_EQ(pymalloc_stats_line("Total", 0), "Total                              =                    0\n");
  EXPECT_EQ(pymalloc_stats_line("x", 1234567), std::string("x") + std::string(34, ' ') + "=            1,234,567\n");
  EXPECT_EQ(pymalloc_stats_line("x", 1000), std::string("x") + std::string(34, ' ') + "=                1,000\n");
  // CPython's 21-character buffer keeps the low digits of a huge value.
  EXPECT_EQ(pymalloc_stats_line("x", UINT64_MAX), std::string("x") + std::string(34, ' ') + "=6,744,073,709,551,615\n");
  const std::string long_msg(40, 'm');
  EXPECT_EQ(pymalloc_stats_line(long_msg, 7), long_msg + "=                    7\n");
}

// What CPython 3.11.2 printed for: PyObject_Malloc(10), (600), (0) (the last
// two go to the system allocator), arenas aligned.
TEST(PymallocStatsText, OneBlockAsCPythonPrintsIt) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  pooled.allocate(obj(10));
  pooled.allocate(obj(600));
  pooled.allocate(obj(0));
  EXPECT_EQ(render_pymalloc_stats(pooled.pymalloc_stats()),
            "Small block threshold = 512, in 32 size classes.\n"
            "\n"
            "class   size   num pools   blocks in use  avail blocks\n"
            "-----   ----   ---------   -------------  ------------\n"
            "    0     16           1               1          1020\n"
            "\n"
            "# arenas allocated total           =                    1\n"
            "# arenas reclaimed                 =                    0\n"
            "# arenas highwater mark            =                    1\n"
            "# arenas allocated current         =                    1\n"
            "1 arenas * 1048576 bytes/arena     =            1,048,576\n"
            "\n"
            "# bytes in allocated blocks        =                   16\n"
            "# bytes in available blocks        =               16,320\n"
            "63 unused pools * 16384 bytes      =            1,032,192\n"
            "# bytes lost to pool headers       =                   48\n"
            "# bytes lost to quantization       =                    0\n"
            "# bytes lost to arena alignment    =                    0\n"
            "Total                              =            1,048,576\n");
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, BlocksCarvedAndTouchedOneAtATime) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  const Block b = pooled.allocate(obj(16));
  const Addr arena = raw.maps.at(0);
  EXPECT_EQ(b.depth, 0);
  EXPECT_EQ(b.handle, 0u);
  EXPECT_EQ(b.addr, arena + 48);
  // A new pool writes its first two blocks.
  EXPECT_EQ(raw.touches, 2u);
  EXPECT_EQ(raw.last_touch, arena + 48 + 16);
  pooled.allocate(obj(16));  // the second carved block: no carving yet
  EXPECT_EQ(raw.touches, 3u);  // ... but the free list ran dry, so the third is carved
  EXPECT_EQ(raw.last_touch, arena + 48 + 32);
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, FullPoolLeavesTheListAndComesBackToItsFront) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  std::vector<Block> blocks;
  for (int i = 0; i < 1021; ++i) blocks.push_back(pooled.allocate(obj(8)));
  EXPECT_EQ(blocks.back().handle, 0u);
  EXPECT_EQ(raw.touches, 1021u);  // every block carved exactly once
  const Block other = pooled.allocate(obj(8));
  EXPECT_EQ(other.handle, 1u);  // pool 0 is full
  pooled.release(blocks[5], obj(8));
  EXPECT_TRUE(pooled.is_valid());
  EXPECT_EQ(pooled.allocate(obj(8)).handle, 0u);  // back at the front
  EXPECT_EQ(pooled.allocate(obj(8)).handle, 1u);  // full again, off the list
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, EmptyPoolsAreReusedLastInFirstOut) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  const Block a = pooled.allocate(obj(16));  // class 0, pool 0
  const Block b = pooled.allocate(obj(32));  // class 1, pool 1
  pooled.allocate(obj(48));                  // class 2, pool 2
  pooled.release(a, obj(16));
  pooled.release(b, obj(32));
  EXPECT_TRUE(pooled.is_valid());
  const uint64_t touches = raw.touches;
  // Pool 1 was emptied last; another class re-initializes it (two blocks carved).
  const Block d = pooled.allocate(obj(64));
  EXPECT_EQ(d.handle, 1u);
  EXPECT_EQ(raw.touches, touches + 2);
  // Pool 0 keeps its class 0 state: no carving.
  const Block e = pooled.allocate(obj(1));
  EXPECT_EQ(e.handle, 0u);
  EXPECT_EQ(raw.touches, touches + 2);
  // A new class now carves pool 3.
  EXPECT_EQ(pooled.allocate(obj(80)).handle, 3u);
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, LastFreeArenaKeptFrom39) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  pooled.release(pooled.allocate(obj(100)), obj(100));
  EXPECT_TRUE(raw.unmaps.empty());
  const PymallocStats s = pooled.pymalloc_stats();
  EXPECT_EQ(s.arenas_current, 1u);
  EXPECT_EQ(s.unused_pools, 64u);
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, Python38GivesEveryFreeArenaBack) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(PythonVersion::V3_8), &raw, 0);
  pooled.release(pooled.allocate(obj(100)), obj(100));
  ASSERT_EQ(raw.unmaps.size(), 1u);
  EXPECT_EQ(raw.unmaps[0], raw.maps[0]);
  EXPECT_EQ(raw.held_bytes(), 16 * PooledLayer::kArenaObjectBytes);  // only the arena table is left
  pooled.allocate(obj(100));
  EXPECT_EQ(raw.maps.size(), 2u);
  EXPECT_EQ(raw.allocs, 1u);  // the table's slot is reused, not grown
  const PymallocStats s = pooled.pymalloc_stats();
  EXPECT_EQ(s.arenas_allocated_total, 2u);
  EXPECT_EQ(s.arenas_reclaimed, 1u);
  EXPECT_EQ(s.arenas_highwater, 1u);
  EXPECT_TRUE(pooled.is_valid());
}

// Arenas of 512-byte blocks: 31 to a pool, 64 pools, 1984 blocks an arena.
constexpr int kPerPool = 31, kPerArena = 31 * 64;

// A layer with `arenas` arenas full of 512-byte blocks, arena i in slot i.
struct FullArenas {
  explicit FullArenas(int arenas, PooledParams p = aligned_params()) : pooled(p, &raw, 0) {
    for (int i = 0; i < arenas * kPerArena; ++i) blocks.push_back(pooled.allocate(obj(512)));
  }
  void free_pool(int arena, int pool) {
    for (int k = 0; k < kPerPool; ++k) pooled.release(blocks[arena * kPerArena + pool * kPerPool + k], obj(512));
    EXPECT_TRUE(pooled.is_valid());
  }
  // The arena a new pool comes from (one block of an unused class).
  uint32_t arena_of_next_pool(uint64_t size) { return pooled.allocate(obj(size)).handle >> 6; }

  FixtureRaw raw;
  PooledLayer pooled;
  std::vector<Block> blocks;
};

TEST(Pooled, UsableArenasHeadInsertAndSlideRight) {
  FullArenas t(3);
  t.free_pool(1, 0);  // arena 1 has a free pool: usable = [1]
  t.free_pool(0, 0);  // so has arena 0; it goes to the head, ahead of its tie: [0, 1]
  EXPECT_EQ(t.arena_of_next_pool(16), 0u);  // the head serves; arena 0 is full again: [1]
  t.free_pool(0, 1);  // [0, 1] again
  t.free_pool(0, 2);  // arena 0 has two free pools: it slides right past arena 1: [1, 0]
  EXPECT_EQ(t.arena_of_next_pool(32), 1u);  // the fullest arena serves first; arena 1 is full
  EXPECT_EQ(t.arena_of_next_pool(48), 0u);
  EXPECT_EQ(t.arena_of_next_pool(64), 0u);
  EXPECT_EQ(t.arena_of_next_pool(80), 3u);  // no free pool left: a new arena
  EXPECT_TRUE(t.pooled.is_valid());
}

TEST(Pooled, ArenaSlidingRightJoinsTheFrontOfItsNewRun) {
  FullArenas t(3);
  for (auto [arena, pool] : {std::pair{1, 0}, {1, 1}, {2, 0}, {0, 0}, {0, 1}}) t.free_pool(arena, pool);
  // [1(2)], [2(1) 1(2)], [0(1) 2(1) 1(2)], then arena 0 has two: it goes
  // right after arena 2, ahead of arena 1, which had two first: [2(1) 0(2) 1(2)].
  EXPECT_EQ(t.arena_of_next_pool(16), 2u);
  EXPECT_EQ(t.arena_of_next_pool(32), 0u);
  EXPECT_EQ(t.arena_of_next_pool(48), 0u);
  EXPECT_EQ(t.arena_of_next_pool(64), 1u);
  EXPECT_TRUE(t.pooled.is_valid());
}

TEST(Pooled, WhollyFreeArenaKeptOnlyAtTheEndOfTheList) {
  FullArenas t(2);
  for (int pool = 0; pool < 64; ++pool) t.free_pool(0, pool);
  EXPECT_TRUE(t.raw.unmaps.empty());  // arena 0 is the last usable arena: kept
  for (int pool = 0; pool < 64; ++pool) t.free_pool(1, pool);
  ASSERT_EQ(t.raw.unmaps.size(), 1u);  // arena 1 emptied with arena 0 after it: given back
  EXPECT_EQ(t.raw.unmaps[0], t.raw.maps[1]);

  FixtureRaw raw38;
  PooledLayer py38(aligned_params(PythonVersion::V3_8), &raw38, 0);
  const int per_arena_38 = 7 * 64;  // 512-byte blocks: 7 in a 4 KiB pool
  std::vector<Block> b;
  for (int i = 0; i < 2 * per_arena_38; ++i) b.push_back(py38.allocate(obj(512)));
  for (int i = 0; i < per_arena_38; ++i) py38.release(b[i], obj(512));
  ASSERT_EQ(raw38.unmaps.size(), 1u);  // 3.8 keeps none
  EXPECT_EQ(raw38.unmaps[0], raw38.maps[0]);
  EXPECT_TRUE(py38.is_valid());
}

TEST(Pooled, ArenaTableGrowsAsARawRealloc) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  pooled.allocate(obj(512));
  EXPECT_EQ(raw.allocs, 1u);
  EXPECT_EQ(raw.last_request.size, 16 * 48u);
  EXPECT_EQ(raw.last_request.domain, Domain::Raw);
  // 17 arenas: 16 full ones and a block.
  for (int i = 1; i < 16 * kPerArena + 1; ++i) pooled.allocate(obj(512));
  EXPECT_EQ(raw.maps.size(), 17u);
  EXPECT_EQ(raw.reallocs, 1u);
  EXPECT_EQ(raw.last_request.size, 32 * 48u);
  EXPECT_EQ(raw.held_bytes(), 17 * kArena + 32 * 48);
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, RawDomainZeroAndLargeRequestsGoBelow) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  const Block r = pooled.allocate(Request{10, StringId{}, Domain::Raw});
  const Block z = pooled.allocate(obj(0));
  const Block l = pooled.allocate(obj(513));
  for (const Block& b : {r, z, l}) EXPECT_EQ(b.depth, 1);
  EXPECT_TRUE(raw.maps.empty());  // nothing pooled yet: no arena
  pooled.release(r, Request{10, StringId{}, Domain::Raw});
  EXPECT_EQ(raw.frees, 1u);
  const Block p = pooled.allocate(Request{10, StringId{}, Domain::Mem});
  EXPECT_EQ(p.depth, 0);
}

TEST(Pooled, ReallocStaysMovesOrLeavesThePools) {
  FixtureRaw raw;
  PooledLayer pooled(aligned_params(), &raw, 0);
  const Block b = pooled.allocate(obj(100));  // class 6, 112 bytes
  EXPECT_EQ(pooled.reallocate(b, 100, obj(112)).addr, b.addr);
  EXPECT_EQ(pooled.reallocate(b, 112, obj(85)).addr, b.addr);  // 4 x 85 > 3 x 112
  const Block shrunk = pooled.reallocate(b, 85, obj(84));       // 4 x 84 = 3 x 112: moves
  EXPECT_EQ(shrunk.depth, 0);
  EXPECT_NE(shrunk.handle, b.handle);
  const Block grown = pooled.reallocate(shrunk, 84, obj(113));
  EXPECT_NE(grown.handle, shrunk.handle);
  // 0 bytes is not pooled: the block moves below, and stays there even when small again.
  const Block zero = pooled.reallocate(grown, 113, obj(0));
  EXPECT_EQ(zero.depth, 1);
  const Block still_raw = pooled.reallocate(zero, 0, obj(10));
  EXPECT_EQ(still_raw.depth, 1);
  EXPECT_EQ(raw.reallocs, 1u);
  EXPECT_EQ(pooled.pymalloc_stats().classes.size(), 0u);  // every pooled block was freed
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, UnalignedArenaLosesAPool) {
  FixtureRaw raw;
  raw.next = (Addr{1} << 32) + 4096;  // one page past a pool boundary
  PooledParams p = aligned_params();
  p.arena_alignment = ArenaAlignment::Unaligned;
  PooledLayer pooled(p, &raw, 0);
  const Block b = pooled.allocate(obj(16));
  const Addr arena = raw.maps.at(0);  // page-aligned, after the arena table
  ASSERT_NE(arena % 16384, 0u);
  EXPECT_EQ(b.addr, (arena | 16383) + 1 + 48);  // the first pool boundary in the arena
  PymallocStats s = pooled.pymalloc_stats();
  EXPECT_EQ(s.unused_pools, 62u);
  EXPECT_EQ(s.arena_alignment_bytes, 16384u);
  EXPECT_EQ(s.total_bytes(), kArena);
  // A pool-aligned address still counts as unaligned in this mode.
  raw.next = Addr{1} << 40;
  for (int i = 0; i < 63 * 1021; ++i) pooled.allocate(obj(16));
  ASSERT_EQ(raw.maps.size(), 2u);
  s = pooled.pymalloc_stats();
  EXPECT_EQ(s.arena_alignment_bytes, 2 * 16384u);
  EXPECT_EQ(s.total_bytes(), 2 * kArena);
  EXPECT_TRUE(pooled.is_valid());
}

TEST(Pooled, TraceAlignmentPerArenaLastRepeating) {
  FixtureRaw raw;
  PooledParams p = aligned_params();
  p.arena_alignment = ArenaAlignment::Trace;
  p.arena_excess = {0, 4096};
  PooledLayer pooled(p, &raw, 0);
  // 64 + 63 + 63 pools of 512-byte blocks, 31 to a pool.
  for (int i = 0; i < (64 + 63 + 1) * 31; ++i) pooled.allocate(obj(512));
  ASSERT_EQ(raw.maps.size(), 3u);
  const PymallocStats s = pooled.pymalloc_stats();
  EXPECT_EQ(s.arena_alignment_bytes, 2 * 16384u);
  EXPECT_EQ(s.unused_pools, 62u);
  EXPECT_TRUE(pooled.is_valid());

  FixtureRaw raw2;
  p.arena_excess.clear();
  PooledLayer unknown(p, &raw2, 0);
  try {
    unknown.allocate(obj(8));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("records no arena alignment"), std::string::npos) << e.what();
  }
}

TEST(Pooled, FactoryAndReport) {
  FixtureRaw raw;
  auto layer = make_pooled(aligned_params(), &raw, 0);
  EXPECT_EQ(layer->name(), "pooled");
  layer->allocate(obj(24));
  layer->allocate(obj(1000));
  const LayerReport r = layer->report();
  auto get = [&](std::string_view key) -> uint64_t {
    for (const auto& [k, v] : r.counters)
      if (k == key) return v;
    ADD_FAILURE() << "no counter " << key;
    return 0;
  };
  EXPECT_EQ(get("pooled_allocs"), 1u);
  EXPECT_EQ(get("passed_to_raw"), 1u);
  EXPECT_EQ(get("arenas_current"), 1u);
  EXPECT_EQ(get("arena_bytes"), kArena);
  EXPECT_EQ(get("blocks_in_use"), 1u);
  EXPECT_EQ(get("allocated_bytes"), 32u);
  EXPECT_EQ(get("pools_unused"), 63u);
  EXPECT_EQ(get("arena_table_bytes"), 768u);
}

}  // namespace
}  // namespace heaplay
