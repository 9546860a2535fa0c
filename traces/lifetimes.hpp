// lifetimes.hpp: the stream rules every reader enforces, and the slot allocator.
//
// Tracks which slots hold a live block (from a) or object (from o), their
// sizes, types and domains, and for objects the reference count, how much of
// it other objects hold (l edges into it), and the outgoing references (l/u
// edges, with multiplicity). An object dies when its count reaches zero: its
// outgoing references are dropped, which may kill more objects (iteratively,
// so a chain of millions cannot overflow the stack). A `-` may only drop a
// reference the program holds itself: when every reference left is held by
// other objects it is rejected (no_such_reference), so an object never dies
// while another still points to it (and its slot, reused, never receives a
// reference meant for it).
// Objects kept alive only by cycles never die here; the collector is a replay
// layer's business, not the stream's.
//
// Slots: a new block or object takes the most recently released slot, or the
// next unused one. Writers and readers of the native format run this same
// allocator, so allocation records need not store their slot.
//
// Memory: O(live slots + live edges); nothing grows with trace length.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

  class Fast;  // the same rules, for decoders' hot loops (below)

  // Deaths derived since construction.
  uint64_t deaths() const { return deaths_; }
  // Objects that died during the last apply(), in order of death.
  std::span<const SlotId> died() const { return died_; }

  // The slots the table holds: every slot handed out is below it. New slots
  // are made a chunk at a time (new_slot), so it can exceed the largest
  // handed out by an eighth, or by kMinNewSlots.
  static constexpr size_t kMinNewSlots = 1024;
  uint32_t slot_limit() const { return static_cast<uint32_t>(slots_.size()); }
  SlotState state(SlotId s) const {
    return s.value < slots_.size() ? slots_[s.value].state : SlotState::Free;
  }
  // The slot a new block or object would take now.
  SlotId next_slot() const;
  uint64_t live_slots() const { return slots_.size() - nfree_; }
  uint64_t live_edges() const { return edge_index_.size(); }
  uint64_t refcount(SlotId s) const { return state(s) == SlotState::Object ? slots_[s.value].refcount : 0; }

  // Invariants: the free list and the states agree; every edge joins two live
  // objects, sits in its source's list and in the index; an object's held
  // count is the sum of the edges into it, and at most its reference count.
  bool is_valid() const;

 private:
  // Everything about one slot in one 32-byte record: one cache line touch per event.
  struct SlotInfo {
    uint64_t size;      // bytes
    uint64_t refcount;  // objects only
    StringId type;
    uint32_t edge_head;  // objects only: first outgoing edge, or kNil
    SlotState state;
    Domain domain;
    uint16_t fresh;  // 1: made by new_slot and not handed out yet (check(): unknown, not freed); else 0
    uint32_t held;  // objects only: references other objects hold to it (edges in), <= refcount
  };
  static_assert(sizeof(SlotInfo) == 32);
  struct Edge {
    SlotId dst;
    uint32_t count;  // references SRC holds to DST
    uint32_t prev, next;  // within SRC's list; kNil ends it
  };
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint64_t kMaxRefcount = uint64_t{1} << 62;
  static uint64_t edge_key(SlotId src, SlotId dst) {
    return (uint64_t{src.value} << 32) | dst.value;
  }

  Anomaly check(SlotId s, SlotState want) const;
  // A slot never used before, taken (the free list is empty: new_slot makes
  // a chunk of them, the rest free); TooManySlots when kMaxSlots are live.
  Anomaly new_slot(SlotId& s);
  // Everything but a, o, f, +, -: r, l, u, g, t, m (and a rejected Death).
  Anomaly apply_rest(Event& e, EventBatch& out);
  void release(SlotId s) {
    slots_[s.value].state = SlotState::Free;
    free_[nfree_++] = s;
  }
  Anomaly link(SlotId src, SlotId dst);
  Anomaly unlink(const Event& e, EventBatch& out);
  // s's count just reached 0: it dies, and so may what it references. Resets died().
  void decref_to_zero(SlotId s, EventBatch& out);

  std::vector<SlotInfo> slots_;
  // Released slots and those made but not handed out yet, LIFO, in
  // free_[0, nfree_). As long as slots_, so a release never grows it; live
  // slots are slots_.size() - nfree_.
  std::vector<SlotId> free_;
  uint32_t nfree_ = 0;
  uint64_t last_time_ = 0;
  uint64_t deaths_ = 0;

  std::vector<Edge> edges_;
  // Released edges, LIFO, in free_edges_[0, nfree_edges_). As long as edges_,
  // so a release never grows it (Fast's call-free unlink relies on that).
  std::vector<uint32_t> free_edges_;
  uint32_t nfree_edges_ = 0;
  // (src, dst) -> index into edges_. At most half full: most l make a new
  // edge (a lookup that misses), and every u and cascade erases.
  FlatMap edge_index_{4};

  std::vector<SlotId> died_;
  std::vector<SlotId> work_;  // cascade worklist
};

