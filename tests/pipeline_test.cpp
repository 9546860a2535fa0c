// pipeline_test.cpp: PipelinedConsumer keeps order, surfaces errors, never hangs.
#include <gtest/gtest.h>

#include <stdexcept>

#include "reports/stats.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/pipeline.hpp"
#include "traces/synth_pylike.hpp"

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
