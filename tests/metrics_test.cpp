// metrics_test.cpp: the replay's footprint, fragmentation, J&W, pinned-arena,
// timeline and size-class figures (engine/metrics.hpp), computed by hand on
// tiny traces for each stack, and the schemas of the files `replay -o` writes.
//
// Parameters are CPython 3.11's (the default): raw chunks are request + 8
// rounded up to 16 (at least 32), usable = chunk - 8; the heap's first growth
// is round_up(nb + 128K + 32, 4K) = 135168 bytes; pooled pools are 16 KiB
// with a 48-byte header, arenas 1 MiB with one pool lost to alignment, and
// the first arena also makes the arena table (768 bytes, a 784-byte chunk),
// so a pooled stack holds 1048576 + 135168 = 1183744 bytes from its first block.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/metrics.hpp"
#include "engine/replay.hpp"
#include "engine/stack.hpp"
#include "reports/replay_report.hpp"
#include "tests/malloc_count.hpp"
#include "tests/test_util.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::temp_path;
using testing::write_file;

ReplayResult replay(const std::string& text, const std::string& stack, uint64_t samples = 1000,
                    RawKind raw = RawKind::Sim, uint32_t time_every = MetricsOptions::kTimeEvery) {
  const std::string path = temp_path("metrics_test.trace");
  write_file(path, text);
  const Params params = params_for(kDefaultPython);
  const StackOptions options{raw, Touch::None};
  Stack s = build_stack(parse_stack(stack), params, options);
  MetricsOptions metrics{samples};
  metrics.time_every = time_every;
  Replayer replayer(s, params, options, metrics);
  open_trace(path)->read(replayer);
  for (const auto& layer : s.layers()) EXPECT_TRUE(layer->is_valid()) << layer->name();
  return replayer.finish();
}

constexpr uint64_t kRawHeld = 135168;              // the raw heap after its first growth
constexpr uint64_t kPooledHeld = 1048576 + kRawHeld;  // one arena and the raw heap

double pct(double num, double den) { return (num / den - 1) * 100; }

void expect_level(const Level& l, uint64_t peak, uint64_t final, double mean) {
  EXPECT_EQ(l.peak, peak);
  EXPECT_EQ(l.final, final);
  EXPECT_DOUBLE_EQ(l.mean, mean);
}

// J&W #1-#4 when held stays `held` all along (as on these tiny traces).
void expect_jw(const JwMeasures& jw, double held, double mean_live, double peak_live, double live_at_peak_held) {
  EXPECT_DOUBLE_EQ(jw.m1, pct(held, mean_live));
  EXPECT_DOUBLE_EQ(jw.m2, pct(held, peak_live));
  EXPECT_DOUBLE_EQ(jw.m3, pct(held, live_at_peak_held));
  EXPECT_DOUBLE_EQ(jw.m4, pct(held, peak_live));
}

// raw: chunks 112, 32, 208, then the 32 reused, a 64 split off the freed 112.
const char* kRawTrace =
    "a 1 100\n"   // live 100, allocated 104 (chunk 112)
    "a 2 20\n"    // 120, 128 (chunk 32)
    "a 3 200\n"   // 320, 328 (chunk 208)
    "f 2\n"       // 300, 304
    "a 4 10\n"    // 310, 328 (the freed 32)
    "f 1\n"       // 210, 224
    "f 3\n"       // 10, 24 (the 208 goes back to the top)
    "t 1000\n"    // 10, 24
    "a 5 50\n"    // 60, 80 (chunk 64 split off the freed 112)
    "f 4\n";      // 50, 56

