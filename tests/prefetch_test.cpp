// prefetch_test.cpp: reading with ReadOptions::prefetch (native frames
// inflated, compressed text decompressed, ahead on a second thread) gives
// exactly what reading on one thread gives: the same events, the same
// truncation, the same errors at the same bytes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

std::string small_multiframe_file() {
  std::string path = testing::temp_path("pf.heaplay");
  WriteOptions w;
  w.frame_events = 300;
  auto writer = make_writer(path, OutputFormat::Native, w);
  make_pylike_source(2000, 4)->read(*writer);
  writer->commit();
  return path;
}

// What reading path gives: its events, or its error message.
using Outcome = testing::ReadOutcome;
Outcome read(const std::string& path, bool prefetch) { return testing::read_outcome(path, prefetch); }

void expect_same(const Outcome& a, const Outcome& b, const std::string& what) {
  ASSERT_EQ(a.error, b.error) << what;
  ASSERT_EQ(a.events.size(), b.events.size()) << what;
  for (size_t i = 0; i < a.events.size(); ++i) ASSERT_TRUE(testing::same_event(a.events[i], b.events[i])) << what;
  EXPECT_EQ(a.summary.events, b.summary.events) << what;
  EXPECT_EQ(a.summary.truncated, b.summary.truncated) << what;
  EXPECT_EQ(a.summary.truncated_at, b.summary.truncated_at) << what;
}

TEST(NativePrefetch, WholeFileIsTheSame) {
  std::string path = small_multiframe_file();
  Outcome one = read(path, false), two = read(path, true);
  EXPECT_EQ(one.summary.events, 2000u);
  EXPECT_TRUE(one.error.empty());
  expect_same(one, two, "whole file");
}

TEST(NativePrefetch, CutAtEveryByteIsTheSame) {
  std::string whole = testing::read_file(small_multiframe_file());
  std::string path = testing::temp_path("cut.heaplay");
  for (size_t cut = 0; cut <= whole.size(); ++cut) {
    testing::write_file(path, std::string_view(whole).substr(0, cut));
    if (cut < 16) continue;  // not a native file yet: open_trace reads it as text
    expect_same(read(path, false), read(path, true), "cut at " + std::to_string(cut));
  }
}

TEST(NativePrefetch, EveryCorruptByteIsTheSame) {
  std::string whole = testing::read_file(small_multiframe_file());
  std::string path = testing::temp_path("bad.heaplay");
  for (size_t at = 16; at < whole.size(); at += 7) {
    std::string bad = whole;
    bad[at] = static_cast<char>(bad[at] ^ 0x41);
    testing::write_file(path, bad);
    Outcome one = read(path, false);
    EXPECT_FALSE(one.error.empty()) << "flipped byte " << at;
    expect_same(one, read(path, true), "flipped byte " + std::to_string(at));
  }
}

// A compressed text trace of the pylike workload, big enough for several
// 1 MiB read-ahead chunks.
std::string compressed_text(OutputFormat format, const char* name) {
  std::string path = testing::temp_path(name);
  auto writer = make_writer(path, format);
  make_pylike_source(400'000, 6)->read(*writer);
  writer->commit();
  return path;
}

TEST(ReadAhead, CompressedTextWholeCutAndCorruptIsTheSame) {
  for (auto [format, name] : {std::pair{OutputFormat::TextZstd, "ra.trace.zst"},
                              std::pair{OutputFormat::TextGzip, "ra.trace.gz"}}) {
    std::string whole = testing::read_file(compressed_text(format, name));
    std::string path = testing::temp_path(std::string("x-") + name);
    testing::write_file(path, whole);
    Outcome one = read(path, false);
    EXPECT_TRUE(one.error.empty()) << one.error;
    EXPECT_EQ(one.summary.events, 400'000u);
    expect_same(one, read(path, true), std::string(name) + " whole");
    for (size_t cut : {size_t{100}, whole.size() / 5, whole.size() / 2, whole.size() - 3}) {
      testing::write_file(path, std::string_view(whole).substr(0, cut));
      Outcome a = read(path, false);
      EXPECT_TRUE(a.summary.truncated) << name << " cut at " << cut;
      expect_same(a, read(path, true), std::string(name) + " cut at " + std::to_string(cut));
    }
    for (size_t at : {whole.size() / 3, whole.size() * 2 / 3}) {
      std::string bad = whole;
      for (size_t i = 0; i < 16; ++i) bad[at + i] = static_cast<char>(bad[at + i] ^ 0x5A);
      testing::write_file(path, bad);
      Outcome a = read(path, false);
      EXPECT_FALSE(a.error.empty()) << name << " corrupt at " << at;
      expect_same(a, read(path, true), std::string(name) + " corrupt at " + std::to_string(at));
    }
  }
}

// zstd reports an error without moving its input position, which had got
// as far as earlier calls took it: with read-ahead's 1 MiB output, nowhere;
// with a reader's smaller buffer, further. The message named different bytes
// (found by tests/golden/err_malformed_inputs). It names the frame's start.
TEST(ReadAhead, CorruptZstdFramesAreNamedAlike) {
  std::string path = testing::temp_path("two-frames.trace.zst");
  auto frame = [](uint64_t events, uint64_t seed) {
    std::string p = testing::temp_path("frame.trace.zst");
    auto writer = make_writer(p, OutputFormat::TextZstd);
    make_pylike_source(events, seed)->read(*writer);
    writer->commit();
    return testing::read_file(p);
  };
  const std::string first = frame(3000, 1), second = frame(3000, 2);
  // Each frame's last 4 bytes are its content checksum; damage the frame's middle or its checksum.
  for (size_t at : {first.size() / 2, first.size() - 2, first.size() + second.size() / 2, first.size() + second.size() - 2}) {
    std::string bad = first + second;
    bad[at] = static_cast<char>(bad[at] ^ 0x41);
    testing::write_file(path, bad);
    Outcome one = read(path, false);
    const uint64_t frame_at = at < first.size() ? 0 : first.size();
    EXPECT_EQ(one.error.rfind(fmt::format("{}: byte {}: corrupt zstd frame: ", path, frame_at), 0), 0u)
        << "damage at " << at << ": " << one.error;
    expect_same(one, read(path, true), "damage at " + std::to_string(at));
  }
}

}  // namespace
}  // namespace heaplay
