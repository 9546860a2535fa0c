// native_damage_test.cpp: native files cut short at every byte, corrupted at
// every byte, structurally malformed, damaged behind valid checksums, and
// holding invalid events (strict and lenient reading).
#include <gtest/gtest.h>
#include <zstd.h>

#include <fmt/format.h>

#include "tests/native_test_util.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay::native_test {
namespace {

TEST(NativeFormat, TruncatedAtEveryByte) {
  auto src = make_pylike_source(400, 3);
  CollectingConsumer full;
  src->read(full);
  WriteOptions wo;
  wo.frame_events = 90;  // 5 frames, the last one short
  std::string path = write_native(*src, "cut.heaplay", wo);
  std::string bytes = testing::read_file(path);
  std::vector<BlockPos> blocks = block_positions(bytes);
  ASSERT_EQ(blocks.size(), 7u);  // H, 5 x E, Z
  ASSERT_EQ(blocks.back().type, 'Z');
  uint64_t header_end = blocks[1].at;

  QuietLogs quiet;
  std::string cut = testing::temp_path("cut-prefix.heaplay");
  for (size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(fmt::format("cut at {}", len));
    testing::write_file(cut, std::string_view(bytes).substr(0, len));
    if (len < header_end) {
      std::string msg = error_of([&] { open_native_trace(cut, {}); });
      EXPECT_NE(msg.find(len < 12 ? "byte 0: " : len < 16 ? "byte 12: " : "byte 16: "), std::string::npos) << msg;
      EXPECT_NE(msg.find("nothing readable"), std::string::npos) << msg;
      continue;
    }
    // The readable part ends at the last block boundary at or before len.
    uint64_t readable = 0, events = 0;
    for (const BlockPos& b : blocks) {
      uint64_t end = &b == &blocks.back() ? bytes.size() : (&b)[1].at;
      if (end > len) break;
      readable = end;
      if (b.type == 'E') events += b.count;
    }
    CollectingConsumer got;
    auto reader = open_native_trace(cut, {});
    ReadSummary s = reader->read(got);
    ASSERT_TRUE(s.truncated);
    EXPECT_EQ(s.truncated_at, readable);
    ASSERT_EQ(s.events, events);
    EXPECT_TRUE(got.ended);
    // What was read is a prefix of the full stream.
    uint64_t records = 0;
    size_t i = 0;
    for (; i < full.all.size() && records < events; ++i) records += full.all[i].kind != EventKind::Death;
    while (i < full.all.size() && full.all[i].kind == EventKind::Death) ++i;  // deaths of the last record
    ASSERT_EQ(got.all.size(), i);
    for (size_t j = 0; j < i; ++j) ASSERT_TRUE(same_at(got, full, j)) << j;
  }
  NativeRead whole = read_native(path);
  EXPECT_FALSE(whole.c.summary.truncated);
  EXPECT_EQ(whole.c.summary.events, 400u);
}

TEST(NativeFormat, EveryCorruptByteIsAnErrorAtItsBlock) {
  Metadata header;
  header.set("source", "script");
  Metadata trailer;
  trailer.set("truth", "1");
  ScriptSource src(every_record_type(), header, trailer);
  WriteOptions wo;
  wo.frame_events = 8;
  std::string path = write_native(src, "flip.heaplay", wo);
  std::string bytes = testing::read_file(path);
  std::vector<BlockPos> blocks = block_positions(bytes);
  ASSERT_EQ(blocks.size(), 6u);  // H, 3 x E, M, Z

  std::string bad = testing::temp_path("flipped.heaplay");
  QuietLogs quiet;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0xFF);
    testing::write_file(bad, b);
    uint64_t where = i < 12 ? 0 : i < 16 ? 12 : 0;
    for (const BlockPos& p : blocks)
      if (p.at <= i) where = p.at;
    std::string msg = error_of([&] {
      CollectingConsumer c;
      open_native_trace(bad, {})->read(c);
    });
    EXPECT_NE(msg.find(fmt::format("{}: byte {}: ", bad, where)), std::string::npos) << "flip " << i << ": " << msg;
  }
}