TEST(Metrics, RawFootprintAndJohnstoneWilsonByHand) {
  const ReplayResult r = replay(kRawTrace, "raw");
  const Metrics& m = r.metrics;
  EXPECT_EQ(r.events, 10u);
  const Footprint& f = m.footprint;
  expect_level(f.live, 320, 50, 1490 / 10.0);
  expect_level(f.allocated, 328, 56, 1600 / 10.0);
  expect_level(f.held, kRawHeld, kRawHeld, kRawHeld);
  EXPECT_FALSE(f.has_rss);
  EXPECT_EQ(r.peak_live_bytes, f.live.peak);  // the trace's peak and the per-record one agree

  const JwMeasures& jw = m.jw;
  EXPECT_EQ(jw.peak_live_event, 3u);
  EXPECT_EQ(jw.held_at_peak_live, kRawHeld);
  EXPECT_EQ(jw.peak_held_event, 1u);
  EXPECT_EQ(jw.live_at_peak_held, 100u);
  expect_jw(jw, kRawHeld, 149.0, 320.0, 100.0);

  // The end: one 64-byte chunk in use (56 usable) in a 135168-byte heap.
  const Fragmentation& fr = m.fragmentation;
  EXPECT_EQ(fr.held_bytes, kRawHeld);
  EXPECT_EQ(fr.internal_bytes, 6u);
  EXPECT_EQ(fr.raw_bytes, kRawHeld - 64);
  EXPECT_EQ(fr.other_bytes, 8u);  // the chunk's header
  EXPECT_EQ(fr.pooled_bytes, 0u);
  EXPECT_FALSE(m.has_pooled);
  EXPECT_TRUE(m.pinned.empty());
  EXPECT_TRUE(m.size_classes.empty());
}

TEST(Metrics, RawGlibcHasUsableSizesAndResidentMemory) {
  if (!testing::kGlibcMalloc) GTEST_SKIP() << "a sanitizer replaces glibc's malloc";
  // glibc's malloc_usable_size agrees with raw sim's chunks for these sizes.
  const ReplayResult r = replay(kRawTrace, "raw", 4, RawKind::Glibc);
  const Metrics& m = r.metrics;
  EXPECT_EQ(m.footprint.allocated.peak, 328u);
  EXPECT_EQ(m.footprint.allocated.final, 56u);
  EXPECT_DOUBLE_EQ(m.footprint.allocated.mean, 1600 / 10.0);
  ASSERT_TRUE(m.footprint.has_rss);
  EXPECT_GT(m.footprint.rss.final, 0u);
  EXPECT_GE(m.footprint.rss.peak, m.footprint.rss.final);
  ASSERT_EQ(m.timeline.size(), 3u);
  for (const Sample& s : m.timeline) EXPECT_TRUE(s.rss.has_value());
  EXPECT_EQ(m.footprint.held.final, r.final_footprint_bytes);
  EXPECT_NE(render_replay(r, Format::Csv).find("peak_rss_bytes,final_rss_bytes,mean_rss_bytes"), std::string::npos);
}

// Raw glibc's loop reads slots ahead (the prefetch in Replayer::run): before
// the first allocation (no table yet), and slots past the table's end (its
// first 512 slots fill a page; the next page is not mapped) ahead of the
// allocation that makes them. Counted in and out exactly; glibc gives a
// 32-byte request 40 usable bytes, or 56 where it hands out a chunk too small
// to split.
TEST(Metrics, RawGlibcReadsSlotsAheadSafely) {
  if (!testing::kGlibcMalloc) GTEST_SKIP() << "a sanitizer replaces glibc's malloc";
  std::string text;
  for (int i = 0; i < 20; ++i) text += "t " + std::to_string(1000 + i) + "\n";
  constexpr int kBlocks = 2000;
  for (int i = 0; i < kBlocks; ++i) text += "a " + std::to_string(i) + " 32\n";
  for (int i = kBlocks - 1; i >= 0; --i) text += "f " + std::to_string(i) + "\n";
  const ReplayResult r = replay(text, "raw", 1000, RawKind::Glibc);
  EXPECT_EQ(r.events, 20u + 2 * kBlocks);
  EXPECT_EQ(r.allocs, uint64_t{kBlocks});
  EXPECT_EQ(r.frees, uint64_t{kBlocks});
  EXPECT_EQ(r.peak_live_bytes, 32u * kBlocks);
  EXPECT_EQ(r.final_live_bytes, 0u);
  EXPECT_GE(r.metrics.footprint.allocated.peak, 40u * kBlocks);
  EXPECT_LE(r.metrics.footprint.allocated.peak, 56u * kBlocks);
  EXPECT_EQ(r.metrics.footprint.allocated.final, 0u);
}