// Lifetimes' rules for a run of events (a decoder's frame), with the state
// the common records touch (slot table, free list, death count, the batch's
// fill position) copied into this object, which lives in registers as long
// as it stays a local whose address is never taken. As members those values
// would be reloaded after every store into an event: the compiler cannot rule
// out that the store aliases them. Rare paths (new slots, a death that drops
// many references, r/g/t/m, l/u that grow the edge index or kill what holds
// references, anomalies) hand the state back, run out of line and reload it. The destructor hands it back for good.
//
// allocate/free/incref/decref build their events in the batch themselves,
// from the values given, so no event is assembled elsewhere and copied (a
// store-forwarding stall when the copy's wide loads read narrow stores).
// Nothing else may use the Lifetimes or the batch while a Fast is alive.
class Lifetimes::Fast {
  // put() writes an Event as words; this is the layout it assumes.
  static_assert(std::endian::native == std::endian::little);
  static_assert(offsetof(Event, kind) == 0 && offsetof(Event, domain) == 1 && offsetof(Event, flags) == 2 &&
                offsetof(Event, reserved) == 3 && offsetof(Event, str) == 4 && offsetof(Event, slot) == 8 &&
                offsetof(Event, dst) == 12 && sizeof(StringId) == 4 && sizeof(SlotId) == 4);

 public:
  // record_deaths: keep died() up to date (apply() needs it; readers do not).
  Fast(Lifetimes& lt, EventBatch& out, bool record_deaths = false)
      : lt_(lt), out_(out), record_deaths_(record_deaths) {
    load();
  }
  ~Fast() { store(); }
  Fast(const Fast&) = delete;
  Fast& operator=(const Fast&) = delete;

