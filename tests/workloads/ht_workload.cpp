// ht_workload.cpp: a program with a known allocation pattern, recorded by
// heaptrack in tests/heaptrack_test.cpp (and, with a large ROUNDS, for the
// speed comparison with heaptrack_print in docs/trace-format.md).
//
// Usage: ht_workload [ROUNDS]   (default 1)
// Per round: kTemp malloc/free pairs of kTempSize bytes (temporary),
// kKept blocks of kKeptSize bytes from new[], freed first to last (not LIFO),
// and one realloc chain of kChain steps. At the end kLeaks blocks of
// kLeakSize bytes stay allocated. The sizes are odd on purpose: nothing else
// in the process asks for them, so tests can count them among all blocks.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {
constexpr int kTemp = 1000, kTempSize = 12345;
constexpr int kKept = 300, kKeptSize = 4321;
constexpr int kChain = 5;  // realloc to 1111, 2222, ... bytes
constexpr int kLeaks = 7, kLeakSize = 999;

// Through volatile pointers, so the optimizer cannot drop a malloc/free pair.
void* (*volatile do_malloc)(size_t) = std::malloc;
void* (*volatile do_realloc)(void*, size_t) = std::realloc;
void (*volatile do_free)(void*) = std::free;
volatile char sink;
}  // namespace

int main(int argc, char** argv) {
  long rounds = argc > 1 ? std::atol(argv[1]) : 1;
  std::vector<char*> kept(kKept);  // allocated once, before the rounds
  for (long r = 0; r < rounds; ++r) {
    for (int i = 0; i < kTemp; ++i) {
      char* p = static_cast<char*>(do_malloc(kTempSize));
      p[0] = static_cast<char>(i);
      sink = p[0];
      do_free(p);
    }
    for (int i = 0; i < kKept; ++i) kept[i] = new char[kKeptSize];
    for (int i = 0; i < kKept; ++i) delete[] kept[i];
    void* c = nullptr;
    for (int i = 1; i <= kChain; ++i) c = do_realloc(c, 1111 * i);
    do_free(c);
  }
  for (int i = 0; i < kLeaks; ++i) sink = *static_cast<char*>(std::memset(do_malloc(kLeakSize), 1, kLeakSize));
  std::printf("ht_workload: %ld rounds\n", rounds);
  return 0;
}
