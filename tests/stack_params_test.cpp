// stack_params_test.cpp: --stack parsing, CPython's parameters per version,
// --set, and the replay loop on small hand-computed traces.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/params.hpp"
#include "engine/replay.hpp"
#include "engine/stack.hpp"
#include "reports/replay_report.hpp"
#include "traces/consumer.hpp"
#include "tests/object_test_util.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

std::string layers(const StackSpec& s) {
  std::string out;
  for (LayerKind k : s.layers) out += (out.empty() ? "" : ",") + std::string(layer_kind_name(k));
  return out;
}

using testing::bad_input_of;

TEST(Stack, NamedStacksAreCumulative) {
  EXPECT_EQ(layers(parse_stack("raw")), "raw");
  EXPECT_EQ(layers(parse_stack("pooled")), "pooled,raw");
  EXPECT_EQ(layers(parse_stack("objspec")), "objspec,pooled,raw");
  EXPECT_EQ(layers(parse_stack("gc")), "gc,objspec,pooled,raw");
  EXPECT_EQ(parse_stack("gc").name(), "gc");
  EXPECT_EQ(parse_stack("pooled").name(), "pooled");
}

TEST(Stack, CompositionsEndInRaw) {
  EXPECT_EQ(layers(parse_stack("gc+pooled")), "gc,pooled,raw");
  EXPECT_EQ(parse_stack("gc+pooled").name(), "gc+pooled+raw");
  EXPECT_EQ(layers(parse_stack("pooled+raw")), "pooled,raw");
  EXPECT_EQ(parse_stack("pooled+raw").name(), "pooled");  // the same stack as the named one
  EXPECT_EQ(layers(parse_stack("objspec+raw")), "objspec,raw");
  EXPECT_EQ(parse_stack("objspec+raw").name(), "objspec+raw");
}

TEST(Stack, BadStacksSayWhy) {
  EXPECT_NE(bad_input_of([] { parse_stack("malloc"); }).find("unknown stack"), std::string::npos);
  EXPECT_NE(bad_input_of([] { parse_stack("pooled+gc"); }).find("'gc' must come above 'pooled'"), std::string::npos);
  EXPECT_NE(bad_input_of([] { parse_stack("pooled+pooled"); }).find("'pooled' appears twice"), std::string::npos);
  EXPECT_NE(bad_input_of([] { parse_stack("pooled+"); }).find("unknown layer ''"), std::string::npos);
  EXPECT_NE(bad_input_of([] { parse_raw_kind("ptmalloc"); }).find("expected sim, glibc, jemalloc, mimalloc or tcmalloc"),
            std::string::npos);
  for (std::string_view k : {"sim", "glibc", "jemalloc", "mimalloc", "tcmalloc"})
    EXPECT_EQ(raw_kind_name(parse_raw_kind(k)), k);
}

TEST(Stack, EveryLayerBuildsInStackOrder) {
  Stack gc = build_stack(parse_stack("gc"), params_for(kDefaultPython), {});
  ASSERT_EQ(gc.layers().size(), 4u);
  std::vector<std::string_view> names;
  for (const auto& l : gc.layers()) names.push_back(l->name());
  EXPECT_EQ(names, (std::vector<std::string_view>{"gc", "objspec", "pooled", "raw"}));
  for (size_t i = 0; i < gc.layers().size(); ++i) EXPECT_EQ(gc.layers()[i]->depth(), i);
  EXPECT_EQ(build_stack(parse_stack("gc+pooled"), params_for(kDefaultPython), {}).top().name(), "gc");
}

TEST(Params, VersionsCarryCPythonsSizes) {
  Params p38 = params_for(PythonVersion::V3_8);
  EXPECT_EQ(p38.pooled.pool_size, 4096u);
  EXPECT_EQ(p38.pooled.arena_size, 256u << 10);
  EXPECT_EQ(p38.pooled.arena_alignment, ArenaAlignment::Aligned);
  for (PythonVersion v : {PythonVersion::V3_10, PythonVersion::V3_11, PythonVersion::V3_12, PythonVersion::V3_13}) {
    Params p = params_for(v);
    EXPECT_EQ(p.pooled.pool_size, 16384u);
    EXPECT_EQ(p.pooled.arena_size, 1u << 20);
    EXPECT_TRUE(p.pooled.keep_last_arena);
    EXPECT_EQ(p.pooled.arena_alignment, ArenaAlignment::Unaligned);
    EXPECT_EQ(p.pooled.small_threshold, 512u);
    EXPECT_EQ(p.pooled.pool_header, 48u);
  }
}

