// hooks.cpp: the wrapping allocators (hooks.hpp).
//
// One lock (g_mu) serializes every recorded call with the real allocator
// call inside it: the record and the call are one step, so no other thread
// can be handed an address between a free and its record, and records come
// in the order the allocator saw the calls. MEM and OBJ calls hold the GIL
// anyway; RAW calls may come from any thread. So the lock is nearly always
// free, and it is a spinning one: an exchange to take it, a store to give it
// back (a pthread mutex cost 9% of a recording's time: docs/performance.md).
// It is taken only while recording; afterwards the hooks are a load and a call.
//
// Nesting: pymalloc serves a MEM/OBJ request over 512 bytes, grows its arena
// table and builds its radix tree through PyMem_RawMalloc and friends, which
// land in the RAW hook on the same thread while the MEM/OBJ hook holds the
// lock. t_inside marks that: such RAW calls are counted, not recorded (the
// pooled model makes them from the MEM/OBJ record), and the arena hook,
// called only from inside pymalloc, records under the lock already held.
//
// fork(): the lock is taken around it (pthread_atfork), and the child stops
// recording for good: only the recorded process writes the trace.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "traces/python/hooks.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <mutex>  // std::lock_guard

namespace heaplay::pyrecord {

namespace {

struct DomainHook {
  PyMemAllocatorDomain domain;
  Domain trace_domain;
  int index;  // into HookCounts::calls
  PyMemAllocatorEx prev;
};

DomainHook g_hooks[3] = {
    {PYMEM_DOMAIN_RAW, Domain::Raw, 0, {}},
    {PYMEM_DOMAIN_MEM, Domain::Mem, 1, {}},
    {PYMEM_DOMAIN_OBJ, Domain::Obj, 2, {}},
};
PyObjectArenaAllocator g_prev_arena{};
PointerRecorder* g_rec = nullptr;
uint64_t g_pool_size = 1;
pid_t g_pid = 0;

// Spins a little (the holder is inside one allocator call), then yields (the
// holder may have lost its core).
class SpinLock {
 public:
  void lock() {
    while (taken_.exchange(true, std::memory_order_acquire)) {
      for (int i = 0; taken_.load(std::memory_order_relaxed); ++i) {
        if (i < 100) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          sched_yield();
        }
      }
    }
  }
  void unlock() { taken_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> taken_{false};
};

SpinLock g_mu;
std::atomic<bool> g_on{false};
// Guarded by g_mu.
HookCounts g_counts;
std::vector<uint32_t> g_excess;
std::string g_error;

// > 0 while this thread runs the real allocator for a recorded MEM/OBJ call
// (and so holds g_mu).
thread_local int t_inside = 0;

uint64_t address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

bool is_raw(const DomainHook* h) { return h->domain == PYMEM_DOMAIN_RAW; }

// Recording is on, and this is not pymalloc's own RAW call (counted here: the
// thread holds g_mu then).
bool wanted(const DomainHook* h) {
  if (!g_on.load(std::memory_order_relaxed)) return false;
  if (is_raw(h) && t_inside > 0) {
    ++g_counts.pymalloc_raw;
    return false;
  }
  return true;
}

// A recording error stops recording; the first one is reported at the end.
void fail(const char* what) {
  if (g_error.empty()) g_error = what;
  g_on.store(false, std::memory_order_relaxed);
}

// Runs the real allocator call; MEM/OBJ calls mark the thread as inside pymalloc.
template <class Call>
auto call_real(const DomainHook* h, Call call) {
  if (is_raw(h)) return call();
  ++t_inside;
  auto r = call();
  --t_inside;
  return r;
}

template <class Record>
void record(const DomainHook* h, Record r) {
  try {
    r();
    ++g_counts.calls[h->index];
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void* hook_malloc(void* ctx, size_t n) {
  auto* h = static_cast<DomainHook*>(ctx);
  if (!wanted(h)) return h->prev.malloc(h->prev.ctx, n);
  std::lock_guard lock(g_mu);
  if (!g_on.load(std::memory_order_relaxed)) return h->prev.malloc(h->prev.ctx, n);
  void* p = call_real(h, [&] { return h->prev.malloc(h->prev.ctx, n); });
  if (p) record(h, [&] { g_rec->alloc(address(p), n, h->trace_domain); });
  return p;
}

void* hook_calloc(void* ctx, size_t nelem, size_t elsize) {
  auto* h = static_cast<DomainHook*>(ctx);
  if (!wanted(h)) return h->prev.calloc(h->prev.ctx, nelem, elsize);
  std::lock_guard lock(g_mu);
  if (!g_on.load(std::memory_order_relaxed)) return h->prev.calloc(h->prev.ctx, nelem, elsize);
  void* p = call_real(h, [&] { return h->prev.calloc(h->prev.ctx, nelem, elsize); });
  // A non-null result means nelem * elsize did not overflow.
  if (p) record(h, [&] { g_rec->alloc(address(p), uint64_t{nelem} * elsize, h->trace_domain); });
  return p;
}

void* hook_realloc(void* ctx, void* ptr, size_t n) {
  auto* h = static_cast<DomainHook*>(ctx);
  if (!wanted(h)) return h->prev.realloc(h->prev.ctx, ptr, n);
  std::lock_guard lock(g_mu);
  if (!g_on.load(std::memory_order_relaxed)) return h->prev.realloc(h->prev.ctx, ptr, n);
  void* q = call_real(h, [&] { return h->prev.realloc(h->prev.ctx, ptr, n); });
  // A failed realloc leaves the block as it was: nothing to record.
  if (q) record(h, [&] { g_rec->realloc(address(ptr), address(q), n, h->trace_domain); });
  return q;
}

void hook_free(void* ctx, void* ptr) {
  auto* h = static_cast<DomainHook*>(ctx);
  if (!ptr || !wanted(h)) return h->prev.free(h->prev.ctx, ptr);
  std::lock_guard lock(g_mu);
  if (g_on.load(std::memory_order_relaxed)) record(h, [&] { g_rec->free(address(ptr)); });
  call_real(h, [&] {
    h->prev.free(h->prev.ctx, ptr);
    return 0;
  });
}

// Only pymalloc calls these, from inside a MEM/OBJ call; when that call is
// recorded, this thread holds g_mu.
void* arena_alloc(void*, size_t size) {
  void* p = g_prev_arena.alloc(g_prev_arena.ctx, size);
  if (p && t_inside > 0) {
    g_excess.push_back(static_cast<uint32_t>(address(p) % g_pool_size));
    ++g_counts.arenas_allocated;
  }
  return p;
}

void arena_free(void*, void* p, size_t size) {
  if (t_inside > 0) ++g_counts.arenas_freed;
  g_prev_arena.free(g_prev_arena.ctx, p, size);
}

void before_fork() { g_mu.lock(); }
void after_fork_parent() { g_mu.unlock(); }
void after_fork_child() {
  g_on.store(false, std::memory_order_relaxed);
  g_mu.unlock();
}

}  // namespace

void install_hooks(PointerRecorder* recorder, uint64_t pool_size) {
  g_rec = recorder;
  g_pool_size = pool_size;
  g_pid = getpid();
  for (DomainHook& h : g_hooks) {
    PyMem_GetAllocator(h.domain, &h.prev);
    PyMemAllocatorEx mine{&h, hook_malloc, hook_calloc, hook_realloc, hook_free};
    PyMem_SetAllocator(h.domain, &mine);
  }
  PyObject_GetArenaAllocator(&g_prev_arena);
  PyObjectArenaAllocator arenas{nullptr, arena_alloc, arena_free};
  PyObject_SetArenaAllocator(&arenas);
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  g_on.store(true, std::memory_order_relaxed);
}

void with_recorder(const std::function<void(PointerRecorder&)>& f) {
  std::lock_guard lock(g_mu);
  if (!g_on.load(std::memory_order_relaxed) || getpid() != g_pid) return;
  try {
    f(*g_rec);
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

bool stop_recording(const std::function<void()>& at_stop) {
  std::lock_guard lock(g_mu);
  if (!g_on.load(std::memory_order_relaxed) || getpid() != g_pid) return false;
  g_on.store(false, std::memory_order_relaxed);
  // Only MEM and OBJ: their callers hold the GIL, as the caller of this does,
  // so no call is reading the table while it changes. RAW stays wrapped
  // (passing through): other threads may be inside PyMem_RawMalloc now.
  PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &g_hooks[1].prev);
  PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &g_hooks[2].prev);
  at_stop();
  return true;
}

bool recording() { return g_on.load(std::memory_order_relaxed); }

std::string hook_error() {
  std::lock_guard lock(g_mu);
  return g_error;
}

HookCounts hook_counts() {
  std::lock_guard lock(g_mu);
  return g_counts;
}

std::vector<uint32_t> arena_excess() {
  std::lock_guard lock(g_mu);
  return g_excess;
}

}  // namespace heaplay::pyrecord
