// compare_test.cpp: the replay wire format (reports/replay_wire.hpp) and the
// compare summary's fixed columns (reports/compare_report.hpp). The worker
// processes themselves are tested through the CLI (golden/compare_*).
#include <gtest/gtest.h>

#include <string>

#include "reports/compare_report.hpp"
#include "reports/replay_wire.hpp"
#include "traces/error.hpp"

namespace heaplay {
namespace {

// Every field set, each to a distinct non-default value (optionals present and absent).
ReplayResult full_result() {
  uint64_t v = 1;
  auto next = [&] { return v++ * 7919; };
  auto real = [&] { return static_cast<double>(v++) + 0.125; };
  ReplayResult r;
  r.trace = "a,b \"q\".trace";
  r.stack = "gc+pooled+raw";
  r.python = "3.12";
  r.raw = "glibc";
  r.touch = "all";
  r.raw_library = "libjemalloc.so.2 (jemalloc 5.3.0)";
  r.params = {{"raw.page", "4096"}, {"pooled.pool_size", "16K"}, {"", ""}};
  for (uint64_t* f : {&r.events, &r.allocs, &r.frees, &r.reallocs, &r.collections, &r.peak_live_bytes,
                      &r.final_live_bytes, &r.final_live_blocks, &r.final_live_objects, &r.objects, &r.object_deaths,
                      &r.unreclaimed_cyclic_objects, &r.unreclaimed_cyclic_bytes, &r.skipped_gc_frees,
                      &r.stale_object_events, &r.freelist_hits, &r.freelist_misses, &r.peak_footprint_bytes,
                      &r.final_footprint_bytes, &r.anomalies})
    *f = next();
  r.has_gc = true;
  r.gc = {{next(), next(), UINT64_MAX}, next(), next(), next(), next(), real(), real()};
  r.has_objspec = true;
  r.free_lists = {{"float", false, 80, 0, next(), next(), next(), next(), next(), next(), next()},
                  {"site:x", true, 3, 512, next(), next(), next(), next(), next(), next(), next()}};
  r.replay_seconds = real();
  r.events_per_second = real();
  r.truncated = true;
  LayerReport gc{"gc", {{"tracked", next()}}}, raw{"raw", {{"held_bytes", next()}, {"mmaps", next()}}};
  r.layers = {gc, raw};
  Metrics& m = r.metrics;
  m.footprint.live = {next(), next(), real()};
  m.footprint.allocated = {next(), next(), real()};
  m.footprint.held = {next(), next(), real()};
  m.footprint.has_rss = true;
  m.footprint.rss = {next(), next(), real()};
  Fragmentation& f = m.fragmentation;
  for (uint64_t* x : {&f.held_bytes, &f.live_bytes, &f.internal_bytes, &f.freelist_bytes, &f.pooled_bytes,
                      &f.pooled_free_block_bytes, &f.pooled_empty_pool_bytes, &f.pooled_header_bytes,
                      &f.pooled_quantization_bytes, &f.pooled_alignment_bytes, &f.raw_bytes, &f.other_bytes})
    *x = next();
  m.jw = {real(), real(), real(), -real(), next(), next(), next(), next()};
  m.has_pooled = true;
  m.pinned = {{1, next(), next()}, {4, next(), next()}};
  m.pinned_walk_event = next();
  m.cpu_seconds = real();
  m.ns_per_event = real();
  m.ns_per_alloc = real();
  m.ns_per_free = real();
  m.alloc_samples = next();
  m.free_samples = next();
  m.timer_overhead_ns = real();
  m.gc_share = real();
  m.timeline = {{next(), std::nullopt, next(), next(), next(), std::nullopt, next(), next()},
                {next(), next(), next(), next(), next(), next(), next(), next()}};
  m.size_classes = {{3, next(), 510, next(), next(), next(), next(), next()}};
  return r;
}

TEST(ReplayWire, RoundTripsEveryField) {
#if defined(__x86_64__) && defined(__GLIBCXX__)
  // A new field changes these sizes: encode it (replay_wire.cpp), then update them.
  static_assert(sizeof(ReplayResult) == 952);
  static_assert(sizeof(Metrics) == 416);
  static_assert(sizeof(GcSummary) == 72 && sizeof(FreeListReport) == 104 && sizeof(LayerReport) == 56);
  static_assert(sizeof(Sample) == 80 && sizeof(SizeClassReport) == 64 && sizeof(PinnedArenas) == 24);
#endif
  ReplayResult r = full_result();
  std::string wire = encode_replay_result(r);
  EXPECT_EQ(decode_replay_result(wire), r);
  // The defaults too (empty strings and vectors).
  EXPECT_EQ(decode_replay_result(encode_replay_result(ReplayResult{})), ReplayResult{});
}

TEST(ReplayWire, RejectsTruncationAtEveryByte) {
  std::string wire = encode_replay_result(full_result());
  for (size_t n = 0; n < wire.size(); ++n) EXPECT_THROW(decode_replay_result(wire.substr(0, n)), Error) << n;
  EXPECT_THROW(decode_replay_result(wire + "x"), Error);
}

TEST(ReplayWire, RejectsEveryFlippedByte) {
  std::string wire = encode_replay_result(full_result());
  for (size_t i = 0; i < wire.size(); ++i) {
    std::string bad = wire;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    EXPECT_THROW(decode_replay_result(bad), Error) << i;
  }
}

TEST(ReplayWire, RejectsCorruptLengthsInsideAValidFrame) {
  // Bodies with a good header and CRC but lying counts: errors, never huge allocations.
  std::string wire = encode_replay_result(full_result());
  std::string body = wire.substr(kReplayWireHeaderBytes, wire.size() - kReplayWireHeaderBytes - kReplayWireTrailerBytes);
  for (uint64_t lie : {uint64_t{1} << 40, UINT64_MAX, uint64_t{body.size()}}) {
    std::string bad = body;
    for (int b = 0; b < 8; ++b) bad[b] = static_cast<char>(lie >> (8 * b));  // the trace name's length
    try {
      decode_replay_result(frame_replay_wire(bad));
      ADD_FAILURE() << lie;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("passes the message's end"), std::string::npos) << e.what();
      EXPECT_EQ(e.exit_status(), kExitFailure);
    }
  }
  // A body cut short inside a good frame; a flag byte that is not 0 or 1.
  EXPECT_THROW(decode_replay_result(frame_replay_wire(body.substr(0, body.size() - 1))), Error);
  std::string empty = encode_replay_result(ReplayResult{});
  std::string eb = empty.substr(kReplayWireHeaderBytes, empty.size() - kReplayWireHeaderBytes - kReplayWireTrailerBytes);
  eb[6 * 8 + 8 + 15 * 8] = 2;  // has_gc
  EXPECT_THROW(decode_replay_result(frame_replay_wire(eb)), Error);
  // Another version.
  std::string v2 = wire;
  v2[4] = static_cast<char>(kReplayWireVersion + 1);
  EXPECT_THROW(decode_replay_result(v2), Error);
  v2[4] = 1;  // before the sampled ns_per_alloc and ns_per_free
  EXPECT_THROW(decode_replay_result(v2), Error);
  v2[4] = 2;  // before raw_library
  EXPECT_THROW(decode_replay_result(v2), Error);
}

TEST(CompareReport, FailedRowsKeepTheColumnsAndTheOthers) {
  std::vector<CompareRow> rows = {{"raw", full_result(), "", "glibc"},
                                  {"pooled", std::nullopt, "killed by SIGKILL", "jemalloc"}};
  rows[0].result->stack = "raw";
  std::string csv = render_compare("t.trace", rows, Format::Csv);
  size_t header_end = csv.find("\r\n");
  std::string header = csv.substr(0, header_end);
  std::string expected;
  for (const std::string& c : compare_summary_columns()) expected += (expected.empty() ? "" : ",") + c;
  EXPECT_EQ(header, expected);
  // A failed row: its stack, reason and raw kind, every figure empty.
  std::string last = csv.substr(csv.rfind("\r\n", csv.size() - 3) + 2);
  EXPECT_EQ(last, "t.trace,pooled,killed by SIGKILL,,jemalloc" + std::string(compare_summary_columns().size() - 5, ',') +
                      "\r\n");
  std::string table = render_compare("t.trace", rows, Format::Table);
  EXPECT_NE(table.find("\npooled  jemalloc  error: killed by SIGKILL"), std::string::npos) << table;
  EXPECT_NE(table.find("\nraw    glibc  371.2 KiB"), std::string::npos) << table;
  std::string json = render_compare("t.trace", rows, Format::Json);
  EXPECT_NE(json.find("\"raw\": \"jemalloc\",\n      \"error\": \"killed by SIGKILL\""), std::string::npos) << json;
  // Timeline and size classes: one header, the finished stacks' rows.
  std::string timeline = render_compare_timeline_csv(rows);
  EXPECT_EQ(timeline.find("stack,raw,event,"), 0u);
  EXPECT_EQ(timeline.find("pooled,"), std::string::npos);
}

}  // namespace
}  // namespace heaplay
