// preload.hpp: the inside of libheaplay_record.so, shared by its two files.
//
// preload.cpp holds the interposed functions (malloc & co., exec, _exit),
// the bootstrap arena and start-up; channel.cpp holds what carries records
// to `heaplay record`: per-thread rings, the socket, flushing, fork and
// fatal signals. docs/record.md explains the design.
//
// Rules for everything in this library: no exceptions, no libstdc++ at run
// time, no malloc of its own (rings and the like come from mmap), and
// nothing that may block on the program's locks while holding ours.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "traces/recorder/wire.hpp"

#define HEAPLAY_TLS thread_local __attribute__((tls_model("initial-exec")))

namespace heaplay::preload {

enum State : int {
  kUninit,   // no interposed call yet
  kIniting,  // one thread resolves the real functions and connects
  kOn,       // recording
  kOff,      // passing calls through: no parent, a child not followed, or the parent went away
};
extern std::atomic<int> g_state;

// >0 while this thread runs recorder code: calls made meanwhile (by dladdr,
// pthread_setspecific, a signal handler) go straight to the real functions.
extern HEAPLAY_TLS int t_guard;

struct Settings {
  bool sites = false;   // record each allocation's immediate caller
  bool follow = false;  // every process the program starts is recorded too (its own file)
  long root = 0;        // the process recorded without follow (every image it execs)
  char socket_name[108] = {};
  size_t socket_len = 0;
};
extern Settings g_settings;

// preload.cpp

// Takes this library out of the environment in place (no allocation, no
// lock: safe in a forked child), so the programs this process starts do not
// load it.
void scrub_environment();

// channel.cpp

// Connects to the parent and says hello; false (and nothing open) on failure.
bool connect_parent(record_wire::HelloKind kind);
// Registers the thread-exit key, the fork handler and the fatal-signal
// handlers (where the program's disposition is still the default).
void install_handlers();
// Records one call (op, block, bytes, caller) from the calling thread: into
// its ring, or straight to the socket once the thread or process is ending.
// The caller has checked that recording is on and set t_guard.
void note(uint8_t op, const void* addr, uint64_t size, const void* caller);
// Sends every thread's buffered records. wait: take locks as needed (exit,
// exec); otherwise only those free now (signal handlers).
void flush_all(bool wait);
// From now on every record goes out on its own (the library's destructor ran).
void enter_final();

}  // namespace heaplay::preload
