// pipeline.cpp: see pipeline.hpp.
#include "traces/pipeline.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace heaplay {

PipelinedConsumer::PipelinedConsumer(EventConsumer& inner, size_t buffer_events, size_t buffers)
    : inner_(inner), buffers_(std::max<size_t>(buffers, 2)) {
  for (Buffer& b : buffers_) {
    b.capacity = std::max<size_t>(buffer_events, 1);
    b.events.reset(static_cast<Event*>(std::malloc(b.capacity * sizeof(Event))));
    if (!b.events) throw std::bad_alloc();
  }
  for (size_t i = 1; i < buffers_.size(); ++i) free_.push_back(&buffers_[i]);
  filling_ = &buffers_[0];
}

PipelinedConsumer::~PipelinedConsumer() {
  {
    std::lock_guard lock(mu_);
    abandon_ = true;
  }
  stop_worker();
}

void PipelinedConsumer::begin(const TraceInfo& info) {
  inner_.begin(info);
  worker_ = std::thread([this] { work(); });
}

Event* PipelinedConsumer::lend(size_t& capacity) {
  if (filling_->n != 0) return nullptr;  // it holds copied events: go on copying
  capacity = filling_->capacity;
  return filling_->events.get();
}

void PipelinedConsumer::events(std::span<const Event> batch) {
  if (batch.data() == filling_->events.get() && filling_->n == 0) {
    filling_->n = batch.size();  // built where it lies, in what lend() gave: at most its capacity
    hand_over();
    return;
  }
  while (!batch.empty()) {
    size_t room = filling_->capacity - filling_->n;
    size_t take = std::min(room, batch.size());
    std::memcpy(filling_->events.get() + filling_->n, batch.data(), take * sizeof(Event));
    filling_->n += take;
    batch = batch.subspan(take);
    if (filling_->n == filling_->capacity) hand_over();
  }
}

void PipelinedConsumer::end(const TraceInfo& info, const ReadSummary& summary) {
  if (filling_->n) hand_over();
  stop_worker();
  rethrow_error();
  inner_.end(info, summary);
}

void PipelinedConsumer::hand_over() {
  std::unique_lock lock(mu_);
  if (error_) {
    lock.unlock();
    rethrow_error();
  }
  full_.push_back(filling_);
  work_ready_.notify_one();
  buffer_free_.wait(lock, [this] { return !free_.empty() || error_; });
  if (error_) {
    lock.unlock();
    rethrow_error();
  }
  filling_ = free_.front();
  free_.pop_front();
  filling_->n = 0;
}

void PipelinedConsumer::stop_worker() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  work_ready_.notify_one();
  if (worker_.joinable()) worker_.join();
}

void PipelinedConsumer::rethrow_error() {
  std::exception_ptr e;
  {
    std::lock_guard lock(mu_);
    e = error_;
  }
  if (e) std::rethrow_exception(e);
}

void PipelinedConsumer::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_ready_.wait(lock, [this] { return !full_.empty() || closing_; });
    if (full_.empty() || abandon_ || error_) return;  // closing, and nothing (more) to do
    Buffer* b = full_.front();
    full_.pop_front();
    lock.unlock();
    try {
      inner_.events(std::span<const Event>(b->events.get(), b->n));
    } catch (...) {
      lock.lock();
      error_ = std::current_exception();
      buffer_free_.notify_one();
      return;
    }
    lock.lock();
    free_.push_back(b);
    buffer_free_.notify_one();
  }
}

}  // namespace heaplay
