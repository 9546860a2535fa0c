// rec_workload.cpp: programs with a known allocation pattern, recorded by
// `heaplay record` in tests/record_test.cpp.
//
// Usage: rec_workload MODE
//   sequence  one call of each interposed function, in known numbers and sizes
//   threads   8 threads allocating and freeing, some blocks freed by another thread
//   fork      allocations before and after a fork; the child allocates its own
//   exec      a few allocations, then exec of `rec_workload sequence`
//   exit      allocations, then _exit(7) (no exit handlers run)
//   abort     allocations, then abort() (a fatal signal)
//   sigkill   allocations, then SIGKILL to itself
//   pthread-exit  main calls pthread_exit; a thread allocates, the process ends with it
//   forever   allocates and frees until its parent (heaplay) is gone: tests kill heaplay meanwhile
//
// Each allocation of the known pattern is made by its own noinline function
// (one call site each), so with --sites every pattern has a tag of its own,
// "rec_workload!seq_malloc24+0x..": the tests count per tag and need not
// know what libc allocates at start-up. Sizes are odd for the same reason,
// and the sequence is bracketed by allocations of kBegin and kEnd bytes so
// that a recording without sites can be cut to it. No stdio: its buffers
// would be allocations too.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE extern "C" __attribute__((noinline, used))

namespace {
constexpr size_t kBegin = 777001, kEnd = 777002;
void* volatile sink;
}  // namespace

// The sequence's allocation sites: one call each.
NOINLINE void* seq_malloc24() { return malloc(24); }
NOINLINE void* seq_malloc100() { return malloc(100); }
NOINLINE void* seq_calloc() { return calloc(10, 40); }
NOINLINE void* seq_realloc(void* p, size_t n) { return realloc(p, n); }
NOINLINE void* seq_reallocarray(void* p, size_t n) { return reallocarray(p, n, 70); }
NOINLINE void* seq_posix_memalign() {
  void* p = nullptr;
  return posix_memalign(&p, 64, 1000) == 0 ? p : nullptr;
}
NOINLINE void* seq_aligned_alloc() { return aligned_alloc(128, 2048); }
NOINLINE void* seq_memalign() { return memalign(256, 3000); }
NOINLINE void* seq_valloc() { return valloc(5000); }
NOINLINE void* seq_pvalloc() { return pvalloc(6000); }
NOINLINE void* bracket(size_t n) { return malloc(n); }
NOINLINE void* worker_alloc(size_t n) { return malloc(n); }

namespace {

void say(const char* s) { (void)!write(1, s, strlen(s)); }

// Between the brackets, exactly (tests/record_test.cpp has the figures):
//   1000 malloc(24), 500 of them freed;
//   1 malloc(100) realloc'ed to 100000 (it moves: the old chunk cannot grow
//   that far) then to 200 (realloc 2 times), freed;
//   3 calloc(10, 40), 1 freed;
//   posix_memalign 1000, aligned_alloc 2048, memalign 3000, valloc 5000,
//   pvalloc 6000, each freed;
//   reallocarray(NULL, 10, 70) = 700 bytes, then reallocarray(p, 20, 70) =
//   1400 bytes, freed; realloc(p, 0) of a malloc(100): freed by realloc.
void sequence() {
  free(bracket(kBegin));
  void* kept[1000];
  for (void*& p : kept) p = seq_malloc24();
  for (int i = 0; i < 1000; i += 2) free(kept[i]);
  void* r = seq_malloc100();
  r = seq_realloc(r, 100000);
  r = seq_realloc(r, 200);
  free(r);
  void* c[3] = {seq_calloc(), seq_calloc(), seq_calloc()};
  free(c[1]);
  free(seq_posix_memalign());
  free(seq_aligned_alloc());
  free(seq_memalign());
  free(seq_valloc());
  free(seq_pvalloc());
  void* a = seq_reallocarray(nullptr, 10);
  a = seq_reallocarray(a, 20);
  free(a);
  sink = seq_realloc(seq_malloc100(), 0);  // glibc frees and returns NULL
  free(bracket(kEnd));
  sink = kept[1];
  sink = c[0];
}

// 8 threads, kPerThread blocks each: a thread frees the even ones itself and
// hands the odd ones to the next thread, which frees them.
constexpr int kThreads = 8, kPerThread = 2000;
void* blocks[kThreads][kPerThread];
pthread_barrier_t barrier;

void* worker(void* arg) {
  const long t = reinterpret_cast<long>(arg);
  for (int i = 0; i < kPerThread; ++i) blocks[t][i] = worker_alloc(16 + static_cast<size_t>(t));
  for (int i = 0; i < kPerThread; i += 2) free(blocks[t][i]);
  pthread_barrier_wait(&barrier);
  const long from = (t + kThreads - 1) % kThreads;
  for (int i = 1; i < kPerThread; i += 2) free(blocks[from][i]);
  return nullptr;
}

void threads() {
  sink = worker_alloc(8);  // the main thread allocates too
  pthread_barrier_init(&barrier, nullptr, kThreads);
  pthread_t th[kThreads];
  for (long t = 0; t < kThreads; ++t) pthread_create(&th[t], nullptr, worker, reinterpret_cast<void*>(t));
  for (pthread_t& x : th) pthread_join(x, nullptr);
}

// Parent: 10 x 3001 bytes before the fork, 10 x 3003 after; child: 20 x 3002.
void fork_mode() {
  for (int i = 0; i < 10; ++i) sink = worker_alloc(3001);
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < 20; ++i) sink = worker_alloc(3002);
    exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  for (int i = 0; i < 10; ++i) sink = worker_alloc(3003);
}

void* lone_thread(void*) {
  for (int i = 0; i < 50; ++i) sink = worker_alloc(4001);
  return nullptr;
}

// Until its parent (heaplay) is gone, or 60 s at most.
void forever() {
  const pid_t parent = getppid();
  void* ring[64] = {};
  for (unsigned i = 0;; ++i) {
    free(ring[i % 64]);
    ring[i % 64] = worker_alloc(5001);
    if (i % 4096 == 0) {
      if (getppid() != parent || i > 4096u * 60'000) return;
      timespec ts{0, 1'000'000};
      nanosleep(&ts, nullptr);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "sequence";
  if (!strcmp(mode, "sequence")) {
    sequence();
  } else if (!strcmp(mode, "threads")) {
    threads();
  } else if (!strcmp(mode, "fork")) {
    fork_mode();
  } else if (!strcmp(mode, "exec")) {
    for (int i = 0; i < 5; ++i) sink = worker_alloc(6001);
    execl("/proc/self/exe", argv[0], "sequence", static_cast<char*>(nullptr));
    return 1;
  } else if (!strcmp(mode, "exit")) {
    for (int i = 0; i < 100; ++i) sink = worker_alloc(7001);
    _exit(7);
  } else if (!strcmp(mode, "abort")) {
    for (int i = 0; i < 100; ++i) sink = worker_alloc(8001);
    abort();
  } else if (!strcmp(mode, "sigkill")) {
    for (int i = 0; i < 10000; ++i) free(worker_alloc(9001));
    kill(getpid(), SIGKILL);
  } else if (!strcmp(mode, "pthread-exit")) {
    pthread_t t;
    pthread_create(&t, nullptr, lone_thread, nullptr);
    pthread_exit(nullptr);
  } else if (!strcmp(mode, "forever")) {
    forever();
  } else {
    say("rec_workload: unknown mode\n");
    return 2;
  }
  return 0;
}