  // Alloc (domain as given) or Object (domain Obj); slot receives the slot assigned.
  Anomaly allocate(EventKind kind, Domain domain, uint64_t size, StringId type, SlotId& slot) {
    if (nfree_ == 0) [[unlikely]] {
      store();
      Anomaly a = lt_.new_slot(slot);
      load();
      if (a != Anomaly::None) return a;
    } else {
      slot = free_[--nfree_];
    }
    const bool object = kind == EventKind::Object;
    if (object) domain = Domain::Obj;
    slots_[slot.value] = SlotInfo{size, 1, type, kNil, object ? SlotState::Object : SlotState::Block, domain, 0, 0};
    emit(kind, domain, 0, type, slot, size);
    return Anomaly::None;
  }
  Anomaly free(SlotId s, uint8_t flags) {
    if (!is(s, SlotState::Block)) [[unlikely]] return lt_.check(s, SlotState::Block);
    SlotInfo& info = slots_[s.value];
    emit(EventKind::Free, info.domain, flags, info.type, s, info.size);
    info.state = SlotState::Free;
    free_[nfree_++] = s;
    return Anomaly::None;
  }
  Anomaly incref(SlotId s) {
    if (!is(s, SlotState::Object)) [[unlikely]] return lt_.check(s, SlotState::Object);
    uint64_t& rc = slots_[s.value].refcount;
    if (rc >= kMaxRefcount) [[unlikely]] return Anomaly::Overflow;
    ++rc;
    emit(EventKind::Incref, Domain::None, 0, kNoString, s, 0);
    return Anomaly::None;
  }
  // as_pushed (if given) receives the Decref event as written, copied before
  // any death is: the deaths may fill the batch, flush it and go on writing
  // from its start, over the Decref (a cascade of the batch's capacity or more).
  Anomaly decref(SlotId s, Event* as_pushed = nullptr) {
    if (!is(s, SlotState::Object)) [[unlikely]] return lt_.check(s, SlotState::Object);
    SlotInfo& info = slots_[s.value];
    if (info.refcount == info.held) [[unlikely]] return Anomaly::NoSuchEdge;  // only other objects hold it
    Event* const at = p_;
    emit(EventKind::Decref, Domain::None, 0, kNoString, s, 0);
    if (as_pushed) *as_pushed = *at;  // still there after a flush: flushing clears nothing
    if (--info.refcount != 0) return Anomaly::None;
    if (info.edge_head != kNil) [[unlikely]] {  // a cascade: out of line
      store();
      lt_.decref_to_zero(s, out_);
      load();
      return Anomaly::None;
    }
    // The common death: nothing referenced, nothing else dies.
    emit(EventKind::Death, info.domain, 0, info.type, s, info.size);
    info.state = SlotState::Free;
    free_[nfree_++] = s;
    ++deaths_;
    if (record_deaths_) lt_.died_.push_back(s);
    return Anomaly::None;
  }
  // Call-free variants for loops that must not call anything, so that their
  // state stays in registers (a call in the loop makes the compiler keep it
  // in memory). Each does what its namesake above does and returns true, or
  // changes nothing and returns false where its namesake would leave the
  // inline path (no free slot, an anomaly, a cascade, a reference count at its
  // limit); the caller then takes the namesake. They do not flush the batch:
  // the caller checks room() before each. (More than kMaxHotEvents, so that
  // the batch is never left full: emit() relies on that.) Not for record_deaths.
  static constexpr ptrdiff_t kMaxHotEvents = 3;
  // Asks for s's record ahead of its use (any s: out of range is harmless).
  void prefetch(SlotId s) const { __builtin_prefetch(slots_ + (s.value < nslots_ ? s.value : 0)); }
  // Asks for the edge index's entry for (src, dst) ahead of an l or u.
  void prefetch_edge(SlotId src, SlotId dst) const { lt_.edge_index_.prefetch(edge_key(src, dst)); }
  bool room() const { return end_ - p_ > kMaxHotEvents; }
  bool try_allocate(EventKind kind, Domain domain, uint64_t size, StringId type, uint32_t& slot) {
    if (nfree_ == 0 || record_deaths_) [[unlikely]] return false;
    slot = free_[--nfree_].value;
    const bool object = kind == EventKind::Object;
    if (object) domain = Domain::Obj;
    slots_[slot] = SlotInfo{size, 1, type, kNil, object ? SlotState::Object : SlotState::Block, domain, 0, 0};
    put(kind, domain, 0, type, SlotId{slot}, size);
    return true;
  }
  bool try_free(SlotId s, uint8_t flags) {
    if (!is(s, SlotState::Block)) [[unlikely]] return false;
    SlotInfo& info = slots_[s.value];
    put(EventKind::Free, info.domain, flags, info.type, s, info.size);
    info.state = SlotState::Free;
    free_[nfree_++] = s;
    return true;
  }
  bool try_incref(SlotId s) {
    if (!is(s, SlotState::Object) || slots_[s.value].refcount >= kMaxRefcount) [[unlikely]] return false;
    ++slots_[s.value].refcount;
    put(EventKind::Incref, Domain::None, 0, kNoString, s, 0);
    return true;
  }
  bool try_decref(SlotId s) {
    if (!is(s, SlotState::Object) || record_deaths_) [[unlikely]] return false;
    SlotInfo& info = slots_[s.value];
    if ((info.refcount == 1 && info.edge_head != kNil) || info.refcount == info.held) [[unlikely]]
      return false;  // a cascade, or an anomaly
    put(EventKind::Decref, Domain::None, 0, kNoString, s, 0);
    if (--info.refcount != 0) return true;
    put(EventKind::Death, info.domain, 0, info.type, s, info.size);
    info.state = SlotState::Free;
    free_[nfree_++] = s;
    ++deaths_;
    return true;
  }
  // Branch-light forms of the try_* calls above (an AllocOp with keep 0 is an
  // allocation and, at once, the release of what it made: a block freed, or a
  // new object's only reference dropped, so it dies), for a loop that must not
  // branch on the record's kind: the kinds come in random order, so such a
  // branch mispredicts about once a record, the largest single cost of
  // decoding. What differs between the kinds of a family is data (these
  // descriptors, built once per opcode); every event a kind may emit is
  // written and p_ moves past the ones it does emit (within room(): at most
  // kMaxHotEvents). The rules, checks and events are the try_* ones exactly.
  struct AllocOp {  // a, o, and the fused a+f, o+-
    uint64_t head[3];     // event words 0 but the type: kind | domain << 8
    uint64_t type2_mask;  // the second event carries the type and size (a+f) or not (o+-: Decref)
    uint8_t state;        // SlotState the slot is left in (Free for the fused pairs)
    uint8_t domain;       // of the slot's record
    uint8_t keep;         // 1: the slot stays taken (a, o)
    uint8_t events;       // 1, 2 (a+f) or 3 (o+-: Object, Decref, Death)
    uint8_t deaths;       // 1: o+-
  };
  struct RefOp {  // f, +, -
    uint64_t head;        // event word 0 but domain and type: kind | flags << 16
    uint64_t block_mask;  // ~0 (f): the event carries the block's domain, type and size; 0 (+, -)
    uint64_t delta;       // refcount change: 0 (f), 1 (+), -1 (-)
    uint8_t want;         // SlotState the slot must be in
    bool free, incref, decref;
  };
  [[gnu::always_inline]] bool try_allocate(const AllocOp& t, uint64_t size, StringId type) {
    if (nfree_ == 0 || record_deaths_) [[unlikely]] return false;
    const uint32_t s = free_[nfree_ - 1].value;
    nfree_ -= t.keep;
    // Also for the fused pairs: a free slot keeps no state but its own (Free).
    slots_[s] = SlotInfo{size, 1, type, kNil, static_cast<SlotState>(t.state), static_cast<Domain>(t.domain), 0, 0};
    const uint64_t ty = uint64_t{type.value} << 32;
    put_words(p_, t.head[0] | ty, s, size);
    put_words(p_ + 1, t.head[1] | (ty & t.type2_mask), s, size & t.type2_mask);
    put_words(p_ + 2, t.head[2] | ty, s, size);
    p_ += t.events;
    deaths_ += t.deaths;
    return true;
  }
  [[gnu::always_inline]] bool try_reference(const RefOp& t, SlotId s) {
    if (s.value >= nslots_ || record_deaths_) [[unlikely]] return false;
    SlotInfo& info = slots_[s.value];
    const uint64_t rc = info.refcount;
    const bool last = rc == 1;
    // Bitwise, not short-circuit: one well-predicted branch for all the checks.
    if ((info.state != static_cast<SlotState>(t.want)) | (t.incref & (rc >= kMaxRefcount)) |
        (t.decref & ((last & (info.edge_head != kNil)) | (rc == info.held)))) [[unlikely]]
      return false;  // an anomaly, the reference count's limit, or a cascade
    const bool death = t.decref & last;
    const bool dies = t.free | death;
    info.refcount = rc + t.delta;
    const uint64_t w = uint64_t{static_cast<uint8_t>(info.domain)} << 8 | uint64_t{info.type.value} << 32;
    put_words(p_, t.head | (w & t.block_mask), s.value, info.size & t.block_mask);
    put_words(p_ + 1, uint64_t{static_cast<uint8_t>(EventKind::Death)} | w, s.value, info.size);
    p_ += 1 + death;
    deaths_ += death;
    info.state = dies ? SlotState::Free : info.state;
    free_[nfree_] = s;  // in range: s is live, so nfree_ < slots
    nfree_ += dies;
    return true;
  }

