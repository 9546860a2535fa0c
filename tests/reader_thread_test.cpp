// reader_thread_test.cpp: ReaderThread keeps order, surfaces errors both
// ways, stops the reader cleanly, never hangs, and delivers without malloc.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/malloc_count.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/reader_thread.hpp"
#include "traces/synth_pylike.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

TEST(ReaderThread, SameEventsInTheSameOrderAcrossBufferBoundaries) {
  CollectingConsumer direct, threaded;
  const ReadSummary direct_summary = make_pylike_source(300'000, 5)->read(direct);
  ReadSummary summary;
  {
    // Small, odd-sized buffers: the reader's batches straddle buffer boundaries.
    ReaderThread reading([] { return make_pylike_source(300'000, 5); }, 1001, 3);
    summary = reading.run(threaded);
  }
  ASSERT_TRUE(threaded.began && threaded.ended);
  ASSERT_EQ(threaded.all.size(), direct.all.size());
  for (size_t i = 0; i < direct.all.size(); ++i)
    ASSERT_TRUE(testing::same_event(threaded.all[i], direct.all[i])) << i;
  EXPECT_EQ(summary.events, 300'000u);
  EXPECT_EQ(summary.events, direct_summary.events);
  EXPECT_EQ(summary.deaths, direct_summary.deaths);
  EXPECT_EQ(threaded.summary.events, summary.events);
  EXPECT_EQ(threaded.names, direct.names);
}

TEST(ReaderThread, OpensOnItsThreadAndShowsTheInfoBeforeRun) {
  const std::string path = testing::temp_path("reader_thread.trace");
  testing::write_file(path, "a 0x10 64 dict\nr 0x10 128\nf 0x10\n");
  std::thread::id opened_on;
  ReaderThread reading([&] {
    opened_on = std::this_thread::get_id();
    return open_trace(path);
  });
  EXPECT_NE(opened_on, std::this_thread::get_id());
  EXPECT_EQ(reading.info().path, path);
  EXPECT_EQ(reading.info().format, TraceFormat::Text);
  CollectingConsumer c;
  EXPECT_EQ(reading.run(c).events, 3u);
  EXPECT_EQ(c.all.size(), 3u);
  EXPECT_EQ(c.info_copy, path);
  EXPECT_EQ(reading.info().path, path);  // still there after run()
}

TEST(ReaderThread, AnEmptyTraceStillBeginsAndEnds) {
  const std::string path = testing::temp_path("empty.trace");
  testing::write_file(path, "");
  ReaderThread reading([&] { return open_trace(path); });
  CollectingConsumer c;
  EXPECT_EQ(reading.run(c).events, 0u);
  EXPECT_TRUE(c.began && c.ended);
  EXPECT_TRUE(c.all.empty());
}

TEST(ReaderThread, AnOpenErrorLeavesTheConstructor) {
  try {
    ReaderThread reading([] { return open_trace(testing::temp_path("does-not-exist.trace")); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does-not-exist.trace"), std::string::npos) << e.what();
  }
}

// A reader that delivers batches of 5000 events, then fails halfway, or runs
// (nearly) forever unless stopped. Counts what it produced; says when it dies.
struct ScriptedReader : TraceReader {
  TraceInfo info_;
  StringTable strings_;
  uint64_t batches, fail_after;
  std::atomic<uint64_t>* produced;
  std::atomic<bool>* destroyed;
  ScriptedReader(uint64_t n, uint64_t fail, std::atomic<uint64_t>* p, std::atomic<bool>* d)
      : batches(n), fail_after(fail), produced(p), destroyed(d) {
    info_.strings = &strings_;
  }
  ~ScriptedReader() override { destroyed->store(true); }
  const TraceInfo& info() const override { return info_; }
  ReadSummary read(EventConsumer& c) override {
    c.begin(info_);
    std::vector<Event> batch(5000);
    for (uint64_t i = 0; i < batches; ++i) {
      if (i == fail_after) throw Error("bad input halfway");
      for (size_t k = 0; k < batch.size(); ++k) batch[k].size = i * batch.size() + k;  // the event's index
      c.events(batch);
      produced->fetch_add(batch.size());
    }
    ReadSummary s;
    s.events = batches * batch.size();
    c.end(info_, s);
    return s;
  }
};

TEST(ReaderThread, TheReadersErrorComesAfterTheEventsBeforeIt) {
  std::atomic<uint64_t> produced{0};
  std::atomic<bool> destroyed{false};
  CollectingConsumer c;
  {
    ReaderThread reading([&] { return std::make_unique<ScriptedReader>(100, 50, &produced, &destroyed); }, 1000,
                         2);
    try {
      reading.run(c);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "bad input halfway");
      EXPECT_EQ(e.exit_status(), kExitBadInput);
    }
  }
  EXPECT_TRUE(destroyed.load());
  EXPECT_TRUE(c.began);
  EXPECT_FALSE(c.ended);  // end() is not called after a failure
  ASSERT_EQ(c.all.size(), 250'000u);  // every event delivered before the error
  for (size_t i = 0; i < c.all.size(); ++i) ASSERT_EQ(c.all[i].size, i);
}

// Throws on the n-th event it sees (0: in begin()).
struct Failing : EventConsumer {
  uint64_t seen = 0, fail_at;
  bool ended = false;
  explicit Failing(uint64_t n) : fail_at(n) {}
  void begin(const TraceInfo&) override {
    if (fail_at == 0) throw Error("consumer failed", kExitFailure);
  }
  void events(std::span<const Event> batch) override {
    seen += batch.size();
    if (seen >= fail_at) throw Error("consumer failed", kExitFailure);
  }
  void end(const TraceInfo&, const ReadSummary&) override { ended = true; }
};

TEST(ReaderThread, TheConsumersErrorStopsTheReader) {
  for (uint64_t at : {0ull, 1ull, 5000ull, 123'457ull}) {
    std::atomic<uint64_t> produced{0};
    std::atomic<bool> destroyed{false};
    Failing consumer(at);
    {
      // Far more than the test could wait for, unless the reader stops.
      ReaderThread reading(
          [&] { return std::make_unique<ScriptedReader>(uint64_t{1} << 40, UINT64_MAX, &produced, &destroyed); },
          1000, 3);
      try {
        reading.run(consumer);
        FAIL() << "no error for " << at;
      } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "consumer failed");
        EXPECT_EQ(e.exit_status(), kExitFailure);
      }
      // run() left only after the reader unwound: it produces nothing more.
      const uint64_t after_run = produced.load();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_EQ(produced.load(), after_run);
      // At most the buffers ahead, the one being filled and the batch in hand.
      EXPECT_LE(after_run, at + 3 * 1000 + 2 * 5000) << at;
    }
    EXPECT_TRUE(destroyed.load());
    EXPECT_FALSE(consumer.ended);
  }
}

TEST(ReaderThread, TheConsumersErrorInEndLeavesRun) {
  struct FailingEnd : EventConsumer {
    uint64_t n = 0;
    void events(std::span<const Event> batch) override { n += batch.size(); }
    void end(const TraceInfo&, const ReadSummary&) override { throw Error("end failed", kExitFailure); }
  } consumer;
  ReaderThread reading([] { return make_pylike_source(10'000, 2, false); }, 1000, 2);
  EXPECT_THROW(reading.run(consumer), Error);
  EXPECT_EQ(consumer.n, 10'000u);
}

TEST(ReaderThread, DestroyedBeforeRunNeverReads) {
  std::atomic<uint64_t> produced{0};
  std::atomic<bool> destroyed{false};
  {
    ReaderThread reading([&] { return std::make_unique<ScriptedReader>(1000, UINT64_MAX, &produced, &destroyed); });
  }
  EXPECT_EQ(produced.load(), 0u);
  EXPECT_TRUE(destroyed.load());
}

TEST(ReaderThread, RunTwiceIsAnError) {
  ReaderThread reading([] { return make_pylike_source(100, 1); });
  testing::CountingConsumer c;
  reading.run(c);
  EXPECT_THROW(reading.run(c), Error);
}

// Counts the calling thread's mallocs from the end of begin() to the start of end().
struct MallocWatch : EventConsumer {
  uint64_t at_begin = 0, at_end = 0, seen = 0, calls = 0;
  void begin(const TraceInfo&) override { at_begin = testing::thread_malloc_calls(); }
  void events(std::span<const Event> batch) override {
    seen += batch.size();
    ++calls;
  }
  void end(const TraceInfo&, const ReadSummary&) override { at_end = testing::thread_malloc_calls(); }
};

TEST(ReaderThread, DeliversWithoutMallocOnTheCallingThread) {
  if (!testing::kGlibcMalloc) GTEST_SKIP() << "mallocs are not counted under a sanitizer";
  MallocWatch watch;
  ReaderThread reading([] { return make_pylike_source(400'000, 7, false); }, 4096, 4);
  reading.run(watch);
  EXPECT_EQ(watch.seen, 400'000u);
  EXPECT_GT(watch.calls, 90u);
  EXPECT_EQ(watch.at_end - watch.at_begin, 0u);
}

}  // namespace
}  // namespace heaplay
