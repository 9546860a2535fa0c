// record_stream_test.cpp: RecordStream (traces/record_stream.hpp) on
// hand-made record streams: the merge of threads into sequence order, a
// realloc whose old address another thread gets before it returns, frees the
// recorder never saw allocated, failed and zero-size reallocs, site names,
// chunks cut anywhere, the clock mapping, exec, and lost records.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/test_util.hpp"
#include "traces/record_stream.hpp"

namespace heaplay {
namespace {

namespace w = record_wire;
using testing::CollectingConsumer;

w::Record rec(uint64_t seq, uint8_t op, uint64_t addr, uint64_t size = 0, uint64_t caller = 0) {
  w::Record r;
  r.seq_op = seq << 8 | op;
  r.ticks = 1000 + seq;
  r.addr = addr;
  r.size = size;
  r.caller = caller;
  return r;
}

std::string chunk(uint64_t tid, const std::vector<w::Record>& recs, uint64_t ticks = 0, uint64_t ns = 0) {
  w::ChunkHeader h;
  h.count = static_cast<uint32_t>(recs.size());
  h.tid = tid;
  h.ticks = ticks;
  h.monotonic_ns = ns;
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out.append(reinterpret_cast<const char*>(recs.data()), recs.size() * sizeof(w::Record));
  return out;
}

// A kSite record and its text slots.
std::vector<w::Record> site(uint64_t caller, const std::string& module, const std::string& symbol, uint64_t offset) {
  std::string text = module + '\0' + symbol;
  std::vector<w::Record> out(1 + w::site_slots(text.size()));
  out[0].seq_op = (uint64_t{!symbol.empty()} << 8) | w::kSite;
  out[0].addr = caller;
  out[0].size = text.size();
  out[0].caller = offset;
  std::memcpy(&out[1], text.data(), text.size());
  return out;
}

struct Stream {
  std::string path = testing::temp_path("stream.heaplay");
  RecordStream s{path, {}, Metadata{}, 0, 1'000'000'000};
  CollectingConsumer finish() {
    s.finish(Metadata{});
    CollectingConsumer c;
    open_trace(path)->read(c);  // strict: every event valid
    return c;
  }
};

// "a0 T1 f0 ...": the records, without the leading time stamp.
std::string shape(const CollectingConsumer& c) {
  std::string out;
  for (const Event& e : c.all) {
    if (e.kind == EventKind::Time) continue;
    if (!out.empty()) out += ' ';
    out += std::string(kind_name(e.kind));
    out += std::to_string(e.kind == EventKind::Thread || e.kind == EventKind::Collect ? e.size : e.slot.value);
    if (e.kind == EventKind::Realloc) out += ":" + std::to_string(e.size);
  }
  return out;
}

TEST(RecordStream, ThreadsMergeInSequenceOrder) {
  Stream t;
  // Thread 2's chunk comes first but holds numbers 1 and 3: nothing can go out before 0.
  ASSERT_TRUE(t.s.feed(chunk(2, {rec(1, w::kMalloc, 0xA0, 10), rec(3, w::kFree, 0xB0)})));
  EXPECT_EQ(t.s.records(), 0u);
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kMalloc, 0xB0, 20), rec(2, w::kFree, 0xA0)})));
  CollectingConsumer c = t.finish();
  // B gets slot 0, A slot 1; A freed by thread 1, B by thread 2.
  EXPECT_EQ(shape(c), "T1 a0 T2 a1 T1 f1 T2 f0");
  EXPECT_EQ(t.s.counts().threads, 2u);
  EXPECT_EQ(t.s.counts().calls, 4u);
}

TEST(RecordStream, ReallocKeepsItsBlockWhileAnotherThreadGetsTheOldAddress) {
  Stream t;
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kMalloc, 0x100, 100), rec(1, w::kReallocFrom, 0x100),
                                 rec(3, w::kReallocTo, 0x900, 200), rec(5, w::kFree, 0x900)})));
  ASSERT_TRUE(t.s.feed(chunk(2, {rec(2, w::kMalloc, 0x100, 50), rec(4, w::kFree, 0x100)})));
  CollectingConsumer c = t.finish();
  // Thread 2's block at the old address is a new one; the realloc'ed block keeps slot 0.
  EXPECT_EQ(shape(c), "T1 a0 T2 a1 T1 r0:200 T2 f1 T1 f0");
  EXPECT_EQ(t.s.blocks().unknown_frees, 0u);
  EXPECT_EQ(t.s.blocks().reused_addresses, 0u);
}