  // Call-free l and u for the common case, as the try_* calls above: both
  // slots live objects; l of an existing edge, or of a new one when a
  // released edge and room in the index are at hand (nothing grows); u that
  // kills nothing, or only a destination that holds no references. Anything
  // else returns false, changing nothing, for other().
  [[gnu::always_inline]] bool try_link(SlotId src, SlotId dst) {
    if ((src.value >= nslots_) | (dst.value >= nslots_) | record_deaths_) [[unlikely]] return false;
    SlotInfo& si = slots_[src.value];
    SlotInfo& di = slots_[dst.value];
    if ((si.state != SlotState::Object) | (di.state != SlotState::Object) | (di.refcount >= kMaxRefcount) |
        (di.held == UINT32_MAX)) [[unlikely]]
      return false;
    const uint64_t key = edge_key(src, dst);
    if (const uint64_t* idx = lt_.edge_index_.find(key)) {
      Edge& ed = lt_.edges_[*idx];
      if (ed.count == UINT32_MAX) [[unlikely]] return false;
      ++ed.count;
    } else {
      const uint32_t nfe = lt_.nfree_edges_;
      if (nfe == 0) [[unlikely]] return false;
      const uint32_t i = lt_.free_edges_[nfe - 1];
      if (!lt_.edge_index_.try_put_new(key, i)) [[unlikely]] return false;
      lt_.nfree_edges_ = nfe - 1;
      Edge* edges = lt_.edges_.data();
      const uint32_t head = si.edge_head;
      edges[i] = Edge{dst, 1, kNil, head};
      if (head != kNil) edges[head].prev = i;
      si.edge_head = i;
    }
    ++di.refcount;
    ++di.held;
    put_words(p_, static_cast<uint8_t>(EventKind::Link), src.value | uint64_t{dst.value} << 32, 0);
    ++p_;
    return true;
  }
  [[gnu::always_inline]] bool try_unlink(SlotId src, SlotId dst) {
    if ((src.value >= nslots_) | (dst.value >= nslots_) | record_deaths_) [[unlikely]] return false;
    SlotInfo& si = slots_[src.value];
    SlotInfo& di = slots_[dst.value];
    const bool death = di.refcount == 1;
    if ((si.state != SlotState::Object) | (di.state != SlotState::Object) | (death & (di.edge_head != kNil)))
        [[unlikely]]
      return false;  // an anomaly, or a cascade
    const uint64_t key = edge_key(src, dst);
    const uint64_t* idx = lt_.edge_index_.find(key);
    if (!idx) [[unlikely]] return false;  // no such edge
    const uint32_t i = static_cast<uint32_t>(*idx);
    Edge* edges = lt_.edges_.data();
    Edge& ed = edges[i];
    if (--ed.count == 0) {
      if (ed.prev != kNil) edges[ed.prev].next = ed.next;
      else si.edge_head = ed.next;
      if (ed.next != kNil) edges[ed.next].prev = ed.prev;
      lt_.free_edges_[lt_.nfree_edges_++] = i;
      lt_.edge_index_.erase(key);
    }
    put_words(p_, static_cast<uint8_t>(EventKind::Unlink), src.value | uint64_t{dst.value} << 32, 0);
    ++p_;
    --di.refcount;
    --di.held;
    if (!death) return true;
    put_words(p_, uint64_t{static_cast<uint8_t>(EventKind::Death)} | uint64_t{static_cast<uint8_t>(di.domain)} << 8 |
                      uint64_t{di.type.value} << 32,
              dst.value, di.size);
    ++p_;
    di.state = SlotState::Free;
    free_[nfree_++] = dst;
    ++deaths_;
    return true;
  }