TEST(Metrics, TimelineKeepsEvenlySpacedRowsAndTheFinalState) {
  const ReplayResult r = replay(kRawTrace, "raw", 4);
  const auto& t = r.metrics.timeline;
  // Rows after 1, 2, 3 records; the 4th halves them to {2}, stride 2: {2, 4},
  // {2, 4, 6}; the 8th halves to {4}, stride 4: {4, 8}; then the final state.
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].event, 4u);
  EXPECT_FALSE(t[0].time_ns.has_value());
  EXPECT_EQ(t[0].live, 300u);
  EXPECT_EQ(t[0].allocated, 304u);
  EXPECT_EQ(t[0].held, kRawHeld);
  EXPECT_EQ(t[1].event, 8u);
  EXPECT_EQ(t[1].time_ns, 1000u);
  EXPECT_EQ(t[1].live, 10u);
  EXPECT_EQ(t[1].allocated, 24u);
  EXPECT_EQ(t[2].event, 10u);
  EXPECT_EQ(t[2].live, 50u);
  EXPECT_EQ(t[2].allocated, 56u);
  for (const Sample& s : t) {
    EXPECT_EQ(s.arenas, 0u);
    EXPECT_EQ(s.collections, 0u);
    EXPECT_FALSE(s.rss.has_value());
  }
  // One row: the final state only.
  const auto one = replay(kRawTrace, "raw", 1).metrics.timeline;
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].event, 10u);
}

Sample at(uint64_t event) {
  Sample s;
  s.event = event;
  return s;
}

TEST(Metrics, SamplerStaysBoundedAndEvenlySpaced) {
  for (uint64_t limit : {2u, 3u, 4u, 7u, 1000u}) {
    Sampler s(limit);
    const uint64_t n = 123457;
    for (uint64_t i = 1; i <= n; ++i)
      if (s.due(i)) s.add(at(i));
    const auto rows = s.finish(at(n));
    ASSERT_LE(rows.size(), limit);
    ASSERT_GE(rows.size(), limit / 2);
    EXPECT_EQ(rows.back().event, n);
    for (size_t i = 0; i + 1 < rows.size(); ++i) {
      EXPECT_EQ(rows[i].event % s.stride(), 0u);
      if (i + 2 < rows.size()) {
        EXPECT_EQ(rows[i + 1].event - rows[i].event, s.stride());
      }
    }
  }
}

