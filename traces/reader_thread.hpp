// reader_thread.hpp: reads a trace on a thread of its own and hands the
// events to a consumer on the calling thread.
//
// The mirror image of PipelinedConsumer (pipeline.hpp), for consumers that
// must stay on the calling thread: `replay --raw glibc` replays into this
// process's malloc heap on the main thread (whose glibc arena is the sbrk heap
// a single-threaded program uses), so the reader, which allocates while it
// decompresses, decodes and keeps its slot tables, must allocate elsewhere.
// Everything reading allocates happens on the worker, in glibc's arena for
// that thread: the trace is even opened there. The calling thread mallocs
// only in the constructor (starting the thread); the buffers are mapped
// (mmap, prefaulted, outside the malloc heap), and run() delivers every batch
// without malloc.
//
// Usage (`heaplay replay --raw glibc`; raw glibc takes its baseline at the
// first request, after all of this set-up):
//
//   ReaderThread reading([&] { return open_trace(path, read_options); });
//   const TraceInfo& info = reading.info();  // header metadata (python.version), before run()
//   Stack stack = build_stack(spec, params, StackOptions{RawKind::Glibc, touch});
//   Replayer replayer(stack, python_name, "glibc");
//   ReadSummary summary = reading.run(replayer);  // begin, events..., end: on this thread
//   ReplayResult result = replayer.finish();
//
// Semantics, as reading on this thread would give:
// - begin(info) runs on the calling thread before any event, while the reader
//   waits; events() get every batch in order (in spans of up to
//   buffer_events events, not the reader's batches); end(info, summary) runs
//   on the calling thread after the reader has returned, so metadata and the
//   summary are read only once the reader has finished writing them.
// - The reader's exception (bad input, I/O) is rethrown by run() once the
//   events delivered before it have been consumed; end() is not called.
// - The consumer's exception stops the reader at its next batch, waits for
//   it to unwind, and leaves run() as is.
// - The consumer may read the trace's StringTable during events()
//   (string_table.hpp); not its metadata, which may still grow.
//
// Memory: buffers x buffer_events x 32 bytes (8 x 8Ki events = 2 MiB). The
// ring is prefaulted and unmapped once a run: 8 MiB took 3 ms of a replay's
// 8 ms fixed cost, where 2 MiB replays at the same speed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "traces/consumer.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

class ReaderThread {
 public:
  using Open = std::function<std::unique_ptr<TraceReader>()>;

  // Maps the buffers (buffers: 2 to 16, of buffer_events events each) and
  // starts the thread, which calls open() and waits for run(). Returns once
  // the trace is open; rethrows open()'s exception.
  explicit ReaderThread(Open open, size_t buffer_events = size_t{1} << 13, size_t buffers = 8);
  // Stops the reader if it has not finished (run() not called, or left by an
  // exception), then destroys it on its thread and joins.
  ~ReaderThread();
  ReaderThread(const ReaderThread&) = delete;
  ReaderThread& operator=(const ReaderThread&) = delete;

  // The reader's info (path, format, header metadata). Read it before run()
  // or after it returns, not during.
  const TraceInfo& info() const;
  // Reads the whole trace into consumer, on this thread: begin(), events()...,
  // end(); returns what TraceReader::read returned. Once only.
  ReadSummary run(EventConsumer& consumer);

 private:
  class Feed;       // the consumer the reader writes into, on the worker
  struct Stopped {};  // thrown on the worker to unwind the reader

  void work(const Open& open);  // the worker thread
  // Worker side, under mu_: waits until pred or stop_; throws Stopped on stop_.
  template <class Pred>
  void worker_wait(std::unique_lock<std::mutex>& lock, Pred pred);
  void publish(size_t n);  // worker: the filling buffer holds n events; hand it over
  void shut_down();        // stop the reader if it runs, destroy it, join

  // The buffers, one mapping outside the malloc heap.
  struct Ring {
    Ring(size_t buffers, size_t buffer_events);
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    Event* buffer(uint64_t i) { return events + (i % buffers) * buffer_events; }
    size_t buffers, buffer_events, bytes;
    Event* events;
    size_t sizes[16] = {};  // events in each buffer (buffers <= 16)
  };
  Ring ring_;

  std::unique_ptr<TraceReader> reader_;  // created, used and destroyed on the worker

  std::mutex mu_;
  std::condition_variable to_caller_, to_worker_;
  // Guarded by mu_:
  uint64_t filled_ = 0, consumed_ = 0;  // buffers handed over and given back, ever
  bool opened_ = false;                 // open() returned or threw
  bool go_ = false;                     // run() was called
  bool stop_ = false;                   // the caller wants the reader to stop
  bool release_ = false;                // the destructor: destroy the reader, exit
  const TraceInfo* begin_info_ = nullptr;  // the reader waits in begin() until cleared
  const TraceInfo* end_info_ = nullptr;    // the reader called end()
  ReadSummary end_summary_;
  bool done_ = false;                   // read() returned or threw
  std::exception_ptr error_;            // open()'s or read()'s exception
  ReadSummary summary_;                 // what read() returned

  bool ran_ = false;
  std::thread worker_;
};

}  // namespace heaplay
