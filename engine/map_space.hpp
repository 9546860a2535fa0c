// map_space.hpp: raw sim's simulated mmap address space.
//
// Why: raw sim touches no memory, but mapped blocks and the pooled layer's
// arenas still need addresses that are deterministic, non-overlapping and
// reused after munmap the way a kernel would, and arenas need a requested
// alignment. MapSpace hands out page-granular ranges of [floor, ceiling).
//
// Placement (documented in docs/raw-sim.md): mappings fill the space from the
// ceiling down, as Linux's top-down mmap layout does. A new mapping goes into
// the smallest hole between existing mappings that can hold it at the
// requested alignment (ties: the highest hole), at the highest aligned address
// in that hole; with no such hole, just below the lowest mapping. Freed ranges
// merge with the holes beside them; a hole that reaches the lowest mapping is
// no longer a hole but part of the free space below. Linux takes the highest
// hole that fits (first fit from the top); best fit keeps this O(log n).
//
// Memory: two tree entries per hole; holes are at most the live mappings + 1.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "engine/layer.hpp"

namespace heaplay::rawsim {

class MapSpace {
 public:
  // floor < ceiling, both multiples of every alignment asked for later.
  MapSpace(Addr floor, Addr ceiling) : floor_(floor), ceiling_(ceiling), low_(ceiling) {}

  // A range of `bytes` at a multiple of `alignment` (a power of two); throws
  // Error (exit 1) when the space has no room.
  Addr take(uint64_t bytes, uint64_t alignment);
  // Gives back [addr, addr + bytes), which must be mapped.
  void give(Addr addr, uint64_t bytes);
  // Grows the mapping [addr, addr + bytes) by `more` bytes in place (mremap
  // without moving): true when the hole just above it holds `more`.
  bool extend(Addr addr, uint64_t bytes, uint64_t more);

  // Bytes between the lowest mapping and the ceiling that are not holes.
  uint64_t mapped_bytes() const { return ceiling_ - low_ - hole_bytes_; }
  // Holes ordered, separate, merged, above the lowest mapping; both indexes agree.
  bool is_valid() const;

 private:
  // By size, ties by the highest address first.
  struct BySize {
    bool operator()(const std::pair<uint64_t, Addr>& a, const std::pair<uint64_t, Addr>& b) const {
      return a.first != b.first ? a.first < b.first : a.second > b.second;
    }
  };
  void add_hole(Addr start, uint64_t bytes);
  void remove_hole(std::map<Addr, uint64_t>::iterator it);

  Addr floor_, ceiling_;
  Addr low_;  // the lowest mapping's address (ceiling_ when none): [floor_, low_) is free
  std::map<Addr, uint64_t> holes_;                        // start -> bytes
  std::set<std::pair<uint64_t, Addr>, BySize> by_size_;  // (bytes, start)
  uint64_t hole_bytes_ = 0;
};

}  // namespace heaplay::rawsim