TEST(RecordStream, UnknownAndMissedFreesAreCountedNeverWritten) {
  Stream t;
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kFree, 0x50),  // allocated before recording began
                                 rec(1, w::kMalloc, 0x60, 8),
                                 rec(2, w::kCalloc, 0x60, 16),  // 0x60's free went unseen
                                 rec(3, w::kReallocFrom, 0x70), rec(4, w::kReallocTo, 0x80, 32)})));
  CollectingConsumer c = t.finish();
  EXPECT_EQ(shape(c), "T1 a0 f0 a0 a1");
  EXPECT_EQ(t.s.blocks().unknown_frees, 1u);
  EXPECT_EQ(t.s.blocks().unknown_reallocs, 1u);  // recorded as an allocation
  EXPECT_EQ(t.s.blocks().reused_addresses, 1u);
  EXPECT_EQ(*c.metadata.get("record.unknown_frees"), "1");
  EXPECT_EQ(*c.metadata.get("record.unknown_reallocs"), "1");
  EXPECT_EQ(*c.metadata.get("record.reused_addresses"), "1");
}

TEST(RecordStream, FailedReallocKeepsTheBlockZeroSizeFreesIt) {
  Stream t;
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kMalloc, 0x10, 8), rec(1, w::kReallocFrom, 0x10),
                                 rec(2, w::kReallocTo, 0, 1 << 20),  // failed: 0x10 as it was
                                 rec(3, w::kReallocarrayFrom, 0x10), rec(4, w::kReallocarrayTo, 0, 0),  // freed
                                 rec(5, w::kFree, 0x10)})));  // so this one is unknown
  CollectingConsumer c = t.finish();
  EXPECT_EQ(shape(c), "T1 a0 f0");
  EXPECT_EQ(t.s.counts().failed_reallocs, 1u);
  EXPECT_EQ(t.s.blocks().unknown_frees, 1u);
  EXPECT_EQ(*c.metadata.get("record.calls.realloc"), "1");
  EXPECT_EQ(*c.metadata.get("record.calls.reallocarray"), "1");
  EXPECT_EQ(*c.metadata.get("record.calls.malloc"), "1");
  EXPECT_EQ(*c.metadata.get("record.calls.free"), "1");
}

TEST(RecordStream, SitesBecomeTags) {
  Stream t;
  std::vector<w::Record> recs = site(0x1234, "/usr/lib/libfoo.so.1", "_Z3fooi", 0x10);
  std::vector<w::Record> bare = site(0x5678, "/opt/bin/prog", "", 0x2a);
  recs.insert(recs.end(), bare.begin(), bare.end());
  recs.push_back(rec(0, w::kMalloc, 0x100, 8, 0x1234));
  recs.push_back(rec(1, w::kMalloc, 0x200, 8, 0x5678));
  recs.push_back(rec(2, w::kMalloc, 0x300, 8, 0x9abc));  // never named
  recs.push_back(rec(3, w::kMalloc, 0x400, 8));          // no caller: no tag
  ASSERT_TRUE(t.s.feed(chunk(1, recs)));
  CollectingConsumer c = t.finish();
  std::vector<std::string> tags;
  for (const Event& e : c.all)
    if (e.kind == EventKind::Alloc) tags.emplace_back(c.str(e));
  EXPECT_EQ(tags, (std::vector<std::string>{"libfoo.so.1!foo(int)+0x10", "prog+0x2a", "0x9abc", ""}));
}

TEST(RecordStream, ChunksCutAnywhere) {
  std::string bytes = chunk(1, {rec(0, w::kMalloc, 0x10, 8), rec(1, w::kMalloc, 0x20, 16)}) +
                      chunk(2, {rec(2, w::kFree, 0x10), rec(3, w::kFree, 0x20)});
  Stream whole, bytewise;
  ASSERT_TRUE(whole.s.feed(bytes.data(), bytes.size()));
  for (char b : bytes) ASSERT_TRUE(bytewise.s.feed(&b, 1));
  EXPECT_EQ(shape(whole.finish()), "T1 a0 a1 T2 f0 f1");
  EXPECT_EQ(shape(bytewise.finish()), "T1 a0 a1 T2 f0 f1");
}

