// channel.cpp: how the preload library's records reach `heaplay record`.
//
// Each thread appends fixed-size records to its own ring (mmap'd, reused
// after the thread exits), a single-producer buffer the owner fills without
// any atomic read-modify-write but the global sequence number. A ring is sent
// as one chunk (sendmsg under a process-wide mutex, so chunks never
// interleave) when it is full, when its oldest record is older than
// kMaxAgeTicks, at thread exit, at exit, at exec and _exit, and from fatal
// signal handlers. A thread that flushes also sends the other threads' rings
// that have gone stale (by age or sequence distance), taking their flush
// lock only if it is free: an idle thread's few records would otherwise hold
// back the parent's merge (it emits in sequence order) for as long as the
// thread sleeps.
//
// Locks, always in this order: a ring's flush lock, then the send mutex.
// Neither is held while calling into anything that could take a lock of the
// program's (dladdr is called before a record is written, with no lock held).
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>
#include <fcntl.h>

#include <cstring>
#include <new>

#include "traces/recorder/preload.hpp"

namespace heaplay::preload {

namespace {

namespace w = heaplay::record_wire;

constexpr uint32_t kRingRecords = 4096;          // a power of two; 160 KiB of records
constexpr uint32_t kSiteCache = 1024;            // callers a thread remembers having named
// A record waits at most this long in its ring (ticks: 100 ms at 1 GHz,
// 33 ms at 3 GHz; only a threshold, not worth calibrating)...
constexpr uint64_t kMaxAgeTicks = 100'000'000;
constexpr uint64_t kStaleSeq = 4 * kRingRecords;  // ...or this many calls behind the newest
constexpr int kSendBuffer = 4 << 20;             // SO_SNDBUF asked for (the kernel caps it)

struct Ring {
  std::atomic<uint64_t> head{0};  // records published; written by the owner only
  char pad0[56];
  std::atomic<uint64_t> tail{0};  // records sent; written under the flush lock
  std::atomic<int> lock{0};       // the flush lock
  std::atomic<long> lock_owner{0};  // the tid holding it
  std::atomic<int> in_use{0};     // owned by a live thread
  std::atomic<uint64_t> tid{0};   // the owner's Linux thread id
  Ring* next = nullptr;           // the list of every ring ever made (never shrinks)
  uint64_t named[kSiteCache];     // callers this ring's threads have named (direct-mapped)
  w::Record recs[kRingRecords];
};

std::atomic<Ring*> g_rings{nullptr};
alignas(64) std::atomic<uint64_t> g_seq{0};
alignas(64) pthread_mutex_t g_send = PTHREAD_MUTEX_INITIALIZER;
std::atomic<long> g_send_owner{0};
int g_fd = -1;
dev_t g_dev = 0;
ino_t g_ino = 0;
pthread_key_t g_key;
std::atomic<bool> g_final{false};

HEAPLAY_TLS Ring* t_ring = nullptr;
HEAPLAY_TLS long t_tid = 0;
HEAPLAY_TLS int t_exited = 0;  // the thread gave its ring back (its key destructor ran)

long my_tid() {
  if (t_tid == 0) t_tid = syscall(SYS_gettid);
  return t_tid;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The record clock (wire.hpp: ClockKind).
#if defined(__x86_64__)
constexpr w::ClockKind kClock = w::ClockKind::Tsc;
inline uint64_t ticks() { return __builtin_ia32_rdtsc(); }
#else
constexpr w::ClockKind kClock = w::ClockKind::Nanoseconds;
inline uint64_t ticks() { return now_ns(); }
#endif

// ---- sending ----------------------------------------------------------------

bool send_iov(iovec* iov, int n) {
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = static_cast<size_t>(n);
  while (m.msg_iovlen > 0) {
    ssize_t k = sendmsg(g_fd, &m, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(k);
    while (m.msg_iovlen > 0 && left >= m.msg_iov->iov_len) {
      left -= m.msg_iov->iov_len;
      ++m.msg_iov;
      --m.msg_iovlen;
    }
    if (m.msg_iovlen > 0) {
      m.msg_iov->iov_base = static_cast<char*>(m.msg_iov->iov_base) + left;
      m.msg_iov->iov_len -= left;
    }
  }
  return true;
}

// The socket is still ours: a program that closes every descriptor and opens
// new ones could otherwise have us write into a socket of its own.
bool fd_is_ours() {
  struct stat st;
  return g_fd >= 0 && fstat(g_fd, &st) == 0 && st.st_dev == g_dev && st.st_ino == g_ino;
}

// wait false: only if the mutex is free now or soon (signal handlers), and
// never when this thread holds it already (a signal arrived mid-send).
bool lock_send(bool wait) {
  if (wait) {
    pthread_mutex_lock(&g_send);
  } else {
    if (g_send_owner.load(std::memory_order_relaxed) == my_tid()) return false;
    timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 50'000'000;
    if (until.tv_nsec >= 1'000'000'000) {
      until.tv_nsec -= 1'000'000'000;
      ++until.tv_sec;
    }
    if (pthread_mutex_timedlock(&g_send, &until) != 0) return false;
  }
  g_send_owner.store(my_tid(), std::memory_order_relaxed);
  return true;
}

void unlock_send() {
  g_send_owner.store(0, std::memory_order_relaxed);
  pthread_mutex_unlock(&g_send);
}

// One chunk of a + b records made by thread tid. A failure turns recording off
// (the parent is gone): the program goes on, unrecorded.
bool send_chunk(uint64_t tid, const w::Record* a, size_t na, const w::Record* b, size_t nb, bool wait) {
  if (!lock_send(wait)) return false;
  bool ok = fd_is_ours();
  if (ok) {
    w::ChunkHeader h;
    h.count = static_cast<uint32_t>(na + nb);
    h.tid = tid;
    h.ticks = ticks();
    h.monotonic_ns = now_ns();
    iovec iov[3] = {{&h, sizeof h}, {const_cast<w::Record*>(a), na * sizeof *a}, {const_cast<w::Record*>(b), nb * sizeof *b}};
    ok = send_iov(iov, nb ? 3 : 2);
  }
  if (!ok) g_state.store(kOff, std::memory_order_release);
  unlock_send();
  return ok;
}

// ---- rings --------------------------------------------------------------------

bool lock_ring(Ring* r, bool wait) {
  const long me = my_tid();
  if (r->lock_owner.load(std::memory_order_relaxed) == me) return false;  // a signal during our own flush
  for (int spins = 0;; ++spins) {
    int free = 0;
    if (r->lock.compare_exchange_weak(free, 1, std::memory_order_acquire)) break;
    if (!wait && spins > 64) return false;
    if (spins > 16) sched_yield();
  }
  r->lock_owner.store(me, std::memory_order_relaxed);
  return true;
}

void unlock_ring(Ring* r) {
  r->lock_owner.store(0, std::memory_order_relaxed);
  r->lock.store(0, std::memory_order_release);
}

// Sends what r holds. Records are dropped if sending fails (recording is off then).
bool flush_ring(Ring* r, bool wait) {
  if (!lock_ring(r, wait)) return false;
  const uint64_t t = r->tail.load(std::memory_order_relaxed);
  const uint64_t h = r->head.load(std::memory_order_acquire);
  bool ok = true;
  if (h != t) {
    const size_t n = h - t, at = t & (kRingRecords - 1), first = n < kRingRecords - at ? n : kRingRecords - at;
    ok = send_chunk(r->tid.load(std::memory_order_relaxed), r->recs + at, first, r->recs, n - first, wait);
    r->tail.store(h, std::memory_order_release);
  }
  unlock_ring(r);
  return ok;
}

// Another thread's ring holds records that are old (by time or by sequence).
bool stale(Ring* r, uint64_t now, uint64_t seq_now) {
  const uint64_t h = r->head.load(std::memory_order_acquire);
  const uint64_t t = r->tail.load(std::memory_order_acquire);
  if (h == t) return false;
  // A benign race: the owner may overwrite this slot once a flusher moves the
  // tail on; the values only decide whether to try a flush.
  const w::Record& x = r->recs[t & (kRingRecords - 1)];
  const uint64_t time = __atomic_load_n(&x.ticks, __ATOMIC_RELAXED);
  const uint64_t seq = __atomic_load_n(&x.seq_op, __ATOMIC_RELAXED) >> 8;
  return now - time > kMaxAgeTicks || seq_now - seq > kStaleSeq;
}

void flush_stale(Ring* own, uint64_t now) {
  const uint64_t seq_now = g_seq.load(std::memory_order_relaxed);
  for (Ring* r = g_rings.load(std::memory_order_acquire); r; r = r->next)
    if (r != own && r->in_use.load(std::memory_order_acquire) && stale(r, now, seq_now)) flush_ring(r, false);
}

void release_ring(void* p) {
  ++t_guard;
  Ring* r = static_cast<Ring*>(p);
  flush_ring(r, true);
  t_ring = nullptr;
  t_exited = 1;  // calls later in this thread's exit go out one by one
  r->in_use.store(0, std::memory_order_release);
  --t_guard;
}

// The calling thread's ring: a released one, or a new mapping.
Ring* attach() {
  Ring* r = g_rings.load(std::memory_order_acquire);
  for (; r; r = r->next) {
    int free = 0;
    if (r->in_use.load(std::memory_order_relaxed) == 0 && r->in_use.compare_exchange_strong(free, 1)) break;
  }
  if (!r) {
    void* m = mmap(nullptr, sizeof(Ring), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    r = new (m) Ring();
    r->in_use.store(1, std::memory_order_relaxed);
    Ring* head = g_rings.load(std::memory_order_relaxed);
    do r->next = head;
    while (!g_rings.compare_exchange_weak(head, r, std::memory_order_release, std::memory_order_relaxed));
  }
  r->tid.store(static_cast<uint64_t>(my_tid()), std::memory_order_relaxed);
  t_ring = r;
  pthread_setspecific(g_key, r);  // release_ring at thread exit
  return r;
}

// ---- sites --------------------------------------------------------------------

// The text of a site: "module" NUL "symbol"; *offset from the symbol, or
// from the module's base when there is no symbol. 0 bytes when unknown.
uint32_t describe(const void* caller, char* text, uint64_t* offset, bool* symbol) {
  Dl_info info;
  if (!dladdr(caller, &info) || !info.dli_fname) return 0;
  size_t m = strnlen(info.dli_fname, w::kMaxSiteText / 2);
  std::memcpy(text, info.dli_fname, m);
  text[m] = '\0';
  uint32_t n = static_cast<uint32_t>(m + 1);
  *symbol = info.dli_sname && info.dli_saddr;
  if (*symbol) {
    size_t s = strnlen(info.dli_sname, w::kMaxSiteText - n);
    std::memcpy(text + n, info.dli_sname, s);
    n += static_cast<uint32_t>(s);
    *offset = reinterpret_cast<uintptr_t>(caller) - reinterpret_cast<uintptr_t>(info.dli_saddr);
  } else {
    *offset = reinterpret_cast<uintptr_t>(caller) - reinterpret_cast<uintptr_t>(info.dli_fbase);
  }
  return n;
}

// Writes a site record and its text into slots [0, 1 + site_slots(n)) of out
// (a ring, through at(), or a plain array).
template <class At>
void put_site(At at, const void* caller, const char* text, uint32_t n, uint64_t offset, bool symbol, uint64_t now) {
  w::Record& s = at(0);
  s.seq_op = (uint64_t{symbol} << 8) | w::kSite;
  s.ticks = now;
  s.addr = reinterpret_cast<uintptr_t>(caller);
  s.size = n;
  s.caller = offset;
  for (uint32_t i = 0; i < w::site_slots(n); ++i) {
    uint32_t k = n - i * sizeof(w::Record) < sizeof(w::Record) ? n - i * static_cast<uint32_t>(sizeof(w::Record))
                                                              : static_cast<uint32_t>(sizeof(w::Record));
    std::memcpy(&at(1 + i), text + i * sizeof(w::Record), k);
  }
}

// The record straight to the socket, with its site's name first: the thread
// has no ring any more (it is exiting) or the process is past its destructors.
void note_direct(uint8_t op, const void* addr, uint64_t size, const void* caller) {
  w::Record out[2 + w::kMaxSiteText / sizeof(w::Record) + 1];
  uint32_t n = 0;
  if (g_settings.sites && caller) {
    char text[w::kMaxSiteText];
    uint64_t offset = 0;
    bool symbol = false;
    uint32_t len = describe(caller, text, &offset, &symbol);
    if (len) {
      put_site([&](uint32_t i) -> w::Record& { return out[i]; }, caller, text, len, offset, symbol, ticks());
      n = 1 + w::site_slots(len);
    }
  }
  w::Record& x = out[n++];
  x.seq_op = (g_seq.fetch_add(1, std::memory_order_relaxed) << 8) | op;
  x.ticks = ticks();
  x.addr = reinterpret_cast<uintptr_t>(addr);
  x.size = size;
  x.caller = reinterpret_cast<uintptr_t>(caller);
  send_chunk(static_cast<uint64_t>(my_tid()), out, n, nullptr, 0, true);
}

// ---- fork and signals ------------------------------------------------------

// In a forked child: the rings' records belong to the parent process (which
// sends its own copies), the other threads do not exist here, and the socket
// is the parent's. Followed, the child starts a stream of its own.
void after_fork_child() {
  t_tid = 0;
  g_seq.store(0, std::memory_order_relaxed);
  pthread_mutex_init(&g_send, nullptr);
  g_send_owner.store(0, std::memory_order_relaxed);
  for (Ring* r = g_rings.load(std::memory_order_relaxed); r; r = r->next) {
    r->lock.store(0, std::memory_order_relaxed);
    r->lock_owner.store(0, std::memory_order_relaxed);
    r->tail.store(r->head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    std::memset(r->named, 0, sizeof r->named);  // a new stream: its sites are named anew
    if (r != t_ring) r->in_use.store(0, std::memory_order_relaxed);
  }
  if (t_ring) t_ring->tid.store(static_cast<uint64_t>(my_tid()), std::memory_order_relaxed);
  if (g_fd >= 0) close(g_fd);
  g_fd = -1;
  if (g_state.load(std::memory_order_relaxed) != kOn) return;
  ++t_guard;
  bool on = g_settings.follow && connect_parent(w::HelloKind::Fork);
  if (!g_settings.follow) scrub_environment();
  --t_guard;
  if (!on) g_state.store(kOff, std::memory_order_release);
}

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS,  SIGILL,  SIGFPE,  SIGABRT, SIGTERM, SIGINT,  SIGHUP,
                                 SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGSYS};

// Sends what it safely can, then lets the signal do what it would have done.
void on_fatal_signal(int sig) {
  const int saved = errno;
  ++t_guard;
  flush_all(false);
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
  --t_guard;
  errno = saved;
  raise(sig);  // blocked until the handler returns; a fault would also recur on return
}

}  // namespace

bool connect_parent(w::HelloKind kind) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, g_settings.socket_name, g_settings.socket_len);  // abstract: sun_path[0] == 0
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + g_settings.socket_len);
  int size = kSendBuffer;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    close(fd);
    return false;
  }
  // Out of the way of the small numbers a program dup2()s onto or expects free.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur > 1024) {
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
    if (high >= 0) {
      close(fd);
      fd = high;
    }
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return false;
  }
  g_fd = fd;
  g_dev = st.st_dev;
  g_ino = st.st_ino;
  w::Hello h;
  h.pid = static_cast<uint64_t>(getpid());
  h.ppid = static_cast<uint64_t>(getppid());
  h.kind = kind;
  h.clock = kClock;
  h.ticks = ticks();
  h.monotonic_ns = now_ns();
  // The command line: the parent labels the image with it (the process may be
  // gone by the time the parent looks at /proc).
  static char cmdline[w::kMaxCmdline];
  int cf = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (cf >= 0) {
    ssize_t k;
    while (h.cmdline_bytes < sizeof cmdline &&
           (k = read(cf, cmdline + h.cmdline_bytes, sizeof cmdline - h.cmdline_bytes)) > 0)
      h.cmdline_bytes += static_cast<uint32_t>(k);
    close(cf);
  }
  iovec iov[2] = {{&h, sizeof h}, {cmdline, h.cmdline_bytes}};
  if (!send_iov(iov, 2)) {
    close(fd);
    g_fd = -1;
    return false;
  }
  return true;
}

