// fuzz_found_test.cpp: what the fuzz targets (tests/fuzz/, docs/robustness.md)
// found, each as the minimized input that showed it, read (or replayed) the
// way the target did, with the outcome it must have now.
//
// A finding that is a rule of one component is tested there too (e.g.
// lifetimes_test.cpp); here it is checked end to end, through the readers.
// The minimized inputs are also in the fuzz seed corpora (tests/fuzz/corpus/),
// so fuzzing starts from them.
#include <gtest/gtest.h>

#include <string>

#include "tests/native_test_util.hpp"
#include "tests/test_util.hpp"

namespace heaplay::native_test {
namespace {

using testing::error_of_content;
using testing::read_content;

std::vector<uint32_t> death_slots(const CollectingConsumer& c) {
  std::vector<uint32_t> slots;
  for (const Event& e : c.all)
    if (e.kind == EventKind::Death) slots.push_back(e.slot.value);
  return slots;
}

// fuzz_text: two `-` of B while A held a reference to B killed B with A's
// edge left behind; a block took B's slot, and A's death then dropped the
// reference on it: a Death event for a block's slot, which consumers index
// as an object. Now the second `-` has no reference of the program's to drop.
constexpr std::string_view kDecrefBelowHeld =
    "o 0x1000 6 t\no 0x2000 6 s\nl 0x1000 0x2000\n- 0x2000\n- 0x2000\na 0 0\n- 0x1000";

TEST(FuzzFound, TextDecrefOfAReferenceOnlyAnotherObjectHolds) {
  EXPECT_EQ(error_of_content(kDecrefBelowHeld),
            ":5: - of an object whose references are all held by other objects (l), none by the program");
  QuietLogs quiet;
  CollectingConsumer c = read_content(kDecrefBelowHeld, /*lenient=*/true);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::NoSuchEdge)], 1u);
  EXPECT_EQ(c.summary.events, 6u);
  // A (slot 0) dies at the last line and takes B (slot 1) with it; the block is in slot 2.
  EXPECT_EQ(death_slots(c), (std::vector<uint32_t>{0, 1}));
  ASSERT_EQ(c.all[4].kind, EventKind::Alloc);
  EXPECT_EQ(c.all[4].slot.value, 2u);
}

// The same stream as a native frame, in both versions: the decoder's hot
// loop (try_reference) and its out-of-line step must both refuse it.
TEST(FuzzFound, NativeDecrefOfAReferenceOnlyAnotherObjectHolds) {
  for (uint32_t version : {1u, 2u}) {
    SCOPED_TRACE(version);
    BlockEncoder enc(1);
    std::string file = enc.prologue({}, version);
    FrameEncoder f(version);
    f.add_string("t");
    f.object(6, 1, 0);
    f.object(6, 1, 1);
    f.link(0, 1);
    f.decref(1);
    f.decref(1);
    f.alloc(Domain::None, 0, 0, 2);
    f.decref(0);
    file += enc.events(f);
    file += enc.end(7);
    std::string path = testing::temp_path("decref-below-held.heaplay");
    testing::write_file(path, file);
    EXPECT_EQ(error_of([&] { read_native(path); }),
              path + ": byte 36: event 4 of frame 0: no_such_reference: - of slot 1");
    QuietLogs quiet;
    ReadOptions lenient;
    lenient.lenient = true;
    NativeRead r = read_native(path, lenient);
    EXPECT_EQ(r.c.summary.anomalies.counts[static_cast<int>(Anomaly::NoSuchEdge)], 1u);
    EXPECT_EQ(death_slots(r.c), (std::vector<uint32_t>{0, 1}));
  }
}