// Told the record count, the sampler keeps the same rows, taking only them.
TEST(Metrics, SamplerToldTheRecordCountKeepsTheSameRowsWithFewerSamples) {
  for (uint64_t limit : {2u, 3u, 4u, 7u, 1000u}) {
    for (uint64_t n : {1u, 5u, 999u, 1000u, 1001u, 4096u, 123457u}) {
      Sampler blind(limit), told(limit, n);
      uint64_t blind_adds = 0, told_adds = 0;
      for (uint64_t i = 1; i <= n; ++i) {
        if (blind.due(i)) blind.add(at(i)), ++blind_adds;
        if (told.due(i)) told.add(at(i)), ++told_adds;
      }
      std::vector<uint64_t> a, b;
      for (const Sample& r : blind.finish(at(n))) a.push_back(r.event);
      for (const Sample& r : told.finish(at(n))) b.push_back(r.event);
      EXPECT_EQ(a, b) << "limit " << limit << ", " << n << " records";
      EXPECT_EQ(told.stride(), blind.stride());
      EXPECT_LE(told_adds, limit - 1);
      EXPECT_EQ(told_adds, n / told.stride());  // only the rows it keeps (the last row is the final state)
    }
  }
  // 123457 records, 999 rows: stride 128 (123457 / 128 = 964 rows). Blind,
  // 4464 samples: 999 at stride 1, then about 500 at each of the 7 strides
  // after it (counted by a Python model of the doubling rule).
  Sampler blind(1000), told(1000, 123457);
  uint64_t blind_adds = 0, told_adds = 0;
  for (uint64_t i = 1; i <= 123457; ++i) {
    if (blind.due(i)) blind.add(at(i)), ++blind_adds;
    if (told.due(i)) told.add(at(i)), ++told_adds;
  }
  EXPECT_EQ(told.stride(), 128u);
  EXPECT_EQ(told_adds, 964u);
  EXPECT_EQ(blind_adds, 4464u);
  // Told too few records, it goes on doubling; told too many, it keeps fewer rows.
  Sampler low(1000, 1000), high(1000, 1u << 20);
  for (uint64_t i = 1; i <= 123457; ++i) {
    if (low.due(i)) low.add(at(i));
    if (high.due(i)) high.add(at(i));
  }
  EXPECT_EQ(low.stride(), 128u);
  EXPECT_EQ(high.stride(), 2048u);
  EXPECT_EQ(high.finish(at(123457)).size(), 123457u / 2048 + 1);
}

// pooled: classes 6 (112 B, 145 a pool), 1 (32 B, 510) and 31 (512 B, 31).
const char* kPooledTrace =
    "a 1 100\n"  // live 100, allocated 112; pool A (class 6); the arena has 1 live block
    "a 2 100\n"  // 200, 224; 2 blocks
    "a 3 20\n"   // 220, 256; pool B (class 1); 3
    "f 1\n"      // 120, 144; 2
    "a 4 500\n"  // 620, 656; pool C (class 31); 3
    "f 2\n"      // 520, 544; pool A empty; 2
    "f 3\n";     // 500, 512; pool B empty; 1

