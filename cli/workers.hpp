// workers.hpp: tasks run in forked worker processes, results back through pipes.
//
// `heaplay compare` replays each stack in its own process so that one stack's
// heap never disturbs another's measurements (with --raw glibc each worker
// measures its own malloc heap). run_workers() forks one child per task, at
// most `jobs` at once, in task order. A child runs its task, writes the bytes
// it returns to a pipe and exits 0; its standard error goes to a second pipe.
// The parent reads both pipes as they fill (poll), waits for each child
// (waitpid) and reports, per task in task order, the bytes or why it failed:
// "killed by SIGKILL", the child's own "heaplay: error: ..." message, or its
// exit status.
//
// Progress: an anonymous shared mapping holds one counter per task, created
// before the first fork; a task stores its records done there (the
// Replayer's MetricsOptions::progress) and the parent draws a bar on stderr.
//
// Test-only: HEAPLAY_TEST_KILL_WORKER=NAME makes the worker of the task of
// that name write half its reply, then raise SIGKILL on itself (the golden
// test compare_killed_worker uses it). Nothing else reads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace heaplay::cli {

struct WorkerOutcome {
  bool ok = false;
  std::string reply;   // ok: what the task returned
  std::string error;   // !ok: why
  std::string log;     // the child's standard error (warnings; its error line included)
  int exit_status = 0; // !ok: the child's exit status (2: bad input), or 1 when it did not exit
};

struct ProgressOptions {
  bool show = false;                      // draw a bar on stderr
  std::optional<uint64_t> task_total;     // records per task, when known
};

// task(i, counter) runs in the child; it may throw (Error, std::exception).
std::vector<WorkerOutcome> run_workers(const std::vector<std::string>& names, unsigned jobs,
                                       const std::function<std::string(size_t, std::atomic<uint64_t>*)>& task,
                                       const ProgressOptions& progress);

}  // namespace heaplay::cli
