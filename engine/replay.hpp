// replay.hpp: driving a trace's events through an allocator stack.
//
// Replayer is an EventConsumer: each allocation event becomes a request to the
// top layer, each free a release of the block that slot holds, each realloc a
// reallocate. It keeps one Block per live slot (16 bytes) and the live-byte
// figures; the layers keep their own accounting. finish() returns the
// finished model (ReplayResult) that reports/ renders.
//
// Objects (o + - l u) replay on every stack by reference counting, in the
// Replayer's own graph (refgraph.hpp); the reader's Death events only let it
// forget a slot. With the gc layer on top, its Collector (collector.hpp)
// tracks containers and collects cycles, and the Replayer sends memory
// requests straight to the layer below gc. Without it, objects kept alive
// only by cycles are never freed (counted at the end as unreclaimed), a
// collection request (g) is counted and otherwise ignored, and a free the
// recorded program's collector made (f ID gc) is skipped: the block stays live.
//
// Memory: O(peak live slots + peak live references); nothing grows with
// trace length (blocks kept by skipped gc frees are live memory).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/layer.hpp"
#include "engine/metrics.hpp"
#include "engine/params.hpp"
#include "engine/refgraph.hpp"
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
  bool operator==(const GcSummary&) const = default;
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
  bool operator==(const FreeListReport&) const = default;
};

struct ReplayResult {
  std::string trace;
  std::string stack;   // StackSpec::name()
  std::string python;  // "3.11"
  std::string raw;     // "sim" | "glibc" | "jemalloc" | "mimalloc" | "tcmalloc"
  std::string touch;   // real raw layers: "none" | "first" | "all"; else ""
  std::string raw_library;  // real raw layers: what ran, e.g. "glibc 2.36", "libjemalloc.so.2 (jemalloc 5.3.0-...)"
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
  Metrics metrics;                  // footprint, fragmentation, timeline, size classes (metrics.hpp)
  bool operator==(const ReplayResult&) const = default;
};

// What the Replayer measures beyond the layers' own counters.
struct MetricsOptions {
  uint64_t samples = 1000;  // timeline rows at most (at least 1: the final state)
  // The trace's record count when known (recorded_event_count()), else 0:
  // the timeline then takes its rows without the samples it would drop
  // (Sampler). The rows are the same either way.
  uint64_t expected_records = 0;
  // When set, the records replayed so far, stored (relaxed) after each batch:
  // `heaplay compare` shows its progress bar from it (a counter in memory
  // shared with the parent process). One store per batch: no cost per record.
  std::atomic<uint64_t>* progress = nullptr;
  // Time every K-th allocation (a) and every K-th free (f) in the stack
  // (Metrics::ns_per_alloc, ns_per_free); at least 1.
  uint32_t time_every = kTimeEvery;
  static constexpr uint32_t kTimeEvery = 128;
  // Real raw layers: refresh the layer (Layer::refresh: the allocator's own
  // figures, --max-memory against the resident set) every K records; at least 1.
  uint32_t refresh_every = kRefreshEvery;
  static constexpr uint32_t kRefreshEvery = 4096;
};

class Collector;
class PooledLayer;
class RawGlibc;
struct Unreclaimed {  // live objects a full collection would find unreachable now, and their bytes
  uint64_t objects = 0, bytes = 0;
};

class Replayer final : public EventConsumer {
 public:
  Replayer(Stack& stack, const Params& params, const StackOptions& options, const MetricsOptions& metrics = {});

  void begin(const TraceInfo& info) override;
  void events(std::span<const Event> batch) override;
  void end(const TraceInfo& info, const ReadSummary& summary) override;

  ReplayResult finish() const;

