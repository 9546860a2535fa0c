// stats.hpp: `heaplay stats`, the figures of one trace as recorded.
//
// StatsConsumer reads a trace in one streaming pass, without any allocator
// model, and finish() hands back a TraceStats: plain data that the renderers
// (render_stats.cpp) print as a table, CSV or JSON. docs/metrics.md defines
// every figure; the field comments here are reminders, not the definitions.
//
// Cost: a switch on the event kind and a few counter updates per event; no
// hashing and no allocation per event (types and slots are dense ids, so they
// index vectors that grow on demand). Memory: O(slot limit + distinct types),
// never O(events).
//
// Usage:
//   StatsConsumer consumer;
//   reader->read(consumer);             // begin(), events()..., end()
//   TraceStats stats = consumer.finish();
//   std::cout << render_stats(stats, Format::Json);
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <unordered_set>
#include <vector>

#include "reports/format.hpp"
#include "traces/consumer.hpp"

namespace heaplay {

// Log2 buckets: 0 holds the value 0, k >= 1 holds [2^(k-1), 2^k - 1].
inline constexpr int kLog2Buckets = 65;
inline int log2_bucket(uint64_t v) { return std::bit_width(v); }
inline uint64_t log2_bucket_min(int k) { return k == 0 ? 0 : uint64_t{1} << (k - 1); }
inline uint64_t log2_bucket_max(int k) {
  return k == 0 ? 0 : k == 64 ? UINT64_MAX : (uint64_t{1} << k) - 1;
}

struct HistogramBucket {
  uint64_t min = 0;    // smallest value the bucket holds
  uint64_t max = 0;    // largest value the bucket holds
  uint64_t count = 0;  // allocations (size histogram) or releases (lifetime histogram)
  uint64_t bytes = 0;  // sum of their sizes in bytes
};

struct TypeStats {
  std::string type;  // the type tag; "-" when the events carry none
  uint64_t allocs = 0, bytes = 0, frees = 0;
  uint64_t final_live = 0, final_live_bytes = 0, peak_live_bytes = 0;
};

struct DomainStats {
  std::string domain;  // "-", "raw", "mem", "obj"
  uint64_t allocs = 0, bytes = 0, frees = 0;
  uint64_t final_live = 0, final_live_bytes = 0, peak_live_bytes = 0;
};

struct TraceStats {
  std::string trace;   // path as given
  std::string format;  // format_name(): text, native, heaptrack, mtrace

  // Counts. events: records (Death excluded). allocs = a + o + r;
  // frees = f + deaths + r (a realloc both frees and allocates).
  uint64_t events = 0, allocs = 0, frees = 0, reallocs = 0, objects = 0, deaths = 0;
  uint64_t gc_frees = 0, incref = 0, decref = 0, links = 0, unlinks = 0;
  uint64_t collections = 0, markers = 0;
  uint64_t threads = 0;  // distinct thread ids of `T` records (0: the trace names none)

  // Live blocks count objects too; bytes are request sizes.
  uint64_t peak_live_bytes = 0, peak_live_blocks = 0, peak_live_objects = 0;
  uint64_t final_live_bytes = 0, final_live_blocks = 0, final_live_objects = 0;
  uint64_t allocated_bytes_total = 0;  // a, o sizes and r new sizes
  uint64_t temporary = 0;              // frees right after their own allocation

  bool truncated = false;
  uint64_t anomalies = 0;  // ReadSummary's total (lenient reading)
  // Every anomaly kind but None, in enum order, keyed by anomaly_name().
  std::vector<std::pair<std::string, uint64_t>> anomaly_counts;
  std::optional<uint64_t> first_time_ns, last_time_ns;  // empty without t records

  std::vector<HistogramBucket> size_histogram;      // nonzero buckets, ascending
  std::vector<HistogramBucket> lifetime_histogram;  // lifetimes in events; nonzero, ascending
  uint64_t never_freed = 0;                         // blocks + objects live at the end

