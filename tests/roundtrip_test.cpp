// roundtrip_test.cpp: text -> native -> text reproduces the same event stream.
#include <gtest/gtest.h>

#include "tests/test_util.hpp"
#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

const char* kEveryRecord =
    "#@ source roundtrip_test\n"
    "#@ python.version 3.11\n"
    "t 100\n"
    "a 0x7f00 24 float obj\n"
    "a 17 100\n"
    "a 18 5 - raw\n"
    "a 19 6 site17 mem\n"
    "a 20 0\n"
    "a 21 18446744073709551615 huge\n"
    "r 17 300\n"
    "r 17 0\n"
    "f 0x7f00\n"
    "f 18 gc\n"
    "o 5 56 dict\n"
    "o 6 64 list\n"
    "o 7 64 list\n"
    "+ 5\n"
    "l 5 6\n"
    "l 5 6\n"
    "l 6 7\n"
    "l 7 6\n"
    "- 6\n"
    "- 7\n"
    "u 5 6\n"
    "g\n"
    "g 0\n"
    "g 1\n"
    "t 100\n"
    "t 18446744073709551615\n"
    "m phase two\n"
    "- 5\n"
    "- 5\n"
    "a 5 1 float\n";

std::string convert(const std::string& in, OutputFormat fmt, const std::string& name, uint32_t frame = 4) {
  return testing::convert_file(in, fmt, name, frame);
}

CollectingConsumer read_all(const std::string& path) {
  CollectingConsumer c;
  open_trace(path)->read(c);
  return c;
}

void expect_same_stream(const CollectingConsumer& a, const CollectingConsumer& b) {
  ASSERT_EQ(a.all.size(), b.all.size());
  for (size_t i = 0; i < a.all.size(); ++i) {
    const Event &x = a.all[i], &y = b.all[i];
    EXPECT_EQ(x.kind, y.kind) << i;
    EXPECT_EQ(x.domain, y.domain) << i;
    EXPECT_EQ(x.flags, y.flags) << i;
    EXPECT_EQ(x.slot, y.slot) << i;
    EXPECT_EQ(x.dst, y.dst) << i;
    EXPECT_EQ(x.size, y.size) << i;
    EXPECT_EQ(x.old_size, y.old_size) << i;
    EXPECT_EQ(a.str(x), b.str(y)) << i;
  }
  EXPECT_EQ(a.summary.events, b.summary.events);
  EXPECT_EQ(a.summary.deaths, b.summary.deaths);
  EXPECT_EQ(a.metadata.items(), b.metadata.items());
}

TEST(RoundTrip, TextNativeTextIsTheSameStream) {
  std::string text = testing::temp_path("all.trace");
  testing::write_file(text, kEveryRecord);
  auto original = read_all(text);
  EXPECT_EQ(original.summary.events, 31u);
  EXPECT_EQ(original.summary.deaths, 1u);  // 5 dies; 6 and 7 hold each other

  std::string native = convert(text, OutputFormat::Native, "all.heaplay");
  auto from_native = read_all(native);
  expect_same_stream(original, from_native);

  std::string text2 = convert(native, OutputFormat::Text, "all2.trace");
  auto again = read_all(text2);
  expect_same_stream(original, again);

  // Text written by heaplay is a fixed point of text -> native -> text.
  std::string native2 = convert(text2, OutputFormat::Native, "all2.heaplay");
  std::string text3 = convert(native2, OutputFormat::Text, "all3.trace");
  EXPECT_EQ(testing::read_file(text2), testing::read_file(text3));
  // ... and so is the native file (same frames, same bytes).
  EXPECT_EQ(testing::read_file(native), testing::read_file(native2));
}

TEST(RoundTrip, CompressedTextAndLargerFrames) {
  std::string text = testing::temp_path("all.trace");
  testing::write_file(text, kEveryRecord);
  auto original = read_all(text);
  for (auto fmt : {OutputFormat::TextZstd, OutputFormat::TextGzip, OutputFormat::Native}) {
    std::string out = convert(text, fmt, fmt == OutputFormat::Native ? "x.heaplay" : "x.trace.z", 1u << 16);
    expect_same_stream(original, read_all(out));
  }
}

TEST(RoundTrip, CanonicalTextOutput) {
  std::string text = testing::temp_path("small.trace");
  testing::write_file(text, "#@ k v\\n2\na 0x10 24 float obj\na 0x20 8\no 0x30 16 dict\nf 0x10 gc\n- 0x30\nm done\n");
  std::string out = convert(text, OutputFormat::Text, "small-out.trace");
  EXPECT_EQ(testing::read_file(out),
            "# heaplay text trace (docs/trace-format.md)\n"
            "#@ k v\\n2\n"
            "a 0 24 float obj\n"
            "a 1 8\n"
            "o 2 16 dict\n"
            "f 0 gc\n"
            "- 2\n"
            "m done\n");
}

// A source whose slots follow the slot rule (every reader's and synth's do)
// is written byte for byte the same when the writer trusts its slots
// (WriteOptions::trusted_slots, what `heaplay record` uses) as when it checks
// and renumbers them: with and without objects (whose deaths free slots).
TEST(RoundTrip, TrustedSlotsWriteTheSameFile) {
  for (bool objects : {false, true}) {
    std::string checked = testing::temp_path("checked.heaplay"), trusted = testing::temp_path("trusted.heaplay");
    for (const std::string& path : {checked, trusted}) {
      WriteOptions o;
      o.trusted_slots = path == trusted;
      o.frame_events = 5000;
      auto w = make_writer(path, OutputFormat::Native, o);
      make_pylike_source(200'000, 3, objects)->read(*w);
      w->commit();
    }
    EXPECT_EQ(testing::read_file(checked), testing::read_file(trusted)) << "objects " << objects;
  }
}

}  // namespace
}  // namespace heaplay