  // A - that kills an object holding references (which try_reference leaves
  // to decref()), call-free when it is small: at most kMaxInlineEdges edges,
  // none to itself, and whatever else dies of it holds no references. The
  // events and their order are decref_to_zero()'s: the Decref, the object's
  // Death, then the Deaths of what it held last, in reverse order of its edges.
  static constexpr int kMaxInlineEdges = 8;
  [[gnu::always_inline]] bool try_decref_cascade(SlotId s) {
    if (s.value >= nslots_ || record_deaths_) [[unlikely]] return false;
    SlotInfo& info = slots_[s.value];
    if ((info.state != SlotState::Object) | (info.refcount != 1) | (info.held != 0)) [[unlikely]] return false;
    Edge* const edges = lt_.edges_.data();
    int n = 0, dying = 0;
    for (uint32_t i = info.edge_head; i != kNil; i = edges[i].next) {
      const Edge& ed = edges[i];
      const SlotInfo& d = slots_[ed.dst.value];
      if ((++n > kMaxInlineEdges) | (ed.dst.value == s.value) | (d.refcount < ed.count)) return false;
      if (d.refcount == ed.count) {
        if (d.edge_head != kNil) return false;  // a longer cascade
        ++dying;
      }
    }
    if (end_ - p_ <= 2 + dying) return false;  // never leave the batch full
    put_words(p_, static_cast<uint8_t>(EventKind::Decref), s.value, 0);
    put_words(p_ + 1,
              uint64_t{static_cast<uint8_t>(EventKind::Death)} | uint64_t{static_cast<uint8_t>(info.domain)} << 8 |
                  uint64_t{info.type.value} << 32,
              s.value, info.size);
    p_ += 2;
    info.refcount = 0;
    uint32_t died[kMaxInlineEdges];
    int ndied = 0;
    for (uint32_t i = info.edge_head; i != kNil;) {
      const Edge ed = edges[i];
      lt_.edge_index_.erase(edge_key(s, ed.dst));
      lt_.free_edges_[lt_.nfree_edges_++] = i;
      SlotInfo& d = slots_[ed.dst.value];
      d.refcount -= ed.count;
      d.held -= ed.count;
      if (d.refcount == 0) died[ndied++] = ed.dst.value;
      i = ed.next;
    }
    info.edge_head = kNil;
    info.state = SlotState::Free;
    free_[nfree_++] = s;
    while (ndied > 0) {
      const uint32_t d = died[--ndied];
      SlotInfo& di = slots_[d];
      put_words(p_,
                uint64_t{static_cast<uint8_t>(EventKind::Death)} | uint64_t{static_cast<uint8_t>(di.domain)} << 8 |
                    uint64_t{di.type.value} << 32,
                d, di.size);
      ++p_;
      di.state = SlotState::Free;
      free_[nfree_++] = SlotId{d};
    }
    deaths_ += 1 + dying;
    return true;
  }

