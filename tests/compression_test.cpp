// compression_test.cpp: compressed text traces, written and read, whole and cut.
#include <gtest/gtest.h>

#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

// A text trace of n alloc/free pairs with pseudo-random IDs and sizes, so that
// compressed blocks are of similar sizes (a cut then loses only the last ones).
std::string pairs(int n) {
  std::string s;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::string id = std::to_string(x >> 20);
    s += "a " + id + " " + std::to_string(x % 9973) + " t" + std::to_string(x % 13) + "\nf " + id + "\n";
  }
  return s;
}

std::string write_as(const std::string& text, OutputFormat fmt, const std::string& name) {
  std::string in = testing::temp_path("plain.trace");
  testing::write_file(in, text);
  std::string out = testing::temp_path(name);
  auto w = make_writer(out, fmt);
  open_trace(in)->read(*w);
  w->commit();
  return out;
}

CollectingConsumer read_all(const std::string& path) {
  CollectingConsumer c;
  open_trace(path)->read(c);
  return c;
}

TEST(Compression, ZstdAndGzipRoundTrip) {
  std::string text = pairs(20000);
  auto plain = read_all(write_as(text, OutputFormat::Text, "x.trace"));
  for (auto [fmt, name, comp] : {std::tuple{OutputFormat::TextZstd, "x.trace.zst", "zstd"},
                                 std::tuple{OutputFormat::TextGzip, "x.trace.gz", "gzip"}}) {
    std::string path = write_as(text, fmt, name);
    auto r = open_trace(path);
    EXPECT_EQ(r->info().compression, comp);
    CollectingConsumer c;
    r->read(c);
    ASSERT_EQ(c.all.size(), plain.all.size()) << name;
    for (size_t i = 0; i < c.all.size(); ++i) ASSERT_TRUE(testing::same_event(c.all[i], plain.all[i])) << i;
    EXPECT_FALSE(c.summary.truncated);
  }
}

TEST(Compression, CutFilesReadToTheLastCompleteLine) {
  std::string text = pairs(50000);
  for (auto [fmt, name] : {std::pair{OutputFormat::TextZstd, "c.trace.zst"},
                           std::pair{OutputFormat::TextGzip, "c.trace.gz"}}) {
    std::string whole = testing::read_file(write_as(text, fmt, name));
    for (size_t cut : {whole.size() / 3, whole.size() / 2, whole.size() - 5}) {
      std::string path = testing::temp_path(std::string("cut-") + name);
      testing::write_file(path, std::string_view(whole).substr(0, cut));
      CollectingConsumer c = read_all(path);
      EXPECT_TRUE(c.summary.truncated) << name << " cut at " << cut;
      EXPECT_GT(c.summary.events, 0u);
      EXPECT_LE(c.summary.events, 100000u);
      // Whatever was read is exactly a prefix of the stream.
      auto full = read_all(write_as(text, OutputFormat::Text, "ref.trace"));
      for (size_t i = 0; i < c.all.size(); ++i) ASSERT_TRUE(testing::same_event(c.all[i], full.all[i]));
    }
  }
}

TEST(Compression, CorruptZstdIsAnErrorWithAnOffset) {
  std::string whole = testing::read_file(write_as(pairs(5000), OutputFormat::TextZstd, "k.trace.zst"));
  whole[whole.size() / 2] ^= 0x5A;
  whole[whole.size() / 2 + 1] ^= 0x33;
  std::string path = testing::temp_path("corrupt.trace.zst");
  testing::write_file(path, whole);
  try {
    read_all(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path + ": byte "), std::string::npos) << m;
    EXPECT_NE(m.find("corrupt zstd frame"), std::string::npos) << m;
    EXPECT_EQ(e.exit_status(), 2);
  }
}

TEST(Compression, MissingFileAndDirectory) {
  try {
    read_all("/nonexistent/x.trace");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/x.trace: cannot open: No such file or directory");
  }
  try {
    read_all("/tmp");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/tmp: is a directory, not a trace");
  }
}

TEST(Compression, WriterLeavesNoFileWithoutCommit) {
  std::string out = testing::temp_path("never.trace");
  {
    auto w = make_writer(out, OutputFormat::Text);
    (void)w;
  }
  EXPECT_THROW(testing::read_file(out), std::runtime_error);
}

}  // namespace
}  // namespace heaplay
