// hooks.hpp: the allocator hooks of heaplay-python (docs/record-python.md).
//
// install_hooks() wraps CPython's three allocator domains (PyMem_SetAllocator:
// RAW, MEM, OBJ) and its arena allocator (PyObject_SetArenaAllocator). Each
// wrapper calls the allocator it replaced and records the call, with its
// domain, into one PointerRecorder, under one lock (RAW is called without
// the GIL, from any thread). RAW calls that pymalloc itself makes while
// serving a MEM or OBJ request (a request over 512 bytes, its arena table,
// its radix tree) are passed through unrecorded: the pooled model makes
// those itself from the MEM/OBJ record. Arena allocations are recorded as
// each arena's offset past a pool boundary, in order (pymalloc.arena_excess).
//
// Contract (CPython's): install after Py_PreInitialize() and before
// Py_InitializeFromConfig(), so that every MEM and OBJ request goes through
// the wrappers. stop_recording() ends it: later calls pass straight through.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "traces/pointer_recorder.hpp"

namespace heaplay::pyrecord {

struct HookCounts {
  uint64_t calls[3] = {};   // recorded calls per domain: RAW, MEM, OBJ
  uint64_t pymalloc_raw = 0;  // RAW calls made inside MEM/OBJ calls (not recorded)
  uint64_t arenas_allocated = 0, arenas_freed = 0;
};

// Wraps the allocators; every later call is recorded into recorder (owned by
// the caller, used under the hooks' lock). pool_size: the interpreter's pool
// size in bytes (an arena's alignment is its address modulo it).
void install_hooks(PointerRecorder* recorder, uint64_t pool_size);

// Runs f(recorder) under the hooks' lock, when recording is on (gc markers).
void with_recorder(const std::function<void(PointerRecorder&)>& f);

// Stops recording, atomically with every hook: no call is recorded after it.
// Puts pymalloc back as the MEM and OBJ allocator (CPython's statistics
// function only reports when the OBJ allocator is pymalloc itself), then runs
// at_stop under the lock, so nothing can allocate between the last record and
// what at_stop observes. Returns false (and runs nothing) when recording had
// already stopped.
bool stop_recording(const std::function<void()>& at_stop);

// Whether recording is on (false after stop_recording, after a failure, in a forked child).
bool recording();

// The first error a hook hit while recording (recording stops then); "" when none.
std::string hook_error();

// Figures for the trace's metadata (read after stop_recording).
HookCounts hook_counts();
std::vector<uint32_t> arena_excess();

}  // namespace heaplay::pyrecord
