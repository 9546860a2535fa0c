// lifetimes.hpp: the stream rules every reader enforces, and the slot allocator.
//
// Tracks which slots hold a live block (from a) or object (from o), their
// sizes, types and domains, and for objects the reference count and the
// outgoing references (l/u edges, with multiplicity). An object dies when its
// count reaches zero: its outgoing references are dropped, which may kill
// more objects (iteratively, so a chain of millions cannot overflow the stack).
// Objects kept alive only by cycles never die here; the collector is a replay
// layer's business, not the stream's.
//
// Slots: a new block or object takes the most recently released slot, or the
// next unused one. Writers and readers of the native format run this same
// allocator, so allocation records need not store their slot.
//
// Memory: O(live slots + live edges); nothing grows with trace length.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "traces/consumer.hpp"
#include "traces/event.hpp"
#include "traces/flat_map.hpp"

namespace heaplay {

enum class SlotState : uint8_t { Free, Block, Object };

class Lifetimes {
 public:
  // Validates e, fills in what the record leaves implicit (Free: size, type,
  // domain; Realloc: old_size, type, domain; Alloc/Object: slot), applies it,
  // and pushes e followed by any Death events it causes to out. An invalid
  // event changes nothing and returns its anomaly.
  Anomaly apply(Event& e, EventBatch& out);

  // Objects that died during the last apply(), in order of death.
  std::span<const SlotId> died() const { return died_; }

  // One more than the largest slot ever handed out.
  uint32_t slot_limit() const { return static_cast<uint32_t>(slots_.size()); }
  SlotState state(SlotId s) const {
    return s.value < slots_.size() ? slots_[s.value].state : SlotState::Free;
  }
  // The slot a new block or object would take now.
  SlotId next_slot() const;
  uint64_t live_slots() const { return live_; }
  uint64_t live_edges() const { return edge_index_.size(); }
  uint64_t refcount(SlotId s) const { return s.value < refcount_.size() ? refcount_[s.value] : 0; }

  // Invariants: free list and states agree, refcounts equal external counts
  // plus incoming edges is not checkable (external counts are not kept), but
  // every edge joins two live objects and every edge list is well formed.
  bool is_valid() const;

 private:
  struct SlotInfo {
    uint64_t size;
    StringId type;
    SlotState state;
    Domain domain;
    uint16_t unused;
  };
  static_assert(sizeof(SlotInfo) == 16);
  struct Edge {
    SlotId dst;
    uint32_t count;  // references SRC holds to DST
    uint32_t prev, next;  // within SRC's list; kNil ends it
  };
  static constexpr uint32_t kNil = UINT32_MAX;
  static uint64_t edge_key(SlotId src, SlotId dst) {
    return (uint64_t{src.value} << 32) | dst.value;
  }

  Anomaly check(SlotId s, SlotState want) const;
  SlotId take_slot();
  void release(SlotId s);
  Anomaly link(SlotId src, SlotId dst);
  Anomaly unlink(SlotId src, SlotId dst, EventBatch& out);
  void decref_to_zero(SlotId s, EventBatch& out);  // s's count just reached 0
  void ensure_object_arrays(uint32_t slot);

  std::vector<SlotInfo> slots_;
  std::vector<SlotId> free_slots_;  // LIFO
  uint64_t live_ = 0;
  uint64_t last_time_ = 0;

  // Objects only; sized lazily on the first object.
  std::vector<uint64_t> refcount_;
  std::vector<uint32_t> edge_head_;
  std::vector<Edge> edges_;
  std::vector<uint32_t> free_edges_;
  FlatMap edge_index_;  // (src, dst) -> index into edges_

  std::vector<SlotId> died_;
  std::vector<SlotId> work_;  // cascade worklist
};

}  // namespace heaplay