TEST(Metrics, PooledFragmentationPinnedArenasAndSizeClassesByHand) {
  const ReplayResult r = replay(kPooledTrace, "pooled");
  const Metrics& m = r.metrics;
  const Footprint& f = m.footprint;
  expect_level(f.live, 620, 500, 2280 / 7.0);
  expect_level(f.allocated, 656, 512, 2448 / 7.0);
  expect_level(f.held, kPooledHeld, kPooledHeld, kPooledHeld);
  EXPECT_EQ(m.jw.peak_live_event, 5u);
  EXPECT_EQ(m.jw.live_at_peak_held, 100u);
  expect_jw(m.jw, kPooledHeld, 2280 / 7.0, 620.0, 100.0);

  // The end: pool C holds one 512-byte block of 31; 62 of the arena's 63 pools are empty.
  const Fragmentation& fr = m.fragmentation;
  EXPECT_EQ(fr.internal_bytes, 12u);
  EXPECT_EQ(fr.pooled_free_block_bytes, 30u * 512);
  EXPECT_EQ(fr.pooled_empty_pool_bytes, 62u * 16384);
  EXPECT_EQ(fr.pooled_header_bytes, 48u);
  EXPECT_EQ(fr.pooled_quantization_bytes, 16336u - 31 * 512);
  EXPECT_EQ(fr.pooled_alignment_bytes, 16384u);
  EXPECT_EQ(fr.pooled_bytes, 1048576u - 512);
  EXPECT_EQ(fr.raw_bytes, kRawHeld - 784);
  EXPECT_EQ(fr.other_bytes, 784u);  // the arena table's chunk
  EXPECT_EQ(fr.held_bytes, 512 + fr.pooled_bytes + fr.raw_bytes + fr.other_bytes);

  // Pinned: at the peak held (record 1) the arena had 1 live block; at the end 1.
  ASSERT_EQ(m.pinned.size(), 2u);
  EXPECT_EQ(m.pinned[0].k, 1u);
  EXPECT_EQ(m.pinned[0].final, 1u);
  EXPECT_EQ(m.pinned[0].at_peak_held, 1u);
  EXPECT_EQ(m.pinned[1].k, 4u);
  EXPECT_EQ(m.pinned[1].final, 1u);
  EXPECT_EQ(m.pinned[1].at_peak_held, 1u);

  ASSERT_EQ(m.size_classes.size(), 3u);
  const SizeClassReport &c1 = m.size_classes[0], &c6 = m.size_classes[1], &c31 = m.size_classes[2];
  EXPECT_EQ(c1.index, 1u);
  EXPECT_EQ(c1.size, 32u);
  EXPECT_EQ(c1.blocks_per_pool, 510u);
  EXPECT_EQ(c1.requests, 1u);
  EXPECT_EQ(c1.peak_blocks, 1u);
  EXPECT_EQ(c1.peak_pools, 1u);
  EXPECT_EQ(c1.final_blocks, 0u);
  EXPECT_EQ(c1.final_pools, 0u);
  EXPECT_EQ(c6.index, 6u);
  EXPECT_EQ(c6.blocks_per_pool, 145u);
  EXPECT_EQ(c6.requests, 2u);
  EXPECT_EQ(c6.peak_blocks, 2u);
  EXPECT_EQ(c6.peak_pools, 1u);
  EXPECT_EQ(c6.final_pools, 0u);
  EXPECT_EQ(c31.index, 31u);
  EXPECT_EQ(c31.blocks_per_pool, 31u);
  EXPECT_EQ(c31.final_blocks, 1u);
  EXPECT_EQ(c31.final_pools, 1u);

  // sizeclasses.csv: utilisation = blocks / (pools * blocks per pool).
  EXPECT_EQ(render_sizeclasses_csv(r),
            "stack,raw,class,size_bytes,blocks_per_pool,requests,peak_blocks,peak_pools,peak_utilisation_percent,"
            "final_blocks,final_pools,final_utilisation_percent\r\n"
            "pooled,sim,1,32,510,1,1,1,0.20,0,0,0.00\r\n"
            "pooled,sim,6,112,145,2,2,1,1.38,0,0,0.00\r\n"
            "pooled,sim,31,512,31,1,1,1,3.23,1,1,3.23\r\n");
}

TEST(Metrics, PinnedArenasFollowTheLiveBlocksOfEachArena) {
  // Five blocks in one arena: pinned for K=4 only once at most 4 remain, for K=1 at 1.
  std::string text;
  for (int i = 1; i <= 5; ++i) text += "a " + std::to_string(i) + " 16\n";
  const auto five = replay(text, "pooled").metrics.pinned;
  EXPECT_EQ(five[0].final, 0u);
  EXPECT_EQ(five[1].final, 0u);
  text += "f 1\n";
  EXPECT_EQ(replay(text, "pooled").metrics.pinned[1].final, 1u);
  text += "f 2\nf 3\nf 4\n";
  const auto one = replay(text, "pooled").metrics.pinned;
  EXPECT_EQ(one[0].final, 1u);
  EXPECT_EQ(one[1].final, 1u);
  EXPECT_EQ(one[0].at_peak_held, 1u);  // the arena came with the first block
}

