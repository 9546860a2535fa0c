// preload.cpp: libheaplay_record.so, the half of `heaplay record` that runs
// inside the recorded program (LD_PRELOAD).
//
// It interposes malloc, calloc, realloc, reallocarray, free, posix_memalign,
// aligned_alloc, memalign, valloc and pvalloc, calls the next definition of
// each (glibc's, or whatever allocator comes after it), and notes each call
// with the block's address, the bytes asked for and, with sites on, the
// immediate caller; channel.cpp carries the notes to the parent. It also
// interposes execve & co. and _exit/_Exit, to send what is buffered before the
// image goes away.
//
// Where preload libraries break, and what this one does:
// - dlsym(RTLD_NEXT) may itself allocate before the real functions are known:
//   those calls are served from a static arena, never recorded, never passed
//   to the real free (free ignores arena pointers; realloc copies them out).
// - The recorder's own calls (dladdr, pthread_setspecific, setenv...) are not
//   recorded: a thread-local guard sends them straight to the real functions.
// - Order across threads: a free takes its sequence number before the real
//   free, an allocation after the real call returned, a realloc one of each,
//   so a block's address is never seen reused before it was released.
// - Which processes: without --follow-fork only the program's own process is
//   recorded (HEAPLAY_RECORD_ROOT, its pid), in every image it execs (a
//   wrapper script exec'ing the real program stays recorded); a forked child
//   or any other process that loads the library takes it out of its
//   environment and passes calls through. With --follow-fork every process
//   records (docs/record.md).
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>

#include "traces/recorder/preload.hpp"

namespace heaplay::preload {

std::atomic<int> g_state{kUninit};
HEAPLAY_TLS int t_guard = 0;
Settings g_settings;

}  // namespace heaplay::preload

