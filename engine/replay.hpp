// replay.hpp: driving a trace's events through an allocator stack.
//
// Replayer is an EventConsumer: each allocation event becomes a request to the
// top layer, each free a release of the block that slot holds, each realloc a
// reallocate. It keeps one Block per live slot (16 bytes) and the live-byte
// figures; the layers keep their own accounting. finish() returns the
// finished model (ReplayResult) that reports/ renders.
//
// Object events (o + - l u, and the Deaths they cause) need the object
// layers; on a stack without them the first one is an error (exit 2). A
// collection request (g) has nothing to collect without the gc layer: it is
// counted and otherwise ignored.
//
// Memory: O(peak live slots); nothing grows with trace length.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/layer.hpp"
#include "engine/params.hpp"
#include "engine/slot_table.hpp"
#include "engine/stack.hpp"
#include "traces/consumer.hpp"

namespace heaplay {

// The collector's figures (stacks with gc). Times are wall seconds.
struct GcSummary {
  uint64_t collections[3] = {};      // per generation collected (automatic and g records)
  uint64_t examined_objects = 0;     // tracked objects in the generations collected, summed over collections
  uint64_t collected_objects = 0;    // unreachable objects the collector freed
  uint64_t collected_bytes = 0;      // their bytes (object sizes as the trace gives them)
  uint64_t cascade_freed_objects = 0;  // objects outside the garbage freed because the garbage let go of them
  double seconds = 0;                // total time spent collecting
  double max_pause_seconds = 0;      // the longest single collection
};

// One objspec free list (all sizes of one type or site tag together).
struct FreeListReport {
  std::string name;         // the type or site tag
  bool site = false;        // a site list (objspec.sites) rather than a type list
  uint32_t limit = 0;       // per size
  uint64_t max_bytes = 0;   // 0: any size
  uint64_t hits = 0;        // allocations served from the list
  uint64_t misses = 0;      // allocations of this type that found the list empty
  uint64_t releases_below = 0;  // frees passed below because the list (of their size) was full
  uint64_t cleared = 0;         // blocks given back below when the lists were cleared (full collections)
  uint64_t held_objects = 0, held_bytes = 0, peak_held_bytes = 0;  // waiting in the list: final, and its peak
};

struct ReplayResult {
  std::string trace;
  std::string stack;   // StackSpec::name()
  std::string python;  // "3.11"
  std::string raw;     // "sim" | "glibc"
  std::string touch;   // raw glibc: "none" | "first" | "all"; else ""
  // The parameters of the stack's layers ("raw.page", "pooled.pool_size", ...).
  std::vector<std::pair<std::string, std::string>> params;
  uint64_t events = 0;             // records replayed (Death excluded)
  uint64_t allocs = 0, frees = 0, reallocs = 0;
  uint64_t collections = 0;        // g records (a no-op without the gc layer)
  uint64_t peak_live_bytes = 0, final_live_bytes = 0;  // requested bytes, as the trace says
  uint64_t final_live_blocks = 0, final_live_objects = 0;
  // Object records (o + - l u and derived deaths).
  uint64_t objects = 0;             // o records
  uint64_t object_deaths = 0;       // objects deallocated (reference counting, cascades and the collector)
  // Objects alive at the end that no reference from outside their own cycles
  // keeps alive (the collector would find them unreachable now), and their bytes.
  uint64_t unreclaimed_cyclic_objects = 0, unreclaimed_cyclic_bytes = 0;
  uint64_t skipped_gc_frees = 0;    // f ID gc records skipped (stacks without gc): the block stays live
  // Records naming an object this replay's collector freed earlier than the
  // recorded program did (its own collector's unlinks, say): ignored.
  uint64_t stale_object_events = 0;
  bool has_gc = false;              // the stack has the gc layer: gc holds its figures
  GcSummary gc;
  bool has_objspec = false;         // the stack has objspec: the free-list figures below
  uint64_t freelist_hits = 0, freelist_misses = 0;
  std::vector<FreeListReport> free_lists;
  uint64_t peak_footprint_bytes = 0, final_footprint_bytes = 0;  // held from the OS by the stack
  double replay_seconds = 0;       // wall time from the first event to the last
  double events_per_second = 0;
  bool truncated = false;
  uint64_t anomalies = 0;
  std::vector<LayerReport> layers;  // top to bottom
};

class Replayer final : public EventConsumer {
 public:
  Replayer(Stack& stack, const Params& params, const StackOptions& options);

  void begin(const TraceInfo& info) override;
  void events(std::span<const Event> batch) override;
  void end(const TraceInfo& info, const ReadSummary& summary) override;

  ReplayResult finish() const;

 private:
  // index: the record's position in the trace, from 0.
  [[noreturn]] void needs_object_layers(const Event& e, uint64_t index) const;

  Stack& stack_;
  Layer& top_;
  ReplayResult result_;
  SlotTable<Block> blocks_;  // the block each live slot holds
  uint64_t live_bytes_ = 0;
  uint64_t live_blocks_ = 0;
  std::chrono::steady_clock::time_point start_{};
  bool started_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace heaplay
