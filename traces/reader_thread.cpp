// reader_thread.cpp: see reader_thread.hpp.
#include "traces/reader_thread.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

ReaderThread::Ring::Ring(size_t n, size_t per)
    : buffers(std::clamp<size_t>(n, 2, std::size(sizes))),
      buffer_events(std::max<size_t>(per, 1)),
      bytes(buffers * buffer_events * sizeof(Event)) {
  // Prefaulted: the pages count in the resident set before any measurement starts.
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) throw Error(fmt::format("cannot map {} bytes of read buffers", bytes), kExitFailure);
  events = static_cast<Event*>(m);
}

ReaderThread::Ring::~Ring() { munmap(events, bytes); }

// The consumer the reader writes into, on the worker: copies batches into the
// ring and hands each full buffer over.
class ReaderThread::Feed final : public EventConsumer {
 public:
  explicit Feed(ReaderThread& t) : t_(t) {}

  void begin(const TraceInfo& info) override {
    std::unique_lock lock(t_.mu_);
    t_.begin_info_ = &info;
    t_.to_caller_.notify_one();
    t_.worker_wait(lock, [this] { return t_.begin_info_ == nullptr; });
  }

  void events(std::span<const Event> batch) override {
    Ring& ring = t_.ring_;
    while (!batch.empty()) {
      // filled_ changes only on this thread.
      Event* buf = ring.buffer(t_.filled_);
      const size_t take = std::min(ring.buffer_events - n_, batch.size());
      std::memcpy(buf + n_, batch.data(), take * sizeof(Event));
      n_ += take;
      batch = batch.subspan(take);
      if (n_ == ring.buffer_events) flush();
    }
  }

  void end(const TraceInfo& info, const ReadSummary& summary) override {
    flush();
    std::lock_guard lock(t_.mu_);
    t_.end_info_ = &info;
    t_.end_summary_ = summary;
  }

  void flush() {
    if (n_) t_.publish(n_);
    n_ = 0;
  }

 private:
  ReaderThread& t_;
  size_t n_ = 0;  // events in the filling buffer
};

template <class Pred>
void ReaderThread::worker_wait(std::unique_lock<std::mutex>& lock, Pred pred) {
  to_worker_.wait(lock, [&] { return stop_ || pred(); });
  if (stop_) throw Stopped{};
}

void ReaderThread::publish(size_t n) {
  std::unique_lock lock(mu_);
  ring_.sizes[filled_ % ring_.buffers] = n;
  ++filled_;
  to_caller_.notify_one();
  worker_wait(lock, [this] { return filled_ - consumed_ < ring_.buffers; });
}

ReaderThread::ReaderThread(Open open, size_t buffer_events, size_t buffers) : ring_(buffers, buffer_events) {
  worker_ = std::thread([this, open = std::move(open)] { work(open); });
  std::exception_ptr error;
  {
    std::unique_lock lock(mu_);
    to_caller_.wait(lock, [this] { return opened_; });
    error = error_;
  }
  if (error) {
    shut_down();
    std::rethrow_exception(error);
  }
}

ReaderThread::~ReaderThread() { shut_down(); }

void ReaderThread::shut_down() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    release_ = true;
  }
  to_worker_.notify_one();
  worker_.join();
}

const TraceInfo& ReaderThread::info() const { return reader_->info(); }

void ReaderThread::work(const Open& open) {
  std::unique_ptr<TraceReader> reader;
  std::exception_ptr error;
  try {
    reader = open();
  } catch (...) {
    error = std::current_exception();
  }
  std::unique_lock lock(mu_);
  reader_ = std::move(reader);
  error_ = error;
  opened_ = true;
  to_caller_.notify_one();
  to_worker_.wait(lock, [this] { return go_ || stop_; });
  if (reader_ && !stop_) {
    lock.unlock();
    Feed feed(*this);
    ReadSummary summary;
    try {
      summary = reader_->read(feed);
    } catch (const Stopped&) {
    } catch (...) {
      error = std::current_exception();
      try {
        feed.flush();  // what the reader delivered before its error
      } catch (const Stopped&) {
      }
    }
    lock.lock();
    summary_ = summary;
    error_ = error;
  }
  done_ = true;
  to_caller_.notify_one();
  to_worker_.wait(lock, [this] { return release_; });
  lock.unlock();
  reader_.reset();  // its memory goes back to this thread's arena
}

ReadSummary ReaderThread::run(EventConsumer& consumer) {
  if (ran_) throw Error("ReaderThread::run: called twice", kExitFailure);
  ran_ = true;
  std::unique_lock lock(mu_);
  go_ = true;
  to_worker_.notify_one();
  try {
    to_caller_.wait(lock, [this] { return begin_info_ || done_; });
    if (const TraceInfo* info = begin_info_) {
      lock.unlock();
      consumer.begin(*info);  // the reader waits meanwhile
      lock.lock();
      begin_info_ = nullptr;
      to_worker_.notify_one();
    }
    for (;;) {
      to_caller_.wait(lock, [this] { return filled_ > consumed_ || done_; });
      if (filled_ == consumed_) break;  // the reader is done and everything is consumed
      const Event* buf = ring_.buffer(consumed_);
      const size_t n = ring_.sizes[consumed_ % ring_.buffers];
      lock.unlock();
      consumer.events(std::span<const Event>(buf, n));
      lock.lock();
      ++consumed_;
      to_worker_.notify_one();
    }
  } catch (...) {
    // The consumer failed: stop the reader and let it unwind before leaving.
    if (!lock.owns_lock()) lock.lock();
    stop_ = true;
    to_worker_.notify_one();
    to_caller_.wait(lock, [this] { return done_; });
    throw;
  }
  if (error_) std::rethrow_exception(error_);
  const TraceInfo* info = end_info_;
  const ReadSummary summary = summary_;
  lock.unlock();
  if (info) consumer.end(*info, end_summary_);
  return summary;
}

}  // namespace heaplay