 private:
  // events() for a memory layer of type Mem (Layer, or RawGlibc: direct calls).
  template <class Mem>
  void run(std::span<const Event> batch, Mem& mem);
  // The block slot s holds. kAddr: raw glibc's table (addrs_), else blocks_.
  template <bool kAddr>
  Block block_at(uint32_t s) const {
    if constexpr (kAddr) return Block{addrs_[s], 0, glibc_depth_, 0, {}};
    else return blocks_[s];
  }
  template <bool kAddr>
  void set_block(uint32_t s, const Block& b) {
    if constexpr (kAddr) {
#ifdef HEAPLAY_CHECKS
      if (b.handle != 0 || b.flags != 0 || b.depth != glibc_depth_) throw_block_not_an_address();
#endif
      addrs_[s] = b.addr;
    } else {
      blocks_[s] = b;
    }
  }
  [[noreturn]] static void throw_block_not_an_address();  // invariant checks: addrs_ would lose a block's fields
  // f ID gc without a collector: the block b stays live, in kept_.
  void keep_block(const Block& b);
  // The moments of new peaks (records_ is the record count then).
  // Returns held after the record (a refresh may have read it anew).
  [[gnu::noinline]] uint64_t new_live_peak(uint64_t live, uint64_t held);
  [[gnu::noinline]] void new_held_peak(uint64_t live, uint64_t held);
  [[gnu::noinline]] void take_sample();
  // Refresh points (real raw layers): every refresh_every records and at
  // timeline samples (stop()), and where live has grown by 1/64 since the
  // last one (new_live_peak). next_stop_at(): the next record count to stop at.
  [[gnu::noinline]] void stop();
  void refresh();
  uint64_t next_stop_at() const { return std::min(sampler_.next(), next_refresh_); }
  // The sampled timings: one allocate or release, clocked.
  [[gnu::noinline]] Block timed_alloc(const Event& e);
  [[gnu::noinline]] void timed_free(const Event& e, const Block& b);
  Sample sample() const;  // the state now (reads RSS with raw glibc)
  // r.metrics from the running figures; last: the final state, raw_free: the
  // raw layer's free bytes, both measured before finish() allocated.
  void finish_metrics(ReplayResult& r, const Sample& last, uint64_t raw_free) const;

  Stack& stack_;
  Layer& top_;
  Layer& mem_;                   // the first layer below gc (top_ without gc)
  Collector* gc_ = nullptr;      // the gc layer's collector, or nullptr
  RawGlibc* glibc_ = nullptr;    // mem_, when it is raw glibc
  ReplayResult result_;
  SlotTable<Block> blocks_;      // the block each live slot holds
  // With raw glibc as the memory layer, a block is its address alone (handle
  // 0, no flags, the layer's depth): 8 bytes a slot where a Block takes 16,
  // so the table the frees read at random stays in a core's L2 cache twice
  // as far (the bare malloc loop's own pointer table is 8 bytes a slot).
  SlotTable<Addr> addrs_;
  uint8_t glibc_depth_ = 0;
  LiveBytes live_;               // requested bytes of live blocks and objects
  RefGraph graph_;
  SlotTable<Block> kept_;        // blocks of skipped f ID gc records, kept_[0, nkept_)
  uint64_t nkept_ = 0;
  Unreclaimed unreclaimed_;      // computed at end()
  // Metrics (metrics.hpp): time is records.
  const Meter& meter_;
  bool has_rss_ = false;          // a real raw layer: RSS at samples, refresh points
  bool refresh_on_growth_ = false;  // its held is polled (Layer::held_is_polled)
  uint64_t refresh_every_ = UINT64_MAX, next_refresh_ = UINT64_MAX;
  uint64_t refresh_live_ = 0;     // live at the last refresh
  uint64_t records_ = 0;
  LevelSum live_sum_, allocated_sum_, held_sum_;
  JwMeasures jw_;                // the moments of the peaks
  // Pinned arenas at the peak held: a walk over the pools, so taken at a new
  // peak only once held has grown by 1/32 since the last walk (metrics.md).
  const PooledLayer* pooled_ = nullptr;
  std::array<uint64_t, 2> pinned_at_peak_held_{};
  uint64_t pinned_walk_held_ = 0;   // held at the last walk
  uint64_t pinned_walk_event_ = 0;  // records replayed then
  Sampler sampler_;
  std::atomic<uint64_t>* progress_ = nullptr;  // MetricsOptions::progress
  // Sampled timing: countdowns to the next timed call, the sums of the timed
  // regions (ns, overhead included) and the calibrated empty region.
  uint32_t time_every_ = 1, alloc_countdown_ = 1, free_countdown_ = 1;
  uint64_t alloc_ns_ = 0, free_ns_ = 0, alloc_timed_ = 0, free_timed_ = 0;
  double timer_overhead_ns_ = 0;
  std::optional<uint64_t> time_ns_;  // the last t record's
  double cpu_start_ = 0, cpu_seconds_ = 0;  // process CPU time at begin(), and from begin() to end()
  std::chrono::steady_clock::time_point start_{};
  bool started_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace heaplay
