// refgraph.hpp: the replay's own reference-count graph of o objects.
//
// Every stack replays reference counting: an o record allocates an object
// through the stack's memory layers with a count of 1, + and - change the
// count, l SRC DST adds one reference SRC->DST (DST's count +1) and u removes
// one. An object whose count reaches 0 is deallocated as CPython's tp_dealloc
// does it: its outgoing references are dropped in the order they were made
// (a child whose count reaches 0 is deallocated at once, before the parent's
// memory goes), then its memory is released. Cascades run on an explicit work
// stack, so a chain of millions of objects cannot overflow the C++ stack.
//
// Why a graph of its own: the reader derives Death events under pure
// reference counting, but the gc stack's collector frees objects the reader
// still considers live (and what they referenced). So the engine keeps its
// counts, and the reader's Death only tells it a slot may be forgotten.
//
// Object states: Alive (engine holds it), Garbage (the collector is freeing
// it), Dead (the engine freed it; the reader still names it until its Death:
// records naming it are stale and ignored), Free (no object).
//
// Records: one 64-byte ObjRecord per slot in a SlotTable (mmap, no malloc),
// at index slot + kHeads; indices below kHeads are list heads (the
// collector's generations and its scratch lists), so gc lists are circular
// doubly linked lists through gc_prev/gc_next with a head record each.
// Edges: one Edge per (src, dst) pair with a multiplicity, in src's list (in
// order of first link) and in a hash index (src, dst) -> edge for O(1) u.
// Freed edges are recycled: memory is O(peak live objects + peak edges).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/layer.hpp"
#include "engine/slot_table.hpp"
#include "traces/flat_map.hpp"

namespace heaplay {

class Collector;

enum class ObjState : uint8_t { Free, Alive, Garbage, Dead };

// ObjRecord::flags
inline constexpr uint8_t kObjTracked = 1;      // its type is tracked by the collector (a container)
inline constexpr uint8_t kObjCollecting = 2;   // in the generations being collected now
inline constexpr uint8_t kObjUnreachable = 4;  // tentatively unreachable (move_unreachable)

struct ObjRecord {
  Block block;            // as the memory layers answered the allocation
  uint64_t refcount;      // references, engine view
  uint64_t size;          // bytes, as the trace gives them
  int64_t gc_refs;        // collector scratch: refcount minus internal references
  StringId type;
  uint32_t edge_head;     // first outgoing edge (oldest link), or kNil
  uint32_t edge_tail;     // last outgoing edge
  uint32_t gc_prev;       // record index; circular list through a head record
  uint32_t gc_next;
  ObjState state;
  uint8_t gen;            // generation 0..2 while tracked, else kNoGen
  uint8_t flags;          // kObjTracked | kObjCollecting | kObjUnreachable
  uint8_t unused;
};
static_assert(sizeof(ObjRecord) == 64, "one cache line per object");

struct Edge {
  uint32_t src, dst;    // slots
  uint32_t count;       // references src holds to dst (>= 1); free edges: 0
  uint32_t prev, next;  // in src's list (kNil ends it); free edges: next free
};

// Requested bytes of live blocks and objects, now and at the peak (shared
// with the Replayer, which adds the blocks).
struct LiveBytes {
  uint64_t now = 0, peak = 0;
  void add(uint64_t b) {
    now += b;
    if (now > peak) peak = now;
  }
};

class RefGraph {
 public:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kHeads = 8;  // record indices reserved for list heads
  static constexpr uint8_t kNoGen = 0xff;

  // mem: the first memory layer (below gc); gc: the collector or nullptr.
  RefGraph(Layer& mem, LiveBytes& live);
  RefGraph(const RefGraph&) = delete;
  RefGraph& operator=(const RefGraph&) = delete;
  void set_collector(Collector* gc) { gc_ = gc; }

  // Each returns false (changing nothing) when a named object is not Alive:
  // the caller counts the record as stale.
  bool create(uint32_t slot, uint64_t size, StringId type);
  bool incref(uint32_t slot);
  bool decref(uint32_t slot);
  bool link(uint32_t src, uint32_t dst);
  bool unlink(uint32_t src, uint32_t dst);
  // The reader's Death: forget a Dead slot; deallocate one still Alive.
  void death(uint32_t slot);

  // Deallocates `root`, whose count just reached 0 (state Alive), with its cascade.
  void dealloc(uint32_t root);
  // Drops every outgoing edge of record index i; a target outside the
  // garbage whose count reaches 0 is deallocated (cascade).
  void drop_edges(uint32_t i);
  // Releases i's memory through the stack and marks it Dead.
  void release(uint32_t i);

  // ---- records and gc lists (record indices) ----
  ObjRecord& rec(uint32_t i) { return recs_[i]; }
  const ObjRecord& rec(uint32_t i) const { return recs_[i]; }
  static uint32_t index(uint32_t slot) { return slot + kHeads; }
  uint32_t record_limit() const { return limit_; }  // one past the largest index used
  const Edge& edge(uint32_t e) const { return edges_[e]; }
  void list_init(uint32_t head);
  bool list_empty(uint32_t head) const { return recs_[head].gc_next == head; }
  void list_append(uint32_t head, uint32_t i);
  void list_remove(uint32_t i);
  void list_merge(uint32_t from, uint32_t to);  // appends from's members to to; from ends empty
  uint64_t list_size(uint32_t head) const;

  // ---- figures ----
  uint64_t live_objects() const { return live_objects_; }
  uint64_t live_object_bytes() const { return live_object_bytes_; }
  uint64_t deaths() const { return deaths_; }
  uint64_t live_edges() const { return index_.size(); }

  // Edge lists and index agree, counts match, every Alive object's count is
  // at least the references Alive objects hold to it.
  bool is_valid() const;

 private:
  Request request(const ObjRecord& r) const { return Request{r.size, r.type, Domain::Obj, true}; }
  bool alive(uint32_t slot) const {
    return index(slot) < limit_ && recs_[index(slot)].state == ObjState::Alive;
  }
  static uint64_t key(uint32_t src, uint32_t dst) { return (uint64_t{src} << 32) | dst; }
  uint32_t new_edge();
  void remove_edge(uint32_t e);  // from its list, the index, into the free list
  // Drops r's oldest reference (all its multiplicity); returns the target's
  // record index when that left an Alive object with no references, else kNil.
  uint32_t drop_first_edge(ObjRecord& r);

  Layer& mem_;
  LiveBytes& live_;
  Collector* gc_ = nullptr;
  SlotTable<ObjRecord> recs_;
  uint32_t limit_ = kHeads;
  SlotTable<Edge> edges_;
  uint32_t edge_limit_ = 0;       // edges ever made (free ones included)
  uint32_t free_edge_ = kNil;     // free edges, through next
  FlatMap index_;                 // key(src, dst) -> edge
  std::vector<uint32_t> work_;    // dealloc cascade: objects being torn down, innermost last
  uint64_t live_objects_ = 0, live_object_bytes_ = 0, deaths_ = 0;
};

}  // namespace heaplay
