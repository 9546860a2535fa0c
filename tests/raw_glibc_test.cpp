// raw_glibc_test.cpp: the real glibc malloc as raw layer: real memory, the
// footprint figure against mallinfo2, mmapped chunks, aligned maps, --touch
// and RSS, errors, and no malloc of its own.
//
// Bounds are generous where glibc's internals or the kernel decide: only what
// raw_glibc.hpp states (and verify_chunk_layout checks) is asserted exactly.
#include "engine/raw_glibc.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "tests/malloc_count.hpp"
#include "tests/mini_replay.hpp"
#include "traces/error.hpp"
#include "traces/reader_thread.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// Above glibc's largest dynamic mmap threshold (32 MiB): always a mapping of its own.
constexpr uint64_t kLarge = 40 * kMiB;

#define SKIP_UNLESS_GLIBC_MALLOC() \
  if (!testing::kGlibcMalloc) GTEST_SKIP() << "a sanitizer replaces glibc's malloc"

uint64_t counter(const LayerReport& r, std::string_view name) {
  for (const auto& [key, value] : r.counters)
    if (key == name) return value;
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// statm's first two fields, in bytes: the address space and the resident set.
std::pair<uint64_t, uint64_t> statm() {
  unsigned long long size = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f) {
    if (std::fscanf(f, "%llu %llu", &size, &resident) != 2) size = resident = 0;
    std::fclose(f);
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return {size * page, resident * page};
}
uint64_t rss() { return statm().second; }

// mallinfo2's arena + hblkhd, less the layer's baseline of the same.
int64_t mallinfo_growth(const RawGlibc& layer) {
  const struct mallinfo2 now = mallinfo2();
  return static_cast<int64_t>(now.arena + now.hblkhd) -
         static_cast<int64_t>(layer.baseline().arena + layer.baseline().hblkhd);
}
// The cheap figure before clamping: main arena growth, mmapped chunks (no map()s here).
int64_t cheap_growth(const RawGlibc& layer) {
  return layer.main_arena_delta() + static_cast<int64_t>(layer.mmapped_chunk_bytes());
}

void* ptr(const Block& b) { return reinterpret_cast<void*>(static_cast<uintptr_t>(b.addr)); }

// The first request takes the baseline (and trims the heap): make it before measuring.
void take_baseline(Layer& layer) { layer.release(layer.allocate(Request{1, {}, Domain::Raw}), Request{1, {}, Domain::Raw}); }

TEST(RawGlibc, RefusedUnderASanitizer) {
  if (testing::kGlibcMalloc) GTEST_SKIP() << "glibc's malloc is here";
  EXPECT_THROW(RawGlibc(Touch::None, 0), Error);
}

TEST(RawGlibc, ChunkLayoutCheckAndMmappedDetection) {
  SKIP_UNLESS_GLIBC_MALLOC();
  EXPECT_NO_THROW(RawGlibc::verify_chunk_layout());
  void* small = std::malloc(100);
  void* large = std::malloc(kLarge);
  ASSERT_TRUE(small && large);
  EXPECT_EQ(RawGlibc::mmapped_size(small), 0u);
  const uint64_t mapped = RawGlibc::mmapped_size(large);
  EXPECT_GE(mapped, kLarge);
  EXPECT_LT(mapped, kLarge + 2 * 4096u);
  EXPECT_EQ(mapped % static_cast<uint64_t>(sysconf(_SC_PAGESIZE)), 0u);
  std::free(small);
  std::free(large);
}

TEST(RawGlibc, BlocksAreRealMemory) {
  SKIP_UNLESS_GLIBC_MALLOC();
  RawGlibc layer(Touch::None, 0);
  EXPECT_EQ(layer.name(), "raw");
  const uint64_t sizes[] = {0, 1, 24, 100, 1000, 5000, 200'000, 3 * kMiB};
  std::array<Block, std::size(sizes)> blocks;
  for (size_t i = 0; i < std::size(sizes); ++i) {
    blocks[i] = layer.allocate(Request{sizes[i], {}, Domain::Mem});
    ASSERT_NE(blocks[i].addr, 0u);
    EXPECT_EQ(blocks[i].depth, 0u);
    EXPECT_GE(malloc_usable_size(ptr(blocks[i])), sizes[i]);
    std::memset(ptr(blocks[i]), static_cast<int>(i + 1), sizes[i]);
  }
  // Grow and shrink: the bytes kept survive, wherever the block moves.
  const uint64_t new_sizes[] = {16, 0, 300'000, 10, 4000, 70, 64, kLarge};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    const uint64_t kept = std::min(sizes[i], new_sizes[i]);
    blocks[i] = layer.reallocate(blocks[i], sizes[i], Request{new_sizes[i], {}, Domain::Mem});
    const auto* p = static_cast<const unsigned char*>(ptr(blocks[i]));
    for (uint64_t k = 0; k < kept; k += 97) ASSERT_EQ(p[k], i + 1) << i << " " << k;
    EXPECT_GE(malloc_usable_size(ptr(blocks[i])), new_sizes[i]);
    std::memset(ptr(blocks[i]), 0x77, new_sizes[i]);
  }
  EXPECT_TRUE(layer.is_valid());
  LayerReport r = layer.report();
  EXPECT_EQ(counter(r, "mallocs"), 8u);
  EXPECT_EQ(counter(r, "reallocs"), 8u);
  EXPECT_EQ(counter(r, "live_blocks"), 8u);
  uint64_t requested = 0;
  for (uint64_t s : new_sizes) requested += s;
  EXPECT_EQ(counter(r, "requested_live_bytes"), requested);
  EXPECT_GE(counter(r, "usable_live_bytes"), requested);
  EXPECT_GE(counter(r, "mmapped_chunks"), 1u);  // the kLarge one
  for (size_t i = 0; i < std::size(sizes); ++i) layer.release(blocks[i], Request{new_sizes[i], {}, Domain::Mem});
  EXPECT_TRUE(layer.is_valid());
  r = layer.report();
  EXPECT_EQ(counter(r, "frees"), 8u);
  EXPECT_EQ(counter(r, "live_blocks"), 0u);
  EXPECT_EQ(counter(r, "requested_live_bytes"), 0u);
  EXPECT_EQ(counter(r, "usable_live_bytes"), 0u);
  EXPECT_EQ(counter(r, "mmapped_chunks"), 0u);
  EXPECT_EQ(counter(r, "mmapped_chunk_bytes"), 0u);
  EXPECT_GE(counter(r, "peak_usable_live_bytes"), requested);
}

TEST(RawGlibc, FootprintGrowsWithTheBlocksAndReturnsAfterTrim) {
  SKIP_UNLESS_GLIBC_MALLOC();
  constexpr size_t kBlocks = 2000;
  constexpr uint64_t kSize = 2000;  // above the tcache's largest (1032 bytes), below any mmap threshold
  std::vector<Block> blocks(kBlocks);  // before the layer: not in its heap growth
  RawGlibc layer(Touch::First, 0);
  const uint64_t held0 = layer.held_bytes();
  for (Block& b : blocks) b = layer.allocate(Request{kSize, {}, Domain::Raw});
  // Served from the free space glibc had at the baseline, or from growth.
  EXPECT_GE(layer.held_bytes() - held0 + layer.baseline().fordblks, kBlocks * kSize);
  EXPECT_GE(layer.peak_held_bytes(), layer.held_bytes());
  EXPECT_EQ(layer.mmapped_chunk_bytes(), 0u);
  for (Block& b : blocks) layer.release(b, Request{kSize, {}, Domain::Raw});
  malloc_trim(0);
  EXPECT_LE(layer.held_bytes(), 64 * 1024u);
  EXPECT_LE(layer.main_arena_delta(), 64 * 1024);
  EXPECT_GE(layer.peak_held_bytes(), held0);
}

TEST(RawGlibc, CheapFootprintEqualsMallinfo2) {
  SKIP_UNLESS_GLIBC_MALLOC();
  std::vector<Block> blocks;
  blocks.reserve(5000);
  RawGlibc layer(Touch::None, 0);
  EXPECT_EQ(layer.held_bytes(), 0u);  // no baseline yet
  take_baseline(layer);
  EXPECT_EQ(cheap_growth(layer), mallinfo_growth(layer));
  auto alloc = [&](uint64_t size) { blocks.push_back(layer.allocate(Request{size, {}, Domain::Mem})); };
  for (int i = 0; i < 3000; ++i) alloc(16 + (i * 37) % 3000);
  alloc(kLarge);
  alloc(200'000);  // mmapped or not, as glibc's threshold stands now
  EXPECT_EQ(cheap_growth(layer), mallinfo_growth(layer));
  // Free every other block, realloc some across the mmap threshold and back.
  for (size_t i = 0; i < 3000; i += 2) layer.release(blocks[i], Request{16 + (i * 37) % 3000, {}, Domain::Mem});
  blocks[1] = layer.reallocate(blocks[1], 16 + 37, Request{kLarge, {}, Domain::Mem});
  blocks[3000] = layer.reallocate(blocks[3000], kLarge, Request{kLarge + 3 * kMiB, {}, Domain::Mem});
  blocks[3001] = layer.reallocate(blocks[3001], 200'000, Request{100, {}, Domain::Mem});
  EXPECT_EQ(cheap_growth(layer), mallinfo_growth(layer));
  EXPECT_GE(layer.mmapped_chunk_bytes(), 2 * kLarge);
  // And at the end, before and after the report (which measures first).
  const uint64_t held = layer.held_bytes();
  const LayerReport r = layer.report();
  EXPECT_EQ(counter(r, "footprint_bytes"), held);
  EXPECT_EQ(static_cast<int64_t>(counter(r, "mallinfo2_arena_final_bytes") + counter(r, "mallinfo2_hblkhd_final_bytes")) -
                static_cast<int64_t>(counter(r, "mallinfo2_arena_baseline_bytes") +
                                     counter(r, "mallinfo2_hblkhd_baseline_bytes")),
            cheap_growth(layer));
  EXPECT_EQ(counter(r, "mmapped_chunk_bytes"), layer.mmapped_chunk_bytes());
  EXPECT_GE(counter(r, "peak_footprint_bytes"), held);
  EXPECT_GT(counter(r, "rss_peak_bytes"), 0u);
  EXPECT_GT(counter(r, "rss_final_bytes"), 0u);
  EXPECT_GT(counter(r, "rss_baseline_bytes"), 0u);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const uint64_t size = i == 3000 ? kLarge + 3 * kMiB : i == 3001 ? 100 : i == 1 ? kLarge : 16 + (i * 37) % 3000;
    if (i >= 3000 || i % 2) layer.release(blocks[i], Request{size, {}, Domain::Mem});
  }
  EXPECT_EQ(layer.mmapped_chunk_bytes(), 0u);
  EXPECT_EQ(cheap_growth(layer), mallinfo_growth(layer));
  EXPECT_TRUE(layer.is_valid());
}

TEST(RawGlibc, MapsAreAlignedAndCounted) {
  SKIP_UNLESS_GLIBC_MALLOC();
  RawGlibc layer(Touch::All, 0);
  take_baseline(layer);
  const uint64_t held0 = layer.held_bytes();
  const std::pair<uint64_t, uint64_t> cases[] = {
      {kMiB, kMiB}, {256 * 1024, 256 * 1024}, {16 * 1024, 16 * 1024}, {4096, 4096}, {100'000, 65536}, {kMiB, 1}};
  for (const auto& [bytes, alignment] : cases) {
    const uint64_t space0 = statm().first;
    const Addr a = layer.map(bytes, alignment);
    const uint64_t len = (bytes + 4095) / 4096 * 4096;
    // The ends mapped for alignment are given back: the address space grew by len.
    EXPECT_EQ(statm().first - space0, len) << bytes;
    EXPECT_EQ(a % alignment, 0u) << bytes << " " << alignment;
    EXPECT_EQ(layer.mapped_bytes(), len);
    EXPECT_EQ(layer.held_bytes() - held0, len);
    std::memset(reinterpret_cast<void*>(a), 1, bytes);
    layer.unmap(a, bytes);
    EXPECT_EQ(statm().first, space0) << bytes;
    EXPECT_EQ(layer.mapped_bytes(), 0u);
  }
  EXPECT_GE(layer.peak_held_bytes() - held0, kMiB);
  const LayerReport r = layer.report();
  EXPECT_EQ(counter(r, "maps"), std::size(cases));
  EXPECT_EQ(counter(r, "unmaps"), std::size(cases));
  EXPECT_THROW(layer.map(kMiB, 3 * 4096), Error);
}

TEST(RawGlibc, TouchModesDecideTheResidentSet) {
  SKIP_UNLESS_GLIBC_MALLOC();
  for (Touch touch : {Touch::None, Touch::First, Touch::All}) {
    RawGlibc layer(touch, 0);
    take_baseline(layer);
    const uint64_t rss0 = rss();
    const Block b = layer.allocate(Request{kLarge, {}, Domain::Raw});
    const uint64_t grew = rss() - rss0;
    if (touch == Touch::All) EXPECT_GE(grew, kLarge - 4 * kMiB);
    else EXPECT_LT(grew, 4 * kMiB) << static_cast<int>(touch);
    // A realloc touches the grown part only (mremap keeps the pages it had).
    const uint64_t rss1 = rss();
    const Block c = layer.reallocate(b, kLarge, Request{kLarge + 16 * kMiB, {}, Domain::Raw});
    const uint64_t grown = rss() - rss1;
    if (touch == Touch::All) {
      EXPECT_GE(grown, 12 * kMiB);
      EXPECT_LT(grown, kLarge);
    } else {
      EXPECT_LT(grown, 4 * kMiB) << static_cast<int>(touch);
    }
    layer.release(c, Request{kLarge + 16 * kMiB, {}, Domain::Raw});
    // touch() on a fresh map, as pooled calls it for a fresh pool's blocks.
    const Addr m = layer.map(8 * kMiB, 4096);
    const uint64_t rss2 = rss();
    layer.touch(m, 8 * kMiB);
    const uint64_t touched = rss() - rss2;
    if (touch == Touch::All) EXPECT_GE(touched, 7 * kMiB);
    else EXPECT_LT(touched, kMiB) << static_cast<int>(touch);
    layer.unmap(m, 8 * kMiB);
  }
}

TEST(RawGlibc, FailedMallocIsAnError) {
  SKIP_UNLESS_GLIBC_MALLOC();
  // Above PTRDIFF_MAX, glibc refuses before choosing an arena. A request that
  // fails in the main arena would move this thread to another arena for good
  // (arena_get_retry), and every later test with it.
  constexpr uint64_t kTooLarge = uint64_t{1} << 63;
  RawGlibc layer(Touch::None, 0);
  try {
    layer.allocate(Request{kTooLarge, {}, Domain::Raw});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_status(), kExitFailure);
    EXPECT_NE(std::string(e.what()).find("malloc of 9223372036854775808 bytes failed"), std::string::npos) << e.what();
  }
  const Block b = layer.allocate(Request{64, {}, Domain::Raw});
  EXPECT_THROW(layer.reallocate(b, 64, Request{kTooLarge, {}, Domain::Raw}), Error);
  EXPECT_EQ(counter(layer.report(), "live_blocks"), 1u);  // the block survives a failed realloc
  layer.release(b, Request{64, {}, Domain::Raw});
  EXPECT_TRUE(layer.is_valid());
}

TEST(RawGlibc, RefusesAThreadArena) {
  SKIP_UNLESS_GLIBC_MALLOC();
  std::string message;
  std::thread t([&] {
    try {
      RawGlibc layer(Touch::None, 0);
    } catch (const Error& e) {
      message = e.what();
    }
  });
  t.join();
  EXPECT_NE(message.find("thread arena"), std::string::npos) << message;
}

TEST(RawGlibc, AnotherThreadsFreedMemoryIsNotHandedToTheReplay) {
  SKIP_UNLESS_GLIBC_MALLOC();
  // Blocks of a thread arena, freed here: they wait in this thread's tcache.
  std::array<void*, 7> theirs{};
  std::thread([&] {
    for (void*& p : theirs) p = std::malloc(100);
  }).join();
  for (void* p : theirs) ASSERT_NE(p, nullptr);
  for (void* p : theirs) std::free(p);
  {
    RawGlibc layer(Touch::None, 0);
    std::array<Block, 7> blocks;
    for (Block& b : blocks) b = layer.allocate(Request{100, {}, Domain::Mem});
    for (const Block& b : blocks)
      for (void* p : theirs) EXPECT_NE(ptr(b), p);
    EXPECT_EQ(counter(layer.report(), "thread_arena_blocks"), 0u);
    for (const Block& b : blocks) layer.release(b, Request{100, {}, Domain::Mem});
  }
}

TEST(RawGlibc, MakesNoMallocOfItsOwn) {
  SKIP_UNLESS_GLIBC_MALLOC();
  std::unique_ptr<Layer> layer = make_raw_glibc(Touch::All, 1);
  std::array<Block, 64> blocks;
  const uint64_t calls0 = testing::thread_malloc_calls();
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i] = layer->allocate(Request{i * 100, {}, Domain::Obj});
  for (size_t i = 0; i < blocks.size(); i += 2)
    blocks[i] = layer->reallocate(blocks[i], i * 100, Request{i * 300, {}, Domain::Obj});
  const Addr m = layer->map(kMiB, kMiB);
  layer->touch(m, kMiB);
  layer->unmap(m, kMiB);
  uint64_t held = layer->held_bytes() + layer->peak_held_bytes();
  for (size_t i = 0; i < blocks.size(); ++i) layer->release(blocks[i], Request{i % 2 ? i * 100 : i * 300, {}, Domain::Obj});
  EXPECT_TRUE(layer->is_valid());
  EXPECT_GT(held, 0u);
  EXPECT_EQ(blocks[5].depth, 1u);
  // Its own mallocs and reallocs, nothing else.
  EXPECT_EQ(testing::thread_malloc_calls() - calls0, blocks.size() + blocks.size() / 2);
}

TEST(RawGlibc, ReplaysOnThisThreadWhileAnotherReads) {
  SKIP_UNLESS_GLIBC_MALLOC();
  ReaderThread reading([] { return make_pylike_source(300'000, 11, false); }, 4096, 4);
  RawGlibc layer(Touch::First, 0);
  testing::MiniReplay replay(layer);
  const uint64_t calls0 = testing::thread_malloc_calls();
  reading.run(replay);
  const uint64_t calls = testing::thread_malloc_calls() - calls0;
  const LayerReport r = layer.report();
  EXPECT_GT(counter(r, "mallocs"), 10'000u);
  EXPECT_GT(counter(r, "reallocs"), 0u);
  // The only mallocs on this thread are the replay's own requests.
  EXPECT_EQ(calls, counter(r, "mallocs") + counter(r, "reallocs"));
  EXPECT_EQ(counter(r, "thread_arena_blocks"), 0u);
  EXPECT_EQ(counter(r, "requested_live_bytes"), replay.live_bytes);
  EXPECT_GE(counter(r, "peak_footprint_bytes"), counter(r, "footprint_bytes"));
  replay.release_all();
  EXPECT_EQ(counter(layer.report(), "live_blocks"), 0u);
  EXPECT_TRUE(layer.is_valid());
}

}  // namespace
}  // namespace heaplay
