// os_memory.cpp: see os_memory.hpp.
#include "engine/os_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

namespace {

void* ptr(Addr a) { return reinterpret_cast<void*>(static_cast<uintptr_t>(a)); }

// Reads a small /proc file into buf (NUL-terminated) without allocating; false if it cannot.
bool read_proc(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t got = read(fd, buf + n, cap - 1 - n);
    if (got <= 0) break;
    n += static_cast<size_t>(got);
  }
  close(fd);
  buf[n] = '\0';
  return n > 0;
}

}  // namespace

uint64_t page_bytes() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

uint64_t rss_now() {
  // Opening a /proc file costs several times what reading it does (tens of
  // microseconds on a busy machine): keep it open and read it again from
  // offset 0 (a seq file regenerates its text). The file is the process's
  // that opened it, so a forked child (compare's workers) opens its own.
  static int fd = -1;
  static pid_t owner = 0;
  const pid_t pid = getpid();
  if (fd < 0 || owner != pid) {
    if (fd >= 0 && owner != pid) close(fd);
    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    owner = pid;
    if (fd < 0) return 0;
  }
  char buf[256];
  const ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
  if (got <= 0) return 0;
  buf[got] = '\0';
  char* end;
  std::strtoull(buf, &end, 10);  // size, then resident (pages)
  return std::strtoull(end, nullptr, 10) * page_bytes();
}

uint64_t rss_peak() {
  char buf[4096];
  if (!read_proc("/proc/self/status", buf, sizeof buf)) return 0;
  const char* line = std::strstr(buf, "VmHWM:");
  return line ? std::strtoull(line + 6, nullptr, 10) * 1024 : 0;
}

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  return pages > 0 ? static_cast<uint64_t>(pages) * page_bytes() : 0;
}

uint64_t default_max_memory() {
  const uint64_t phys = physical_memory_bytes();
  return phys ? phys / 2 : UINT64_MAX;
}

void write_block_rest(Touch touch, void* p, uint64_t from, uint64_t to, uint64_t page) {
  if (touch == Touch::None || from >= to) return;
  volatile unsigned char* base = static_cast<unsigned char*>(p);
  if (touch == Touch::First) {
    for (uint64_t i = from; i < std::min<uint64_t>(to, 8); ++i) base[i] = kTouchByte;
    return;
  }
  // All: the first byte, then the first byte of every page after it.
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (uint64_t off = from; off < to; off = ((a + off) | (page - 1)) + 1 - a) base[off] = kTouchByte;
}

Addr PageMap::map(uint64_t bytes, uint64_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error(fmt::format("{}: map: alignment {} is not a power of two", who_, alignment), kExitFailure);
  alignment = std::max(alignment, page_);
  const uint64_t len = rounded(bytes);
  // Map enough to hold an aligned run of len bytes, then unmap both ends.
  const uint64_t span = len + alignment - page_;
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw Error(fmt::format("{}: mmap of {} bytes failed", who_, span), kExitFailure);
  const uintptr_t lo = reinterpret_cast<uintptr_t>(m), hi = lo + span;
  const uintptr_t aligned = (lo + alignment - 1) & ~(static_cast<uintptr_t>(alignment) - 1);
  if (aligned > lo) munmap(m, aligned - lo);
  if (hi > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), hi - (aligned + len));
  ++maps_;
  mapped_ += len;
  return static_cast<Addr>(aligned);
}

void PageMap::unmap(Addr a, uint64_t bytes) {
  const uint64_t len = rounded(bytes);
  munmap(ptr(a), len);
  ++unmaps_;
  mapped_ -= len;
}

void MemoryLimit::exceeded(uint64_t bytes, std::string_view what) const {
  throw Error(fmt::format("{}: {} came to {} bytes, past --max-memory {}: the replay stops before the machine runs "
                          "short of memory (give a larger --max-memory; the default is half the physical memory)",
                          who_, what, bytes, limit_),
              kExitFailure);
}

}  // namespace heaplay
