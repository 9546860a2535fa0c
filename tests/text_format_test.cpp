// text_format_test.cpp: the text trace format, record by record and error by error.
#include <gtest/gtest.h>

#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/line_reader.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

CollectingConsumer read_text(std::string_view text, bool lenient = false) {
  return testing::read_content(text, lenient, "t.trace", /*batch_events=*/3);  // exercise batch boundaries
}

std::string error_of(std::string_view text) { return testing::error_of_content(text); }

TEST(TextFormat, EveryRecordType) {
  auto c = read_text(
      "# a comment\n"
      "\n"
      "t 100\n"
      "a 0x7f00 24 float obj\n"
      "a 17 100\n"
      "a 18 5 - raw\n"
      "a 19 6 site17\n"
      "r 17 300\n"
      "f 0x7f00\n"
      "f 18 gc\n"
      "o 5 56 dict\n"
      "o 6 64 list\n"
      "+ 5\n"
      "l 5 6\n"
      "- 6\n"
      "u 5 6\n"
      "g\n"
      "g 0\n"
      "m phase two  \n"
      "   - 5\n");
  ASSERT_TRUE(c.began && c.ended);
  EXPECT_EQ(c.summary.events, 18u);
  EXPECT_EQ(c.summary.deaths, 1u);
  EXPECT_FALSE(c.summary.truncated);
  const auto& v = c.all;
  ASSERT_EQ(v.size(), 19u);  // 18 records + 1 death
  EXPECT_EQ(v[0].kind, EventKind::Time);
  EXPECT_EQ(v[0].size, 100u);
  EXPECT_EQ(v[1].kind, EventKind::Alloc);
  EXPECT_EQ(v[1].slot.value, 0u);
  EXPECT_EQ(v[1].size, 24u);
  EXPECT_EQ(c.str(v[1]), "float");
  EXPECT_EQ(v[1].domain, Domain::Obj);
  EXPECT_EQ(v[2].slot.value, 1u);
  EXPECT_EQ(v[2].str, kNoString);
  EXPECT_EQ(v[2].domain, Domain::None);
  EXPECT_EQ(v[3].domain, Domain::Raw);
  EXPECT_EQ(v[3].str, kNoString);
  EXPECT_EQ(c.str(v[4]), "site17");
  EXPECT_EQ(v[4].domain, Domain::None);
  // r: same slot, old size filled in
  EXPECT_EQ(v[5].kind, EventKind::Realloc);
  EXPECT_EQ(v[5].slot.value, 1u);
  EXPECT_EQ(v[5].size, 300u);
  EXPECT_EQ(v[5].old_size, 100u);
  // f: size, type and domain of the block filled in
  EXPECT_EQ(v[6].kind, EventKind::Free);
  EXPECT_EQ(v[6].slot.value, 0u);
  EXPECT_EQ(v[6].size, 24u);
  EXPECT_EQ(c.str(v[6]), "float");
  EXPECT_EQ(v[6].domain, Domain::Obj);
  EXPECT_EQ(v[7].flags, kFlagGc);
  EXPECT_EQ(v[7].size, 5u);
  // o reuses the most recently released slot (2, then 0)
  EXPECT_EQ(v[8].kind, EventKind::Object);
  EXPECT_EQ(v[8].slot.value, 2u);
  EXPECT_EQ(v[8].domain, Domain::Obj);
  EXPECT_EQ(v[9].slot.value, 0u);
  EXPECT_EQ(v[10].kind, EventKind::Incref);
  EXPECT_EQ(v[11].kind, EventKind::Link);
  EXPECT_EQ(v[11].slot.value, 2u);
  EXPECT_EQ(v[11].dst.value, 0u);
  EXPECT_EQ(v[12].kind, EventKind::Decref);  // list now held only by the dict
  EXPECT_EQ(v[13].kind, EventKind::Unlink);
  EXPECT_EQ(v[14].kind, EventKind::Death);   // ... and dies when the dict lets go
  EXPECT_EQ(v[14].slot.value, 0u);
  EXPECT_EQ(v[14].size, 64u);
  EXPECT_EQ(c.str(v[14]), "list");
  EXPECT_EQ(v[15].kind, EventKind::Collect);
  EXPECT_EQ(v[15].size, 2u);
  EXPECT_EQ(v[16].size, 0u);
  EXPECT_EQ(v[17].kind, EventKind::Mark);
  EXPECT_EQ(c.str(v[17]), "phase two");
  EXPECT_EQ(v[18].kind, EventKind::Decref);  // dict: refcount 2 -> 1, still live
}

// T TID: the thread of the records that follow; names are case-sensitive.
TEST(TextFormat, ThreadRecords) {
  auto c = read_text("T 12345\na 1 8\nt 5\nT 0x10\nf 1\n");
  ASSERT_EQ(c.all.size(), 5u);
  EXPECT_EQ(c.all[0].kind, EventKind::Thread);
  EXPECT_EQ(c.all[0].size, 12345u);
  EXPECT_EQ(c.all[2].kind, EventKind::Time);
  EXPECT_EQ(c.all[3].kind, EventKind::Thread);
  EXPECT_EQ(c.all[3].size, 16u);
  EXPECT_EQ(kind_name(EventKind::Thread), "T");
}

TEST(TextFormat, CascadeAndReuseOfIds) {
  // a chain 1 -> 2 -> 3 held by the program only at its head; dropping it frees all.
  auto c = read_text("o 1 16 node\no 2 16 node\no 3 16 node\nl 1 2\nl 2 3\n- 3\n- 2\n- 1\no 2 32 node\n");
  int deaths = 0;
  for (const Event& e : c.all) deaths += e.kind == EventKind::Death;
  EXPECT_EQ(deaths, 3);
  EXPECT_EQ(c.summary.deaths, 3u);
  // ID 2 died in the cascade, so it can be allocated again.
  EXPECT_EQ(c.all.back().kind, EventKind::Object);
  EXPECT_EQ(c.all.back().size, 32u);
}