  // Any other record (r, l, u, g, t, m), out of line; e is copied into the batch.
  Anomaly other(Event& e) {
    store();
    Anomaly a = lt_.apply_rest(e, out_);
    load();
    return a;
  }

  // Where the next event goes (apply() reads back the one it pushed, for the
  // kinds that push nothing after it).
  const Event* position() const { return p_; }

 private:
  bool is(SlotId s, SlotState want) const { return s.value < nslots_ && slots_[s.value].state == want; }
  void emit(EventKind kind, Domain domain, uint8_t flags, StringId str, SlotId slot, uint64_t size) {
    put(kind, domain, flags, str, slot, size);
    if (p_ == end_) [[unlikely]] {
      p_ = out_.flush_full();
      end_ = out_.fill_end();  // the next batch may be built elsewhere (a lent buffer)
    }
  }
  // Every field written: no zeroing first. The caller sees to the batch's room.
  // An event from its words: kind, domain, flags, reserved (0), str | slot,
  // dst (ids: slot | dst << 32) | size | old_size (0).
  [[gnu::always_inline]] static void put_words(Event* e, uint64_t head, uint64_t ids, uint64_t size) {
    std::memcpy(reinterpret_cast<char*>(e), &head, 8);
    std::memcpy(reinterpret_cast<char*>(e) + 8, &ids, 8);
    e->size = size;
    e->old_size = 0;
  }
  // As four 8-byte stores: field by field, GCC writes the four leading bytes
  // one at a time (byte and word stores, up to 9 a record in the hot loop).
  void put(EventKind kind, Domain domain, uint8_t flags, StringId str, SlotId slot, uint64_t size) {
    Event& e = *p_++;
    // kind, domain, flags, reserved (0), str | slot, dst (none)
    const uint64_t head = uint64_t{static_cast<uint8_t>(kind)} | uint64_t{static_cast<uint8_t>(domain)} << 8 |
                          uint64_t{flags} << 16 | uint64_t{str.value} << 32;
    const uint64_t ids = slot.value;
    std::memcpy(reinterpret_cast<char*>(&e), &head, 8);
    std::memcpy(reinterpret_cast<char*>(&e) + 8, &ids, 8);
    e.size = size;
    e.old_size = 0;
  }
  void load() {
    slots_ = lt_.slots_.data();
    nslots_ = static_cast<uint32_t>(lt_.slots_.size());
    free_ = lt_.free_.data();
    nfree_ = lt_.nfree_;
    deaths_ = lt_.deaths_;
    p_ = out_.fill_position();
    end_ = out_.fill_end();
  }
  void store() {
    lt_.nfree_ = nfree_;
    lt_.deaths_ = deaths_;
    out_.set_fill_position(p_);
  }

  Lifetimes& lt_;
  EventBatch& out_;
  const bool record_deaths_;
  SlotInfo* slots_;
  uint32_t nslots_;
  SlotId* free_;
  uint32_t nfree_;
  uint64_t deaths_;
  Event* p_;
  Event* end_;
};

}  // namespace heaplay