// A type, label or caller longer than the string table's limit (64 KiB) was
// an error without file or line, even with --lenient; now it is a malformed
// line like any other.
TEST(FuzzFound, OverlongStringsAreMalformedLines) {
  const std::string big(70000, 'x');
  EXPECT_EQ(error_of_content("a 1 8\na 2 8 " + big + "\n"), ":2: type of 70000 bytes is longer than the limit of 65536");
  EXPECT_EQ(error_of_content("o 1 8 " + big + "\n"), ":1: type of 70000 bytes is longer than the limit of 65536");
  EXPECT_EQ(error_of_content("m " + big + "\n"), ":1: label of 70000 bytes is longer than the limit of 65536");
  EXPECT_EQ(error_of_content("= Start\n@ " + big + "] + 0x10 0x8\n", "t.log"),
            ":2: caller of 70001 bytes is longer than the limit of 65536");
  QuietLogs quiet;
  CollectingConsumer c = read_content("a 1 8\nm " + big + "\nf 1\n", /*lenient=*/true);
  EXPECT_EQ(c.summary.events, 2u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::Malformed)], 1u);
}

// fuzz_text and fuzz_heaptrack: damaged zstd frames (minimized) whose outcome
// depended on how much room each read gave zstd. With read-ahead (1 MiB
// reads) the first one failed with "Data corruption detected"; without it
// the reader's smaller reads had delivered a first line, whose parse error
// came first. The second one even failed with another zstd error. Now zstd
// is always given the same room (Decoder, byte_source.cpp).
TEST(FuzzFound, DamagedZstdFramesFailAlikeWithAndWithoutReadAhead) {
  const std::string text_input(
      "\x28\xb5\x2f\xfd\x04\x58\x30\x06\x00\x04\x79\x5a\x4d\xe0\x6a\xb0\xef\xd4\x00\x00\x00\x00\x00\x00"
      "\x00\x00\xff\xff\xff\xff\xff\x6f\xf2\xff\xff\xff\xff\xff\xff\xff\x6f\xf2\x39\x31\x0a\x6c\x20\x38"
      "\x38\x20\x32\x37\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\x6f\xf2\xff"
      "\xff\x00\xff\xff\xff\xff\xff\x6f\xf2\x00\x00\x00\x00\xca\x69\xaa\x1b\x00\x01\xff\xff\xff\xff\x6f"
      "\xf2\x39\x31\x0a\x6c\x20\x38\x38\x20\x32\x37\x0a\x00\x00\x00\x00\x00\x00\x00\x00\xff\x6f\xf2\x37"
      "\x0a\x00\x00\x00\x00\x00\x00\x00\x00\xff\x6f\xf2\xf2\x0a\x6c\x20\x38\x38\x20\x32\x37\x0a\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x6f\xf2\xf2\x00\x00\x00\x00\xca\x69\xaa\x1b\x49\xd5\xd0"
      "\x64\x30\xe8\x18\x01\x00\x00\x00\x00\x00\x00\x01\xff\xff\x00\xff\x6f\xf2\x37\x0a\x00\x00\x00\x00"
      "\x00\x00\xff\x6f\xf2\x00\x00\x00\x00\x00\x00\x00\x00\xff\x6f\xf2\x37\x0a\x00\xff\x6f\xf2",
      214);
  const std::string heaptrack_input("\x28\xb5\x2f\xfd\x30\x0a\x2b\x20\x38\xff", 10);
  for (const auto& [input, expected] :
       {std::pair{text_input, std::string("byte 0: corrupt zstd frame: Data corruption detected")},
        std::pair{heaptrack_input, std::string("byte 0: corrupt zstd frame: Destination buffer is too small")}}) {
    const std::string path = testing::temp_path("damaged.zst");
    testing::write_file(path, input);
    for (bool prefetch : {false, true}) {
      ReadOptions options;
      options.prefetch = prefetch;
      EXPECT_EQ(error_of([&] {
                  CollectingConsumer c;
                  open_trace(path, options)->read(c);
                }),
                path + ": " + expected)
          << (prefetch ? "with read-ahead" : "without");
    }
  }
}

}  // namespace
}  // namespace heaplay::native_test