TEST(Metrics, ObjspecParkedBlocksStayAllocated) {
  // 24-byte floats: class 1 (32 B); 3.11 keeps up to 100 freed floats.
  const ReplayResult r = replay(
      "o 1 24 float\n"  // live 24, allocated 32
      "o 2 24 float\n"  // 48, 64
      "- 1\n"           // 24, 64: parked 24
      "o 3 24 float\n"  // 48, 64: a hit, parked 0
      "- 2\n"           // 24, 64: parked 24
      "- 3\n",          // 0, 64: parked 48
      "objspec");
  const Metrics& m = r.metrics;
  EXPECT_EQ(m.footprint.live.peak, 48u);
  EXPECT_DOUBLE_EQ(m.footprint.live.mean, 168 / 6.0);
  EXPECT_EQ(m.footprint.allocated.final, 64u);
  EXPECT_DOUBLE_EQ(m.footprint.allocated.mean, 352 / 6.0);
  EXPECT_EQ(m.fragmentation.freelist_bytes, 48u);
  EXPECT_EQ(m.fragmentation.internal_bytes, 16u);  // 64 - 0 live - 48 parked
  EXPECT_EQ(m.pinned[0].final, 0u);                // the parked pair keeps 2 blocks live in pooled
  EXPECT_EQ(m.pinned[1].final, 1u);
  EXPECT_EQ(m.jw.peak_live_event, 2u);
  EXPECT_EQ(m.size_classes.size(), 1u);
  EXPECT_EQ(m.size_classes[0].requests, 2u);  // the hit never reached pooled
}

TEST(Metrics, GcCollectionsInTheTimeline) {
  // Two 64-byte dicts in a cycle: dropped by the trace, freed by the full collection.
  const ReplayResult r = replay(
      "o 1 64 dict\n"
      "o 2 64 dict\n"
      "l 1 2\n"
      "l 2 1\n"
      "- 1\n"
      "- 2\n"
      "g 2\n",
      "gc", 8);
  const Metrics& m = r.metrics;
  ASSERT_EQ(m.timeline.size(), 7u);
  EXPECT_EQ(m.timeline[5].live, 128u);  // the cycle is still live
  EXPECT_EQ(m.timeline[5].collections, 0u);
  EXPECT_EQ(m.timeline[6].live, 0u);
  EXPECT_EQ(m.timeline[6].collections, 1u);
  EXPECT_EQ(m.timeline[6].arenas, 1u);
  EXPECT_EQ(m.footprint.live.peak, 128u);
  EXPECT_DOUBLE_EQ(m.footprint.live.mean, (64 + 128 * 5) / 7.0);
  // The full collection freed both into the dict free list, then cleared the
  // lists: nothing is parked or allocated at the end.
  EXPECT_EQ(m.fragmentation.freelist_bytes, 0u);
  EXPECT_EQ(m.footprint.allocated.final, 0u);
  EXPECT_GE(m.gc_share, 0.0);
}

TEST(Metrics, FilesHaveTheirHeaders) {
  const ReplayResult r = replay(kRawTrace, "raw", 4);
  EXPECT_EQ(render_timeline_csv(r),
            "stack,raw,event,time_ns,live_bytes,allocated_bytes,held_bytes,rss_bytes,arenas,collections\r\n"
            "raw,sim,4,,300,304,135168,,0,0\r\n"
            "raw,sim,8,1000,10,24,135168,,0,0\r\n"
            "raw,sim,10,1000,50,56,135168,,0,0\r\n");
  EXPECT_EQ(render_sizeclasses_csv(r),
            "stack,raw,class,size_bytes,blocks_per_pool,requests,peak_blocks,peak_pools,peak_utilisation_percent,"
            "final_blocks,final_pools,final_utilisation_percent\r\n");
  const std::string json = render_replay(r, Format::Json);
  for (const char* key : {"\"mean_live_bytes\": 149,", "\"peak_allocated_bytes\": 328,", "\"final_held_bytes\": 135168,",
                          "\"frag.internal_bytes\": 6,", "\"frag.raw_bytes\": 135104,", "\"jw4_overhead_percent\": ",
                          "\"live_at_peak_held_bytes\": 100,", "\"cpu_seconds\": ", "\"size_classes\": [],",
                          "\"timeline\": [\n    {\n      \"event\": 4,\n      \"time_ns\": null,\n      \"live_bytes\": 300,"})
    EXPECT_NE(json.find(key), std::string::npos) << key << "\n" << json;
  const std::string csv = render_replay(r, Format::Csv);
  const std::string header = csv.substr(0, csv.find('\r'));
  EXPECT_NE(header.find(",anomalies,mean_live_bytes,peak_allocated_bytes,final_allocated_bytes,mean_allocated_bytes,"
                        "peak_held_bytes,final_held_bytes,mean_held_bytes,frag.internal_bytes,frag.raw_bytes,"
                        "frag.other_bytes,frag.internal_percent,frag.raw_percent,frag.other_percent,"
                        "jw1_overhead_percent,jw2_overhead_percent,jw3_overhead_percent,jw4_overhead_percent,"
                        "held_at_peak_live_bytes,live_at_peak_held_bytes,peak_live_event,peak_held_event,"
                        "cpu_seconds,ns_per_event,ns_per_alloc,ns_per_free,alloc_timed_calls,free_timed_calls,"
                        "timer_overhead_ns,raw.mallocs,"),
            std::string::npos)
      << header;
}