TEST(RecordStream, AnIncompleteLastChunkIsCounted) {
  Stream t;
  std::string first = chunk(1, {rec(0, w::kMalloc, 0x10, 8)});
  std::string second = chunk(1, {rec(1, w::kFree, 0x10)});
  ASSERT_TRUE(t.s.feed(first + second.substr(0, second.size() - 5)));
  CollectingConsumer c = t.finish();
  EXPECT_EQ(shape(c), "T1 a0");
  EXPECT_EQ(t.s.counts().lost_bytes, second.size() - 5);
}

TEST(RecordStream, BytesThatAreNotAChunkStopTheStream) {
  Stream t;
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kMalloc, 0x10, 8)})));
  EXPECT_FALSE(t.s.feed(std::string(64, 'x')));
  EXPECT_FALSE(t.s.feed(chunk(1, {rec(1, w::kFree, 0x10)})));
  EXPECT_EQ(shape(t.finish()), "T1 a0");
}

TEST(RecordStream, TicksBecomeMonotoneNanosecondsAtTheResolution) {
  const std::string path = testing::temp_path("clock.heaplay");
  // Recording started at 1,000,000 ns; one `t` per 100 ns at most.
  RecordStream s(path, {}, Metadata{}, 1'000'000, 100);
  // The TSC read 1000 at 1,000,000 ns and 5000 at 1,002,000 ns: 0.5 ns a tick.
  s.set_clock(w::ClockKind::Tsc, 1000, 1'000'000);
  auto at = [](uint64_t seq, uint64_t addr, uint64_t ticks) {
    w::Record r = rec(seq, w::kMalloc, addr, 8);
    r.ticks = ticks;
    return r;
  };
  ASSERT_TRUE(s.feed(chunk(1, {at(0, 0x10, 3000), at(1, 0x20, 3100), at(3, 0x40, 3400)}, 5000, 1'002'000)));
  // Thread 2 read its clock a little earlier than thread 1's record 1: time never goes back.
  ASSERT_TRUE(s.feed(chunk(2, {at(2, 0x30, 3050)}, 5000, 1'002'000)));
  s.finish(Metadata{});
  CollectingConsumer c;
  open_trace(path)->read(c);
  std::vector<uint64_t> times;
  for (const Event& e : c.all)
    if (e.kind == EventKind::Time) times.push_back(e.size);
  // 1000 (tick 3000), 1050 and 1050 (under 100 ns later: no record), 1200.
  EXPECT_EQ(times, (std::vector<uint64_t>{1000, 1200}));
}

TEST(RecordStream, ANewImageFreesTheOldOnesBlocksAndIsMarked) {
  Stream t;
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kMalloc, 0x10, 8), rec(1, w::kMalloc, 0x20, 8), rec(2, w::kFree, 0x10),
                                 rec(3, w::kMalloc, 0x30, 8)})));
  t.s.new_image("exec prog");
  // The new image numbers from 0 again and may use the same addresses.
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(0, w::kMalloc, 0x20, 4)})));
  CollectingConsumer c = t.finish();
  EXPECT_EQ(shape(c), "T1 a0 a1 f0 a0 f0 f1 m0 a1");
  EXPECT_EQ(t.s.counts().images, 2u);
  EXPECT_EQ(*c.metadata.get("record.images"), "2");
}

TEST(RecordStream, ANumberThatNeverComesIsSkippedOnceTooMuchWaits) {
  Stream t;
  t.s.set_max_held(2);
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(1, w::kMalloc, 0x10, 8), rec(2, w::kFree, 0x10)})));
  EXPECT_EQ(t.s.records(), 0u);  // waiting for 0
  ASSERT_TRUE(t.s.feed(chunk(1, {rec(3, w::kMalloc, 0x20, 8)})));
  EXPECT_GT(t.s.records(), 0u);  // three waiting: 0 is given up
  CollectingConsumer c = t.finish();
  EXPECT_EQ(shape(c), "T1 a0 f0 a0");
  EXPECT_EQ(*c.metadata.get("record.lost_records"), "1");
}

}  // namespace
}  // namespace heaplay
