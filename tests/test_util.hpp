// test_util.hpp: helpers shared by unit tests and benchmarks.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "reports/stats.hpp"
#include "traces/consumer.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::testing {

// Keeps every event (Death included), the info and the summary.
class CollectingConsumer : public EventConsumer {
 public:
  void begin(const TraceInfo& info) override {
    began = true;
    info_copy = info.path;
    strings = info.strings;
  }
  void events(std::span<const Event> batch) override { all.insert(all.end(), batch.begin(), batch.end()); }
  void end(const TraceInfo& info, const ReadSummary& s) override {
    summary = s;
    metadata = info.metadata;
    // The reader (and its table) may be gone by the time a test looks.
    for (size_t i = 0; strings && i < strings->size(); ++i)
      names.emplace_back(strings->at(StringId{static_cast<uint32_t>(i)}));
    strings = nullptr;
    ended = true;
  }
  // The type or label string of an event (after end()).
  std::string_view str(const Event& e) const {
    if (e.str.value >= names.size()) return {};
    return names[e.str.value];
  }

  std::vector<Event> all;
  ReadSummary summary;
  Metadata metadata;
  const StringTable* strings = nullptr;  // valid between begin() and end()
  std::vector<std::string> names;        // the string table, copied at end()
  std::string info_copy;
  bool began = false, ended = false;
};

// Counts events (benchmarks: a consumer that does no work of its own).
class CountingConsumer final : public EventConsumer {
 public:
  void events(std::span<const Event> batch) override { n += batch.size(); }
  uint64_t n = 0;
};

// Writes content to a fresh temporary file (named name) and reads it with
// open_trace, in batches of batch_events (small ones exercise batch edges).
CollectingConsumer read_content(std::string_view content, bool lenient = false, std::string_view name = "t.trace",
                                size_t batch_events = 2048);
// What reading content fails with, after the file's path: ":LINE: what", or
// "(no error)". The error must have exit status 2.
std::string error_of_content(std::string_view content, std::string_view name = "t.trace");

// Everything one read of a trace shows: what the reader says of its input,
// what a consumer receives, or the error (message and exit status).
struct ReadOutcome {
  std::string path;  // TraceInfo::path
  TraceFormat format = TraceFormat::Text;
  std::string compression;
  std::vector<Event> events;
  std::vector<std::string> strings;
  ReadSummary summary;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::string error;
  int exit_status = 0;
};
// open_trace(path) read into a CollectingConsumer (prefetch: ReadOptions::prefetch).
ReadOutcome read_outcome(const std::string& path, bool prefetch);

// Reads the trace at in into a new file named name, written in format
// (native: frames of frame_events); the new file's path.
std::string convert_file(const std::string& in, OutputFormat format, std::string_view name,
                         uint32_t frame_events = 1u << 16);

// The message of the Error f throws, which must be bad input (else "(exit
// status N, not 2)"), or "(no error)".
std::string bad_input_of(const std::function<void()>& f);

// Benchmarks: the number of records in $HEAPLAY_BENCH_EVENTS, or fallback.
uint64_t bench_events(uint64_t fallback);

// A fresh path under a per-process temporary directory (removed at exit).
std::string temp_path(std::string_view name);
void write_file(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);

// Events compare equal field by field.
bool same_event(const Event& a, const Event& b);

// Runs a shell command; its standard output, and its exit status (-1 when
// a signal ended it) in *status.
std::string run(const std::string& cmd, int* status = nullptr);

// `heaplay stats` of a file; a metadata value, or "(absent)".
TraceStats stats_of(const std::string& path, bool lenient = false);
std::string meta(const TraceStats& s, std::string_view key);

}  // namespace heaplay::testing