TEST(TextFormat, MetadataLines) {
  auto c = read_text("#@ source recorder\n#@ command python3 app.py \\\\x\\nnext\na 1 8\n#@ late yes\n");
  ASSERT_NE(c.metadata.get("source"), nullptr);
  EXPECT_EQ(*c.metadata.get("source"), "recorder");
  EXPECT_EQ(*c.metadata.get("command"), "python3 app.py \\x\nnext");
  EXPECT_EQ(*c.metadata.get("late"), "yes");
}

TEST(TextFormat, CrlfAndNoFinalNewline) {
  auto c = read_text("a 1 8\r\nf 1\r\na 2 9");
  ASSERT_EQ(c.summary.events, 3u);
  EXPECT_EQ(c.all[2].size, 9u);
}

TEST(TextFormat, Errors) {
  EXPECT_EQ(error_of("a 1 8\nz 1\n"), ":2: unknown record 'z'");
  EXPECT_EQ(error_of("alloc 1 8\n"), ":1: unknown record 'alloc'");
  EXPECT_EQ(error_of("a 1 x8\n"), ":1: bad size 'x8'");
  EXPECT_EQ(error_of("a 1\n"), ":1: missing size");
  EXPECT_EQ(error_of("a 1 18446744073709551616\n"), ":1: size 18446744073709551616 overflows 64 bits");
  EXPECT_EQ(error_of("a 0x10000000000000000 1\n"), ":1: ID 0x10000000000000000 overflows 64 bits");
  EXPECT_EQ(error_of("a 1 18446744073709551615\n"), "(no error)");
  EXPECT_EQ(error_of("f 9\n"), ":1: ID 9 is not live (never allocated)");
  EXPECT_EQ(error_of("r 9 1\n"), ":1: ID 9 is not live (never allocated)");
  EXPECT_EQ(error_of("a 9 1\nf 9\nf 9\n"), ":3: ID 9 is no longer live (released at line 2)");
  EXPECT_EQ(error_of("a 9 1\na 9 2\n"), ":2: ID 9 is already live (allocated at line 1)");
  EXPECT_EQ(error_of("o 9 16 dict\nf 9\n"),
            ":2: f of an object made with o (objects are freed by their reference count)");
  EXPECT_EQ(error_of("a 9 16\n+ 9\n"), ":2: + names a block made with a, not an object");
  EXPECT_EQ(error_of("- 4\n"), ":1: ID 4 is not live (never allocated)");
  EXPECT_EQ(error_of("o 1 16 d\no 2 16 d\nu 1 2\n"), ":3: u SRC DST: SRC holds no reference to DST");
  EXPECT_EQ(error_of("o 1 16 d\nl 1 7\n"), ":2: DST 7 is not live (never allocated)");
  EXPECT_EQ(error_of("o 1 16 d\n- 1\n- 1\n"), ":3: ID 1 is no longer live (released at line 2)");
  EXPECT_EQ(error_of("t 5\nt 4\n"), ":2: time 4 is earlier than the previous time stamp");
  EXPECT_EQ(error_of("g 3\n"), ":1: generation 3 is not 0, 1 or 2");
  EXPECT_EQ(error_of("T\n"), ":1: missing thread id");
  EXPECT_EQ(error_of("T x1\n"), ":1: bad thread id 'x1'");
  EXPECT_EQ(error_of("o 1 16\n"), ":1: an object needs a TYPE");
  EXPECT_EQ(error_of("o 1 16 raw\n"), ":1: 'raw' is a domain, not a type");
  EXPECT_EQ(error_of("a 1 16 float heap\n"), ":1: bad domain 'heap' (raw, mem or obj)");
  EXPECT_EQ(error_of("f\n"), ":1: missing ID");
  EXPECT_EQ(error_of("a 1 1\nf 1 now\n"), ":2: unexpected 'now' after f ID (only 'gc')");
  EXPECT_EQ(error_of("a 1 1 t obj extra\n"), ":1: unexpected 'extra' at the end of the record");
  EXPECT_EQ(error_of("m\n"), ":1: a marker needs a LABEL");
  EXPECT_EQ(error_of(std::string(LineReader::kMaxLine + 10, 'x')), ":1: line longer than 1048576 bytes");
}

TEST(TextFormat, LenientCountsAndSkips) {
  auto c = read_text("a 1 8\nf 2\nz\na 1 9\nf 1\nf 1\n", /*lenient=*/true);
  EXPECT_EQ(c.summary.events, 2u);  // a 1 8, f 1
  EXPECT_EQ(c.summary.anomalies.total(), 4u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::UnknownId)], 1u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::Malformed)], 1u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::LiveId)], 1u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::DoubleFree)], 1u);
}

TEST(TextFormat, DeadIdsArePurgedSoMemoryFollowsLiveIds) {
  // 3M distinct IDs, each freed at once: a double free of a recent one is still
  // recognised; an ancient one reads as never allocated after a purge.
  std::string text;
  text.reserve(3'000'000 * 24);
  for (uint64_t i = 1; i <= 3'000'000; ++i) {
    text += "a " + std::to_string(i) + " 16\nf " + std::to_string(i) + "\n";
  }
  auto c = read_text(text);
  EXPECT_EQ(c.summary.events, 6'000'000u);
  std::string path = testing::temp_path("purge.trace");
  testing::write_file(path, text + "f 2999999\n");
  try {
    CollectingConsumer cc;
    open_trace(path)->read(cc);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no longer live (released at line 5999998)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace heaplay