// n allocations of varied sizes, then frees of the first `frees` of them.
std::string alloc_free_trace(int n, int frees) {
  std::string t;
  for (int i = 1; i <= n; ++i) t += fmt::format("a {} {}\n", i, 16 + (i * 37) % 700);
  for (int i = 1; i <= frees; ++i) t += fmt::format("f {}\n", i);
  return t;
}

TEST(Metrics, SampledTimesPerAllocationAndFree) {
  // Every 128th a and every 128th f is timed: the counts follow from the trace alone.
  const std::string text = alloc_free_trace(20000, 15000);
  for (const char* stack : {"raw", "pooled"}) {
    const ReplayResult r = replay(text, stack);
    const Metrics& m = r.metrics;
    EXPECT_EQ(m.alloc_samples, 20000u / 128) << stack;
    EXPECT_EQ(m.free_samples, 15000u / 128) << stack;
    EXPECT_GT(m.ns_per_alloc, 0) << stack;
    EXPECT_GT(m.ns_per_free, 0) << stack;
    EXPECT_GE(m.timer_overhead_ns, 0) << stack;
    // The same trace again: the same calls timed.
    const ReplayResult again = replay(text, stack);
    EXPECT_EQ(again.metrics.alloc_samples, m.alloc_samples);
    EXPECT_EQ(again.metrics.free_samples, m.free_samples);
  }
  // Every call timed; reallocs and objects never are.
  const ReplayResult all = replay(alloc_free_trace(300, 200) + "a 900 10\nr 900 20\no 901 64 dict\n", "pooled", 1000,
                                  RawKind::Sim, 1);
  EXPECT_EQ(all.metrics.alloc_samples, 301u);
  EXPECT_EQ(all.metrics.free_samples, 200u);
}

TEST(Metrics, NoTimedCallsPrintZeroNotNan) {
  const ReplayResult r = replay(kRawTrace, "raw");  // 5 a, 4 f: fewer than 128
  EXPECT_EQ(r.metrics.alloc_samples, 0u);
  EXPECT_EQ(r.metrics.free_samples, 0u);
  EXPECT_EQ(r.metrics.ns_per_alloc, 0);
  EXPECT_EQ(r.metrics.ns_per_free, 0);
  for (Format f : {Format::Table, Format::Csv, Format::Json}) {
    const std::string out = render_replay(r, f);
    EXPECT_EQ(out.find("nan"), std::string::npos) << out;
    EXPECT_NE(out.find("ns_per_alloc"), std::string::npos);
  }
  const std::string json = render_replay(r, Format::Json);
  EXPECT_NE(json.find("\"ns_per_alloc\": 0,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"alloc_timed_calls\": 0,"), std::string::npos) << json;
}

}  // namespace
}  // namespace heaplay
