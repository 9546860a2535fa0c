// raw_sim_test.cpp: raw sim (engine/raw_sim.hpp) on hand-computed sequences,
// and against a naive oracle on long random ones.
//
// Hand-computed cases use the default parameters (alignment 16, header 8,
// min_chunk 32, mmap_threshold = trim_threshold = top_pad = 128 KiB, page
// 4 KiB) unless they say otherwise. With header 8 and alignment 16 the heap's
// first chunk starts 8 bytes in (the lead), so the first block is at H + 16
// and a chunk at address c serves the block at c + 8. Mappings fill the space
// down from C. The arithmetic is in the comments, from docs/raw-sim.md.
//
// The oracle (Naive below) implements the same documented rules with none of
// raw sim's structures: chunks in a std::map by address, free chunks in a
// std::set by (size, freshness), mappings in a std::map with holes found by
// walking it. Both must give the same address for every block and mapping and
// the same heap extent, top and held bytes after every step.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "engine/raw_sim.hpp"
#include "engine/stack.hpp"
#include "traces/error.hpp"

namespace heaplay {
namespace {

constexpr Addr H = RawSim::kHeapBase;
constexpr Addr C = RawSim::kMapCeiling;
constexpr uint64_t K = 1024;

uint64_t counter(const Layer& l, std::string_view name) {
  for (const auto& [key, value] : l.report().counters)
    if (key == name) return value;
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// A raw sim with one-letter helpers; checks the invariants after every step.
struct Sim {
  explicit Sim(RawParams p = {}) : raw(p, 0) {}
  Block a(uint64_t size) { return checked(raw.allocate(Request{size, kNoString, Domain::None})); }
  void f(const Block& b, uint64_t size) {
    raw.release(b, Request{size, kNoString, Domain::None});
    EXPECT_TRUE(raw.is_valid());
  }
  Block r(const Block& b, uint64_t old_size, uint64_t size) {
    return checked(raw.reallocate(b, old_size, Request{size, kNoString, Domain::None}));
  }
  Block checked(Block b) {
    EXPECT_TRUE(raw.is_valid());
    EXPECT_EQ(b.addr % 16, 0u);
    return b;
  }
  uint64_t n(std::string_view name) const { return counter(raw, name); }
  RawSim raw;
};

TEST(RawSim, ChunkSizeIsGlibcRequest2size) {
  Sim s;
  EXPECT_EQ(s.raw.chunk_size(0), 32u);   // malloc(0) gets a minimum chunk
  EXPECT_EQ(s.raw.chunk_size(24), 32u);  // 24 + 8 = 32
  EXPECT_EQ(s.raw.chunk_size(25), 48u);  // 33 -> 48
  EXPECT_EQ(s.raw.chunk_size(100), 112u);
  EXPECT_EQ(s.raw.chunk_size(1000), 1008u);
  RawParams p;
  p.alignment = 32;
  p.header = 16;
  p.min_chunk = 64;
  Sim t(p);
  EXPECT_EQ(t.raw.chunk_size(1), 64u);    // 17 -> 32, raised to min_chunk
  EXPECT_EQ(t.raw.chunk_size(100), 128u);  // 116 -> 128
  // lead = (32 - 16 % 32) % 32 = 16: chunk at H + 16, block at H + 32.
  EXPECT_EQ(t.a(100).addr, H + 32);
}

TEST(RawSim, FirstAllocationGrowsTheHeapByTopPad) {
  Sim s;
  EXPECT_EQ(s.raw.held_bytes(), 0u);
  Block b = s.a(100);  // nb 112; grow round_up(112 + 128K + 32, 4K) = 135168 (glibc's first 0x21000)
  EXPECT_EQ(b.addr, H + 16);
  EXPECT_EQ(b.depth, 0);
  EXPECT_EQ(s.raw.heap_extent(), 135168u);
  EXPECT_EQ(s.raw.top_address(), H + 8 + 112);
  EXPECT_EQ(s.raw.top_bytes(), 135168u - 112);
  EXPECT_EQ(s.raw.held_bytes(), 135168u);
  EXPECT_EQ(s.raw.peak_held_bytes(), 135168u);
  EXPECT_EQ(s.a(0).addr, H + 16 + 112);  // the next chunk, straight above
  EXPECT_EQ(s.n("heap_grows"), 1u);
  EXPECT_EQ(s.n("chunks_live"), 2u);
  EXPECT_EQ(s.n("chunk_bytes_live"), 112u + 32);
  EXPECT_EQ(s.n("bytes_requested_live"), 100u);
}

TEST(RawSim, BestFitSplitsAndKeepsSmallRemainders) {
  Sim s;
  Block a = s.a(1000);  // 1008 at chunk H+8
  s.a(16);              // guard, 32 at H+1016
  Block b = s.a(500);   // 512 at H+1048
  s.a(16);              // guard at H+1560
  Block c = s.a(200);   // 208 at H+1592
  s.a(16);              // guard at H+1800
  EXPECT_EQ(b.addr, H + 1056);
  EXPECT_EQ(c.addr, H + 1600);
  s.f(a, 1000);
  s.f(b, 500);
  s.f(c, 200);
  EXPECT_EQ(s.n("free_chunks"), 3u);
  EXPECT_EQ(s.n("free_chunk_bytes"), 1008u + 512 + 208);
  EXPECT_EQ(s.n("largest_free_chunk"), 1008u);
  // nb 192: the 208 fits best; 16 left is below min_chunk, so the whole chunk goes.
  EXPECT_EQ(s.a(180).addr, H + 1600);
  EXPECT_EQ(s.n("chunk_bytes_live"), 3u * 32 + 208);
  // nb 416: the 512 fits best (not the 1008); 96 stay free at H+1048+416.
  EXPECT_EQ(s.a(400).addr, H + 1056);
  EXPECT_EQ(s.n("free_chunks"), 2u);
  EXPECT_EQ(s.n("free_chunk_bytes"), 1008u + 96);
  // nb 96: exactly the remainder, at H+1464.
  EXPECT_EQ(s.a(80).addr, H + 1472);
  EXPECT_EQ(s.n("free_chunks"), 1u);
  // nothing free fits 2000: the top serves it, above the last guard.
  const Addr top = s.raw.top_address();
  EXPECT_EQ(s.a(2000).addr, top + 8);
}

TEST(RawSim, EqualSizesGoLastFreedFirst) {
  Sim s;
  Block x = s.a(100);  // H+16
  s.a(16);
  Block y = s.a(100);  // H+16+112+32 = H+160
  s.a(16);
  EXPECT_EQ(y.addr, H + 160);
  s.f(x, 100);
  s.f(y, 100);
  EXPECT_EQ(s.a(90).addr, y.addr);  // y was freed last
  EXPECT_EQ(s.a(90).addr, x.addr);
  s.f(s.a(100), 100);  // from the top, straight back to it
  EXPECT_EQ(s.n("free_chunks"), 0u);
}

TEST(RawSim, FreeCoalescesBothSides) {
  Sim s;
  s.a(16);             // chunk H+8, 32
  Block x = s.a(100);  // H+40, 112
  Block y = s.a(200);  // H+152, 208
  Block z = s.a(300);  // H+360, 320 (308 -> 320)
  s.a(16);             // guard at H+680
  s.f(x, 100);
  s.f(z, 300);
  EXPECT_EQ(s.n("free_chunks"), 2u);
  s.f(y, 200);  // joins x below and z above: 640 bytes at H+40
  EXPECT_EQ(s.n("free_chunks"), 1u);
  EXPECT_EQ(s.n("free_chunk_bytes"), 640u);
  EXPECT_EQ(s.n("largest_free_chunk"), 640u);
  EXPECT_EQ(s.a(640 - 8).addr, H + 48);  // the whole of it, in one piece
  EXPECT_EQ(s.n("free_chunks"), 0u);
}

TEST(RawSim, FreeNextToTheTopJoinsTheTop) {
  Sim s;
  s.a(100);
  const Addr top0 = s.raw.top_address();
  const uint64_t bytes0 = s.raw.top_bytes();
  Block x = s.a(1000);
  Block y = s.a(1000);
  s.f(x, 1000);  // a free chunk below y
  s.f(y, 1000);  // y joins the top, and so does x below it
  EXPECT_EQ(s.raw.top_address(), top0);
  EXPECT_EQ(s.raw.top_bytes(), bytes0);
  EXPECT_EQ(s.n("free_chunks"), 0u);
  // merged 135056 >= 64K and top >= 128K, but 135056 - 33 - 128K = 3951 is under a page: no trim
  EXPECT_EQ(s.n("trims"), 0u);
}

TEST(RawSim, TopGrowsAndIsTrimmedKeepingTopPad) {
  Sim s;
  // nb 100016. Grow round_up(100016 + 131072 + 32, 4K) = 233472; top 133456 at H+100024.
  Block a = s.a(100000);
  EXPECT_EQ(s.raw.heap_extent(), 233472u);
  Block b = s.a(100000);  // from the top: at H+100024; top 33440 at H+200040
  EXPECT_EQ(b.addr, H + 100032);
  EXPECT_EQ(s.raw.top_bytes(), 33440u);
  // 33440 < 100016 + 32: grow round_up(100016 + 131072 + 32 - 33440, 4K) = 200704.
  Block c = s.a(100000);
  EXPECT_EQ(c.addr, H + 200048);
  EXPECT_EQ(s.raw.heap_extent(), 434176u);
  EXPECT_EQ(s.raw.top_bytes(), 33440u + 200704 - 100016);
  EXPECT_EQ(s.n("heap_grows"), 2u);
  // c joins the top: 234144 >= trim_threshold, so trim
  // round_down(234144 - 32 - 1 - 131072, 4K) = 102400.
  s.f(c, 100000);
  EXPECT_EQ(s.raw.heap_extent(), 434176u - 102400);
  EXPECT_EQ(s.raw.top_bytes(), 234144u - 102400);
  EXPECT_EQ(s.raw.top_address(), H + 200040);
  EXPECT_EQ(s.n("trims"), 1u);
  EXPECT_EQ(s.raw.held_bytes(), 331776u);
  EXPECT_EQ(s.raw.peak_held_bytes(), 434176u);
  EXPECT_EQ(s.n("peak_heap_extent_bytes"), 434176u);
  // a is not next to the top; the top (131744) has 639 bytes above pad + 33: no whole page.
  s.f(a, 100000);
  EXPECT_EQ(s.n("trims"), 1u);
  EXPECT_EQ(s.n("free_chunks"), 1u);
  // b joins a below and the top above: 331776, all the heap; trim 196608 (48 pages).
  s.f(b, 100000);
  EXPECT_EQ(s.raw.top_address(), H + 8);
  EXPECT_EQ(s.raw.heap_extent(), 135168u);
  EXPECT_EQ(s.raw.top_bytes(), 135168u);
  EXPECT_EQ(s.n("trims"), 2u);
  EXPECT_EQ(s.n("free_chunks"), 0u);
}

TEST(RawSim, TrimWaitsForAFreeOf64KiB) {
  // top_pad 0 and trim_threshold 4K: a free is followed by a look at the top
  // only when the chunk it made (or the top it joined) is 64 KiB or more.
  RawParams p;
  p.top_pad = 0;
  p.trim_threshold = 4096;
  Sim s(p);
  Block a = s.a(30000);  // nb 30016; grow round_up(30016 + 32, 4K) = 32768; top 2752
  Block b = s.a(30000);  // grow round_up(30048 - 2752, 4K) = 28672: extent 61440, top 1408
  EXPECT_EQ(s.raw.heap_extent(), 61440u);
  EXPECT_EQ(s.raw.top_bytes(), 1408u);
  s.f(b, 30000);  // top 31424 >= 4K, but merged 31424 < 64K: no trim
  EXPECT_EQ(s.raw.heap_extent(), 61440u);
  EXPECT_EQ(s.n("trims"), 0u);
  s.f(a, 30000);  // top 61440 >= 64K? no: 61440 < 65536, still no trim
  EXPECT_EQ(s.raw.heap_extent(), 61440u);
  Block c = s.a(70000);  // nb 70016 < 128K: grow round_up(70016 + 32 - 61440, 4K) = 12288
  EXPECT_EQ(c.addr, H + 16);
  EXPECT_EQ(s.raw.heap_extent(), 73728u);
  s.f(c, 70000);  // top 73728 >= 64K: trim round_down(73728 - 33, 4K) = 69632
  EXPECT_EQ(s.raw.heap_extent(), 4096u);
  EXPECT_EQ(s.raw.top_bytes(), 4096u);
  EXPECT_EQ(s.n("trims"), 1u);
}

TEST(RawSim, MmapThresholdComparesTheChunkSize) {
  {
    Sim s;
    // 131048 + 8 = 131056 < 128K: heap; grow round_up(131056 + 131072 + 32, 4K) = 266240.
    Block b = s.a(131048);
    EXPECT_EQ(b.addr, H + 16);
    EXPECT_EQ(s.raw.heap_extent(), 266240u);
    EXPECT_EQ(s.n("mmaps"), 0u);
    // nb 131072 reaches the threshold, but the top (135184) holds it and a
    // minimum chunk: glibc maps only what existing space cannot serve.
    Block c = s.a(131064);
    EXPECT_EQ(c.addr, H + 16 + 131056);
    EXPECT_EQ(s.n("mmaps"), 0u);
  }
  {
    Sim s;
    // nb 131072 on an empty heap: a mapping of round_up(131072 + 8, 4K) = 135168
    // at the top of the mapping space; the block 16 bytes in.
    Block b = s.a(131064);
    EXPECT_EQ(b.addr, C - 135168 + 16);
    EXPECT_EQ(s.raw.heap_extent(), 0u);
    EXPECT_EQ(s.n("mmaps"), 1u);
    EXPECT_EQ(s.n("mmapped_bytes"), 135168u);
    EXPECT_EQ(s.raw.held_bytes(), 135168u);
    s.f(b, 131064);
    EXPECT_EQ(s.n("mmaps"), 0u);
    EXPECT_EQ(s.n("mmaps_total"), 1u);
    EXPECT_EQ(s.raw.held_bytes(), 0u);
    EXPECT_EQ(s.raw.peak_held_bytes(), 135168u);
    EXPECT_EQ(s.raw.mmap_threshold(), 128 * K);  // fixed unless raw.mmap_threshold_dynamic
  }
}

TEST(RawSim, MappedBlocksArePageRoundedAndReuseHoles) {
  Sim s;
  Block a = s.a(200000);  // nb 200016; round_up(200024, 4K) = 200704
  Block b = s.a(300000);  // nb 300016; round_up(300024, 4K) = 303104
  EXPECT_EQ(a.addr, C - 200704 + 16);
  EXPECT_EQ(b.addr, C - 200704 - 303104 + 16);
  EXPECT_EQ(s.n("mmapped_bytes"), 200704u + 303104);
  EXPECT_EQ(s.n("peak_mmapped_bytes"), 200704u + 303104);
  s.f(a, 200000);  // a hole at the top
  Block c = s.a(150000);  // nb 150016 -> 151552: the hole's highest pages
  EXPECT_EQ(c.addr, C - 151552 + 16);
  Block d = s.a(140000);  // 143360 does not fit the 49152 left: below b
  EXPECT_EQ(d.addr, C - 200704 - 303104 - 143360 + 16);
  Block e = s.a(40000);  // heap (nb 40016 < 128K)
  EXPECT_LT(e.addr, RawSim::kMapFloor);
  EXPECT_EQ(s.n("mmaps"), 3u);
  EXPECT_EQ(s.raw.held_bytes(), s.raw.heap_extent() + 303104 + 151552 + 143360);
}

TEST(RawSim, ReallocShrinksInPlace) {
  Sim s;
  Block a = s.a(1000);  // 1008 at H+8
  s.a(16);
  Block b = s.r(a, 1000, 500);  // nb 512: 496 freed at H+520
  EXPECT_EQ(b.addr, a.addr);
  EXPECT_EQ(s.n("free_chunks"), 1u);
  EXPECT_EQ(s.n("free_chunk_bytes"), 496u);
  Block c = s.r(b, 500, 490);  // nb 512 again: nothing to do
  EXPECT_EQ(c.addr, a.addr);
  Block d = s.r(c, 490, 480);  // nb 496: 16 left is below min_chunk, the chunk stays 512
  EXPECT_EQ(d.addr, a.addr);
  EXPECT_EQ(s.n("free_chunk_bytes"), 496u);
  EXPECT_EQ(s.n("chunk_bytes_live"), 512u + 32);
  EXPECT_EQ(s.n("reallocs"), 3u);
  EXPECT_EQ(s.n("reallocs_in_place"), 3u);
  EXPECT_EQ(s.n("bytes_requested_live"), 480u + 16);
}

TEST(RawSim, ReallocGrowsIntoAFreeNeighbour) {
  Sim s;
  Block a = s.a(200);  // 208 at H+8
  Block b = s.a(200);  // 208 at H+216
  s.a(16);             // guard at H+424
  s.f(b, 200);
  Block c = s.r(a, 200, 300);  // nb 320 <= 208 + 208: in place, 96 free at H+328
  EXPECT_EQ(c.addr, a.addr);
  EXPECT_EQ(s.n("free_chunks"), 1u);
  EXPECT_EQ(s.n("free_chunk_bytes"), 96u);
  EXPECT_EQ(s.a(80).addr, H + 336);  // the remainder, 96 at H+328
}

TEST(RawSim, ReallocGrowsIntoTheTop) {
  Sim s;
  Block a = s.a(100);
  Block b = s.r(a, 100, 1000);  // next to the top: in place, top now at H+8+1008
  EXPECT_EQ(b.addr, a.addr);
  EXPECT_EQ(s.raw.top_address(), H + 8 + 1008);
  EXPECT_EQ(s.raw.top_bytes(), 135168u - 1008);
}

TEST(RawSim, ReallocMovesWhenBlocked) {
  Sim s;
  Block a = s.a(100);  // 112 at H+8
  Block g = s.a(16);   // guard: 32 at H+120
  Block b = s.r(a, 100, 1000);  // a new 1008 from the top at H+152; a's 112 freed
  EXPECT_EQ(b.addr, H + 160);
  EXPECT_EQ(s.n("free_chunks"), 1u);
  EXPECT_EQ(s.n("free_chunk_bytes"), 112u);
  EXPECT_EQ(s.n("reallocs_in_place"), 0u);
  EXPECT_EQ(s.n("chunk_bytes_live"), 32u + 1008);
  s.f(g, 16);
  EXPECT_EQ(s.n("free_chunk_bytes"), 144u);  // a's old chunk and the guard's, joined
}

TEST(RawSim, ReallocAtTheTopOfAFullHeapGrowsItInPlace) {
  // glibc's _int_realloc mallocs from a grown top and finds the new chunk right
  // above the old one: it joins them and frees the old chunk's worth.
  RawParams p;
  p.top_pad = 0;
  Sim s(p);
  Block a = s.a(100);  // grow round_up(112 + 32, 4K) = 4096; top 3984 at H+120
  EXPECT_EQ(s.raw.heap_extent(), 4096u);
  // nb 10016: 112 + 3984 < 10016 + 32. The malloc grows the top by
  // round_up(10016 + 32 - 3984, 4K) = 8192 and carves 10016 at H+120, right
  // above a; joined (10128), cut to 10016, and the 112 left joins the top.
  Block b = s.r(a, 100, 10000);
  EXPECT_EQ(b.addr, a.addr);
  EXPECT_EQ(s.raw.heap_extent(), 12288u);
  EXPECT_EQ(s.raw.top_address(), H + 8 + 10016);
  EXPECT_EQ(s.raw.top_bytes(), 12288u - 10016);
  EXPECT_EQ(s.n("chunks_live"), 1u);
  EXPECT_EQ(s.n("chunk_bytes_live"), 10016u);
  EXPECT_EQ(s.n("reallocs_in_place"), 1u);
}

TEST(RawSim, ReallocOfAMappedBlockRemaps) {
  Sim s;
  Block a = s.a(200000);  // 200704 at C - 200704
  Block b = s.r(a, 200000, 200500);  // nb 200512: round_up(200520, 4K) is still 200704
  EXPECT_EQ(b.addr, a.addr);
  EXPECT_EQ(s.n("mmapped_bytes"), 200704u);
  // 300000: 303104 bytes; nothing free above the top mapping: it moves below.
  Block c = s.r(b, 200500, 300000);
  EXPECT_EQ(c.addr, C - 200704 - 303104 + 16);
  EXPECT_EQ(s.n("mmapped_bytes"), 303104u);
  EXPECT_EQ(s.n("peak_mmapped_bytes"), 303104u);
  // Down to 100 bytes: still mapped, one page, in place.
  Block d = s.r(c, 300000, 100);
  EXPECT_EQ(d.addr, c.addr);
  EXPECT_EQ(s.n("mmapped_bytes"), 4096u);
  EXPECT_EQ(s.n("mmaps"), 1u);
  EXPECT_EQ(s.raw.heap_extent(), 0u);
  EXPECT_EQ(s.n("reallocs_in_place"), 2u);
}

TEST(RawSim, ReallocOfAMappedBlockGrowsIntoTheHoleAbove) {
  Sim s;
  Block a = s.a(200000);  // C - 200704
  Block b = s.a(200000);  // C - 401408
  s.f(a, 200000);         // a 200704-byte hole right above b
  Block c = s.r(b, 200000, 300000);  // +102400 from the hole: in place
  EXPECT_EQ(c.addr, b.addr);
  EXPECT_EQ(s.n("mmapped_bytes"), 303104u);
  // What is left of the hole (98304 bytes) fits a mapping of that size exactly.
  Addr m = s.raw.map(98304, 4096);
  EXPECT_EQ(m, C - 98304);
}

TEST(RawSim, MapHonoursAlignmentAndFillsHoles) {
  Sim s;
  Addr a = s.raw.map(1 << 20, 16 * K);  // C is aligned: C - 1M
  EXPECT_EQ(a, C - (1 << 20));
  Addr b = s.raw.map(1000, 4096);  // one page below a
  EXPECT_EQ(b, C - (1 << 20) - 4096);
  // C - 2M - 4K rounded down to 16K: C - 2M - 16K; 12K above it stay a hole.
  Addr c = s.raw.map(1 << 20, 16 * K);
  EXPECT_EQ(c, C - (2 << 20) - 16 * K);
  EXPECT_EQ(c % (16 * K), 0u);
  // The 12K hole [C - 1M - 16K, C - 1M - 4K) holds 8K at 8K alignment at its bottom.
  Addr d = s.raw.map(8192, 8192);
  EXPECT_EQ(d, C - (1 << 20) - 16 * K);
  EXPECT_EQ(s.n("maps"), 4u);
  EXPECT_EQ(s.n("mapped_bytes"), (2u << 20) + 4096 + 8192);
  EXPECT_EQ(s.raw.held_bytes(), (2u << 20) + 4096 + 8192);
  EXPECT_TRUE(s.raw.is_valid());
  s.raw.unmap(b, 1000);
  s.raw.unmap(a, 1 << 20);
  // a's and b's ranges and the 4K hole between them and d: one hole of 1M + 8K.
  Addr e = s.raw.map((1 << 20) + 8192, 4096);
  EXPECT_EQ(e, C - (1 << 20) - 8192);
  EXPECT_THROW(s.raw.unmap(e, 4096), Error);  // not the whole mapping
  EXPECT_THROW(s.raw.unmap(e + 4096, (1 << 20) + 4096), Error);
  s.raw.unmap(c, 1 << 20);
  s.raw.unmap(d, 8192);
  s.raw.unmap(e, (1 << 20) + 8192);
  EXPECT_EQ(s.raw.held_bytes(), 0u);
  EXPECT_EQ(s.raw.peak_held_bytes(), (2u << 20) + 16 * K);  // c, d and e
  EXPECT_EQ(s.raw.map(4096, 4096), C - 4096);  // everything went back
  EXPECT_TRUE(s.raw.is_valid());
}

TEST(RawSim, DynamicThresholdFollowsFreedMappings) {
  RawParams p;
  p.mmap_threshold_dynamic = true;
  Sim s(p);
  Block a = s.a(200000);  // mapped: 200704
  s.f(a, 200000);         // raises the thresholds: 200704, and 401408 for trimming
  EXPECT_EQ(s.raw.mmap_threshold(), 200704u);
  EXPECT_EQ(s.raw.trim_threshold(), 401408u);
  Block b = s.a(200000);  // nb 200016 < 200704: the heap now
  EXPECT_EQ(b.addr, H + 16);
  Block c = s.a(40u << 20);  // 40 MiB: mapped; freeing it moves nothing (>= 32 MiB)
  s.f(c, 40u << 20);
  EXPECT_EQ(s.raw.mmap_threshold(), 200704u);
  Sim fixed;
  fixed.f(fixed.a(200000), 200000);
  EXPECT_EQ(fixed.raw.mmap_threshold(), 128 * K);
  EXPECT_EQ(fixed.raw.trim_threshold(), 128 * K);
}

TEST(RawSim, RefusesBlocksItDoesNotHold) {
  Sim s;
  Block a = s.a(100);
  s.f(a, 100);
  EXPECT_THROW(s.raw.release(a, Request{100, kNoString, Domain::None}), Error);  // double free
  Block b = s.a(100);
  Block wrong = b;
  wrong.addr += 16;
  EXPECT_THROW(s.raw.release(wrong, Request{100, kNoString, Domain::None}), Error);
  EXPECT_THROW(s.raw.allocate(Request{uint64_t{1} << 62, kNoString, Domain::None}), Error);
  EXPECT_THROW(s.raw.allocate(Request{uint64_t{1} << 50, kNoString, Domain::None}), Error);  // no such room
  EXPECT_TRUE(s.raw.is_valid());
}

TEST(RawSim, RefusesParametersTheModelCannotUse) {
  RawParams p;
  p.alignment = 24;  // not a power of two
  EXPECT_THROW(RawSim(p, 0), Error);
  p = RawParams{};
  p.min_chunk = 40;  // not a multiple of the alignment
  EXPECT_THROW(RawSim(p, 0), Error);
}

TEST(RawSim, FactoryAndReport) {
  auto layer = make_raw_sim(RawParams{}, 3);
  EXPECT_EQ(layer->name(), "raw");
  Block b = layer->allocate(Request{10, kNoString, Domain::Raw});
  EXPECT_EQ(b.depth, 3);
  EXPECT_EQ(counter(*layer, "mallocs"), 1u);
  EXPECT_EQ(counter(*layer, "heap_extent_bytes"), 135168u);
  EXPECT_EQ(layer->report().layer, "raw");
}

// ---------------------------------------------------------------------------
// The oracle: the rules of docs/raw-sim.md, written as plainly as possible.

class Naive {
 public:
  explicit Naive(const RawParams& p)
      : p_(p), lead_((p.alignment - p.header % p.alignment) % p.alignment), mmap_thr_(p.mmap_threshold),
        trim_thr_(p.trim_threshold), top_(H + lead_) {}

  // Each returns the block's (or mapping's) address.
  Addr malloc(uint64_t req) {
    const uint64_t nb = size_of(req);
    const Addr c = take(nb);
    return block_addr(c);
  }
  void free(Addr block) {
    if (const Addr m = mapped_of(block); m) {
      const uint64_t bytes = mappings_.at(m);
      if (p_.mmap_threshold_dynamic && bytes >= mmap_thr_ && bytes < (32u << 20)) {
        mmap_thr_ = bytes;
        trim_thr_ = 2 * bytes;
      }
      mappings_.erase(m);
      blocks_mapped_.erase(m);
      return;
    }
    free_chunk(block - p_.header);
  }
  Addr realloc(Addr block, uint64_t req) {
    const uint64_t nb = size_of(req);
    if (const Addr m = mapped_of(block); m) {
      const uint64_t old = mappings_.at(m), now = up(lead_ + nb, p_.page);
      if (now <= old) {
        mappings_[m] = now;
        return block;
      }
      // Grow in place when the range above m is free for now - old bytes.
      auto above = mappings_.upper_bound(m);
      const Addr limit = above == mappings_.end() ? C : above->first;
      if (m + now <= limit) {
        mappings_[m] = now;
        return block;
      }
      const Addr at = place(now, p_.page);
      mappings_.erase(m);
      blocks_mapped_.erase(m);
      mappings_[at] = now;
      blocks_mapped_.insert(at);
      return at + lead_ + p_.header;
    }
    const Addr c = block - p_.header;
    const uint64_t old = heap_.at(c).size;
    if (old >= nb) {
      cut(c, nb);
      return block;
    }
    const Addr next = c + old;
    if (next == top_) {
      if (old + top_size_ >= nb + p_.min_chunk) {
        heap_[c].size = nb;
        top_size_ -= nb - old;
        top_ = c + nb;
        return block;
      }
    } else if (heap_.at(next).free && old + heap_.at(next).size >= nb) {
      unfree(next);
      heap_[c].size = old + heap_.at(next).size;
      heap_.erase(next);
      cut(c, nb);
      return block;
    }
    const Addr n = take(nb);
    if (n == next) {  // carved from the top right above c
      heap_[c].size = old + heap_.at(n).size;
      heap_.erase(n);
      cut(c, nb);
      return block;
    }
    free_chunk(c);
    return block_addr(n);
  }
  Addr map(uint64_t bytes, uint64_t alignment) {
    bytes = up(bytes, p_.page);
    const Addr at = place(bytes, std::max(alignment, p_.page));
    mappings_[at] = bytes;
    return at;
  }
  void unmap(Addr at) { mappings_.erase(at); }

  uint64_t extent() const { return extent_; }
  Addr top() const { return top_; }
  uint64_t top_size() const { return top_size_; }
  uint64_t held() const {
    uint64_t total = extent_;
    for (const auto& [at, bytes] : mappings_) total += bytes;
    return total;
  }
  uint64_t free_chunks() const { return free_.size(); }

 private:
  struct Chunk {
    uint64_t size;
    bool free;
    uint64_t freed;  // when it became free (larger: later)
  };
  static uint64_t up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

  uint64_t size_of(uint64_t req) const { return std::max(up(req + p_.header, p_.alignment), p_.min_chunk); }
  Addr block_addr(Addr chunk_or_mapping) const {
    return blocks_mapped_.count(chunk_or_mapping) ? chunk_or_mapping + lead_ + p_.header
                                                   : chunk_or_mapping + p_.header;
  }
  Addr mapped_of(Addr block) const {
    const Addr m = block - lead_ - p_.header;
    return blocks_mapped_.count(m) ? m : 0;
  }
  void make_free(Addr c) {
    heap_[c].free = true;
    heap_[c].freed = ++clock_;
    free_.insert({heap_[c].size, ~heap_[c].freed, c});
  }
  void unfree(Addr c) {
    free_.erase({heap_.at(c).size, ~heap_.at(c).freed, c});
    heap_[c].free = false;
  }

  Addr take(uint64_t nb) {
    // Smallest size >= nb; among equals the latest freed (~freed sorts it first).
    auto it = free_.lower_bound({nb, 0, 0});
    if (it != free_.end()) {
      const auto [size, key, c] = *it;
      unfree(c);
      if (size - nb >= p_.min_chunk) {
        heap_[c].size = nb;
        heap_[c + nb] = Chunk{size - nb, false, 0};
        make_free(c + nb);
      }
      return c;
    }
    if (top_size_ < nb + p_.min_chunk) {
      if (nb >= mmap_thr_) {
        const uint64_t bytes = up(lead_ + nb, p_.page);
        const Addr at = place(bytes, p_.page);
        mappings_[at] = bytes;
        blocks_mapped_.insert(at);
        return at;
      }
      const uint64_t grow = up(nb + p_.top_pad + p_.min_chunk - top_size_, p_.page);
      extent_ += grow;
      top_size_ += grow;
    }
    const Addr c = top_;
    heap_[c] = Chunk{nb, false, 0};
    top_ += nb;
    top_size_ -= nb;
    return c;
  }

  // Cut in-use chunk c to nb and free the rest if it makes a chunk.
  void cut(Addr c, uint64_t nb) {
    const uint64_t size = heap_.at(c).size;
    if (size - nb < p_.min_chunk) return;
    heap_[c].size = nb;
    heap_[c + nb] = Chunk{size - nb, false, 0};
    free_chunk(c + nb);
  }

  void free_chunk(Addr c) {
    uint64_t size = heap_.at(c).size;
    // Below: the chunk whose end is c.
    auto it = heap_.find(c);
    if (it != heap_.begin()) {
      auto below = std::prev(it);
      if (below->second.free && below->first + below->second.size == c) {
        const Addr b = below->first;
        unfree(b);
        heap_.erase(c);
        c = b;
        size += heap_.at(b).size;
      }
    }
    uint64_t merged;
    if (c + size == top_) {
      heap_.erase(c);
      top_ = c;
      top_size_ += size;
      merged = top_size_;
    } else {
      if (heap_.at(c + size).free) {
        const Addr a = c + size;
        unfree(a);
        size += heap_.at(a).size;
        heap_.erase(a);
      }
      heap_[c].size = size;
      make_free(c);
      merged = size;
    }
    if (merged >= 64 * K && top_size_ >= trim_thr_ && top_size_ > p_.min_chunk + 1 + p_.top_pad) {
      const uint64_t extra = (top_size_ - p_.min_chunk - 1 - p_.top_pad) / p_.page * p_.page;
      top_size_ -= extra;
      extent_ -= extra;
    }
  }

  // Mapping placement: the smallest hole between mappings that fits at the
  // alignment (ties: the highest), at its highest aligned address; else below
  // the lowest mapping.
  Addr place(uint64_t bytes, uint64_t alignment) const {
    std::optional<std::pair<uint64_t, Addr>> best;  // (hole size, address)
    Addr hole_end = C;
    for (auto it = mappings_.rbegin(); it != mappings_.rend(); ++it) {
      const Addr hole_start = it->first + it->second;
      if (hole_end > hole_start && hole_end - hole_start >= bytes) {
        const Addr at = (hole_end - bytes) / alignment * alignment;
        const uint64_t len = hole_end - hole_start;
        if (at >= hole_start && (!best || len < best->first)) best = {len, at};
      }
      hole_end = it->first;
    }
    if (best) return best->second;
    return (hole_end - bytes) / alignment * alignment;
  }

  RawParams p_;
  uint64_t lead_, mmap_thr_, trim_thr_;
  Addr top_;
  uint64_t top_size_ = 0, extent_ = 0, clock_ = 0;
  std::map<Addr, Chunk> heap_;                               // every heap chunk but the top
  std::set<std::tuple<uint64_t, uint64_t, Addr>> free_;       // (size, ~freed, address)
  std::map<Addr, uint64_t> mappings_;                        // address -> bytes, blocks and map()s
  std::set<Addr> blocks_mapped_;                             // mappings that hold a block
};

struct RandomCase {
  const char* name;
  RawParams params;
  int steps;
  bool check_each_step;  // is_valid() after every step (slow for long runs)
};

RandomCase make_case(const char* name, int steps, bool each, void (*tweak)(RawParams&)) {
  RandomCase c{name, RawParams{}, steps, each};
  if (tweak) tweak(c.params);
  return c;
}

void PrintTo(const RandomCase& c, std::ostream* os) { *os << c.name; }

class RawSimOracle : public ::testing::TestWithParam<RandomCase> {};

// Sizes of a Python-ish mix: mostly small, some KiB, a few around and above
// the mmap threshold; the thresholds of a case scale the large ones.
uint64_t random_size(std::mt19937_64& rng, const RawParams& p) {
  const unsigned pick = rng() % 100;
  if (pick < 70) return rng() % 600;
  if (pick < 90) return rng() % 8192;
  if (pick < 97) return rng() % (p.mmap_threshold / 2 + 1);
  return p.mmap_threshold - 64 + rng() % (p.mmap_threshold * 2);
}

TEST_P(RawSimOracle, SameAddressesAndFootprintAsTheNaiveModel) {
  const RandomCase& tc = GetParam();
  RawSim sim(tc.params, 0);
  Naive naive(tc.params);
  std::mt19937_64 rng(0x5eed + tc.steps);
  struct Live {
    Block block;
    uint64_t size;
  };
  std::vector<Live> live;
  std::vector<std::pair<Addr, uint64_t>> maps;
  const size_t target = 400;  // live blocks the sequence hovers around
  for (int step = 0; step < tc.steps; ++step) {
    const unsigned op = rng() % 100;
    if (op < 3) {
      if (maps.size() < 6 || op == 0) {
        const uint64_t bytes = 1 + rng() % (1 << 20);
        const uint64_t align = tc.params.page << (rng() % 5);
        const Addr a = sim.map(bytes, align);
        ASSERT_EQ(a, naive.map(bytes, align)) << "step " << step;
        ASSERT_EQ(a % align, 0u);
        maps.emplace_back(a, bytes);
      } else {
        const size_t k = rng() % maps.size();
        sim.unmap(maps[k].first, maps[k].second);
        naive.unmap(maps[k].first);
        maps[k] = maps.back();
        maps.pop_back();
      }
    } else if (live.empty() || (op < 55 && live.size() < 2 * target) || live.size() < target / 4) {
      const uint64_t size = random_size(rng, tc.params);
      const Block b = sim.allocate(Request{size, kNoString, Domain::None});
      ASSERT_EQ(b.addr, naive.malloc(size)) << "step " << step << ": malloc(" << size << ")";
      live.push_back({b, size});
    } else if (op >= 88 && op < 91) {
      // A growing buffer: a new block, resized up a few times straight away
      // (it often comes from the top, so it grows into it or past it).
      uint64_t size = random_size(rng, tc.params);
      Block b = sim.allocate(Request{size, kNoString, Domain::None});
      ASSERT_EQ(b.addr, naive.malloc(size)) << "step " << step << ": malloc(" << size << ")";
      for (int grow = 1 + rng() % 3; grow > 0; --grow) {
        const uint64_t bigger = size + size / 2 + rng() % 4096;
        const Addr expect = naive.realloc(b.addr, bigger);
        b = sim.reallocate(b, size, Request{bigger, kNoString, Domain::None});
        ASSERT_EQ(b.addr, expect) << "step " << step << ": realloc(" << size << " -> " << bigger << ")";
        size = bigger;
      }
      live.push_back({b, size});
    } else if (op < 88) {
      const size_t k = rng() % live.size();
      sim.release(live[k].block, Request{live[k].size, kNoString, Domain::None});
      naive.free(live[k].block.addr);
      live[k] = live.back();
      live.pop_back();
    } else {
      // Half the time the newest block, which often sits right below the top.
      const size_t k = rng() % 2 ? live.size() - 1 : rng() % live.size();
      const uint64_t size = rng() % 4 ? live[k].size + rng() % 2048 - rng() % 1024 * (live[k].size > 1024)
                                      : random_size(rng, tc.params);
      const Addr expect = naive.realloc(live[k].block.addr, size);
      live[k].block = sim.reallocate(live[k].block, live[k].size, Request{size, kNoString, Domain::None});
      ASSERT_EQ(live[k].block.addr, expect) << "step " << step << ": realloc(" << live[k].size << " -> " << size
                                            << ")";
      live[k].size = size;
    }
    ASSERT_EQ(sim.heap_extent(), naive.extent()) << "step " << step;
    ASSERT_EQ(sim.top_address(), naive.top()) << "step " << step;
    ASSERT_EQ(sim.top_bytes(), naive.top_size()) << "step " << step;
    ASSERT_EQ(sim.held_bytes(), naive.held()) << "step " << step;
    if (tc.check_each_step || step % 4096 == 0) {
      ASSERT_TRUE(sim.is_valid()) << "step " << step;
      ASSERT_EQ(counter(sim, "free_chunks"), naive.free_chunks()) << "step " << step;
    }
  }
  // Everything back: the heap trims to top_pad (within a page), no mapping is left.
  for (const Live& l : live) {
    sim.release(l.block, Request{l.size, kNoString, Domain::None});
    naive.free(l.block.addr);
  }
  for (const auto& [a, bytes] : maps) {
    sim.unmap(a, bytes);
    naive.unmap(a);
  }
  ASSERT_TRUE(sim.is_valid());
  EXPECT_EQ(sim.held_bytes(), naive.held());
  EXPECT_EQ(counter(sim, "free_chunks"), 0u);
  EXPECT_EQ(counter(sim, "chunks_live"), 0u);
  EXPECT_EQ(counter(sim, "bytes_requested_live"), 0u);
  EXPECT_EQ(counter(sim, "mmaps"), 0u);
  EXPECT_EQ(sim.top_address(), H + (tc.params.alignment - tc.params.header % tc.params.alignment) %
                                       tc.params.alignment);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RawSimOracle,
    ::testing::Values(make_case("defaults_checked", 4000, true, nullptr),
                      make_case("defaults_long", 150000, false, nullptr),
                      make_case("no_top_pad_low_trim", 60000, false,
                                [](RawParams& p) {
                                  p.top_pad = 0;
                                  p.trim_threshold = 8192;
                                  p.mmap_threshold = 64 << 10;
                                }),
                      make_case("align8_no_top_pad", 60000, false,
                                [](RawParams& p) {
                                  p.alignment = 8;
                                  p.min_chunk = 24;
                                  p.top_pad = 0;
                                  p.trim_threshold = 256 << 10;
                                  p.mmap_threshold = 512 << 10;
                                }),
                      make_case("dynamic_threshold", 60000, false,
                                [](RawParams& p) { p.mmap_threshold_dynamic = true; }),
                      make_case("wide_header_checked", 3000, true,
                                [](RawParams& p) {
                                  p.alignment = 32;
                                  p.header = 16;
                                  p.min_chunk = 64;
                                  p.page = 16384;
                                  p.top_pad = 4096;
                                  p.mmap_threshold = 32 << 10;
                                  p.mmap_threshold_dynamic = true;
                                })),
    [](const ::testing::TestParamInfo<RandomCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace heaplay
