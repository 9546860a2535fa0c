// refgraph.cpp: reference counts, edges, deallocation cascades (refgraph.hpp).
#include "engine/refgraph.hpp"

#include "engine/collector.hpp"

namespace heaplay {

RefGraph::RefGraph(Layer& mem, LiveBytes& live) : mem_(mem), live_(live) {
  recs_.ensure(kHeads - 1);
  for (uint32_t h = 0; h < kHeads; ++h) list_init(h);
}

bool RefGraph::create(uint32_t slot, uint64_t size, StringId type) {
  const uint32_t i = index(slot);
  recs_.ensure(i);
  if (i >= limit_) limit_ = i + 1;
  if (recs_[i].state == ObjState::Alive) {  // the reader never reuses a live slot; be safe
    recs_[i].refcount = 0;
    dealloc(i);
  }
  const Request req{size, type, Domain::Obj, true};
  const Block b = mem_.allocate(req);
  ObjRecord& r = recs_[i];
  r = ObjRecord{b, 1, size, 0, type, kNil, kNil, kNil, kNil, ObjState::Alive, kNoGen, 0, 0};
  ++live_objects_;
  live_object_bytes_ += size;
  live_.add(size);
  if (gc_) gc_->on_create(i, (b.flags & kBlockCached) == 0);
  return true;
}

bool RefGraph::incref(uint32_t slot) {
  if (!alive(slot)) [[unlikely]] return false;
  ++recs_[index(slot)].refcount;
  return true;
}

bool RefGraph::decref(uint32_t slot) {
  if (!alive(slot)) [[unlikely]] return false;
  const uint32_t i = index(slot);
  if (--recs_[i].refcount == 0) dealloc(i);
  return true;
}

uint32_t RefGraph::new_edge() {
  if (free_edge_ != kNil) {
    const uint32_t e = free_edge_;
    free_edge_ = edges_[e].next;
    return e;
  }
  edges_.ensure(edge_limit_);
  return edge_limit_++;
}

bool RefGraph::link(uint32_t src, uint32_t dst) {
  if (!alive(src) || !alive(dst)) [[unlikely]] return false;
  ++recs_[index(dst)].refcount;
  const uint64_t k = key(src, dst);
  if (uint64_t* found = index_.find(k)) {
    ++edges_[*found].count;
    return true;
  }
  const uint32_t e = new_edge();
  ObjRecord& s = recs_[index(src)];
  edges_[e] = Edge{src, dst, 1, s.edge_tail, kNil};
  if (s.edge_tail != kNil) edges_[s.edge_tail].next = e;
  else s.edge_head = e;
  s.edge_tail = e;
  index_.put(k, e);
  return true;
}

void RefGraph::remove_edge(uint32_t e) {
  Edge& ed = edges_[e];
  ObjRecord& s = recs_[index(ed.src)];
  if (ed.prev != kNil) edges_[ed.prev].next = ed.next;
  else s.edge_head = ed.next;
  if (ed.next != kNil) edges_[ed.next].prev = ed.prev;
  else s.edge_tail = ed.prev;
  index_.erase(key(ed.src, ed.dst));
  ed.count = 0;
  ed.next = free_edge_;
  free_edge_ = e;
}

bool RefGraph::unlink(uint32_t src, uint32_t dst) {
  if (!alive(src) || !alive(dst)) [[unlikely]] return false;
  uint64_t* found = index_.find(key(src, dst));
  if (!found) [[unlikely]] return false;  // a reference this replay never saw made
  const uint32_t e = static_cast<uint32_t>(*found);
  if (--edges_[e].count == 0) remove_edge(e);
  // The container lets go of the item, then drops its reference.
  const uint32_t d = index(dst);
  if (--recs_[d].refcount == 0) dealloc(d);
  return true;
}

void RefGraph::death(uint32_t slot) {
  const uint32_t i = index(slot);
  if (i >= limit_) return;
  ObjRecord& r = recs_[i];
  if (r.state == ObjState::Alive) {
    // The engine's count is never above the reader's; if it ever is, the
    // reader's word wins: the object goes now.
    r.refcount = 0;
    dealloc(i);
  }
  recs_[i].state = ObjState::Free;
}

uint32_t RefGraph::drop_first_edge(ObjRecord& r) {
  const uint32_t e = r.edge_head;
  const uint32_t d = index(edges_[e].dst);
  const uint32_t n = edges_[e].count;
  remove_edge(e);
  ObjRecord& dr = recs_[d];
  dr.refcount -= n;
  return dr.refcount == 0 && dr.state == ObjState::Alive ? d : kNil;
}

void RefGraph::dealloc(uint32_t root) {
  // Post-order over the references, as nested tp_dealloc calls would run:
  // the innermost object being torn down is work_.back(); it drops its oldest
  // remaining reference each round, and is released when it has none left.
  recs_[root].state = ObjState::Garbage;
  work_.push_back(root);
  while (!work_.empty()) {
    const uint32_t i = work_.back();
    ObjRecord& r = recs_[i];
    if (r.edge_head != kNil) {
      const uint32_t d = drop_first_edge(r);
      if (d != kNil) {
        recs_[d].state = ObjState::Garbage;
        work_.push_back(d);
      }
      continue;
    }
    work_.pop_back();
    release(i);
  }
}

void RefGraph::drop_edges(uint32_t i) {
  ObjRecord& r = recs_[i];
  while (r.edge_head != kNil) {
    const uint32_t d = drop_first_edge(r);
    if (d != kNil) dealloc(d);
  }
}

void RefGraph::release(uint32_t i) {
  ObjRecord& r = recs_[i];
  const Request req = request(r);
  if (gc_ && (r.flags & kObjTracked)) gc_->on_release(i, mem_.keeps(req));
  mem_.release(r.block, req);
  r.state = ObjState::Dead;
  r.flags = 0;
  --live_objects_;
  live_object_bytes_ -= r.size;
  live_.now -= r.size;
  ++deaths_;
}

// ---- gc lists ----

void RefGraph::list_init(uint32_t h) {
  recs_[h].gc_prev = h;
  recs_[h].gc_next = h;
}

void RefGraph::list_append(uint32_t h, uint32_t i) {
  const uint32_t last = recs_[h].gc_prev;
  recs_[i].gc_prev = last;
  recs_[i].gc_next = h;
  recs_[last].gc_next = i;
  recs_[h].gc_prev = i;
}

void RefGraph::list_remove(uint32_t i) {
  ObjRecord& r = recs_[i];
  recs_[r.gc_prev].gc_next = r.gc_next;
  recs_[r.gc_next].gc_prev = r.gc_prev;
  r.gc_prev = r.gc_next = kNil;
}

void RefGraph::list_merge(uint32_t from, uint32_t to) {
  if (list_empty(from)) return;
  const uint32_t first = recs_[from].gc_next, last = recs_[from].gc_prev, to_last = recs_[to].gc_prev;
  recs_[to_last].gc_next = first;
  recs_[first].gc_prev = to_last;
  recs_[last].gc_next = to;
  recs_[to].gc_prev = last;
  list_init(from);
}

uint64_t RefGraph::list_size(uint32_t h) const {
  uint64_t n = 0;
  for (uint32_t i = recs_[h].gc_next; i != h; i = recs_[i].gc_next) ++n;
  return n;
}

bool RefGraph::is_valid() const {
  // Edges: lists well linked, every listed edge indexed, counts add up.
  uint64_t listed = 0, alive = 0, bytes = 0;
  std::vector<uint64_t> incoming(limit_, 0);
  for (uint32_t i = kHeads; i < limit_; ++i) {
    const ObjRecord& r = recs_[i];
    if (r.state != ObjState::Alive) {
      // Garbage exists only during a cascade or a collection; the dead hold
      // no references (records never used are zero bytes: Free).
      if (r.state == ObjState::Garbage || (r.state == ObjState::Dead && r.edge_head != kNil)) return false;
      continue;
    }
    ++alive;
    bytes += r.size;
    uint32_t prev = kNil;
    for (uint32_t e = r.edge_head; e != kNil; prev = e, e = edges_[e].next) {
      const Edge& ed = edges_[e];
      if (ed.prev != prev || index(ed.src) != i || ed.count == 0) return false;
      const uint64_t* found = index_.find(key(ed.src, ed.dst));
      if (!found || *found != e) return false;
      if (index(ed.dst) >= limit_ || recs_[index(ed.dst)].state != ObjState::Alive) return false;
      incoming[index(ed.dst)] += ed.count;
      ++listed;
    }
    if (prev != r.edge_tail) return false;
  }
  if (listed != index_.size() || alive != live_objects_ || bytes != live_object_bytes_) return false;
  for (uint32_t i = kHeads; i < limit_; ++i)
    if (recs_[i].state == ObjState::Alive && recs_[i].refcount < incoming[i]) return false;
  return true;
}

}  // namespace heaplay