TEST(Params, ParsePython) {
  EXPECT_EQ(parse_python("3.11"), PythonVersion::V3_11);
  EXPECT_EQ(parse_python("3.10.13"), PythonVersion::V3_10);
  EXPECT_EQ(parse_python("3.8"), PythonVersion::V3_8);
  EXPECT_EQ(python_name(PythonVersion::V3_13), "3.13");
  EXPECT_NE(bad_input_of([] { parse_python("3.1"); }).find("known: 3.8, 3.9, 3.10, 3.11, 3.12, 3.13"), std::string::npos);
  EXPECT_NE(bad_input_of([] { parse_python("3.110"); }).find("unknown Python version"), std::string::npos);
}

TEST(Params, SetOverridesAndRejects) {
  Params p = params_for(kDefaultPython);
  p.set("raw.mmap_threshold=256K");
  EXPECT_EQ(p.raw.mmap_threshold, 256u << 10);
  p.set("pooled.keep_last_arena=0");
  EXPECT_FALSE(p.pooled.keep_last_arena);
  p.set("pooled.arena_alignment=aligned");
  EXPECT_EQ(p.pooled.arena_alignment, ArenaAlignment::Aligned);
  p.set("pooled.arena_alignment=4096,0");
  EXPECT_EQ(p.pooled.arena_alignment, ArenaAlignment::Trace);
  ASSERT_EQ(p.pooled.arena_excess.size(), 2u);
  EXPECT_EQ(p.pooled.arena_excess[0], 4096u);
  EXPECT_NE(bad_input_of([&] { p.set("pooled.nope=1"); }).find("unknown key 'pooled.nope'"), std::string::npos);
  EXPECT_NE(bad_input_of([&] { p.set("raw.page=4x"); }).find("expected a number of bytes"), std::string::npos);
  EXPECT_NE(bad_input_of([&] { p.set("raw.page"); }).find("expected KEY=VALUE"), std::string::npos);
  EXPECT_NE(bad_input_of([&] { p.set("raw.page=99999999999999999999"); }).find("expected a number"), std::string::npos);
  p.set("pooled.pool_size=3000");
  EXPECT_NE(bad_input_of([&] { p.validate(); }).find("pooled.pool_size = 3000: must be a power of two"), std::string::npos);
}

TEST(Params, EveryDocumentedKeyIsSettableAndListed) {
  Params p = params_for(kDefaultPython);
  auto items = p.items();
  ASSERT_EQ(items.size(), param_docs().size());
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].first, param_docs()[i].key);
    Params q = p;
    q.set(items[i].first + "=" + items[i].second);  // each value reads back as itself
    EXPECT_EQ(q.items(), items) << items[i].first;
  }
}

TEST(Params, TraceVersionUnlessOverridden) {
  Metadata m;
  m.set("python.version", "3.8.18");
  EXPECT_EQ(params_for_trace(m, "", {}).python, PythonVersion::V3_8);
  EXPECT_EQ(params_for_trace(m, "3.12", {}).python, PythonVersion::V3_12);
  Metadata unknown;
  unknown.set("python.version", "3.14.0");
  std::string note;
  EXPECT_EQ(params_for_trace(unknown, "", {}, &note).python, kDefaultPython);
  EXPECT_NE(note.find("Python 3.14.0"), std::string::npos);
  EXPECT_EQ(params_for_trace(Metadata{}, "", {"raw.page=8192"}).raw.page, 8192u);
}

TEST(Params, TraceArenaAlignmentComesFromMetadata) {
  Metadata m;
  std::string e = bad_input_of([&] { params_for_trace(m, "", {"pooled.arena_alignment=trace"}); });
  EXPECT_NE(e.find("records no arena alignment"), std::string::npos) << e;
  m.set("pymalloc.arena_excess", "0,8192");
  Params p = params_for_trace(m, "", {"pooled.arena_alignment=trace"});
  ASSERT_EQ(p.pooled.arena_excess.size(), 2u);
  EXPECT_EQ(p.pooled.arena_excess[1], 8192u);
}

}  // namespace
}  // namespace heaplay

// ---- the replay loop, by hand ------------------------------------------------

