// collector.cpp: generations, triggers and one collection (collector.hpp).
//
// A collection follows gcmodule.c's steps, in its own words here:
//   1. merge the younger generations into the one collected (young);
//   2. gc_refs = refcount for each object in young, minus every reference
//      another object of young holds to it (with multiplicity);
//   3. move_unreachable: walk young from its head; an object with gc_refs > 0
//      is reachable: its referents in young become reachable too (gc_refs 1,
//      or moved back from the unreachable list to young's tail, where the walk
//      will reach them); an object with gc_refs 0 moves to the unreachable
//      list for now. Survivors keep their relative order; so does the garbage;
//   4. survivors join the next generation; the garbage drops its references,
//      then its memory is released, in unreachable-list order.
#include "engine/collector.hpp"

#include <chrono>
#include <string_view>

namespace heaplay {

Collector::Collector(const GcParams& params, Layer& mem) : params_(params), mem_(mem) {}

void Collector::attach(RefGraph& graph) {
  graph_ = &graph;
  for (int g = 0; g < kGenerations; ++g) graph.list_init(head(g));
  graph.list_init(kUnreachable);
}

bool Collector::tracks(StringId type) {
  if (type.value >= type_cache_.size()) type_cache_.resize(type.value + 1, 0);
  uint8_t& c = type_cache_[type.value];
  if (c == 0) {
    std::string_view name = strings_ && type.value < strings_->size() ? strings_->at(type) : std::string_view{};
    c = 1;
    for (const std::string& u : params_.untracked_types)
      if (u == name) c = 2;
  }
  return c == 1;
}

void Collector::on_create(uint32_t i, bool real) {
  ObjRecord& r = graph_->rec(i);
  if (!tracks(r.type)) return;
  r.flags |= kObjTracked;
  if (real) {
    ++count_[0];
    // The new object is not in any generation yet: the collection cannot free it.
    if (count_[0] > params_.thresholds[0] && params_.thresholds[0] != 0 && !collecting_) collect_generations();
  }
  ObjRecord& again = graph_->rec(i);
  graph_->list_append(head(0), i);
  again.gen = 0;
  ++tracked_;
}

void Collector::on_release(uint32_t i, bool kept) {
  ObjRecord& r = graph_->rec(i);
  if (r.gen != RefGraph::kNoGen) {
    graph_->list_remove(i);
    r.gen = RefGraph::kNoGen;
    --tracked_;
  }
  if (!kept && count_[0] > 0) --count_[0];
}

void Collector::collect_generations() {
  for (int g = kGenerations - 1; g >= 0; --g) {
    if (count_[g] > params_.thresholds[g]) {
      // A full collection waits until the objects that survived a generation-1
      // collection since the last full one are a quarter of those that survived it.
      if (g == kGenerations - 1 && long_lived_pending_ < long_lived_total_ / 4) continue;
      collect(g);
      return;
    }
  }
}

void Collector::visit_reachable(uint32_t i, uint32_t young) {
  ObjRecord& r = graph_->rec(i);
  if (!(r.flags & kObjCollecting)) return;  // untracked, or outside the generations collected
  if (r.flags & kObjUnreachable) {
    // Tentatively unreachable, but reachable after all: back to young's tail.
    graph_->list_remove(i);
    graph_->list_append(young, i);
    r.flags &= static_cast<uint8_t>(~kObjUnreachable);
    r.gc_refs = 1;
  } else if (r.gc_refs == 0) {
    r.gc_refs = 1;  // not scanned yet: it will be, as reachable
  }
}

uint64_t Collector::move_unreachable(uint32_t young, uint8_t new_gen) {
  RefGraph& g = *graph_;
  uint64_t survivors = 0;
  uint32_t i = g.rec(young).gc_next;
  while (i != young) {
    ObjRecord& r = g.rec(i);
    if (r.gc_refs > 0) {
      for (uint32_t e = r.edge_head; e != RefGraph::kNil; e = g.edge(e).next)
        visit_reachable(RefGraph::index(g.edge(e).dst), young);
      r.flags &= static_cast<uint8_t>(~kObjCollecting);
      r.gen = new_gen;
      ++survivors;
      i = r.gc_next;
    } else {
      const uint32_t next = r.gc_next;
      g.list_remove(i);
      g.list_append(kUnreachable, i);
      r.flags |= kObjUnreachable;
      i = next;
    }
  }
  return survivors;
}

void Collector::collect(int gen) {
  const auto t0 = std::chrono::steady_clock::now();
  RefGraph& g = *graph_;
  collecting_ = true;
  ++summary_.collections[gen];
  if (gen + 1 < kGenerations) ++count_[gen + 1];
  for (int k = 0; k <= gen; ++k) count_[k] = 0;
  for (int k = 0; k < gen; ++k) g.list_merge(head(k), head(gen));
  const uint32_t young = head(gen);

  // gc_refs: the count, less the references from inside young.
  uint64_t examined = 0;
  for (uint32_t i = g.rec(young).gc_next; i != young; i = g.rec(i).gc_next) {
    ObjRecord& r = g.rec(i);
    r.gc_refs = static_cast<int64_t>(r.refcount);
    r.flags |= kObjCollecting;
    ++examined;
  }
  for (uint32_t i = g.rec(young).gc_next; i != young; i = g.rec(i).gc_next)
    for (uint32_t e = g.rec(i).edge_head; e != RefGraph::kNil; e = g.edge(e).next) {
      ObjRecord& d = g.rec(RefGraph::index(g.edge(e).dst));
      if (d.flags & kObjCollecting) d.gc_refs -= g.edge(e).count;
    }
  summary_.examined_objects += examined;

  const uint8_t new_gen = static_cast<uint8_t>(gen + 1 < kGenerations ? gen + 1 : gen);
  const uint64_t survivors = move_unreachable(young, new_gen);
  if (gen + 1 < kGenerations) {
    if (gen == kGenerations - 2) long_lived_pending_ += survivors;
    g.list_merge(young, head(gen + 1));
  } else {
    long_lived_pending_ = 0;
    long_lived_total_ = survivors;
  }

  // The garbage: it no longer belongs to a generation; no reference count can
  // free it while it lets go of its references (state Garbage).
  for (uint32_t i = g.rec(kUnreachable).gc_next; i != kUnreachable; i = g.rec(i).gc_next) {
    ObjRecord& r = g.rec(i);
    r.state = ObjState::Garbage;
    r.gen = RefGraph::kNoGen;
    r.flags &= static_cast<uint8_t>(~(kObjCollecting | kObjUnreachable));
    --tracked_;
  }
  const uint64_t deaths_before = g.deaths();
  for (uint32_t i = g.rec(kUnreachable).gc_next; i != kUnreachable; i = g.rec(i).gc_next) g.drop_edges(i);
  summary_.cascade_freed_objects += g.deaths() - deaths_before;
  while (!g.list_empty(kUnreachable)) {
    const uint32_t i = g.rec(kUnreachable).gc_next;
    g.list_remove(i);
    ++summary_.collected_objects;
    summary_.collected_bytes += g.rec(i).size;
    g.release(i);
  }
  if (gen == kGenerations - 1) mem_.clear_caches();
  collecting_ = false;

  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summary_.seconds += s;
  if (s > summary_.max_pause_seconds) summary_.max_pause_seconds = s;
}

void Collector::report(LayerReport& out) const {
  out.add("collections_gen0", summary_.collections[0]);
  out.add("collections_gen1", summary_.collections[1]);
  out.add("collections_gen2", summary_.collections[2]);
  out.add("examined_objects", summary_.examined_objects);
  out.add("collected_objects", summary_.collected_objects);
  out.add("collected_bytes", summary_.collected_bytes);
  out.add("cascade_freed_objects", summary_.cascade_freed_objects);
  out.add("tracked_objects", tracked_);
  out.add("gen0_count", count_[0]);
  out.add("gen1_count", count_[1]);
  out.add("gen2_count", count_[2]);
  out.add("long_lived_pending", long_lived_pending_);
  out.add("long_lived_total", long_lived_total_);
}

bool Collector::is_valid() const {
  if (!graph_) return tracked_ == 0;
  const RefGraph& g = *graph_;
  uint64_t listed = 0;
  for (int gen = 0; gen < kGenerations; ++gen) {
    uint32_t prev = head(gen);
    for (uint32_t i = g.rec(head(gen)).gc_next; i != head(gen); prev = i, i = g.rec(i).gc_next) {
      const ObjRecord& r = g.rec(i);
      if (r.gc_prev != prev || r.state != ObjState::Alive || r.gen != gen || !(r.flags & kObjTracked)) return false;
      if (r.flags & (kObjCollecting | kObjUnreachable)) return false;
      if (++listed > tracked_) return false;
    }
    if (g.rec(head(gen)).gc_prev != prev) return false;
  }
  if (listed != tracked_ || !g.list_empty(kUnreachable)) return false;
  // Every tracked Alive object is listed (counted above: the totals must agree).
  uint64_t alive_tracked = 0;
  for (uint32_t i = RefGraph::kHeads; i < g.record_limit(); ++i)
    if (g.rec(i).state == ObjState::Alive && (g.rec(i).flags & kObjTracked)) ++alive_tracked;
  return alive_tracked == tracked_;
}

Unreclaimed find_unreclaimed(RefGraph& g, bool tracked_only) {
  // The same three steps as a collection, over every candidate at once,
  // with no list order to keep: gc_refs, then a flood from the referenced.
  const uint32_t limit = g.record_limit();
  auto candidate = [&](const ObjRecord& r) {
    return r.state == ObjState::Alive && (!tracked_only || (r.flags & kObjTracked));
  };
  for (uint32_t i = RefGraph::kHeads; i < limit; ++i) {
    ObjRecord& r = g.rec(i);
    if (!candidate(r)) continue;
    r.gc_refs = static_cast<int64_t>(r.refcount);
    r.flags |= kObjCollecting;
  }
  for (uint32_t i = RefGraph::kHeads; i < limit; ++i) {
    if (!(g.rec(i).flags & kObjCollecting)) continue;
    for (uint32_t e = g.rec(i).edge_head; e != RefGraph::kNil; e = g.edge(e).next) {
      ObjRecord& d = g.rec(RefGraph::index(g.edge(e).dst));
      if (d.flags & kObjCollecting) d.gc_refs -= g.edge(e).count;
    }
  }
  // Reachable: clear kObjCollecting, flooding along references.
  std::vector<uint32_t> work;
  for (uint32_t i = RefGraph::kHeads; i < limit; ++i) {
    ObjRecord& r = g.rec(i);
    if (!(r.flags & kObjCollecting) || r.gc_refs <= 0) continue;
    r.flags &= static_cast<uint8_t>(~kObjCollecting);
    work.push_back(i);
    while (!work.empty()) {
      const uint32_t j = work.back();
      work.pop_back();
      for (uint32_t e = g.rec(j).edge_head; e != RefGraph::kNil; e = g.edge(e).next) {
        const uint32_t d = RefGraph::index(g.edge(e).dst);
        if (g.rec(d).flags & kObjCollecting) {
          g.rec(d).flags &= static_cast<uint8_t>(~kObjCollecting);
          work.push_back(d);
        }
      }
    }
  }
  Unreclaimed out;
  for (uint32_t i = RefGraph::kHeads; i < limit; ++i) {
    ObjRecord& r = g.rec(i);
    if (!(r.flags & kObjCollecting)) continue;
    r.flags &= static_cast<uint8_t>(~kObjCollecting);
    ++out.objects;
    out.bytes += r.size;
  }
  return out;
}

}  // namespace heaplay
