// record.hpp: `heaplay record -- PROGRAM ARGS...`: run a program with the
// preload library (traces/recorder/) and write what it allocates and frees
// as a native trace, exactly: every block's identity, its thread, times.
//
// record_program() forks and execs the program with LD_PRELOAD set, waits
// for it while reading the library's connections (one per process image) on
// an abstract Unix socket, and turns each into a file through RecordStream.
// docs/record.md describes the design and its limits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/trace_io.hpp"

namespace heaplay {

struct RecordOptions {
  std::vector<std::string> argv;  // PROGRAM ARGS...; PROGRAM is looked up in PATH unless it has a '/'
  std::string output;             // "": heaplay.PROG.PID.heaplay in the current directory
  bool sites = false;             // tag each allocation with its immediate caller (module!symbol+offset)
  bool follow_fork = false;       // forked children (and exec'ed images) record into OUTPUT.PID
  std::string preload;            // the library; "": found beside the running heaplay (find_preload_library)
  WriteOptions write;             // zstd level and frame size of the output
  uint64_t time_resolution_ns = 100'000;  // at most one `t` record per this many nanoseconds
};

// Runs the program to its end and returns the exit status heaplay should
// have: the program's own, or 128 + N when a signal N killed it (as a shell
// does; reported on stderr). Throws Error: 127 when PROGRAM is not found,
// 126 when it cannot be executed, 1 when the output cannot be created, 2 for
// bad usage; nothing is started then.
int record_program(const RecordOptions& options);

// The preload library beside the running executable (the build tree) or in
// ../lib/heaplay/ from it (an installed heaplay). Throws Error when absent.
std::string find_preload_library();

// PROGRAM as execv() will run it: itself when it has a '/', else the first
// executable regular file of that name in PATH. Throws Error (127, 126).
std::string find_program(const std::string& name);

}  // namespace heaplay
