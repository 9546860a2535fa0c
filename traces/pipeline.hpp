// pipeline.hpp: runs a consumer on a thread of its own, so that reading
// (decompressing, decoding, validating) and consuming (stats, writing,
// later replay) overlap on two cores.
//
// events() copies each batch into one of a few large buffers (or takes it
// where it lies, when an EventBatch built it in the buffer lend() gave) and
// returns at once; a worker thread hands the full buffers to the inner
// consumer, in order. begin() runs the inner consumer's begin() on the caller's thread,
// before any event. end() waits until the worker has consumed every event,
// then runs the inner consumer's end() on the caller's thread, so metadata and
// summaries are never read while the reader still writes them. An exception
// thrown by the inner consumer on the worker reaches the caller at its next
// events() or end(), as if it had been thrown there.
//
// The inner consumer may read the trace's StringTable during events(): the
// table is safe to read while the reader grows it (string_table.hpp).
//
// Memory: buffers x buffer_events x 32 bytes (4 x 16Ki events = 2 MiB), each
// page touched when a batch first reaches it. At 8 MiB, zeroed up front,
// making and unmapping them took 4 ms of `heaplay stats`'s 8 ms on a
// two-record trace (2,300 page faults), and 3% of its time on a heaptrack
// file of 11M records, where 2 MiB reads as fast.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "traces/consumer.hpp"

namespace heaplay {

class PipelinedConsumer final : public EventConsumer {
 public:
  explicit PipelinedConsumer(EventConsumer& inner, size_t buffer_events = size_t{1} << 14,
                             size_t buffers = 4);
  // Stops the worker; events not yet consumed are dropped (an error unwound the reader).
  ~PipelinedConsumer() override;
  PipelinedConsumer(const PipelinedConsumer&) = delete;
  PipelinedConsumer& operator=(const PipelinedConsumer&) = delete;

  void begin(const TraceInfo& info) override;
  void events(std::span<const Event> batch) override;
  // Lends the filling buffer while it is empty: a batch built there is
  // handed to the worker as it lies, not copied (the copy was 5% of the
  // reading thread's time on a heaptrack file).
  Event* lend(size_t& capacity) override;
  void end(const TraceInfo& info, const ReadSummary& summary) override;

 private:
  // Storage left uninitialized (malloc), so that pages no batch reaches are
  // never touched: a short trace costs a page, not the buffers' 2 MiB. Events
  // are implicit-lifetime, so the memcpy into it makes them.
  struct FreeEvents {
    void operator()(Event* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<Event, FreeEvents> events;
    size_t capacity = 0;  // events
    size_t n = 0;
  };
  void work();            // the worker thread's loop
  void hand_over();       // the filling buffer to the worker; takes a free one
  void stop_worker();     // no more buffers; wait for the worker
  void rethrow_error();   // the worker's exception, if any, on this thread

  EventConsumer& inner_;
  std::vector<Buffer> buffers_;
  Buffer* filling_ = nullptr;

  std::mutex mu_;
  std::condition_variable work_ready_, buffer_free_;
  std::deque<Buffer*> full_, free_;  // guarded by mu_
  bool closing_ = false;             // no more full buffers will come
  bool abandon_ = false;             // drop what is queued (destroyed early)
  std::exception_ptr error_;         // the inner consumer's exception
  std::thread worker_;
};

}  // namespace heaplay
