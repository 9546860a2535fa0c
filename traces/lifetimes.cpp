// lifetimes.cpp: see lifetimes.hpp.
#include "traces/lifetimes.hpp"

namespace heaplay {

SlotId Lifetimes::next_slot() const {
  return nfree_ ? free_[nfree_ - 1] : SlotId{static_cast<uint32_t>(slots_.size())};
}

Anomaly Lifetimes::new_slot(SlotId& s) {
  const size_t n = slots_.size();
  if (n >= kMaxSlots) return Anomaly::TooManySlots;  // every slot is live (none free)
  // Called with no slot free. Makes a chunk of new ones (an eighth of the
  // table, at least kMinNewSlots), stacked so that they come out lowest
  // first: the order making them one at a time gives, and slots freed in
  // the meantime still come back first (LIFO). Decoders' hot loops then take
  // the next new slots inline instead of coming here for each (about 2% of
  // decoding a trace whose live set grows).
  const size_t add = std::min<size_t>(std::max<size_t>(n / 8, kMinNewSlots), kMaxSlots - n);
  slots_.resize(n + add, SlotInfo{0, 0, kNoString, kNil, SlotState::Free, Domain::None, 1, 0});
  free_.resize(slots_.size());
  for (size_t i = 0; i < add; ++i) free_[i] = SlotId{static_cast<uint32_t>(n + add - 1 - i)};
  nfree_ = static_cast<uint32_t>(add) - 1;
  s = free_[nfree_];
  return Anomaly::None;
}

// The hot kinds go through Fast, so there is one implementation of them.
Anomaly Lifetimes::apply(Event& e, EventBatch& out) {
  died_.clear();
  Fast fast(*this, out, /*record_deaths=*/true);
  const Event* pushed = fast.position();
  Anomaly a;
  switch (e.kind) {
    case EventKind::Alloc:
    case EventKind::Object: {
      SlotId s;
      a = fast.allocate(e.kind, e.domain, e.size, e.str, s);
      break;
    }
    case EventKind::Free: a = fast.free(e.slot, e.flags); break;
    case EventKind::Incref: a = fast.incref(e.slot); break;
    // Not read back from the batch below: the deaths a decref causes come
    // after it there, and as many of them as the batch holds wrap round and
    // overwrite it (the native writer then wrote a Death's slot for the `-`).
    case EventKind::Decref: return fast.decref(e.slot, &e);
    default: return fast.other(e);  // fills in e itself
  }
  // e as pushed, implicit fields filled in: the one event these kinds push is
  // still there even if the batch was flushed since (flushing clears nothing).
  if (a == Anomaly::None) e = *pushed;
  return a;
}

Anomaly Lifetimes::check(SlotId s, SlotState want) const {
  if (s.value >= slots_.size() || slots_[s.value].fresh) return Anomaly::UnknownId;
  SlotState st = slots_[s.value].state;
  if (st == want) return Anomaly::None;
  if (st == SlotState::Free) return Anomaly::DoubleFree;
  return want == SlotState::Block ? Anomaly::NotABlock : Anomaly::NotAnObject;
}

Anomaly Lifetimes::apply_rest(Event& e, EventBatch& out) {
  Anomaly a = Anomaly::None;
  switch (e.kind) {
    case EventKind::Realloc: {
      if ((a = check(e.slot, SlotState::Block)) != Anomaly::None) return a;
      SlotInfo& info = slots_[e.slot.value];
      e.old_size = info.size;
      e.str = info.type;
      e.domain = info.domain;
      info.size = e.size;
      break;
    }
    case EventKind::Link: {
      if ((a = check(e.slot, SlotState::Object)) != Anomaly::None) return a;
      if ((a = check(e.dst, SlotState::Object)) != Anomaly::None) return a;
      if ((a = link(e.slot, e.dst)) != Anomaly::None) return a;
      break;
    }
    case EventKind::Unlink: {
      if ((a = check(e.slot, SlotState::Object)) != Anomaly::None) return a;
      if ((a = check(e.dst, SlotState::Object)) != Anomaly::None) return a;
      return unlink(e, out);
    }
    case EventKind::Collect:
      if (e.size > 2) return Anomaly::BadGeneration;
      break;
    case EventKind::Time:
      if (e.size < last_time_) return Anomaly::TimeBackwards;
      last_time_ = e.size;
      break;
    case EventKind::Mark:
    case EventKind::Thread:
      break;
    default:
      return Anomaly::UnknownId;  // Death is derived only; never valid as input
  }
  out.push(e);
  return Anomaly::None;
}

Anomaly Lifetimes::link(SlotId src, SlotId dst) {
  if (slots_[dst.value].refcount >= kMaxRefcount || slots_[dst.value].held == UINT32_MAX) return Anomaly::Overflow;
  uint64_t key = edge_key(src, dst);
  if (uint64_t* idx = edge_index_.find(key)) {
    Edge& ed = edges_[*idx];
    if (ed.count == UINT32_MAX) return Anomaly::Overflow;
    ++ed.count;
  } else {
    uint32_t i;
    if (nfree_edges_ != 0) {
      i = free_edges_[--nfree_edges_];
    } else {
      i = static_cast<uint32_t>(edges_.size());
      edges_.emplace_back();
      free_edges_.resize(edges_.size());
    }
    uint32_t& head = slots_[src.value].edge_head;
    edges_[i] = Edge{dst, 1, kNil, head};
    if (head != kNil) edges_[head].prev = i;
    head = i;
    edge_index_.put(key, i);
  }
  ++slots_[dst.value].refcount;
  ++slots_[dst.value].held;
  return Anomaly::None;
}

Anomaly Lifetimes::unlink(const Event& e, EventBatch& out) {
  SlotId src = e.slot, dst = e.dst;
  uint64_t key = edge_key(src, dst);
  uint64_t* idx = edge_index_.find(key);
  if (!idx) return Anomaly::NoSuchEdge;
  uint32_t i = static_cast<uint32_t>(*idx);
  Edge& ed = edges_[i];
  if (--ed.count == 0) {
    if (ed.prev != kNil) edges_[ed.prev].next = ed.next;
    else slots_[src.value].edge_head = ed.next;
    if (ed.next != kNil) edges_[ed.next].prev = ed.prev;
    free_edges_[nfree_edges_++] = i;
    edge_index_.erase(key);
  }
  out.push(e);  // e may be the batch's storage: read nothing from it after this
  --slots_[dst.value].held;
  if (--slots_[dst.value].refcount == 0) decref_to_zero(dst, out);
  return Anomaly::None;
}

void Lifetimes::decref_to_zero(SlotId first, EventBatch& out) {
  died_.clear();
  work_.clear();
  work_.push_back(first);
  while (!work_.empty()) {
    SlotId s = work_.back();
    work_.pop_back();
    const SlotInfo& info = slots_[s.value];
    Event& d = out.next();
    d = Event{};
    d.kind = EventKind::Death;
    d.domain = info.domain;
    d.str = info.type;
    d.slot = s;
    d.size = info.size;
    out.push(d);
    died_.push_back(s);
    ++deaths_;
    // Drop every outgoing reference; targets that reach zero die next.
    for (uint32_t i = slots_[s.value].edge_head; i != kNil;) {
      Edge ed = edges_[i];
      edge_index_.erase(edge_key(s, ed.dst));
      free_edges_[nfree_edges_++] = i;
      SlotInfo& target = slots_[ed.dst.value];
      target.refcount -= ed.count;
      target.held -= ed.count;
      if (target.refcount == 0) work_.push_back(ed.dst);
      i = ed.next;
    }
    slots_[s.value].edge_head = kNil;
    release(s);
  }
}

bool Lifetimes::is_valid() const {
  uint64_t live = 0;
  for (const SlotInfo& si : slots_) {
    live += si.state != SlotState::Free;
    if (si.fresh && (si.state != SlotState::Free || si.refcount != 0 || si.edge_head != kNil)) return false;
  }
  if (live != live_slots() || nfree_ > slots_.size() || free_.size() != slots_.size()) return false;
  for (uint32_t i = 0; i < nfree_; ++i)
    if (free_[i].value >= slots_.size() || slots_[free_[i].value].state != SlotState::Free) return false;
  uint64_t edges = 0;
  std::vector<uint64_t> held(slots_.size());  // edges into each slot, counted again
  for (size_t src = 0; src < slots_.size(); ++src) {
    uint32_t prev = kNil;
    if (slots_[src].state != SlotState::Object && slots_[src].edge_head != kNil) return false;
    for (uint32_t i = slots_[src].edge_head; i != kNil; i = edges_[i].next) {
      const Edge& ed = edges_[i];
      if (ed.prev != prev || ed.count == 0) return false;
      if (slots_[src].state != SlotState::Object || state(ed.dst) != SlotState::Object) return false;
      const uint64_t* idx = edge_index_.find(edge_key(SlotId{static_cast<uint32_t>(src)}, ed.dst));
      if (!idx || *idx != i) return false;
      held[ed.dst.value] += ed.count;
      prev = i;
      ++edges;
    }
  }
  for (size_t s = 0; s < slots_.size(); ++s)
    if (held[s] != slots_[s].held || slots_[s].held > slots_[s].refcount) return false;
  return edges == edge_index_.size();
}

}  // namespace heaplay
