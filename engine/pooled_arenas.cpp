// pooled_arenas.cpp: the pooled layer's arenas (new_arena, insert_to_freepool
// and the usable_arenas order).
//
// Why this order matters: pymalloc takes new pools from the usable arena with
// the fewest free pools, so that nearly empty arenas drain and can be given
// back. usable_arenas is kept sorted by nfreepools, ascending; nfp2lasta[n]
// names the last arena of the run with n free pools, so an arena whose count
// goes up by one moves right past that run in O(1). Ties are settled exactly
// as CPython's code settles them (an arena joins a run at its end; one that
// regains its first free pool goes to the head), because the order decides
// which arena a later pool comes from and so which arenas become free.
//
// Arena table: CPython keeps arena_objects in an array that starts at 16
// slots and doubles (PyMem_RawRealloc) when no slot is free; slots are reused
// LIFO. The array is modelled as a Domain::Raw block of 48 bytes a slot, so
// the raw layer's footprint includes it.
#include "engine/pooled.hpp"
#include "traces/error.hpp"

namespace heaplay {

namespace {

// CPython's arenas come from mmap, which aligns to pages only.
constexpr uint64_t kPageAlignment = 4096;

}  // namespace

void PooledLayer::grow_arena_table() {
  const uint32_t old_slots = max_arenas_;
  const uint32_t slots = old_slots ? old_slots * 2 : kInitialArenaObjects;
  if (slots <= old_slots || slots > (UINT32_MAX >> pools_shift_))
    throw Error("pooled layer: too many arenas", kExitBadInput);
  const Request grow{slots * kArenaObjectBytes, StringId{}, Domain::Raw};
  // The table is this layer's own memory, not a block handed out above: it
  // stays out of the meter's allocated bytes.
  const uint64_t allocated = meter_->allocated;
  table_block_ = old_slots ? below_->reallocate(table_block_, old_slots * kArenaObjectBytes, grow)
                           : below_->allocate(grow);
  meter_->allocated = allocated;
  arenas_.ensure(slots - 1);
  pools_.ensure((static_cast<size_t>(slots) << pools_shift_) - 1);
  // The new slots form the unused list in index order.
  for (uint32_t i = old_slots; i < slots; ++i) {
    arenas_[i].mapped = 0;
    arenas_[i].next = i + 1 < slots ? i + 1 : kNil;
  }
  unused_ = old_slots;
  max_arenas_ = slots;
}

// Bytes past a pool boundary at which the arena's memory starts; per
// PooledParams::arena_alignment (Trace: the next entry, the last repeating).
uint32_t PooledLayer::next_excess(Addr address) {
  const uint64_t mask = params_.pool_size - 1;
  switch (params_.arena_alignment) {
    case ArenaAlignment::Aligned: return 0;
    case ArenaAlignment::Unaligned:
      // Page-aligned memory with pools larger than a page: one pool is lost.
      // When the layer below happens to hand out a pool-aligned address, the
      // model still loses that pool (as the real mmap placement would).
      return static_cast<uint32_t>((address & mask) ? (address & mask) : params_.pool_size / 2);
    case ArenaAlignment::Trace: {
      const auto& list = params_.arena_excess;  // not empty: new_arena checked
      const uint64_t i = excess_used_ < list.size() ? excess_used_ : list.size() - 1;
      ++excess_used_;
      return list[i];
    }
  }
  return 0;
}

// new_arena: a slot off the unused list (growing the table when there is
// none), memory from below, and the pools that fit after alignment.
uint32_t PooledLayer::new_arena() {
  if (params_.arena_alignment == ArenaAlignment::Trace && params_.arena_excess.empty())
    throw Error(
        "pooled.arena_alignment=trace, but the trace records no arena alignment (metadata "
        "pymalloc.arena_excess); use --set pooled.arena_alignment=aligned, unaligned or a list of offsets",
        kExitBadInput);
  if (unused_ == kNil) grow_arena_table();
  const uint32_t ai = unused_;
  const bool aligned = params_.arena_alignment != ArenaAlignment::Unaligned;
  // Taken off the list only once the memory is had, as CPython puts it back on failure.
  const Addr address = below_->map(params_.arena_size, aligned ? params_.pool_size : kPageAlignment);
  Arena& a = arenas_[ai];
  unused_ = a.next;
  a.address = address;
  a.mapped = 1;
  ++narenas_currently_allocated_;
  meter_->arenas = narenas_currently_allocated_;
  ++ntimes_arena_allocated_;
  if (narenas_currently_allocated_ > narenas_highwater_) narenas_highwater_ = narenas_currently_allocated_;
  a.freepools = kNil;
  a.carved = 0;
  a.excess = next_excess(address);
  a.nfreepools = pools_per_arena_;
  a.first_pool = address;
  if (a.excess != 0) {
    --a.nfreepools;
    a.first_pool += params_.pool_size - a.excess;
  }
  a.ntotalpools = a.nfreepools;
  return ai;
}

// insert_to_freepool: a pool became empty. It leaves its class's list and
// goes to the front of its arena's freepools; then the arena's place in
// usable_arenas is mended (the four cases of obmalloc.c, in its order).
void PooledLayer::insert_to_freepool(uint32_t pool) {
  unlink_used(pool);
  const uint32_t ai = arena_of(pool);
  Arena& ao = arenas_[ai];
  pools_[pool].next = ao.freepools;
  ao.freepools = pool;

  uint32_t nf = ao.nfreepools;
  // If ao ends the run of arenas with nf free pools, the run's end moves to
  // its left neighbour (or the run is gone). nf == 0: ao was full and in no
  // run; nfp2lasta[0] is always kNil.
  const uint32_t lastnf = nfp2lasta_[nf];
  if (lastnf == ai) {
    const uint32_t p = ao.prev;
    nfp2lasta_[nf] = (p != kNil && arenas_[p].nfreepools == nf) ? p : kNil;
  }
  ao.nfreepools = ++nf;

  // Case 1: the whole arena is free. Give it back, unless it is the last
  // usable arena and the version keeps one (bpo-37257, 3.9+).
  if (nf == ao.ntotalpools && (!params_.keep_last_arena || ao.next != kNil)) {
    release_arena(ai);
    return;
  }
  // Case 2: its first free pool; it was on no list, and goes to the head.
  if (nf == 1) {
    ao.next = usable_;
    ao.prev = kNil;
    if (usable_ != kNil) arenas_[usable_].prev = ai;
    usable_ = ai;
    if (nfp2lasta_[1] == kNil) nfp2lasta_[1] = ai;
    return;
  }
  if (nfp2lasta_[nf] == kNil) nfp2lasta_[nf] = ai;
  // Case 4: it ended its old run, so it is still in order.
  if (ai == lastnf) return;
  // Case 3: slide it right, to just after the old run's last arena.
  if (ao.prev != kNil) arenas_[ao.prev].next = ao.next;
  else usable_ = ao.next;
  arenas_[ao.next].prev = ao.prev;
  ao.prev = lastnf;
  ao.next = arenas_[lastnf].next;
  if (ao.next != kNil) arenas_[ao.next].prev = ai;
  arenas_[lastnf].next = ai;
}

// Case 1 of insert_to_freepool: unlink from usable_arenas, slot to the head
// of the unused list, memory back to the layer below.
void PooledLayer::release_arena(uint32_t ai) {
  Arena& ao = arenas_[ai];
  if (ao.prev == kNil) usable_ = ao.next;
  else arenas_[ao.prev].next = ao.next;
  if (ao.next != kNil) arenas_[ao.next].prev = ao.prev;
  ao.next = unused_;
  unused_ = ai;
  below_->unmap(ao.address, params_.arena_size);
  ao.mapped = 0;
  --narenas_currently_allocated_;
  meter_->arenas = narenas_currently_allocated_;
}

}  // namespace heaplay
