// pipeline_test.cpp: PipelinedConsumer keeps order, surfaces errors, never hangs.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reports/stats.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/pipeline.hpp"
#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

TEST(Pipeline, SameEventsInTheSameOrderAcrossBufferBoundaries) {
  CollectingConsumer direct, piped;
  make_pylike_source(300'000, 5)->read(direct);
  {
    // Small, odd-sized buffers: batches straddle buffer boundaries.
    PipelinedConsumer pipe(piped, 1001, 3);
    make_pylike_source(300'000, 5)->read(pipe);
  }
  ASSERT_TRUE(piped.began && piped.ended);
  ASSERT_EQ(piped.all.size(), direct.all.size());
  for (size_t i = 0; i < direct.all.size(); ++i) ASSERT_TRUE(testing::same_event(piped.all[i], direct.all[i])) << i;
  EXPECT_EQ(piped.summary.events, 300'000u);
  EXPECT_EQ(piped.names, direct.names);
}

// Readers build their batches in the buffer the pipeline lends
// (EventConsumer::lend). Tiny buffers (7 events: the hot loops' room check
// and long cascades cross a lent buffer's end on nearly every frame) and
// each reader: the events must be those read directly, in order.
TEST(Pipeline, ReadersBuildingInLentBuffersDeliverTheSameEvents) {
  const std::string native = testing::temp_path("lend.heaplay"), text = testing::temp_path("lend.trace");
  for (auto [path, format] : {std::pair{native, OutputFormat::Native}, std::pair{text, OutputFormat::Text}}) {
    auto writer = make_writer(path, format);
    make_pylike_source(60'000, 3)->read(*writer);
    writer->commit();
  }
  for (const std::string& path : {native, text}) {
    CollectingConsumer direct, piped;
    open_trace(path)->read(direct);
    {
      PipelinedConsumer pipe(piped, 7, 2);
      open_trace(path)->read(pipe);
    }
    ASSERT_TRUE(piped.ended) << path;
    ASSERT_EQ(piped.all.size(), direct.all.size()) << path;
    for (size_t i = 0; i < direct.all.size(); ++i)
      ASSERT_TRUE(testing::same_event(piped.all[i], direct.all[i])) << path << " event " << i;
    EXPECT_EQ(piped.summary.deaths, direct.summary.deaths);
    EXPECT_GT(direct.summary.deaths, 1000u) << path;  // objects died, cascades among them
  }
}

// A consumer that lends storage of its own: EventBatch must build there,
// flush at its capacity, and take new storage after every flush.
struct Lending : EventConsumer {
  std::vector<Event> store[2] = {std::vector<Event>(5), std::vector<Event>(5)};
  int next = 0, lent = 0;
  const Event* out = nullptr;
  std::vector<Event> got;
  Event* lend(size_t& capacity) override {
    capacity = 5;
    ++lent;
    out = store[next].data();
    next ^= 1;
    return const_cast<Event*>(out);
  }
  void events(std::span<const Event> batch) override {
    EXPECT_EQ(batch.data(), out);  // built where it was lent
    EXPECT_LE(batch.size(), 5u);
    got.insert(got.end(), batch.begin(), batch.end());
  }
};

TEST(Pipeline, EventBatchBuildsInLentStorage) {
  Lending c;
  EventBatch batch(c, 1000);  // the lent capacity wins
  for (uint32_t i = 0; i < 12; ++i) {
    Event& e = batch.next();
    e = Event{};
    e.slot = SlotId{i};
    batch.push(e);
  }
  batch.flush();
  ASSERT_EQ(c.got.size(), 12u);
  for (uint32_t i = 0; i < 12; ++i) EXPECT_EQ(c.got[i].slot.value, i);
  EXPECT_EQ(c.lent, 4);  // at the start and after each of the three flushes
}

TEST(Pipeline, StatsAreIdenticalThroughThePipeline) {
  StatsConsumer direct, piped;
  make_pylike_source(200'000, 9)->read(direct);
  {
    PipelinedConsumer pipe(piped, 4096, 4);
    make_pylike_source(200'000, 9)->read(pipe);
  }
  EXPECT_EQ(render_stats(piped.finish(), Format::Json), render_stats(direct.finish(), Format::Json));
}

// Throws on the n-th event it sees.
struct Failing : EventConsumer {
  uint64_t seen = 0, fail_at;
  bool ended = false;
  explicit Failing(uint64_t n) : fail_at(n) {}
  void events(std::span<const Event> batch) override {
    seen += batch.size();
    if (seen >= fail_at) throw Error("consumer failed", kExitFailure);
  }
  void end(const TraceInfo&, const ReadSummary&) override { ended = true; }
};

TEST(Pipeline, AnInnerErrorReachesTheReaderThread) {
  for (uint64_t at : {1ull, 5000ull, 199'999ull}) {
    Failing inner(at);
    PipelinedConsumer pipe(inner, 1000, 2);
    try {
      make_pylike_source(200'000, 1)->read(pipe);
      FAIL() << "no error for " << at;
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "consumer failed");
      EXPECT_EQ(e.exit_status(), kExitFailure);
    }
    EXPECT_FALSE(inner.ended);  // end() is not called after a failure
  }
}

// A reader that fails halfway: the pipeline is destroyed without end().
struct HalfReader : TraceReader {
  TraceInfo info_;
  StringTable strings_;
  HalfReader() { info_.strings = &strings_; }
  const TraceInfo& info() const override { return info_; }
  ReadSummary read(EventConsumer& c) override {
    c.begin(info_);
    std::vector<Event> batch(5000);
    for (int i = 0; i < 50; ++i) c.events(batch);
    throw Error("bad input halfway");
  }
};

TEST(Pipeline, DestroyedEarlyStopsTheWorker) {
  testing::CountingConsumer inner;
  EXPECT_THROW(
      {
        PipelinedConsumer pipe(inner, 1000, 2);
        HalfReader().read(pipe);
      },
      Error);
  EXPECT_LE(inner.n, 250'000u);
}

}  // namespace
}  // namespace heaplay
