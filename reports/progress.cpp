// progress.cpp: the progress bar (progress.hpp).
#include "reports/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace heaplay {

namespace {

// Drawing and erasing under one lock, so that a log line can erase the bar
// another thread draws; `drawn`: a bar's text is on the line now.
std::mutex g_line_mutex;
bool g_line_drawn = false;

void write_stderr(std::string_view s) {
  while (!s.empty()) {
    ssize_t w = ::write(2, s.data(), s.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s.remove_prefix(static_cast<size_t>(w));
  }
}

}  // namespace

std::string clock_text(double seconds) {
  auto s = static_cast<uint64_t>(std::max(0.0, seconds) + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string short_count(double v) {
  if (v >= 1e9) return fmt::format("{:.1f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string progress_text(double done, std::optional<double> total, double seconds) {
  const double rate = seconds > 0 ? done / seconds : 0;
  if (total && *total > 0) {
    const double share = std::min(1.0, done / *total);
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(share * kWidth);
    return fmt::format("[{}{}] {:3.0f}% {}/{} events, {}/s, {} left", std::string(filled, '#'),
                       std::string(kWidth - filled, ' '), share * 100, short_count(done), short_count(*total),
                       short_count(rate), rate > 0 ? clock_text((*total - std::min(done, *total)) / rate) : "?");
  }
  return fmt::format("{} events, {}/s, {} elapsed", short_count(done), short_count(rate), clock_text(seconds));
}

ProgressBar::ProgressBar(bool show) : show_(show), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::draw(double done, std::optional<double> total, std::string_view suffix) {
  if (!show_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  drawn_ = true;
  const std::string line = progress_text(done, total, std::chrono::duration<double>(now - start_).count());
  std::lock_guard lock(g_line_mutex);
  write_stderr(fmt::format("\r\033[K{}{}", line, suffix));
  g_line_drawn = true;
}

void ProgressBar::clear() {
  if (show_ && drawn_) progress_erase_line();
}

void progress_erase_line() {
  std::lock_guard lock(g_line_mutex);
  if (!g_line_drawn) return;
  write_stderr("\r\033[K");
  g_line_drawn = false;
}

void progress_write_log(std::string_view text) {
  std::lock_guard lock(g_line_mutex);
  if (g_line_drawn) write_stderr("\r\033[K");
  g_line_drawn = false;
  write_stderr(text);
}

ProgressThread::ProgressThread(const std::atomic<uint64_t>& counter, std::optional<uint64_t> total)
    : counter_(counter), total_(total), bar_(true) {
  thread_ = std::thread([this] {
    std::unique_lock lock(m_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; })) {
      std::optional<double> t;
      if (total_) t = static_cast<double>(*total_);
      bar_.draw(static_cast<double>(counter_.load(std::memory_order_relaxed)), t);
    }
  });
}

void ProgressThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  bar_.clear();
}

}  // namespace heaplay
