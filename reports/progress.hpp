// progress.hpp: the progress bar on stderr (`heaplay replay` and `compare`).
//
// One line, redrawn in place ("\r", erase to the end of the line): with a
// known total, "[####    ]  42% 1.2M/3.0M events, 1.0M/s, 0:02 left";
// without one, "1.2M events, 1.0M/s, 0:03 elapsed". The callers draw it only
// when stderr is a terminal and neither --no-progress nor -q was given, and
// erase it before their output; it never goes to stdout.
//
// ProgressBar draws what it is given (at most every 200 ms); ProgressThread
// (replay, one process) draws a counter the Replayer stores once per batch
// (MetricsOptions::progress) from a small thread, every 200 ms. The bar's
// line is erased before a log line (the CLI's log sink writes through
// progress_write_log()).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace heaplay {

// "m:ss", or "h:mm:ss" from an hour, rounded to the second.
std::string clock_text(double seconds);
// 950, 1.2k, 3.4M, 5.6G.
std::string short_count(double v);
// The bar's text (without "\r" and the suffix) for `done` records after
// `seconds`, of `total` when known (0 or absent: no total).
std::string progress_text(double done, std::optional<double> total, double seconds);

class ProgressBar {
 public:
  explicit ProgressBar(bool show);
  ~ProgressBar() { clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Redraws unless the last draw was less than 200 ms ago.
  void draw(double done, std::optional<double> total, std::string_view suffix = {});
  void clear();  // erases the line, if drawn

 private:
  bool show_;
  std::chrono::steady_clock::time_point start_, last_{};
  bool drawn_ = false;
};

class ProgressThread {
 public:
  ProgressThread(const std::atomic<uint64_t>& counter, std::optional<uint64_t> total);
  ~ProgressThread() { stop(); }
  ProgressThread(const ProgressThread&) = delete;
  ProgressThread& operator=(const ProgressThread&) = delete;
  void stop();  // joins the thread and erases the line; idempotent

 private:
  const std::atomic<uint64_t>& counter_;
  std::optional<uint64_t> total_;
  ProgressBar bar_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Erases the bar's line if one is drawn; safe from any thread.
void progress_erase_line();
// Writes `text` (a whole log line) to stderr, the bar's line erased first,
// under the bar's lock (the bar is redrawn at its next tick).
void progress_write_log(std::string_view text);

}  // namespace heaplay
