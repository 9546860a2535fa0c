// lifetimes.cpp: see lifetimes.hpp.
#include "traces/lifetimes.hpp"

namespace heaplay {

namespace {
constexpr uint64_t kMaxRefcount = uint64_t{1} << 62;
}

SlotId Lifetimes::next_slot() const {
  return free_slots_.empty() ? SlotId{static_cast<uint32_t>(slots_.size())} : free_slots_.back();
}

SlotId Lifetimes::take_slot() {
  if (!free_slots_.empty()) {
    SlotId s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  SlotId s{static_cast<uint32_t>(slots_.size())};
  slots_.push_back(SlotInfo{0, kNoString, SlotState::Free, Domain::None, 0});
  return s;
}

void Lifetimes::release(SlotId s) {
  slots_[s.value].state = SlotState::Free;
  free_slots_.push_back(s);
  --live_;
}

Anomaly Lifetimes::check(SlotId s, SlotState want) const {
  if (s.value >= slots_.size()) return Anomaly::UnknownId;
  SlotState st = slots_[s.value].state;
  if (st == want) return Anomaly::None;
  if (st == SlotState::Free) return Anomaly::DoubleFree;
  return want == SlotState::Block ? Anomaly::NotABlock : Anomaly::NotAnObject;
}

void Lifetimes::ensure_object_arrays(uint32_t slot) {
  if (slot >= refcount_.size()) {
    size_t n = std::max<size_t>(slots_.size(), size_t{slot} + 1);
    refcount_.resize(n, 0);
    edge_head_.resize(n, kNil);
  }
}

Anomaly Lifetimes::apply(Event& e, EventBatch& out) {
  died_.clear();
  Anomaly a = Anomaly::None;
  switch (e.kind) {
    case EventKind::Alloc:
    case EventKind::Object: {
      if (live_ >= kMaxSlots) return Anomaly::TooManySlots;
      SlotId s = take_slot();
      bool object = e.kind == EventKind::Object;
      if (object) e.domain = Domain::Obj;
      slots_[s.value] = SlotInfo{e.size, e.str, object ? SlotState::Object : SlotState::Block, e.domain, 0};
      ++live_;
      if (object) {
        ensure_object_arrays(s.value);
        refcount_[s.value] = 1;
        edge_head_[s.value] = kNil;
      }
      e.slot = s;
      break;
    }
    case EventKind::Free: {
      if ((a = check(e.slot, SlotState::Block)) != Anomaly::None) return a;
      const SlotInfo& info = slots_[e.slot.value];
      e.size = info.size;
      e.str = info.type;
      e.domain = info.domain;
      release(e.slot);
      break;
    }
    case EventKind::Realloc: {
      if ((a = check(e.slot, SlotState::Block)) != Anomaly::None) return a;
      SlotInfo& info = slots_[e.slot.value];
      e.old_size = info.size;
      e.str = info.type;
      e.domain = info.domain;
      info.size = e.size;
      break;
    }
    case EventKind::Incref: {
      if ((a = check(e.slot, SlotState::Object)) != Anomaly::None) return a;
      if (refcount_[e.slot.value] >= kMaxRefcount) return Anomaly::Overflow;
      ++refcount_[e.slot.value];
      break;
    }
    case EventKind::Decref: {
      if ((a = check(e.slot, SlotState::Object)) != Anomaly::None) return a;
      out.push(e);
      if (--refcount_[e.slot.value] == 0) decref_to_zero(e.slot, out);
      return Anomaly::None;
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
      return unlink(e.slot, e.dst, out) ;
    }
    case EventKind::Collect:
      if (e.size > 2) return Anomaly::BadGeneration;
      break;
    case EventKind::Time:
      if (e.size < last_time_) return Anomaly::TimeBackwards;
      last_time_ = e.size;
      break;
    case EventKind::Mark:
      break;
    case EventKind::Death:
      return Anomaly::UnknownId;  // derived only; never valid as input
  }
  out.push(e);
  return Anomaly::None;
}

Anomaly Lifetimes::link(SlotId src, SlotId dst) {
  if (refcount_[dst.value] >= kMaxRefcount) return Anomaly::Overflow;
  uint64_t key = edge_key(src, dst);
  if (uint64_t* idx = edge_index_.find(key)) {
    Edge& ed = edges_[*idx];
    if (ed.count == UINT32_MAX) return Anomaly::Overflow;
    ++ed.count;
  } else {
    uint32_t i;
    if (!free_edges_.empty()) {
      i = free_edges_.back();
      free_edges_.pop_back();
    } else {
      i = static_cast<uint32_t>(edges_.size());
      edges_.emplace_back();
    }
    uint32_t head = edge_head_[src.value];
    edges_[i] = Edge{dst, 1, kNil, head};
    if (head != kNil) edges_[head].prev = i;
    edge_head_[src.value] = i;
    edge_index_.put(key, i);
  }
  ++refcount_[dst.value];
  return Anomaly::None;
}

Anomaly Lifetimes::unlink(SlotId src, SlotId dst, EventBatch& out) {
  uint64_t key = edge_key(src, dst);
  uint64_t* idx = edge_index_.find(key);
  if (!idx) return Anomaly::NoSuchEdge;
  uint32_t i = static_cast<uint32_t>(*idx);
  Edge& ed = edges_[i];
  if (--ed.count == 0) {
    if (ed.prev != kNil) edges_[ed.prev].next = ed.next;
    else edge_head_[src.value] = ed.next;
    if (ed.next != kNil) edges_[ed.next].prev = ed.prev;
    free_edges_.push_back(i);
    edge_index_.erase(key);
  }
  Event e;
  e.kind = EventKind::Unlink;
  e.slot = src;
  e.dst = dst;
  out.push(e);
  if (--refcount_[dst.value] == 0) decref_to_zero(dst, out);
  return Anomaly::None;
}

void Lifetimes::decref_to_zero(SlotId first, EventBatch& out) {
  work_.clear();
  work_.push_back(first);
  while (!work_.empty()) {
    SlotId s = work_.back();
    work_.pop_back();
    const SlotInfo& info = slots_[s.value];
    Event d;
    d.kind = EventKind::Death;
    d.domain = info.domain;
    d.str = info.type;
    d.slot = s;
    d.size = info.size;
    out.push(d);
    died_.push_back(s);
    // Drop every outgoing reference; targets that reach zero die next.
    for (uint32_t i = edge_head_[s.value]; i != kNil;) {
      Edge ed = edges_[i];
      edge_index_.erase(edge_key(s, ed.dst));
      free_edges_.push_back(i);
      uint64_t& rc = refcount_[ed.dst.value];
      rc -= ed.count;
      if (rc == 0) work_.push_back(ed.dst);
      i = ed.next;
    }
    edge_head_[s.value] = kNil;
    release(s);
  }
}

bool Lifetimes::is_valid() const {
  uint64_t live = 0;
  for (const SlotInfo& si : slots_) live += si.state != SlotState::Free;
  if (live != live_) return false;
  if (live_ + free_slots_.size() != slots_.size()) return false;
  for (SlotId s : free_slots_)
    if (s.value >= slots_.size() || slots_[s.value].state != SlotState::Free) return false;
  uint64_t edges = 0;
  for (size_t src = 0; src < edge_head_.size(); ++src) {
    uint32_t prev = kNil;
    for (uint32_t i = edge_head_[src]; i != kNil; i = edges_[i].next) {
      const Edge& ed = edges_[i];
      if (ed.prev != prev || ed.count == 0) return false;
      if (slots_[src].state != SlotState::Object || state(ed.dst) != SlotState::Object) return false;
      const uint64_t* idx = edge_index_.find(edge_key(SlotId{static_cast<uint32_t>(src)}, ed.dst));
      if (!idx || *idx != i) return false;
      if (refcount_[ed.dst.value] < ed.count) return false;
      prev = i;
      ++edges;
    }
  }
  return edges == edge_index_.size();
}

}  // namespace heaplay
