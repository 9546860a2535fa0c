/* pymalloc_oracle.c: replays a request sequence through the real CPython
 * object allocator (pymalloc) and prints its own statistics, so that tests
 * can hold heaplay's pooled layer to what CPython actually does.
 *
 * Why without Py_Initialize: from 3.8 to 3.11 pymalloc's state (usedpools,
 * arenas, counters) is file-static and the object allocator is usable before
 * the interpreter exists, so the only allocations pymalloc sees are the ones
 * replayed here; an initialized interpreter would add thousands of its own.
 * (3.12 moved that state into the runtime structure, so this oracle is for
 * 3.8-3.11.) This program calls no PyObject_* or PyMem_* function other than
 * the replayed PyObject_Malloc/Realloc/Free, the arena allocator set-up and
 * _PyObject_DebugMallocStats; its own table lives in plain malloc memory.
 *
 * Arenas come from an aligned mmap, so every arena starts on a pool boundary
 * (heaplay's pooled.arena_alignment=aligned) and "# bytes lost to arena
 * alignment" stays 0; with `--arena-offset N` every arena starts N bytes past
 * a 16 KiB boundary instead (N = 4096: what a page-aligned mmap often gives),
 * so CPython loses a pool per arena (heaplay's unaligned).
 *
 * Input on stdin, one request a line (IDs are small non-negative integers):
 *   a ID SIZE   PyObject_Malloc(SIZE), remembered as ID
 *   r ID SIZE   PyObject_Realloc(ID's block, SIZE)
 *   f ID        PyObject_Free(ID's block)
 *   s           print "@stats N" (N counts from 1), then _PyObject_DebugMallocStats(stdout)
 * Anything else, or an ID used wrongly, is an error (exit 2, message on stderr).
 * `--version` prints the Python version the program was built against.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Public API in 3.8-3.10 (cpython/objimpl.h), internal in 3.11 (pycore_pymem.h);
 * exported by libpython in all of them. */
PyAPI_FUNC(int) _PyObject_DebugMallocStats(FILE* out);

/* Arenas are aligned to this many bytes: the largest pool size (16 KiB, 3.10+). */
#define ORACLE_ARENA_ALIGN ((size_t)16 << 10)

/* Bytes past a 16 KiB boundary where each arena starts (--arena-offset). */
static size_t arena_offset;

static void* oracle_arena_alloc(void* ctx, size_t size) {
  (void)ctx;
  /* Over-map by the alignment, then give back the head and the tail around
   * [start, start + size). */
  size_t span = size + 2 * ORACLE_ARENA_ALIGN;
  char* p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  uintptr_t start = ((uintptr_t)p + ORACLE_ARENA_ALIGN - 1) & ~(uintptr_t)(ORACLE_ARENA_ALIGN - 1);
  start += arena_offset;
  size_t head = start - (uintptr_t)p;
  if (head) munmap(p, head);
  size_t tail = span - head - size;
  if (tail) munmap((char*)start + size, tail);
  return (void*)start;
}

static void oracle_arena_free(void* ctx, void* ptr, size_t size) {
  (void)ctx;
  munmap(ptr, size);
}

static void** blocks;      /* by ID; NULL when the ID is not live */
static size_t nblocks;

static void die(unsigned long line, const char* why) {
  if (line) fprintf(stderr, "pymalloc_oracle: line %lu: %s\n", line, why);
  else fprintf(stderr, "pymalloc_oracle: %s\n", why);
  exit(2);
}

static void** slot(unsigned long line, unsigned long id) {
  if (id >= (1ul << 28)) die(line, "ID too large");
  if (id >= nblocks) {
    size_t n = nblocks ? nblocks : 1024;
    while (n <= id) n *= 2;
    void** grown = realloc(blocks, n * sizeof(void*));
    if (!grown) die(line, "out of memory");
    memset(grown + nblocks, 0, (n - nblocks) * sizeof(void*));
    blocks = grown;
    nblocks = n;
  }
  return &blocks[id];
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("%s\n", PY_VERSION);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "--arena-offset") == 0) {
    arena_offset = strtoul(argv[2], NULL, 10);
    if (arena_offset % 4096 != 0 || arena_offset >= ORACLE_ARENA_ALIGN)
      die(0, "--arena-offset: a multiple of 4096 below 16384");
  } else if (argc != 1) {
    die(0, "usage: pymalloc_oracle [--version | --arena-offset N] < requests");
  }
  PyObjectArenaAllocator arenas = {NULL, oracle_arena_alloc, oracle_arena_free};
  PyObject_SetArenaAllocator(&arenas);

  char text[256];
  unsigned long line = 0, stats = 0;
  while (fgets(text, sizeof text, stdin)) {
    ++line;
    char op;
    unsigned long id;
    unsigned long long size;
    if (text[0] == '\n' || text[0] == '#') continue;
    if (sscanf(text, " %c", &op) != 1) die(line, "empty request");
    switch (op) {
      case 'a': {
        if (sscanf(text, " a %lu %llu", &id, &size) != 2) die(line, "expected: a ID SIZE");
        void** b = slot(line, id);
        if (*b) die(line, "ID is live already");
        *b = PyObject_Malloc((size_t)size);
        if (!*b) die(line, "PyObject_Malloc failed");
        break;
      }
      case 'r': {
        if (sscanf(text, " r %lu %llu", &id, &size) != 2) die(line, "expected: r ID SIZE");
        void** b = slot(line, id);
        if (!*b) die(line, "ID is not live");
        void* moved = PyObject_Realloc(*b, (size_t)size);
        if (!moved) die(line, "PyObject_Realloc failed");
        *b = moved;
        break;
      }
      case 'f': {
        if (sscanf(text, " f %lu", &id) != 1) die(line, "expected: f ID");
        void** b = slot(line, id);
        if (!*b) die(line, "ID is not live");
        PyObject_Free(*b);
        *b = NULL;
        break;
      }
      case 's':
        printf("@stats %lu\n", ++stats);
        fflush(stdout);
        if (!_PyObject_DebugMallocStats(stdout)) die(line, "pymalloc is not the object allocator");
        fflush(stdout);
        break;
      default: die(line, "unknown request (expected a, r, f or s)");
    }
  }
  if (ferror(stdin)) die(line, "cannot read standard input");
  return 0;
}
