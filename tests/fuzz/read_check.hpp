// read_check.hpp: reading one input three ways and comparing the outcomes,
// for the reader targets (read_fuzz.cpp, native_frames_fuzz.cpp).
//
//   strict, on one thread    the reference outcome; its events also go
//                            through StatsConsumer (the `stats` command's
//                            consumer, which indexes by slot without checks)
//   strict, prefetching      must give the very same outcome: the same
//                            events, summary, or error message
//   lenient                  when strict succeeded, the same events and no
//                            anomalies; otherwise success or an Error of
//                            status 2 (fuzz_util.hpp's rule)
// Every read goes into a CheckingConsumer (the consumer contract).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "tests/fuzz/fuzz_util.hpp"
#include "reports/stats.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::fuzz {

using Opener = std::function<std::unique_ptr<TraceReader>(const std::string& path, const ReadOptions& options)>;

// Forwards every call to two consumers.
class Tee final : public EventConsumer {
 public:
  Tee(EventConsumer& a, EventConsumer& b) : a_(a), b_(b) {}
  void begin(const TraceInfo& info) override {
    a_.begin(info);
    b_.begin(info);
  }
  void events(std::span<const Event> batch) override {
    a_.events(batch);
    b_.events(batch);
  }
  void end(const TraceInfo& info, const ReadSummary& summary) override {
    a_.end(info, summary);
    b_.end(info, summary);
  }

 private:
  EventConsumer &a_, &b_;
};

// StatsConsumer, fed until it throws. Its own errors (a byte total past
// 2^64) must follow the rule for errors, but must not change the reader's
// outcome, which the three reads compare.
class GuardedStats final : public EventConsumer {
 public:
  explicit GuardedStats(const std::string& path) : path_(path) {}
  void begin(const TraceInfo& info) override { guard([&] { stats_.begin(info); }); }
  void events(std::span<const Event> batch) override { guard([&] { stats_.events(batch); }); }
  void end(const TraceInfo& info, const ReadSummary& summary) override {
    guard([&] {
      stats_.end(info, summary);
      (void)stats_.finish();
    });
  }

 private:
  template <class F>
  void guard(F f) {
    if (failed_) return;
    try {
      f();
    } catch (const Error& e) {
      check_error(e, path_);
      failed_ = true;
    }
  }
  const std::string& path_;
  StatsConsumer stats_;
  bool failed_ = false;
};

struct ReadOutcome {
  bool ok = false;
  std::string error;  // when !ok
  uint64_t hash = 0, events = 0, deaths = 0, anomalies = 0;
  bool truncated = false;
  uint64_t truncated_at = 0;
  bool operator==(const ReadOutcome&) const = default;
};

inline ReadOutcome read_once(const std::string& path, const Opener& open, ReadOptions options, bool stats) {
  ReadOutcome o;
  CheckingConsumer check;
  try {
    auto reader = open(path, options);
    ReadSummary s;
    if (stats) {
      GuardedStats st(path);
      Tee both(check, st);
      s = reader->read(both);
    } else {
      s = reader->read(check);
    }
    if (!check.ended()) finding("consumer contract", "read() returned without end()");
    o = ReadOutcome{true, "", check.hash(), s.events, s.deaths, s.anomalies.total(), s.truncated, s.truncated_at};
  } catch (const Error& e) {
    check_error(e, path);
    o.error = e.what();
  }
  return o;
}

// batch_events: small batches put more batch edges in a small input.
inline void read_three_ways(const std::string& path, const Opener& open, size_t batch_events) {
  ReadOptions options;
  options.batch_events = batch_events;
  const ReadOutcome strict = read_once(path, open, options, true);
  options.prefetch = true;
  const ReadOutcome prefetched = read_once(path, open, options, false);
  if (!(prefetched == strict))
    finding("prefetching changed the outcome", strict.ok ? prefetched.error : strict.error);
  options.prefetch = false;
  options.lenient = true;
  const ReadOutcome lenient = read_once(path, open, options, false);
  if (strict.ok && strict.anomalies != 0) finding("strict reading counted anomalies", "");
  if (strict.ok && !(lenient == strict)) finding("lenient reading of a valid trace differs from strict", lenient.error);
}

}  // namespace heaplay::fuzz