  std::vector<TypeStats> types;      // allocs descending, then type ascending
  std::vector<DomainStats> domains;  // always 4: -, raw, mem, obj
  std::vector<std::pair<std::string, std::string>> metadata;  // file order
};

class StatsConsumer : public EventConsumer {
 public:
  void begin(const TraceInfo& info) override;
  void events(std::span<const Event> batch) override;
  void end(const TraceInfo& info, const ReadSummary& summary) override;

  // The figures so far (complete after end()). Type names are taken from the
  // string table at end() (it grows while reading, and its reader may be gone
  // by now); before end(), from the live table. May be called more than once.
  TraceStats finish() const;

  // events() throws Error (exit 2) when the total of bytes allocated would
  // pass 2^64 (valid events can do that: two of 2^63 bytes), naming the
  // trace and the record, or when the stream contradicts itself (a release
  // of more bytes or blocks than are live), which a reader's validated
  // events never do: that guards against streams built by other means.

 private:
  // Per type tag and per domain: the running counters behind TypeStats and
  // DomainStats. A realloc counts as one alloc and one free, so live blocks
  // are allocs - frees and need no counter of their own.
  struct Acc {
    uint64_t allocs = 0, bytes = 0, frees = 0, live_bytes = 0, peak_live_bytes = 0;
  };
  struct Bucket {
    uint64_t count = 0, bytes = 0;
  };
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  static void add_alloc(Acc& a, uint64_t size) {
    ++a.allocs;
    a.bytes += size;
    a.live_bytes += size;
    a.peak_live_bytes = std::max(a.peak_live_bytes, a.live_bytes);
  }
  static void add_free(Acc& a, uint64_t size) {
    ++a.frees;
    a.live_bytes -= size;
  }
  static void add_realloc(Acc& a, uint64_t old, uint64_t size) {
    ++a.allocs;
    ++a.frees;
    a.bytes += size;
    a.live_bytes = a.live_bytes - old + size;
    a.peak_live_bytes = std::max(a.peak_live_bytes, a.live_bytes);
  }
  // Cold: grow the per-slot / per-type arrays to hold the given index.
  [[gnu::noinline]] uint64_t* grow_births(uint32_t slot);
  [[gnu::noinline]] Acc* grow_types(uint32_t type);
  // Throws Error naming the trace and the record (counted from 1) whose bytes would pass 2^64.
  [[noreturn, gnu::noinline]] void overflow(uint64_t record) const;

  std::string path_, format_;
  const StringTable* strings_ = nullptr;

  std::array<uint64_t, 16> kind_counts_{};  // by EventKind (16: any kind & 15 is in bounds)
  uint64_t records_ = 0;  // non-Death events so far; also the next record's index
  uint64_t gc_frees_ = 0;
  std::unordered_set<uint64_t> threads_;  // distinct `T` ids: one entry per thread, not per record

  uint64_t live_bytes_ = 0, live_blocks_ = 0, live_objects_ = 0;
  uint64_t peak_bytes_ = 0, peak_blocks_ = 0, peak_objects_ = 0;
  uint64_t allocated_total_ = 0;
  uint64_t temporary_ = 0;
  uint32_t just_allocated_ = kNoSlot;  // slot of the last alloc/free event, if it allocated

  std::optional<uint64_t> first_time_, last_time_;

  std::array<Bucket, kLog2Buckets> size_hist_{};
  std::array<Bucket, kLog2Buckets> life_hist_{};
  std::vector<uint64_t> birth_;  // per slot: index of the record that allocated it
  std::vector<Acc> types_;       // per StringId
  std::array<Acc, kDomains> domains_{};

  bool truncated_ = false;
  Anomalies anomalies_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<std::string> type_names_;  // by StringId, copied at end()
};

// Renders stats in the given format; the text always ends with a newline.
// Deterministic: no locale, clock or environment is consulted.
std::string render_stats(const TraceStats& stats, Format format);

}  // namespace heaplay
