// sanitizer.hpp: whether this build runs under a sanitizer whose allocator
// replaces glibc's malloc (ASan, TSan).
//
// GCC defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__; clang before 16
// defines neither and answers __has_feature() instead. Code that reads glibc's
// chunk headers (raw glibc) or replaces malloc itself (tests/malloc_count.cpp)
// must know, or it breaks the sanitizer's allocator at start-up.
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAPLAY_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEAPLAY_SANITIZER_MALLOC 1
#endif
#endif
#ifndef HEAPLAY_SANITIZER_MALLOC
#define HEAPLAY_SANITIZER_MALLOC 0
#endif
