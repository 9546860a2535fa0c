// malloc_count.hpp: counts the calls to malloc, calloc and realloc a thread
// makes, for tests that check a path does not allocate.
//
// tests/malloc_count.cpp defines malloc, calloc and realloc in the test
// program; they count, per thread, and call glibc's own (__libc_malloc, ...),
// so the heap and its behaviour are glibc's unchanged. Aligned allocations
// (memalign, aligned_alloc, aligned operator new) are not counted. Under a
// sanitizer, whose allocator replaces glibc's, nothing is defined or counted.
#pragma once

#include <cstdint>

#include "traces/sanitizer.hpp"

namespace heaplay::testing {

#if HEAPLAY_SANITIZER_MALLOC
inline constexpr bool kGlibcMalloc = false;  // the sanitizer's allocator replaces glibc's
#else
inline constexpr bool kGlibcMalloc = true;
#endif

// Calls to malloc, calloc and realloc this thread has made so far (0 when !kGlibcMalloc).
uint64_t thread_malloc_calls();

}  // namespace heaplay::testing
