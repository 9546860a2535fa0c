// test_main.cpp: the test binary's main: GoogleTest's, after one step.
//
// The real-allocator tests load jemalloc with dlopen, which needs static TLS
// reserved from the process's start (engine/malloc_library.hpp); so the
// binary starts again with that tunable set, as heaplay itself does.
#include <gtest/gtest.h>

#include "engine/malloc_library.hpp"

int main(int argc, char** argv) {
  heaplay::reexec_with_static_tls(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
