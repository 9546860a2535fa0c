/* steady.c: `steady N` writes a heaplay text trace of N records whose live
 * set stays near 50,000 blocks however long it runs (perf.sh's memory
 * figures, scaling.sh's 10M/100M/1B traces). Ids are below 100,000; each
 * record frees its id if live, else allocates it (16-515 bytes). A fixed
 * xorshift seed: the same N gives the same trace. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: steady N\n");
    return 2;
  }
  unsigned long n = strtoul(argv[1], 0, 10), x = 88172645463325252ul;
  enum { K = 100000 };
  static unsigned char live[K];
  for (unsigned long i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    unsigned long id = x % K;
    if (live[id]) { printf("f %lu\n", id); live[id] = 0; }
    else { printf("a %lu %lu\n", id, 16 + (x >> 40) % 500); live[id] = 1; }
  }
  return 0;
}