namespace {

using namespace heaplay::preload;
namespace w = heaplay::record_wire;

struct Real {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void* (*reallocarray)(void*, size_t, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*memalign)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execv)(const char*, char* const[]);
  int (*execvp)(const char*, char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  void (*exit_)(int);
  void (*Exit)(int);
};
Real real;

// ---- the bootstrap arena ------------------------------------------------------

alignas(64) char g_arena[256 << 10];
std::atomic<size_t> g_arena_used{0};

bool in_arena(const void* p) {
  return static_cast<const char*>(p) >= g_arena && static_cast<const char*>(p) < g_arena + sizeof g_arena;
}

// Bump allocation; the size sits in the 8 bytes before each block (realloc copies it out).
void* arena_alloc(size_t n, size_t align) {
  if (align < 16) align = 16;
  const uintptr_t base = reinterpret_cast<uintptr_t>(g_arena);
  size_t used = g_arena_used.load(std::memory_order_relaxed);
  for (;;) {
    uintptr_t p = (base + used + 8 + align - 1) & ~(uintptr_t{align} - 1);
    size_t end = p - base + n;
    if (n > sizeof g_arena || end > sizeof g_arena) return nullptr;
    if (g_arena_used.compare_exchange_weak(used, end)) {
      std::memcpy(reinterpret_cast<void*>(p - 8), &n, 8);
      return reinterpret_cast<void*>(p);  // zero: the arena is static and never reused
    }
  }
}

size_t arena_size(const void* p) {
  size_t n;
  std::memcpy(&n, static_cast<const char*>(p) - 8, 8);
  return n;
}

// ---- start-up -------------------------------------------------------------------

template <class F>
void resolve(F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void read_settings() {
  const char* sock = getenv(w::kSocketEnv);
  if (!sock) return;
  size_t n = strnlen(sock, sizeof g_settings.socket_name);
  if (n == 0 || n >= sizeof g_settings.socket_name - 1) return;
  std::memcpy(g_settings.socket_name, sock, n);
  g_settings.socket_len = n;
  if (const char* f = getenv(w::kFlagsEnv)) {
    for (const char* p = f; *p;) {
      const char* e = p;
      while (*e && *e != ',') ++e;
      if (e - p == 5 && std::memcmp(p, "sites", 5) == 0) g_settings.sites = true;
      if (e - p == 6 && std::memcmp(p, "follow", 6) == 0) g_settings.follow = true;
      p = *e ? e + 1 : e;
    }
  }
  if (const char* r = getenv(w::kRootEnv)) g_settings.root = strtol(r, nullptr, 10);
}

// The first interposed call (or the constructor) gets here: resolve the real
// functions, then connect. Everything in here runs guarded.
void initialize() {
  ++t_guard;
  resolve(real.malloc, "malloc");
  resolve(real.free, "free");
  resolve(real.calloc, "calloc");
  resolve(real.realloc, "realloc");
  resolve(real.reallocarray, "reallocarray");
  resolve(real.posix_memalign, "posix_memalign");
  resolve(real.aligned_alloc, "aligned_alloc");
  resolve(real.memalign, "memalign");
  resolve(real.valloc, "valloc");
  resolve(real.pvalloc, "pvalloc");
  resolve(real.execve, "execve");
  resolve(real.execv, "execv");
  resolve(real.execvp, "execvp");
  resolve(real.execvpe, "execvpe");
  resolve(real.exit_, "_exit");
  resolve(real.Exit, "_Exit");
  read_settings();
  const bool wanted = g_settings.socket_len && (g_settings.follow || g_settings.root == getpid());
  bool on = wanted && real.malloc && real.free && real.calloc && real.realloc && connect_parent(w::HelloKind::Start);
  if (g_settings.socket_len && !g_settings.follow && !wanted) scrub_environment();
  --t_guard;
  g_state.store(on ? kOn : kOff, std::memory_order_release);
}

// Whether this call is recorded; the first call anywhere initializes.
[[gnu::noinline]] bool start() {
  int s = g_state.load(std::memory_order_acquire);
  if (s == kUninit && g_state.compare_exchange_strong(s, kIniting, std::memory_order_acq_rel)) {
    initialize();
  } else {
    // Another thread is initializing (this one would be guarded): wait.
    while (g_state.load(std::memory_order_acquire) == kIniting) sched_yield();
  }
  return g_state.load(std::memory_order_acquire) == kOn;
}

inline bool recording() {
  if (t_guard) return false;
  int s = g_state.load(std::memory_order_acquire);
  if (s == kOn) [[likely]] return true;
  return s == kOff ? false : start();
}

struct Guard {
  Guard() { ++t_guard; }
  ~Guard() { --t_guard; }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
};

// Callers hold a Guard across the real call too: an allocator may call its
// own public functions (glibc's reallocarray tail-calls realloc through the
// PLT), and only the program's call is to be recorded.
inline void record(uint8_t op, const void* addr, uint64_t size, const void* caller) {
  note(op, addr, size, g_settings.sites ? caller : nullptr);
}

__attribute__((constructor)) void on_load() {
  recording();  // initializes, if no call came before
  if (g_state.load(std::memory_order_acquire) != kOn) return;
  Guard g;
  install_handlers();
}

__attribute__((destructor)) void on_unload() {
  if (g_state.load(std::memory_order_acquire) != kOn) return;
  Guard g;
  enter_final();
}

void before_image_ends() {
  if (g_state.load(std::memory_order_acquire) != kOn || t_guard) return;
  Guard g;
  flush_all(true);
}

template <class F>
F resolved(F& f, const char* name) {
  if (!f) resolve(f, name);
  return f;
}

}  // namespace

namespace heaplay::preload {

void scrub_environment() {
  static constexpr char kName[] = "libheaplay_record.so";
  const size_t name_len = sizeof kName - 1;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) == 0) {
      // Drop our entry (by its file name: dladdr is not for forked children);
      // the others stay, joined by ':'. An empty LD_PRELOAD loads nothing.
      char* out = *e + 11;
      const char* in = out;
      bool any = false;
      while (*in) {
        while (*in == ':' || *in == ' ') ++in;
        const char* end = in;
        while (*end && *end != ':' && *end != ' ') ++end;
        const size_t len = static_cast<size_t>(end - in);
        const bool ours = len >= name_len && std::memcmp(end - name_len, kName, name_len) == 0 &&
                          (len == name_len || end[-static_cast<ptrdiff_t>(name_len) - 1] == '/');
        if (len && !ours) {
          if (any) *out++ = ':';
          std::memmove(out, in, len);
          out += len;
          any = true;
        }
        in = end;
      }
      *out = '\0';
    }
    const size_t n = std::strlen(w::kSocketEnv);
    if (std::strncmp(*e, w::kSocketEnv, n) == 0 && (*e)[n] == '=') (*e)[n + 1] = '\0';  // no socket: off
  }
}

}  // namespace heaplay::preload

