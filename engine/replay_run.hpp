// replay_run.hpp: one whole replay, from a trace's path to its ReplayResult.
//
// What `heaplay replay` does between parsing its command line and rendering,
// as one function, so that `heaplay compare` runs exactly the same code in
// each of its worker processes: check the job, pick the parameters (--python,
// the trace's recorded version, --set), the objspec.sites first pass, build
// the stack, stream the trace through a Replayer, finish().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/replay.hpp"
#include "engine/stack.hpp"

namespace heaplay {

struct ReplayJob {
  std::string input;                // the trace's path: a file (read more than once; not "-" or a pipe)
  std::string stack = "pooled";     // a named stack or a composition (stack.hpp)
  std::string python;               // "": the trace's version, else 3.11
  std::vector<std::string> sets;    // KEY=VALUE, applied in order
  std::string raw = "sim";          // sim | glibc | jemalloc | mimalloc | tcmalloc
  std::string touch = "none";       // none | first | all (real raw layers)
  uint64_t max_memory = 0;          // real raw layers: --max-memory in bytes; 0: half the physical memory
  uint64_t samples = 1000;          // timeline rows at most
  unsigned threads = 1;             // 2: read (and decompress) on a second thread
  bool lenient = false;
  std::atomic<uint64_t>* progress = nullptr;  // MetricsOptions::progress
};

// Checks what can be checked without reading the trace: the stack, raw and
// touch names, and that the input can be read more than once (not "-", a
// pipe or a FIFO: require_rereadable, trace_io.hpp). Throws Error (exit 2).
StackSpec check_replay_job(const ReplayJob& job);

// Runs the job. after(stack), when given, is called once the result is
// finished (the stack's state is final then: --pymalloc-stats reads it).
// Throws Error as reading and replaying do.
ReplayResult replay_trace(const ReplayJob& job, const std::function<void(const Stack&)>& after = {});

}  // namespace heaplay
