// mt_workload.cpp: a program with a known allocation pattern that traces
// itself with glibc's mtrace() (recorded by tests/mtrace_test.cpp with
// MALLOC_TRACE set; glibc 2.34+ also needs LD_PRELOAD=libc_malloc_debug.so.0).
//
// Between mtrace() and muntrace(): 50 malloc/free pairs of 333 bytes, 20
// calloc(4, 111) kept, a realloc chain 100 -> 5000 -> 60 (moves at least
// once), a realloc(NULL, 77) freed with realloc(p, 0), and 3 blocks of 999
// bytes never freed.
#include <mcheck.h>

#include <cstdio>
#include <cstdlib>

namespace {
void* (*volatile do_malloc)(size_t) = std::malloc;
void* (*volatile do_calloc)(size_t, size_t) = std::calloc;
void* (*volatile do_realloc)(void*, size_t) = std::realloc;
void (*volatile do_free)(void*) = std::free;
}  // namespace

int main() {
  mtrace();
  for (int i = 0; i < 50; ++i) do_free(do_malloc(333));
  void* kept[20];
  for (auto& k : kept) k = do_calloc(4, 111);
  void* c = do_malloc(100);
  c = do_realloc(c, 5000);
  c = do_realloc(c, 60);
  void* z = do_realloc(nullptr, 77);
  do_realloc(z, 0);  // frees z, returns NULL
  for (int i = 0; i < 3; ++i) (void)do_malloc(999);
  for (auto& k : kept) do_free(k);
  do_free(c);
  muntrace();
  std::puts("mt_workload done");
  return 0;
}