// A hand-made file: one frame with four invalid events among valid ones.
std::string crafted_invalid_file() {
  BlockEncoder enc(3);
  std::string file = enc.prologue({});
  FrameEncoder f;
  f.add_string("x");
  f.alloc(Domain::Mem, 10, 1, 0);  // slot 0
  f.free(0, false);
  f.free(0, false);                // double free
  f.alloc(Domain::Mem, 20, 0, 0);  // slot 0 again
  f.free(5, false);                // unknown
  f.time(100);
  f.time(50);                      // backwards
  f.collect(3);                    // bad generation
  f.mark(1);
  file += enc.events(f);
  file += enc.end(9);
  std::string path = testing::temp_path("invalid.heaplay");
  testing::write_file(path, file);
  return path;
}

TEST(NativeFormat, StrictStopsAtTheFirstInvalidEvent) {
  std::string path = crafted_invalid_file();
  EXPECT_EQ(error_of([&] { read_native(path); }),
            path + ": byte 36: event 2 of frame 0: double_free: f of slot 0");
}

TEST(NativeFormat, LenientCountsAndDropsInvalidEvents) {
  std::string path = crafted_invalid_file();
  ReadOptions ro;
  ro.lenient = true;
  ro.max_warnings = 1;
  QuietLogs quiet;
  NativeRead r = read_native(path, ro);
  const CollectingConsumer& c = r.c;
  EXPECT_EQ(c.summary.events, 5u);  // a, f, a, t, m
  ASSERT_EQ(c.all.size(), 5u);
  EXPECT_EQ(c.all[4].kind, EventKind::Mark);
  EXPECT_EQ(text_of(c, c.all[4]), "x");
  const Anomalies& an = c.summary.anomalies;
  EXPECT_EQ(an.total(), 4u);
  EXPECT_EQ(an.counts[static_cast<int>(Anomaly::DoubleFree)], 1u);
  EXPECT_EQ(an.counts[static_cast<int>(Anomaly::UnknownId)], 1u);
  EXPECT_EQ(an.counts[static_cast<int>(Anomaly::TimeBackwards)], 1u);
  EXPECT_EQ(an.counts[static_cast<int>(Anomaly::BadGeneration)], 1u);
  EXPECT_FALSE(c.summary.truncated);
}

// Structurally bad files: each is an error naming the offending block.
TEST(NativeFormat, MalformedBlocksAreErrors) {
  QuietLogs quiet;
  auto check = [](const std::string& name, const std::string& file, const std::string& want) {
    std::string path = testing::temp_path(name);
    testing::write_file(path, file);
    std::string msg = error_of([&] { read_native(path); });
    EXPECT_NE(msg.find(want), std::string::npos) << name << ": " << msg;
  };
  BlockEncoder enc(3);
  const std::string head = enc.prologue({{"k", "v"}});
  const uint64_t first = head.size();
  auto frame = [&](auto&& fill) {
    FrameEncoder f;
    fill(f);
    return std::string(enc.events(f));
  };
  std::string one = frame([](FrameEncoder& f) { f.alloc(Domain::Raw, 1, 0, 0); });

  check("unknown-type", head + enc.raw(static_cast<BlockType>('Q'), 0, "zz"),
        fmt::format("byte {}: unknown block type 0x51", first));
  check("second-header", head + enc.raw(BlockType::Header, 0, ""), fmt::format("byte {}: a second header", first));
  check("end-count", head + one + enc.end(2), fmt::format("byte {}: the end block counts 2 events", first + one.size()));
  check("after-end", head + one + enc.end(1) + "x", "data after the end block");
  {
    FrameEncoder f;
    f.alloc(Domain::Raw, 1, 0, 0);
    std::string content;
    f.finish(content);
    check("short-count", head + enc.events(2, content),
          fmt::format("byte {}: corrupt event frame 0: stream lengths do not add up: 1 opcodes make 1 records, "
                      "the frame counts 2",
                      first));
    check("long-count", head + enc.events(0, content),
          fmt::format("byte {}: corrupt event frame 0: stream lengths do not add up", first));
    content[1 + kStreams] = kOpCount;  // after S = 0 and the stream lengths: the ops stream
    check("bad-opcode", head + enc.events(1, content),
          fmt::format("byte {}: corrupt event frame 0: event 0: unknown opcode 0x15", first));
    content[1 + kStreams] = kOpAllocFree + 1;  // a raw block allocated and freed: two records
    check("fused-count", head + enc.events(1, content),
          fmt::format("byte {}: corrupt event frame 0: stream lengths do not add up: 1 opcodes make 2 records, "
                      "the frame counts 1",
                      first));
    check("not-zstd", head + enc.raw(BlockType::Events, 1, content),
          fmt::format("byte {}: corrupt event frame 0: not a zstd frame", first));
  }
  check("undefined-string", head + frame([](FrameEncoder& f) { f.mark(7); }),
        fmt::format("byte {}: corrupt event frame 0: event 0: a varint is overlong, or a slot or string id "
                    "out of range",
                    first));
  check("huge-payload", head + [] {
    std::string h(kBlockHeaderBytes, '\0');
    h[0] = 'E';
    h[7] = 0x10;  // 256 MiB
    uint32_t crc = crc32_of(h.data(), 16);
    for (int i = 0; i < 4; ++i) h[16 + i] = static_cast<char>(crc >> (8 * i));
    return h;
  }(), fmt::format("byte {}: block payload of 268435456 bytes is larger than the limit", first));
}

