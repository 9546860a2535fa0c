// pooled.hpp: the pooled layer, CPython's pymalloc (Objects/obmalloc.c).
//
// Why exact: the point of replaying through pymalloc is to predict what a
// real interpreter's small-object heap does with the same requests: which
// pools and arenas it holds, when it gives an arena back. So the layer follows
// obmalloc.c's policy decision for decision (3.11 is the reference; 3.12 and
// 3.13 are the same algorithm, 3.8/3.9 differ only in sizes and, for 3.8, in
// not keeping the last free arena: PooledParams), and its statistics equal
// _PyObject_DebugMallocStats' for the same request sequence; the oracle tests
// (tests/pooled_oracle_test.cpp) hold it to that against libpython itself.
//
// What it keeps: per pool only its block count, size class and how many
// blocks it has carved (not which blocks are free: no statistic depends on
// it); per arena CPython's arena_object fields. Pools and arenas are records
// in flat tables indexed by number, and every list CPython links through
// pointers (usedpools per class, each arena's freepools, usable_arenas,
// unused_arena_objects) is linked here through those numbers, in the same
// order. A pooled Block's handle is its pool's number:
//   pool number = arena number * pools_per_arena + position in the arena.
//
// Requests it does not pool go to the layer below unchanged: Domain::Raw,
// 0 bytes, more than small_threshold. Arenas come from below_->map(), the
// arena table (CPython reallocs an array of 48-byte arena_objects) from
// below_->allocate/reallocate with Domain::Raw. docs/pooled.md has the model.
//
// Memory: one 32-byte record per pool of every arena slot ever used, one
// 48-byte record per arena slot; both in SlotTables (outside the malloc heap).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "engine/layer.hpp"
#include "engine/params.hpp"
#include "engine/pooled_stats.hpp"
#include "engine/size_classes.hpp"
#include "engine/slot_table.hpp"

namespace heaplay {

class PooledLayer final : public Layer {
 public:
  // params must have passed Params::validate().
  PooledLayer(const PooledParams& params, Layer* below, uint8_t depth);

  std::string_view name() const override { return "pooled"; }

  Block allocate(const Request& r) override;
  void release(const Block& b, const Request& r) override;
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override;

  LayerReport report() const override;
  bool is_valid() const override;

  // The figures _PyObject_DebugMallocStats prints for this state.
  PymallocStats pymalloc_stats() const;

  const SizeClasses& classes() const { return classes_; }

  // Per size class with at least one request: requests, peak blocks, pools
  // (docs/metrics.md, sizeclasses.csv).
  std::vector<SizeClassReport> size_class_report() const;
  // Arenas held with between 1 and kPinnedK[i] blocks in use: a walk over
  // the pools of every arena held (O(pools)), not for every event.
  static constexpr uint32_t kPinnedK[2] = {1, 4};
  std::array<uint64_t, 2> pinned_arenas() const;

  // CPython's sizeof(struct arena_object) on 64-bit builds: the arena table
  // grows by this many bytes per slot.
  static constexpr uint64_t kArenaObjectBytes = 48;
  // The arena table's first size, in slots (INITIAL_ARENA_OBJECTS).
  static constexpr uint32_t kInitialArenaObjects = 16;

 private:
  static constexpr uint32_t kNil = UINT32_MAX;       // end of a list, no pool, no arena
  static constexpr uint32_t kFreshClass = UINT32_MAX;  // class of a just-carved pool (DUMMY_SIZE_IDX)

  struct Pool {
    Addr addr;        // where the pool (its header) starts
    uint32_t next;    // next pool in its usedpools list, or in its arena's freepools
    uint32_t prev;    // previous pool in its usedpools list
    uint32_t count;   // blocks in use (CPython's ref.count)
    uint32_t carved;  // blocks carved so far, from the pool's start (nextoffset)
    uint32_t cls;     // size class, kept while the pool is empty (szidx)
    uint32_t unused;
  };
  static_assert(sizeof(Pool) == 32);

