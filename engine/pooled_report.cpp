// pooled_report.cpp: what the pooled layer reports about itself: the figures
// of CPython's _PyObject_DebugMallocStats, heaplay's layer counters, and the
// invariant check tests and HEAPLAY_CHECKS builds run.
//
// The statistics walk every carved pool of every mapped arena, as CPython's
// function does (full pools are on no list, so a walk is the only way to see
// them): O(arenas x pools per arena), for reports, never per request.
#include <cstddef>

#include "engine/pooled.hpp"

namespace heaplay {

PymallocStats PooledLayer::pymalloc_stats() const {
  PymallocStats s;
  s.small_threshold = classes_.small_threshold();
  s.size_classes = classes_.count();
  s.arena_size = params_.arena_size;
  s.pool_size = params_.pool_size;

  std::vector<PymallocStats::SizeClass> per_class(classes_.count());
  for (uint32_t ai = 0; ai < max_arenas_; ++ai) {
    const Arena& a = arenas_[ai];
    if (!a.mapped) continue;
    ++s.arenas_current;
    s.unused_pools += a.nfreepools;
    if (a.excess != 0) s.arena_alignment_bytes += params_.pool_size;
    for (uint32_t j = 0; j < a.carved; ++j) {
      const Pool& p = pools_[(ai << pools_shift_) + j];
      if (p.count == 0) continue;  // empty, on the arena's freepools
      auto& row = per_class[p.cls];
      ++row.pools;
      row.blocks_in_use += p.count;
      row.available_blocks += classes_.blocks_per_pool(p.cls) - p.count;
    }
  }
  for (uint32_t i = 0; i < classes_.count(); ++i) {
    auto& row = per_class[i];
    if (row.pools == 0) continue;
    row.index = i;
    row.size = classes_.block_size(i);
    s.allocated_bytes += row.blocks_in_use * row.size;
    s.available_bytes += row.available_blocks * row.size;
    s.pool_header_bytes += row.pools * pool_header_;
    s.quantization_bytes += row.pools * classes_.quantization(i);
    s.classes.push_back(row);
  }
  s.arenas_allocated_total = ntimes_arena_allocated_;
  s.arenas_reclaimed = ntimes_arena_allocated_ - s.arenas_current;
  s.arenas_highwater = narenas_highwater_;
  return s;
}

LayerReport PooledLayer::report() const {
  const PymallocStats s = pymalloc_stats();
  uint64_t pools_in_use = 0, blocks_in_use = 0;
  for (const auto& row : s.classes) {
    pools_in_use += row.pools;
    blocks_in_use += row.blocks_in_use;
  }
  LayerReport r;
  r.layer = "pooled";
  r.add("pooled_allocs", pooled_allocs_);
  r.add("passed_to_raw", passed_to_raw_);
  r.add("raw_blocks_current", raw_blocks_);
  r.add("reallocs_in_place", reallocs_in_place_);
  r.add("reallocs_moved", reallocs_moved_);
  r.add("arenas_allocated_total", s.arenas_allocated_total);
  r.add("arenas_reclaimed", s.arenas_reclaimed);
  r.add("arenas_highwater", s.arenas_highwater);
  r.add("arenas_current", s.arenas_current);
  r.add("arena_bytes", s.arena_bytes());
  r.add("arena_table_bytes", max_arenas_ * kArenaObjectBytes);
  r.add("pools_in_use", pools_in_use);
  r.add("pools_unused", s.unused_pools);
  r.add("blocks_in_use", blocks_in_use);
  r.add("allocated_bytes", s.allocated_bytes);
  r.add("available_bytes", s.available_bytes);
  r.add("unused_pool_bytes", s.unused_pool_bytes());
  r.add("pool_header_bytes", s.pool_header_bytes);
  r.add("quantization_bytes", s.quantization_bytes);
  r.add("arena_alignment_bytes", s.arena_alignment_bytes);
  return r;
}

// Every structural fact the code above relies on, checked from scratch.
bool PooledLayer::is_valid() const {
  const size_t npools = static_cast<size_t>(max_arenas_) << pools_shift_;
  // A list longer than the table has a cycle.
  auto bounded = [](size_t steps, size_t limit) { return steps <= limit; };
  auto pool_ok = [&](uint32_t p) {
    return p < npools && arenas_[arena_of(p)].mapped && (p & (pools_per_arena_ - 1)) < arenas_[arena_of(p)].carved;
  };

  // usedpools: each pool of its class, neither empty nor full, links mutual.
  size_t in_used_lists = 0;
  for (uint32_t c = 0; c < used_.size(); ++c) {
    uint32_t prev = kNil;
    size_t steps = 0;
    for (uint32_t p = used_[c]; p != kNil; prev = p, p = pools_[p].next) {
      if (!bounded(++steps, npools) || !pool_ok(p) || c >= classes_.count()) return false;
      const Pool& q = pools_[p];
      if (q.cls != c || q.prev != prev || q.count == 0 || q.count >= q.carved ||
          q.carved > classes_.blocks_per_pool(c))
        return false;
      ++in_used_lists;
    }
  }

  // Arenas: freepools lists, pool counts, and which arenas must be usable.
  size_t mapped = 0, partly_used_pools = 0, want_usable = 0;
  std::vector<uint64_t> class_live(class_stats_.size()), class_pools(class_stats_.size());
  for (uint32_t ai = 0; ai < max_arenas_; ++ai) {
    const Arena& a = arenas_[ai];
    if (!a.mapped) continue;
    ++mapped;
    if (a.carved > a.ntotalpools || a.nfreepools > a.ntotalpools) return false;
    if (a.ntotalpools != pools_per_arena_ - (a.excess != 0 ? 1 : 0)) return false;
    size_t listed = 0;
    for (uint32_t p = a.freepools; p != kNil; p = pools_[p].next) {
      if (!bounded(++listed, pools_per_arena_) || !pool_ok(p) || arena_of(p) != ai || pools_[p].count != 0)
        return false;
    }
    size_t empty = 0;
    for (uint32_t j = 0; j < a.carved; ++j) {
      const Pool& q = pools_[(ai << pools_shift_) + j];
      if (q.count == 0) {
        ++empty;
      } else {
        if (q.cls < class_live.size()) {
          class_live[q.cls] += q.count;
          ++class_pools[q.cls];
        }
        if (q.cls >= classes_.count() || q.count > q.carved || q.carved > classes_.blocks_per_pool(q.cls))
          return false;
        if (q.count < classes_.blocks_per_pool(q.cls)) ++partly_used_pools;
      }
    }
    if (empty != listed || a.nfreepools != listed + (a.ntotalpools - a.carved)) return false;
    if (a.nfreepools > 0) ++want_usable;
  }
  if (partly_used_pools != in_used_lists || mapped != narenas_currently_allocated_) return false;
  // The metrics' counts (count_alloc, count_release) agree with the pools.
  for (size_t c = 0; c < class_stats_.size(); ++c) {
    const ClassStat& st = class_stats_[c];
    if (st.live != class_live[c] || st.pools != class_pools[c] || st.peak < st.live || st.requests < st.peak)
      return false;
  }

  // usable_arenas: mapped arenas with free pools, sorted ascending, links
  // mutual, nfp2lasta naming the last of each run.
  std::vector<uint32_t> last(nfp2lasta_.size(), kNil);
  uint32_t prev = kNil;
  size_t usable = 0;
  for (uint32_t ai = usable_; ai != kNil; prev = ai, ai = arenas_[ai].next) {
    if (!bounded(++usable, max_arenas_) || ai >= max_arenas_) return false;
    const Arena& a = arenas_[ai];
    if (!a.mapped || a.prev != prev || a.nfreepools == 0) return false;
    if (prev != kNil && arenas_[prev].nfreepools > a.nfreepools) return false;
    last[a.nfreepools] = ai;
  }
  if (usable != want_usable || last != nfp2lasta_) return false;

  // unused_arena_objects: the slots holding no arena.
  size_t unused = 0;
  for (uint32_t ai = unused_; ai != kNil; ai = arenas_[ai].next) {
    if (!bounded(++unused, max_arenas_) || ai >= max_arenas_ || arenas_[ai].mapped) return false;
  }
  if (unused + mapped != max_arenas_) return false;
  return narenas_highwater_ >= narenas_currently_allocated_ && ntimes_arena_allocated_ >= narenas_highwater_;
}

}  // namespace heaplay

namespace heaplay {

std::array<uint64_t, 2> PooledLayer::pinned_arenas() const {
  std::array<uint64_t, 2> pinned{};
  for (uint32_t ai = 0; ai < max_arenas_; ++ai) {
    const Arena& a = arenas_[ai];
    if (!a.mapped) continue;
    uint64_t live = 0;
    for (uint32_t j = 0; j < a.carved && live <= kPinnedK[1]; ++j) live += pools_[(ai << pools_shift_) + j].count;
    for (size_t k = 0; k < pinned.size(); ++k) pinned[k] += live >= 1 && live <= kPinnedK[k];
  }
  return pinned;
}

std::vector<SizeClassReport> PooledLayer::size_class_report() const {
  std::vector<SizeClassReport> rows;
  for (uint32_t i = 0; i < class_stats_.size(); ++i) {
    const ClassStat& s = class_stats_[i];
    if (s.requests == 0) continue;
    rows.push_back(SizeClassReport{i, classes_.block_size(i), classes_.blocks_per_pool(i), s.requests, s.peak,
                                   s.peak_pools, s.live, s.pools});
  }
  return rows;
}

}  // namespace heaplay