// Damage behind valid checksums (a buggy writer): frame contents with bytes
// changed, then compressed properly. Each read must end in a clean result or
// a heaplay::Error, never another exception or a crash (run under ASan too).
// Both format versions: each has its own decoding of slots and opcodes.
class MutatedFrames : public ::testing::TestWithParam<uint32_t> {};
INSTANTIATE_TEST_SUITE_P(NativeFormat, MutatedFrames, ::testing::Values(1u, 2u));

TEST_P(MutatedFrames, NeverCrash) {
  // The content of a one-frame file the writer made: damaged, then recompressed.
  auto src = make_pylike_source(300, 11);
  WriteOptions wo;
  wo.native_version = GetParam();
  std::string bytes = testing::read_file(write_native(*src, "mutation-source.heaplay", wo));
  std::vector<BlockPos> blocks = block_positions(bytes);
  ASSERT_EQ(blocks.size(), 3u);  // H, E, Z
  std::string_view payload(bytes.data() + blocks[1].at + kBlockHeaderBytes,
                           blocks[2].at - blocks[1].at - kBlockHeaderBytes);
  std::string content(ZSTD_getFrameContentSize(payload.data(), payload.size()), '\0');
  ASSERT_EQ(ZSTD_decompress(content.data(), content.size(), payload.data(), payload.size()), content.size());
  BlockEncoder enc(1);
  const std::string head = enc.prologue(src->info().metadata.items(), GetParam());
  // (One encoder call per statement: each call reuses the encoder's buffer.)
  auto file_of = [&](const std::string& frame_content) {
    std::string file = head;
    file += enc.events(300, frame_content);
    file += enc.end(300);
    return file;
  };
  std::string path = testing::temp_path("mutated.heaplay");
  testing::write_file(path, file_of(content));
  ASSERT_EQ(read_native(path).c.summary.events, 300u);  // undamaged, it reads back whole

  QuietLogs quiet;
  uint64_t rng = 12345, clean = 0, errors = 0;
  auto next = [&] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;  // a 64-bit LCG: plenty here
    return rng >> 33;
  };
  for (int round = 0; round < 2000; ++round) {
    std::string c = content;
    int changes = 1 + static_cast<int>(next() % 3);
    for (int i = 0; i < changes; ++i) c[next() % c.size()] = static_cast<char>(next());
    if (round % 10 == 0) c.resize(next() % c.size());
    testing::write_file(path, file_of(c));
    for (bool lenient : {false, true}) {
      ReadOptions ro;
      ro.lenient = lenient;
      try {
        read_native(path, ro);
        ++clean;
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 1000u);  // most damage is caught...
  EXPECT_GT(clean, 0u);      // ... and some is a valid (different) stream, e.g. a changed size
}

}  // namespace
}  // namespace heaplay::native_test
