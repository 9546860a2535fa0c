// os_memory.hpp: what the real raw layers (raw_glibc, raw_real) share about
// the operating system's memory.
//
// - The process's resident set, now and at its peak, read from /proc without
//   calling malloc (the glibc layer measures this process's own heap).
// - PageMap: page-granular, aligned mappings for pooled's arenas (map()/unmap()),
//   as CPython's arena allocator takes them, whatever the malloc below.
// - write_block(): the --touch writes, so that the resident set means something.
// - MemoryLimit: --max-memory, the bytes past which a replay stops with an
//   error (exit 1) before the machine runs short of memory and swaps.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "engine/layer.hpp"
#include "engine/stack.hpp"

namespace heaplay {

uint64_t page_bytes();
// The resident set now (/proc/self/statm) and the process's peak since it
// started (VmHWM, /proc/self/status), in bytes; 0 if unreadable. No malloc.
uint64_t rss_now();
uint64_t rss_peak();
// Physical memory of the machine in bytes (sysconf), and --max-memory's
// default: half of it.
uint64_t physical_memory_bytes();
uint64_t default_max_memory();

// The byte --touch writes.
inline constexpr unsigned char kTouchByte = 0x5a;
// write_block() past its inline cases.
void write_block_rest(Touch touch, void* p, uint64_t from, uint64_t to, uint64_t page);

// Writes into bytes [from, to) of the block at p as --touch says: nothing
// (None), the part of the first 8 bytes in range (First), or one byte in
// every page of the range (All). page: the page size. Inline for the cases
// every request of the real raw layers takes: none, and a whole first-8-bytes
// touch of a new block (one store).
inline void write_block(Touch touch, void* p, uint64_t from, uint64_t to, uint64_t page) {
  if (touch == Touch::None) return;
  if (touch == Touch::First && from == 0 && to >= 8) [[likely]] {
    constexpr uint64_t kTouchWord = 0x0101010101010101ull * kTouchByte;
    std::memcpy(p, &kTouchWord, sizeof kTouchWord);
    asm volatile("" ::"r"(p) : "memory");  // the store is the point: keep it
    return;
  }
  write_block_rest(touch, p, from, to, page);
}

// Aligned anonymous mappings (pooled's arenas): a larger mapping, then both
// ends unmapped, so exactly the rounded-up bytes stay mapped. `who` names the
// layer in error messages ("--raw glibc").
class PageMap {
 public:
  explicit PageMap(std::string_view who) : who_(who), page_(page_bytes()) {}
  // bytes rounded up to pages; alignment a power of two (at least a page is used).
  Addr map(uint64_t bytes, uint64_t alignment);
  void unmap(Addr addr, uint64_t bytes);
  uint64_t rounded(uint64_t bytes) const { return (bytes + page_ - 1) / page_ * page_; }
  uint64_t maps() const { return maps_; }
  uint64_t unmaps() const { return unmaps_; }
  uint64_t mapped_bytes() const { return mapped_; }

 private:
  std::string_view who_;
  uint64_t page_;
  uint64_t maps_ = 0, unmaps_ = 0, mapped_ = 0;
};

// --max-memory: a limit on the bytes a real raw layer holds (checked per
// request against a cheap lower bound, and at the replay's refresh points
// against the allocator's own figure and the resident set).
class MemoryLimit {
 public:
  MemoryLimit(std::string_view who, uint64_t limit) : who_(who), limit_(limit) {}
  uint64_t limit() const { return limit_; }
  // Throws Error (exit 1) when bytes passes the limit; `what` says what holds them.
  void check(uint64_t bytes, std::string_view what) const {
    if (bytes > limit_) [[unlikely]]
      exceeded(bytes, what);
  }

 private:
  [[noreturn]] void exceeded(uint64_t bytes, std::string_view what) const;
  std::string_view who_;
  uint64_t limit_;
};

}  // namespace heaplay
