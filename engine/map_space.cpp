// map_space.cpp: placement rules of raw sim's simulated mmap space (see map_space.hpp).
#include "engine/map_space.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay::rawsim {

void MapSpace::add_hole(Addr start, uint64_t bytes) {
  holes_.emplace(start, bytes);
  by_size_.emplace(bytes, start);
  hole_bytes_ += bytes;
}

void MapSpace::remove_hole(std::map<Addr, uint64_t>::iterator it) {
  by_size_.erase({it->second, it->first});
  hole_bytes_ -= it->second;
  holes_.erase(it);
}

Addr MapSpace::take(uint64_t bytes, uint64_t alignment) {
  // The smallest hole that holds an aligned range; the first entry of a size
  // is its highest hole.
  for (auto it = by_size_.lower_bound({bytes, ~Addr{0}}); it != by_size_.end(); ++it) {
    const auto [len, start] = *it;
    const Addr at = (start + len - bytes) & ~(alignment - 1);  // the highest aligned fit
    if (at < start) continue;
    remove_hole(holes_.find(start));
    if (at > start) add_hole(start, at - start);
    if (at + bytes < start + len) add_hole(at + bytes, start + len - (at + bytes));
    return at;
  }
  // Below the lowest mapping; the alignment's leftover above becomes a hole.
  if (low_ - floor_ < bytes || ((low_ - bytes) & ~(alignment - 1)) < floor_)
    throw Error(fmt::format("raw sim: no room for a mapping of {} bytes in the simulated address space", bytes),
                kExitBadInput);
  const Addr at = (low_ - bytes) & ~(alignment - 1);
  if (at + bytes < low_) add_hole(at + bytes, low_ - (at + bytes));
  low_ = at;
  return at;
}

void MapSpace::give(Addr addr, uint64_t bytes) {
  Addr start = addr, end = addr + bytes;
  if (auto above = holes_.find(end); above != holes_.end()) {
    end += above->second;
    remove_hole(above);
  }
  if (auto below = holes_.lower_bound(start); below != holes_.begin()) {
    --below;
    if (below->first + below->second == start) {
      start = below->first;
      remove_hole(below);
    }
  }
  if (start == low_) low_ = end;  // the lowest mapping went: the free space below reaches up to the next one
  else add_hole(start, end - start);
}

bool MapSpace::extend(Addr addr, uint64_t bytes, uint64_t more) {
  auto above = holes_.find(addr + bytes);
  if (above == holes_.end() || above->second < more) return false;
  const uint64_t left = above->second - more;
  remove_hole(above);
  if (left) add_hole(addr + bytes + more, left);
  return true;
}

bool MapSpace::is_valid() const {
  if (holes_.size() != by_size_.size() || low_ < floor_ || low_ > ceiling_) return false;
  Addr after = low_;  // holes start above the lowest mapping and never touch each other
  uint64_t total = 0;
  for (const auto& [start, len] : holes_) {
    if (len == 0 || start <= after || start + len > ceiling_ || !by_size_.count({len, start})) return false;
    after = start + len;
    total += len;
  }
  return total == hole_bytes_;
}

}  // namespace heaplay::rawsim
