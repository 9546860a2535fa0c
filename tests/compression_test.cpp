// compression_test.cpp: compressed text traces, written and read, whole and cut.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "tests/test_util.hpp"
#include "traces/byte_source.hpp"
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

// A cut stream gives every byte it holds, whatever the reads ask for: what
// the library decodes from the cut data in one call with room for
// everything. zstd and zlib can hold decoded bytes that a call filling its
// room could not hand out; they were lost when the input then ran out
// (golden.heaptrack_truncated showed it once the decompressors gave every
// call the same room: 2 blocks of 128 KiB in a 62-byte cut, only 1 read).
TEST(Compression, CutStreamsGiveEveryByteTheyHoldWhateverTheReadSize) {
  // Varied records, and one record pair over and over, whose megabytes
  // compress into a hundred bytes that the first input read takes whole.
  std::string same;
  for (int i = 0; i < 200'000; ++i) same += "+ 0\n- 0\n";
  auto zstd_of = [](const std::string& text) {
    std::string out(ZSTD_compressBound(text.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3));
    return out;
  };
  auto gzip_of = [](const std::string& text) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, text.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
  };
  // Everything the library decodes from bytes, in one call with room to spare.
  auto decode_all = [](const std::string& bytes, bool zstd) {
    std::string out(size_t{64} << 20, '\0');
    if (zstd) {
      ZSTD_DCtx* d = ZSTD_createDCtx();
      ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      EXPECT_FALSE(ZSTD_isError(ZSTD_decompressStream(d, &o, &in)));
      ZSTD_freeDCtx(d);
      out.resize(o.pos);
    } else {
      z_stream z{};
      EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
      z.avail_in = static_cast<uInt>(bytes.size());
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      inflate(&z, Z_NO_FLUSH);
      out.resize(out.size() - z.avail_out);
      inflateEnd(&z);
    }
    return out;
  };
  struct Case {
    std::string what, cut;
    bool zstd;
  };
  const std::string varied = pairs(200'000);
  std::vector<Case> cases;
  for (bool zstd : {true, false})
    for (const std::string* text : {&varied, static_cast<const std::string*>(&same)}) {
      const std::string whole = zstd ? zstd_of(*text) : gzip_of(*text);
      cases.push_back({std::string(zstd ? "zstd" : "gzip") + (text == &same ? ", one pair" : ", varied"),
                       whole.substr(0, whole.size() / 2), zstd});
    }
  // The zstd command's own framing of a heaptrack file of 100,000 `+ 0` /
  // `- 0` pairs (golden.heaptrack_truncated), cut at byte 62 of 125: its
  // first call takes all 62 bytes and hands out one of two blocks.
  cases.push_back({"zstd command, cut at 62",
                   std::string("\x28\xb5\x2f\xfd\x04\x58\x4c\x01\x00\x04\x02\x76\x20\x31\x30\x34\x30\x30\x20\x33\x0a"
                               "\x58\x20\x2e\x2f\x70\x72\x6f\x67\x0a\x61\x20\x38\x20\x31\x0a\x2b\x20\x30\x0a\x2d"
                               "\x20\x30\x01\x00\xe8\xfe\x5f\x5e\x9e\x4c\x00\x00\x08\x0a\x01\x00\xfc\xff\x39\x10\x02",
                               62),
                   true});
  for (const Case& c : cases) {
    const std::string expected = decode_all(c.cut, c.zstd);
    ASSERT_GT(expected.size(), size_t{200'000}) << c.what;
    const std::string path = testing::temp_path(c.zstd ? "cut-room.zst" : "cut-room.gz");
    testing::write_file(path, c.cut);
    for (size_t room : {size_t{1000}, size_t{4096}, size_t{65536}, size_t{131072}, size_t{1} << 20}) {
      auto src = open_decoded_source(path, nullptr);
      std::string got, buf(room, '\0');
      for (size_t k; (k = src->read(buf.data(), room)) != 0;) got.append(buf, 0, k);
      EXPECT_EQ(got.size(), expected.size()) << c.what << ", reads of " << room;
      EXPECT_TRUE(got == expected) << c.what << ", reads of " << room;
      EXPECT_TRUE(src->truncated()) << c.what << ", reads of " << room;
    }
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