#define HEAPLAY_EXPORT extern "C" __attribute__((visibility("default")))
#define HEAPLAY_CALLER __builtin_return_address(0)

// ---- the allocation functions -------------------------------------------------------

HEAPLAY_EXPORT void* malloc(size_t n) noexcept {
  const bool rec = recording();
  if (!real.malloc) [[unlikely]] return arena_alloc(n, 16);
  if (!rec) return real.malloc(n);
  Guard g;
  void* p = real.malloc(n);
  if (p) record(w::kMalloc, p, n, HEAPLAY_CALLER);
  return p;
}

HEAPLAY_EXPORT void free(void* p) noexcept {
  if (!p) return;
  if (in_arena(p)) [[unlikely]] return;
  const bool rec = recording();
  if (!real.free) [[unlikely]] return;
  if (!rec) return real.free(p);
  Guard g;
  record(w::kFree, p, 0, nullptr);  // numbered before the block can be reused
  real.free(p);
}

HEAPLAY_EXPORT void* calloc(size_t n, size_t m) noexcept {
  const bool rec = recording();
  size_t bytes;
  if (!real.calloc) [[unlikely]]
    return __builtin_mul_overflow(n, m, &bytes) ? nullptr : arena_alloc(bytes, 16);
  if (!rec) return real.calloc(n, m);
  Guard g;
  void* p = real.calloc(n, m);
  if (p) record(w::kCalloc, p, n * m, HEAPLAY_CALLER);
  return p;
}

