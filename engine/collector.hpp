// collector.hpp: CPython 3.11's generational cyclic garbage collector, over RefGraph.
//
// What it models (Modules/gcmodule.c): objects of tracked types (containers:
// every type not in gc.untracked_types) live in three generations. Really
// allocating a tracked object adds 1 to generation 0's count, really
// deallocating one takes 1 off (not below 0); an allocation from, or a
// deallocation into, an object cache (objspec's free lists) does neither.
// When the count exceeds threshold 0 right after an allocation, the oldest
// generation whose count exceeds its threshold is collected (generation 2
// only once long_lived_pending >= long_lived_total / 4); the new object joins
// generation 0 afterwards. A collection of generation g finds, among the
// tracked objects of generations 0..g, those no reference from outside that
// set keeps alive (references held by untracked objects and older
// generations are outside), in CPython's list order; survivors move to
// generation g+1 (2 stays 2); the garbage drops its references (which may
// free objects outside it by reference counting) and is then released in
// list order. A full collection clears the object caches below.
//
// Not modelled: finalizers and resurrection, weak references, the untracking
// of tuples and dicts that hold only untracked items, gc.freeze, the
// trashcan's deferral of deep deallocations, 3.12+'s incremental collector.
//
// Units: counts are objects, bytes are the trace's object sizes, times are
// wall seconds (steady_clock).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/layer.hpp"
#include "engine/params.hpp"
#include "engine/refgraph.hpp"
#include "engine/replay.hpp"

namespace heaplay {

// Live objects a full collection over the candidates would find unreachable
// now (Unreclaimed: replay.hpp). tracked_only: the candidates are the tracked objects (the gc stack; other
// objects' references are external); else every Alive object. Does not
// change the graph (only its scratch fields).
Unreclaimed find_unreclaimed(RefGraph& graph, bool tracked_only);

class Collector {
 public:
  static constexpr int kGenerations = 3;

  // mem: the layer below gc (asked keeps(), told clear_caches()).
  Collector(const GcParams& params, Layer& mem);

  // Before the first object; sets up the generation lists in graph.
  void attach(RefGraph& graph);
  void use_strings(const StringTable& strings) { strings_ = &strings; }
  // Whether objects of this type are tracked (a per-StringId cache of the
  // untracked_types lookup; ids beyond the table are resolved as they come).
  bool tracks(StringId type);

  // RefGraph's hooks. on_create: record i was just allocated (real: not from
  // an object cache); may collect, then tracks it. on_release: i (tracked) is
  // about to be released; kept: the layer below keeps it in a cache.
  void on_create(uint32_t i, bool real);
  void on_release(uint32_t i, bool kept);

  // Collects generation gen (0..2) now, with an automatic collection's bookkeeping.
  void collect(int gen);

  const GcSummary& summary() const { return summary_; }
  uint64_t count(int gen) const { return count_[gen]; }
  uint64_t tracked_objects() const { return tracked_; }
  uint64_t long_lived_pending() const { return long_lived_pending_; }
  uint64_t long_lived_total() const { return long_lived_total_; }
  // The figures as a LayerReport lists them (collections_gen0, ...).
  void report(LayerReport& out) const;

  // Every tracked Alive object is in the list of its generation and nothing
  // else is; list sizes add up to tracked_objects().
  bool is_valid() const;

 private:
  static uint32_t head(int gen) { return static_cast<uint32_t>(gen); }
  static constexpr uint32_t kUnreachable = 3;  // list head: this collection's garbage
  void collect_generations();
  // move_unreachable: reachable objects stay in young (in CPython's order) and
  // join generation new_gen; the rest go to kUnreachable's list. Returns the survivors.
  uint64_t move_unreachable(uint32_t young, uint8_t new_gen);
  void visit_reachable(uint32_t i, uint32_t young);

  GcParams params_;
  Layer& mem_;
  RefGraph* graph_ = nullptr;
  const StringTable* strings_ = nullptr;
  std::vector<uint8_t> type_cache_;  // by StringId: 0 unknown, 1 tracked, 2 untracked
  uint64_t count_[kGenerations] = {};
  uint64_t long_lived_pending_ = 0, long_lived_total_ = 0;
  uint64_t tracked_ = 0;  // objects in the generation lists
  bool collecting_ = false;
  GcSummary summary_;
};

}  // namespace heaplay