namespace heaplay {
namespace {

using testing::counter;
using testing::replay_text;

TEST(Replay, FootprintOfOneSmallRequestIsAnArenaPlusTheFirstHeap) {
  // One 100-byte request: pymalloc maps a 1 MiB arena and mallocs its
  // 16-entry arena table (16 x 48 = 768 bytes), which grows the simulated
  // heap by glibc's first 0x21000 bytes.
  ReplayResult r = replay_text("a 1 100\n", "pooled");
  EXPECT_EQ(r.peak_footprint_bytes, (1u << 20) + 0x21000);
  EXPECT_EQ(r.final_footprint_bytes, (1u << 20) + 0x21000);
  EXPECT_EQ(r.peak_live_bytes, 100u);
  EXPECT_EQ(counter(r, "pooled", "blocks_in_use"), 1u);
  EXPECT_EQ(counter(r, "pooled", "arena_table_bytes"), 768u);
  EXPECT_EQ(counter(r, "raw", "mallocs"), 1u);
  // The same request on raw alone: only the heap.
  ReplayResult raw = replay_text("a 1 100\n", "raw");
  EXPECT_EQ(raw.peak_footprint_bytes, 0x21000u);
  EXPECT_EQ(counter(raw, "raw", "chunk_bytes_live"), 112u);  // 100 + 8, rounded to 16
}

TEST(Replay, RawDomainAndLargeRequestsBypassPools) {
  ReplayResult r = replay_text("a 1 64 - raw\na 2 513\na 3 0\na 4 512\nf 4\n", "pooled");
  EXPECT_EQ(counter(r, "pooled", "passed_to_raw"), 3u);
  EXPECT_EQ(counter(r, "pooled", "blocks_in_use"), 0u);
  EXPECT_EQ(r.final_live_bytes, 64u + 513u);
  EXPECT_EQ(r.final_live_blocks, 3u);
}

TEST(Replay, ReallocFollowsPymalloc) {
  // 100 -> 90 stays (4 x 90 > 3 x 112); 90 -> 40 moves to the 48-byte class.
  ReplayResult r = replay_text("a 1 100\nr 1 90\nr 1 40\n", "pooled");
  EXPECT_EQ(counter(r, "pooled", "reallocs_in_place"), 1u);
  EXPECT_EQ(counter(r, "pooled", "reallocs_moved"), 1u);
  EXPECT_EQ(counter(r, "pooled", "allocated_bytes"), 48u);
  EXPECT_EQ(r.reallocs, 2u);
  EXPECT_EQ(r.peak_live_bytes, 100u);
  EXPECT_EQ(r.final_live_bytes, 40u);
}

TEST(Replay, ObjectRecordsReplayWithoutTheObjectLayers) {
  ReplayResult r = replay_text("t 5\na 1 8\no 2 32 dict\n", "pooled");
  EXPECT_EQ(r.objects, 1u);
  EXPECT_EQ(r.final_live_objects, 1u);
  EXPECT_EQ(r.final_live_bytes, 40u);
  // A collection request has nothing to collect: counted, no error.
  EXPECT_EQ(replay_text("a 1 8\ng\ng 0\n", "raw").collections, 2u);
}

TEST(Replay, IsDeterministic) {
  std::string clean;
  std::vector<bool> live(3000, false);
  for (int i = 0; i < 3000; ++i) {
    clean += "a " + std::to_string(i) + " " + std::to_string(1 + (i * 7919) % 700) + "\n";
    live[i] = true;
    if (i % 3 == 0 && live[i / 2]) {
      clean += "f " + std::to_string(i / 2) + "\n";
      live[i / 2] = false;
    }
  }
  ReplayResult a = replay_text(clean, "pooled"), b = replay_text(clean, "pooled");
  EXPECT_EQ(a.peak_footprint_bytes, b.peak_footprint_bytes);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) EXPECT_EQ(a.layers[i].counters, b.layers[i].counters);
  EXPECT_GT(a.peak_footprint_bytes, a.peak_live_bytes);
}

}  // namespace
}  // namespace heaplay


namespace heaplay {
namespace {

TEST(ReplayReport, JsonTypesComeFromTheFigureNotItsText) {
  // A trace named "true" stays a string; truncated is a boolean.
  ReplayResult r;
  r.trace = "true";
  r.truncated = true;
  std::string json = render_replay(r, Format::Json);
  EXPECT_NE(json.find("\"trace\": \"true\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"truncated\": true"), std::string::npos) << json;
}

}  // namespace
}  // namespace heaplay