namespace {

// realloc and reallocarray: the block's release numbered before the real
// call, its new place after.
void* resize(void* p, size_t n, bool overflow, void* (*call)(void*, size_t, size_t), size_t a, size_t b,
             bool array, const void* caller) {
  if (p && in_arena(p)) [[unlikely]] {  // a bootstrap block: copy it out, the arena keeps it
    if (overflow) {
      errno = ENOMEM;
      return nullptr;
    }
    void* q = malloc(n);
    if (q) std::memcpy(q, p, arena_size(p) < n ? arena_size(p) : n);
    return q;
  }
  const bool rec = recording();
  if (!real.realloc) [[unlikely]]
    return p || overflow ? nullptr : arena_alloc(n, 16);
  if (!rec) return call(p, a, b);
  Guard g;
  if (!p) {
    void* q = call(nullptr, a, b);
    if (q) record(array ? w::kReallocarrayNull : w::kReallocNull, q, n, caller);
    return q;
  }
  record(array ? w::kReallocarrayFrom : w::kReallocFrom, p, 0, nullptr);
  void* q = call(p, a, b);
  // A failed call (nullptr for a nonzero size) leaves the block as it was;
  // nullptr for size 0 means the block was freed (glibc).
  record(array ? w::kReallocarrayTo : w::kReallocTo, q, overflow ? ~uint64_t{0} : n, caller);
  return q;
}

void* call_realloc(void* p, size_t n, size_t) { return real.realloc(p, n); }

void* call_reallocarray(void* p, size_t n, size_t m) {
  if (real.reallocarray) return real.reallocarray(p, n, m);
  size_t bytes;
  if (__builtin_mul_overflow(n, m, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return real.realloc(p, bytes);
}

}  // namespace

HEAPLAY_EXPORT void* realloc(void* p, size_t n) noexcept {
  return resize(p, n, false, call_realloc, n, 0, false, HEAPLAY_CALLER);
}

HEAPLAY_EXPORT void* reallocarray(void* p, size_t n, size_t m) noexcept {
  size_t bytes;
  const bool overflow = __builtin_mul_overflow(n, m, &bytes);
  return resize(p, overflow ? ~size_t{0} : bytes, overflow, call_reallocarray, n, m, true, HEAPLAY_CALLER);
}

HEAPLAY_EXPORT int posix_memalign(void** out, size_t align, size_t n) noexcept {
  const bool rec = recording();
  if (!real.posix_memalign) [[unlikely]] {
    void* p = arena_alloc(n, align);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
  }
  if (!rec) return real.posix_memalign(out, align, n);
  Guard g;
  int r = real.posix_memalign(out, align, n);
  if (r == 0) record(w::kPosixMemalign, *out, n, HEAPLAY_CALLER);
  return r;
}

// aligned_alloc, memalign, valloc and pvalloc: the same shape.
#define HEAPLAY_ALIGNED(name, op, params, args, bytes, align)        \
  HEAPLAY_EXPORT void* name params noexcept {                        \
    const bool rec = recording();                                    \
    if (!real.name) [[unlikely]] {                                   \
      if (real.malloc || !(align)) return nullptr;                   \
      return arena_alloc(bytes, align);                              \
    }                                                                \
    if (!rec) return real.name args;                                 \
    Guard g;                                                         \
    void* p = real.name args;                                        \
    if (p) record(op, p, bytes, HEAPLAY_CALLER);                     \
    return p;                                                        \
  }
HEAPLAY_ALIGNED(aligned_alloc, w::kAlignedAlloc, (size_t a, size_t n), (a, n), n, a)
HEAPLAY_ALIGNED(memalign, w::kMemalign, (size_t a, size_t n), (a, n), n, a)
HEAPLAY_ALIGNED(valloc, w::kValloc, (size_t n), (n), n, 4096)
HEAPLAY_ALIGNED(pvalloc, w::kPvalloc, (size_t n), (n), n, 4096)
#undef HEAPLAY_ALIGNED

// ---- the ends of an image -------------------------------------------------------

HEAPLAY_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
  before_image_ends();
  return resolved(real.execve, "execve")(path, argv, envp);
}

HEAPLAY_EXPORT int execv(const char* path, char* const argv[]) noexcept {
  before_image_ends();
  return resolved(real.execv, "execv")(path, argv);
}

HEAPLAY_EXPORT int execvp(const char* file, char* const argv[]) noexcept {
  before_image_ends();
  return resolved(real.execvp, "execvp")(file, argv);
}

HEAPLAY_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
  before_image_ends();
  return resolved(real.execvpe, "execvpe")(file, argv, envp);
}

// The execl family: the arguments into an array on the stack, then the v form.
#define HEAPLAY_COLLECT_ARGS(first, with_env)                            \
  va_list ap;                                                            \
  va_start(ap, first);                                                   \
  size_t argc = 1;                                                       \
  while (va_arg(ap, const char*)) ++argc;                                \
  va_end(ap);                                                            \
  char** argv = static_cast<char**>(__builtin_alloca((argc + 1) * sizeof(char*))); \
  argv[0] = const_cast<char*>(first);                                    \
  va_start(ap, first);                                                   \
  for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(ap, char*);        \
  char** envp = with_env ? va_arg(ap, char**) : environ;                 \
  va_end(ap);                                                            \
  (void)envp;

HEAPLAY_EXPORT int execl(const char* path, const char* arg, ...) noexcept {
  HEAPLAY_COLLECT_ARGS(arg, false)
  return execv(path, argv);
}

HEAPLAY_EXPORT int execlp(const char* file, const char* arg, ...) noexcept {
  HEAPLAY_COLLECT_ARGS(arg, false)
  return execvp(file, argv);
}

HEAPLAY_EXPORT int execle(const char* path, const char* arg, ...) noexcept {
  HEAPLAY_COLLECT_ARGS(arg, true)
  return execve(path, argv, envp);
}
#undef HEAPLAY_COLLECT_ARGS

HEAPLAY_EXPORT void _exit(int status) {
  before_image_ends();
  resolved(real.exit_, "_exit")(status);
  __builtin_unreachable();
}

HEAPLAY_EXPORT void _Exit(int status) noexcept {
  before_image_ends();
  resolved(real.Exit, "_Exit")(status);
  __builtin_unreachable();
}