  struct Arena {
    Addr address;          // as the layer below mapped it
    Addr first_pool;       // first pool boundary at or after address
    uint32_t carved;       // pools carved so far (CPython's pool_address, as a count)
    uint32_t nfreepools;   // empty pools plus pools not carved yet
    uint32_t ntotalpools;  // pools that fit after alignment
    uint32_t freepools;    // head of the LIFO of empty pools
    uint32_t next;         // usable_arenas, or unused_arena_objects when not mapped
    uint32_t prev;         // usable_arenas
    uint32_t excess;       // bytes past a pool boundary where the arena starts
    uint32_t mapped;       // 1 while the slot holds an arena (CPython: address != 0)
  };
  static_assert(sizeof(Arena) == 48);

  // Requests (pooled.cpp). The hot paths are object_allocate and
  // object_release; what they rarely need is kept out of line.
  Block object_allocate(const Request& r);
  void object_release(const Block& b);
  [[gnu::noinline]] Block pass_below(const Request& r);
  [[gnu::noinline]] Block allocate_from_new_pool(uint32_t cls);
  [[gnu::noinline]] void extend_or_unlink(uint32_t pool);
  [[gnu::noinline]] void insert_to_usedpool(uint32_t pool);
  void insert_to_freepool(uint32_t pool);
  void unlink_used(uint32_t pool);

  // Arenas (pooled_arenas.cpp).
  uint32_t new_arena();
  void grow_arena_table();
  uint32_t next_excess(Addr address);
  void release_arena(uint32_t arena);

  Addr block_addr(const Pool& p, uint32_t k) const {
    return p.addr + pool_header_ + static_cast<uint64_t>(k) * classes_.block_size(p.cls);
  }
  uint32_t arena_of(uint32_t pool) const { return pool >> pools_shift_; }

  // The figures of a block of class cls taken or given back: the
  // meter's allocated bytes and the class's counts. A few loads and stores.
  void count_alloc(uint32_t cls) {
    meter_->allocated += classes_.block_size(cls);
    ClassStat& s = class_stats_[cls];
    ++s.requests;
    if (++s.live > s.peak) [[unlikely]] {
      s.peak = s.live;
      s.peak_pools = s.pools;
    }
  }
  void count_release(uint32_t cls) {
    meter_->allocated -= classes_.block_size(cls);
    --class_stats_[cls].live;
  }

  PooledParams params_;
  SizeClasses classes_;
  uint64_t pool_header_;     // bytes
  uint32_t pools_per_arena_;  // CPython's MAX_POOLS_IN_ARENA
  uint32_t pools_shift_;      // log2(pools_per_arena_)

  std::array<uint32_t, 256> used_;  // usedpools: head pool per class, kNil when none
  SlotTable<Pool> pools_;
  SlotTable<Arena> arenas_;
  uint32_t max_arenas_ = 0;          // arena table slots (maxarenas)
  uint32_t usable_ = kNil;           // usable_arenas: head, fewest free pools first
  uint32_t unused_ = kNil;           // unused_arena_objects: head (LIFO)
  std::vector<uint32_t> nfp2lasta_;  // [n]: last arena in usable_ with n free pools, or kNil
  Block table_block_{};              // the arena table, from below
  uint64_t excess_used_ = 0;         // Trace alignment: arena_excess entries consumed

  // Counters (CPython's names where it has them).
  uint64_t ntimes_arena_allocated_ = 0;
  uint64_t narenas_currently_allocated_ = 0;
  uint64_t narenas_highwater_ = 0;
  uint64_t pooled_allocs_ = 0;   // allocations served from pools
  uint64_t passed_to_raw_ = 0;   // allocations sent below
  uint64_t raw_blocks_ = 0;      // blocks from below currently live (raw_allocated_blocks)
  uint64_t reallocs_in_place_ = 0;
  uint64_t reallocs_moved_ = 0;  // a pooled block moved by a realloc (to a pool or below)

  // Metrics (count_alloc, count_release).
  struct ClassStat {
    uint64_t requests = 0;    // blocks handed out from the class's pools
    uint64_t live = 0, peak = 0;  // blocks in use, now and at most
    uint64_t pools = 0;       // pools of the class with at least one block in use
    uint64_t peak_pools = 0;  // pools at the moment of the peak (its first reaching)
  };
  std::vector<ClassStat> class_stats_;  // by class index
};

}  // namespace heaplay
