// malloc_count.cpp: see malloc_count.hpp.
#include "tests/malloc_count.hpp"

#include <cstddef>
#include <cstdlib>

namespace heaplay::testing {
namespace {
thread_local uint64_t t_calls = 0;  // trivially initialised: no TLS wrapper, safe before main
}  // namespace

uint64_t thread_malloc_calls() { return t_calls; }

}  // namespace heaplay::testing

#if !HEAPLAY_SANITIZER_MALLOC
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);

void* malloc(size_t n) noexcept {
  ++heaplay::testing::t_calls;
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) noexcept {
  ++heaplay::testing::t_calls;
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) noexcept {
  ++heaplay::testing::t_calls;
  return __libc_realloc(p, n);
}
}
#endif