void install_handlers() {
  pthread_key_create(&g_key, release_ring);
  pthread_atfork(nullptr, nullptr, after_fork_child);
  for (int sig : kFatalSignals) {
    struct sigaction old{};
    if (sigaction(sig, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa{};
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

void note(uint8_t op, const void* addr, uint64_t size, const void* caller) {
  Ring* r = t_ring;
  if (!r) [[unlikely]] {
    if (t_exited || g_final.load(std::memory_order_relaxed) || !(r = attach())) {
      note_direct(op, addr, size, caller);
      return;
    }
  }
  if (g_final.load(std::memory_order_relaxed)) [[unlikely]] {
    note_direct(op, addr, size, caller);
    return;
  }
  // The caller's name first, when this thread has not sent it yet.
  char text[w::kMaxSiteText];
  uint32_t text_len = 0;
  uint64_t offset = 0;
  bool symbol = false;
  uint64_t* named = nullptr;
  if (g_settings.sites && caller) {
    const uintptr_t c = reinterpret_cast<uintptr_t>(caller);
    named = &r->named[(c * 0x9E3779B97F4A7C15ull) >> (64 - 10)];
    static_assert(kSiteCache == 1u << 10);
    if (*named != c) text_len = describe(caller, text, &offset, &symbol);
    else named = nullptr;
  }
  const uint32_t need = 1 + (text_len ? 1 + w::site_slots(text_len) : 0);
  uint64_t h = r->head.load(std::memory_order_relaxed);
  uint64_t now;
  if (h + need - r->tail.load(std::memory_order_acquire) > kRingRecords) [[unlikely]] {
    flush_ring(r, true);
    flush_stale(r, ticks());
    h = r->head.load(std::memory_order_relaxed);
    if (h + need - r->tail.load(std::memory_order_acquire) > kRingRecords) return;  // could not send: dropped
  }
  auto at = [&](uint32_t i) -> w::Record& { return r->recs[(h + i) & (kRingRecords - 1)]; };
  if (text_len) {
    put_site(at, caller, text, text_len, offset, symbol, ticks());
    *named = reinterpret_cast<uintptr_t>(caller);
  }
  w::Record& x = at(need - 1);
  x.seq_op = (g_seq.fetch_add(1, std::memory_order_relaxed) << 8) | op;
  x.ticks = now = ticks();
  x.addr = reinterpret_cast<uintptr_t>(addr);
  x.size = size;
  x.caller = reinterpret_cast<uintptr_t>(caller);
  r->head.store(h + need, std::memory_order_release);
  // Flush when the oldest record waiting has waited long enough.
  const uint64_t t = r->tail.load(std::memory_order_relaxed);
  if (now - __atomic_load_n(&r->recs[t & (kRingRecords - 1)].ticks, __ATOMIC_RELAXED) > kMaxAgeTicks) [[unlikely]] {
    flush_ring(r, true);
    flush_stale(r, now);
  }
}

void flush_all(bool wait) {
  for (Ring* r = g_rings.load(std::memory_order_acquire); r; r = r->next)
    if (r->in_use.load(std::memory_order_acquire)) flush_ring(r, wait);
}

void enter_final() {
  flush_all(true);
  g_final.store(true, std::memory_order_relaxed);
  flush_all(true);  // what threads added while the flag was on its way
}

}  // namespace heaplay::preload
