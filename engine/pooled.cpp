// pooled.cpp: the pooled layer's requests and pools (pymalloc_alloc,
// pymalloc_free, pymalloc_realloc and the usedpools lists).
//
// The hot paths are an allocation from the head pool of a class and a free
// into a pool that stays in use: a few loads and stores on one 32-byte pool
// record. Everything else (a pool filling up or emptying, a new pool, arenas)
// is out of line. Arena management is in pooled_arenas.cpp, statistics and
// invariants in pooled_report.cpp.
//
// A pool's state, as CPython keeps it, reduces to counts here: its free list
// holds (carved - count) blocks, so it is empty exactly when count == carved,
// which for a pool in use means the pool is full (count == blocks_per_pool):
// CPython carves another block whenever the free list runs dry and room is
// left. A pool in a usedpools list therefore always has count < carved.
#include "engine/pooled.hpp"

#include <bit>

#include "engine/stack.hpp"

namespace heaplay {

PooledLayer::PooledLayer(const PooledParams& params, Layer* below, uint8_t depth)
    : Layer(below, depth),
      params_(params),
      classes_(params),
      pool_header_(params.pool_header),
      pools_per_arena_(static_cast<uint32_t>(params.arena_size / params.pool_size)),
      pools_shift_(static_cast<uint32_t>(std::countr_zero(params.arena_size / params.pool_size))),
      nfp2lasta_(pools_per_arena_ + 1, kNil),
      class_stats_(classes_.count()) {
  used_.fill(kNil);
}

std::unique_ptr<Layer> make_pooled(const PooledParams& params, Layer* below, uint8_t depth) {
  return std::make_unique<PooledLayer>(params, below, depth);
}

// pymalloc_alloc, and the raw fallback of _PyObject_Malloc.
Block PooledLayer::object_allocate(const Request& r) {
  if (!classes_.pooled(r.size)) [[unlikely]]
    return pass_below(r);
  const uint32_t cls = classes_.index_of(r.size);
  const uint32_t head = used_[cls];
  if (head == kNil) [[unlikely]]
    return allocate_from_new_pool(cls);
  Pool& p = pools_[head];
  ++pooled_allocs_;
  count_alloc(cls);
  // The model keeps no free list, so the address is the block with the pool's
  // count as its index: exact while a pool only grows, inside the pool always.
  const Addr addr = block_addr(p, p.count);
  if (++p.count == p.carved) [[unlikely]]
    extend_or_unlink(head);
  return Block{addr, head, depth_, {}};
}

// _PyObject_Malloc: Raw-domain requests never reach pymalloc (they are
// PyMem_RawMalloc calls); the rest are pooled when 1..small_threshold bytes.
Block PooledLayer::allocate(const Request& r) {
  if (r.domain == Domain::Raw) [[unlikely]]
    return pass_below(r);
  return object_allocate(r);
}

Block PooledLayer::pass_below(const Request& r) {
  ++passed_to_raw_;
  ++raw_blocks_;
  return below_allocate(r);
}

// pymalloc_pool_extend: the free list ran dry; carve one more block, or, when
// the pool has no room left, it is full and leaves its usedpools list.
void PooledLayer::extend_or_unlink(uint32_t pool) {
  Pool& p = pools_[pool];
  if (p.carved < classes_.blocks_per_pool(p.cls)) {
    below_->touch(block_addr(p, p.carved), classes_.block_size(p.cls));
    ++p.carved;
    return;
  }
  unlink_used(pool);
}

void PooledLayer::unlink_used(uint32_t pool) {
  Pool& p = pools_[pool];
  if (p.prev == kNil) used_[p.cls] = p.next;
  else pools_[p.prev].next = p.next;
  if (p.next != kNil) pools_[p.next].prev = p.prev;
}

// allocate_from_new_pool: no pool of the class has a free block. Take the
// first usable arena's most recently emptied pool, or carve a new one off it
// (a new arena first when no arena has a free pool), and put the pool at the
// front of the class's list.
Block PooledLayer::allocate_from_new_pool(uint32_t cls) {
  if (usable_ == kNil) {
    usable_ = new_arena();
    Arena& fresh = arenas_[usable_];
    fresh.next = fresh.prev = kNil;
    nfp2lasta_[fresh.nfreepools] = usable_;
  }
  const uint32_t ai = usable_;
  Arena& a = arenas_[ai];
  // The head arena has the fewest free pools already; taking one keeps it
  // first, but nfp2lasta must follow its count down.
  if (nfp2lasta_[a.nfreepools] == ai) nfp2lasta_[a.nfreepools] = kNil;
  if (a.nfreepools > 1) nfp2lasta_[a.nfreepools - 1] = ai;

  uint32_t pool;
  if (a.freepools != kNil) {
    pool = a.freepools;
    a.freepools = pools_[pool].next;
  } else {
    pool = (ai << pools_shift_) + a.carved;
    Pool& p = pools_[pool];
    p.addr = a.first_pool + static_cast<uint64_t>(a.carved) * params_.pool_size;
    p.cls = kFreshClass;
    ++a.carved;
  }
  if (--a.nfreepools == 0) {
    // Wholly allocated: off the usable list (its own links go stale, as in CPython).
    usable_ = a.next;
    if (usable_ != kNil) arenas_[usable_].prev = kNil;
  }

  Pool& p = pools_[pool];
  // A pool last used for this class keeps its free list (all its carved
  // blocks, at least two), so the block comes from it and nothing is carved.
  const bool kept = p.cls == cls;
  p.cls = cls;
  p.count = 1;
  insert_to_usedpool(pool);
  ++pooled_allocs_;
  ++class_stats_[cls].pools;
  count_alloc(cls);
  if (kept) return Block{block_addr(p, 0), pool, depth_, {}};
  // (Re)initialize: carve the first two blocks, hand out the first.
  p.carved = 2;
  const uint64_t size = classes_.block_size(cls);
  below_->touch(block_addr(p, 0), size);
  below_->touch(block_addr(p, 1), size);
  return Block{block_addr(p, 0), pool, depth_, {}};
}

// pymalloc_free.
void PooledLayer::object_release(const Block& b) {
  Pool& p = pools_[b.handle];
  count_release(p.cls);
  if (p.count == p.carved) [[unlikely]] {
    // It was full, so in no list: back to the front of its class's list.
    --p.count;
    insert_to_usedpool(b.handle);
    return;
  }
  if (--p.count == 0) [[unlikely]] {
    --class_stats_[p.cls].pools;
    insert_to_freepool(b.handle);
  }
}

void PooledLayer::release(const Block& b, const Request& r) {
  if (!mine(b)) [[unlikely]] {
    --raw_blocks_;
    below_->release(b, r);
    return;
  }
  object_release(b);
}

// Puts a pool at the front of its class's list.
void PooledLayer::insert_to_usedpool(uint32_t pool) {
  Pool& p = pools_[pool];
  p.prev = kNil;
  p.next = used_[p.cls];
  if (p.next != kNil) pools_[p.next].prev = pool;
  used_[p.cls] = pool;
}

// pymalloc_realloc / _PyObject_Realloc. A block from below stays below (CPython
// cannot tell how much of a foreign block is valid, so never takes one over).
// A pooled block stays put when the new size fits its class and shrinks it by
// less than a quarter; otherwise a new block is allocated (pooled or below,
// as for any request) before the old one is freed.
Block PooledLayer::reallocate(const Block& b, uint64_t old_size, const Request& r) {
  if (!mine(b)) return below_->reallocate(b, old_size, r);
  const uint64_t size = classes_.block_size(pools_[b.handle].cls);
  if (r.size <= size && 4 * r.size > 3 * size) {
    ++reallocs_in_place_;
    return b;
  }
  ++reallocs_moved_;
  const Block moved = object_allocate(r);
  object_release(b);
  return moved;
}

}  // namespace heaplay
