// pointer_recorder_test.cpp: PointerRecorder (addresses to IDs, gc windows)
// and trace_metadata (late metadata blocks), on hand-computed sequences.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/test_util.hpp"
#include "traces/pointer_recorder.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::read_file;
using testing::temp_path;

// Every case the recorder handles, in one sequence; the IDs in the text are
// the slots Lifetimes hands out (the most recently released one first).
void record_everything(PointerRecorder& rec) {
  rec.alloc(0x1000, 24, Domain::Obj);            // a 0 24 - obj
  rec.alloc(0x2000, 600, Domain::Mem);           // a 1 600 - mem
  rec.realloc(0x2000, 0x3000, 700, Domain::Mem); // r 1 700: moved, same ID
  rec.free(0x2000);                              // no longer an address of ours: counted
  rec.free(0x3000);                              // f 1
  rec.realloc(0, 0x4000, 8, Domain::Raw);        // realloc(NULL): a 1 8 - raw
  rec.realloc(0x9999, 0x5000, 16, Domain::Raw);  // of an unknown address: a 2 16 - raw, counted
  rec.alloc(0x1000, 32, Domain::Obj);            // a live address again: f 0, a 0 32 - obj, counted
  rec.mark("phase one");
  const uint64_t exempt[] = {0x4000};
  rec.open_gc_window(exempt);
  rec.alloc(0x6000, 48, Domain::Obj);            // a 3 48 - obj, inside the window
  rec.free(0x1000);                              // allocated before it: f 0 gc
  rec.free(0x4000);                              // exempt: f 1
  rec.free(0x6000);                              // allocated inside it: f 3
  rec.close_gc_window();
  rec.alloc(0x7000, 64, Domain::Obj);            // a 3 64 - obj
  rec.free(0x5000);                              // f 2
  rec.set_metadata("late.key", "late value");
}

constexpr const char* kExpected =
    "# heaplay text trace (docs/trace-format.md)\n"
    "#@ source test\n"
    "a 0 24 - obj\n"
    "a 1 600 - mem\n"
    "r 1 700\n"
    "f 1\n"
    "a 1 8 - raw\n"
    "a 2 16 - raw\n"
    "f 0\n"
    "a 0 32 - obj\n"
    "m phase one\n"
    "a 3 48 - obj\n"
    "f 0 gc\n"
    "f 1\n"
    "f 3\n"
    "a 3 64 - obj\n"
    "f 2\n"
    "#@ late.key late value\n";

class PointerRecorderTest : public ::testing::TestWithParam<bool> {};

TEST_P(PointerRecorderTest, AddressesBecomeIds) {
  const std::string path = temp_path("rec.trace");
  Metadata header;
  header.set("source", "test");
  PointerRecorder rec(make_writer(path, OutputFormat::Text), path, header, GetParam());
  record_everything(rec);
  EXPECT_EQ(rec.live_blocks(), 1u);  // 0x7000
  rec.finish();
  EXPECT_EQ(read_file(path), kExpected);
  const PointerRecorder::Counts& c = rec.counts();
  EXPECT_EQ(c.records, 15u);  // the f 0 before the reused address included
  EXPECT_EQ(c.unknown_frees, 1u);
  EXPECT_EQ(c.unknown_reallocs, 1u);
  EXPECT_EQ(c.reused_addresses, 1u);
  EXPECT_EQ(c.gc_frees, 1u);
}

INSTANTIATE_TEST_SUITE_P(Pipelined, PointerRecorderTest, ::testing::Bool());

TEST(PointerRecorder, NothingAppearsWithoutFinish) {
  const std::string path = temp_path("unfinished.heaplay");
  {
    PointerRecorder rec(make_writer(path, OutputFormat::Native), path, Metadata());
    rec.alloc(0x10, 8, Domain::Obj);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TraceMetadata, LateBlocksOfANativeTrace) {
  const std::string path = temp_path("late.heaplay");
  Metadata header;
  header.set("source", "test");
  header.set("python.version", "3.11.2");
  PointerRecorder rec(make_writer(path, OutputFormat::Native), path, header);
  record_everything(rec);
  rec.set_metadata("python.version", "3.12.1");  // a late value replaces the header's
  rec.finish();
  const Metadata lead = leading_metadata(path), all = trace_metadata(path);
  EXPECT_EQ(lead.get("late.key"), nullptr);
  ASSERT_NE(all.get("late.key"), nullptr);
  EXPECT_EQ(*all.get("late.key"), "late value");
  EXPECT_EQ(*lead.get("python.version"), "3.11.2");
  EXPECT_EQ(*all.get("python.version"), "3.12.1");
  EXPECT_EQ(*all.get("source"), "test");
  // Cut inside its last blocks (the metadata block, the end block): the walk
  // stops there without an error, with what it could read.
  const std::string bytes = read_file(path);
  const std::string cut = temp_path("cut.heaplay");
  testing::write_file(cut, bytes.substr(0, bytes.size() - 30));
  const Metadata part = trace_metadata(cut);
  EXPECT_EQ(part.get("late.key"), nullptr);
  EXPECT_EQ(*part.get("python.version"), "3.11.2");
  // Other formats: the leading metadata.
  const std::string text = temp_path("late.trace");
  testing::write_file(text, "#@ a 1\na 1 8\n#@ b 2\n");
  EXPECT_NE(trace_metadata(text).get("a"), nullptr);
  EXPECT_EQ(trace_metadata(text).get("b"), nullptr);
}

}  // namespace
}  // namespace heaplay
