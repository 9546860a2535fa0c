// metrics.hpp: the replay's footprint, fragmentation and timeline figures.
//
// Plain structs (ReplayResult holds them; reports/ renders them; `heaplay
// compare` will put one per stack side by side) and the two streaming pieces
// the Replayer feeds after every record: Levels (running sums and peaks) and
// the bounded timeline Sampler. docs/metrics.md defines every figure.
//
// Time is counted in records: the state after record i (its cascade
// included) lasts one unit, so a mean is the sum over records of the state
// after each, divided by the number of records.
//
// Memory: at most --samples timeline rows; nothing grows with the trace.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/pooled_stats.hpp"

namespace heaplay {

// One figure's peak, final value and time-weighted mean (weight: records).
struct Level {
  uint64_t peak = 0, final = 0;
  double mean = 0;
  bool operator==(const Level&) const = default;
};

struct Footprint {
  Level live;       // requested bytes of live blocks and objects (the program's view)
  Level allocated;  // bytes handed out by the stack, after its rounding (Meter::allocated)
  Level held;       // bytes the stack holds from the (simulated or real) operating system
  bool has_rss = false;  // raw glibc: rss below is measured (at timeline samples and the end)
  Level rss;
  bool operator==(const Footprint&) const = default;
};

// Where the held bytes at the end go. Each part in bytes; shares are of held.
struct Fragmentation {
  uint64_t held_bytes = 0;       // final held: the denominator of the shares
  uint64_t live_bytes = 0;       // final live
  uint64_t internal_bytes = 0;   // allocated - live - freelist: rounding of blocks to class or chunk sizes
  uint64_t freelist_bytes = 0;   // objspec: bytes (as requested) parked in free lists
  uint64_t pooled_bytes = 0;     // the sum of the five pooled parts below
  uint64_t pooled_free_block_bytes = 0;   // free blocks in pools in use (CPython: "bytes in available blocks")
  uint64_t pooled_empty_pool_bytes = 0;   // empty and never-carved pools in arenas ("unused pools")
  uint64_t pooled_header_bytes = 0;       // headers of pools in use ("bytes lost to pool headers")
  uint64_t pooled_quantization_bytes = 0;  // unusable pool tails ("bytes lost to quantization")
  uint64_t pooled_alignment_bytes = 0;    // pools lost to arena alignment ("bytes lost to arena alignment")
  uint64_t raw_bytes = 0;        // free bytes inside the raw heap's extent (free chunks and top)
  uint64_t other_bytes = 0;      // held - allocated - pooled - raw: chunk headers, page rounding,
                                 // the pooled layer's arena table (0 if negative: raw glibc's baseline)
  static double share(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0;
  }
  bool operator==(const Fragmentation&) const = default;
};

// Johnstone & Wilson (ISMM 1998), time in records; each a percentage
// overhead (ratio - 1) * 100, 0 when its denominator is 0.
struct JwMeasures {
  double m1 = 0;  // mean held / mean live
  double m2 = 0;  // held at the moment of peak live / peak live
  double m3 = 0;  // peak held / live at the moment of peak held
  double m4 = 0;  // peak held / peak live
  uint64_t held_at_peak_live = 0, live_at_peak_held = 0;
  uint64_t peak_live_event = 0, peak_held_event = 0;  // records replayed when each peak was first reached
  bool operator==(const JwMeasures&) const = default;
};

struct PinnedArenas {
  uint32_t k = 0;            // at most this many live blocks
  uint64_t final = 0;        // arenas with 1..k live blocks at the end
  uint64_t at_peak_held = 0;  // and at the moment of peak held
  bool operator==(const PinnedArenas&) const = default;
};

// One timeline row: the state after `event` records.
struct Sample {
  uint64_t event = 0;                // records replayed
  std::optional<uint64_t> time_ns;   // the last t record's time, if any so far
  uint64_t live = 0, allocated = 0, held = 0;
  std::optional<uint64_t> rss;       // raw glibc only
  uint64_t arenas = 0;               // pooled arenas held
  uint64_t collections = 0;          // gc: collections so far (all generations); else g records so far
  bool operator==(const Sample&) const = default;
};

struct Metrics {
  Footprint footprint;
  Fragmentation fragmentation;
  JwMeasures jw;
  bool has_pooled = false;  // the pinned arenas and size classes mean something
  std::vector<PinnedArenas> pinned;
  uint64_t pinned_walk_event = 0;  // the records after which at_peak_held was taken (<= jw.peak_held_event)
  double cpu_seconds = 0;       // CPU time (user + system) of the whole process from begin() to end():
                                // the replay and the reading and decoding, all threads
  double ns_per_event = 0;      // replay_seconds * 1e9 / events
  // Sampled timing of the stack's calls (metrics.md): every K-th allocate of
  // an a record and every K-th release of an f record, clocked, less the
  // calibrated cost of an empty timed region; 0 without samples.
  double ns_per_alloc = 0, ns_per_free = 0;
  uint64_t alloc_samples = 0, free_samples = 0;  // calls timed
  double timer_overhead_ns = 0;  // the empty timed region's median, subtracted
  double gc_share = 0;          // gc.seconds / replay_seconds, in percent (0 without gc)
  std::vector<Sample> timeline;  // at most the sampler's limit, the final state last
  std::vector<SizeClassReport> size_classes;  // pooled: classes with requests, ascending
  bool operator==(const Metrics&) const = default;
};

// Running sums of a level (128-bit: bytes times records can pass 2^64).
__extension__ typedef unsigned __int128 Uint128;

struct LevelSum {
  Uint128 sum = 0;
  uint64_t peak = 0;
  Level finish(uint64_t final, uint64_t records) const {
    return Level{peak, final, records ? static_cast<double>(sum) / static_cast<double>(records) : 0.0};
  }
};

// The timeline: at most `limit` rows evenly spaced in records, the last one
// the final state, without knowing the trace's length. It samples after every
// `stride` records; when the limit - 1 periodic rows are taken, it keeps every
// other one (those at multiples of 2 * stride) and doubles the stride.
class Sampler {
 public:
  // expected: the number of records the trace will have, when known (a
  // complete native file declares it). Unknown, the stride starts at 1 and
  // doubles whenever the rows fill up: about cap * (1 + log2(N / cap) / 2)
  // samples are taken to keep cap, each reading /proc under a real raw layer.
  // Known, it starts at the stride it would end with (the smallest power of
  // two s with N / s <= cap), so about N / s samples are taken: the same
  // rows. A wrong guess costs nothing but those savings (more records go on
  // doubling; fewer leave fewer rows).
  explicit Sampler(uint64_t limit, uint64_t expected = 0)
      : cap_(limit > 0 ? limit - 1 : 0), next_(cap_ ? 1 : UINT64_MAX) {
    if (cap_ == 0) return;
    // All the room the rows will take, now: a replay into the real malloc
    // heap (raw glibc) measures that heap from its first request on, and the
    // rows must not grow it.
    rows_.reserve(cap_);
    while (expected / stride_ > cap_) stride_ *= 2;
    next_ = stride_;
  }
  // Whether the state after `records` records is to be sampled.
  bool due(uint64_t records) const { return records == next_; }
  void add(const Sample& s);
  // The rows, with `last` (the final state) appended unless already the last row.
  std::vector<Sample> finish(const Sample& last) const;
  uint64_t stride() const { return stride_; }
  uint64_t next() const { return next_; }  // the record count due() waits for

 private:
  std::vector<Sample> rows_;
  uint64_t cap_;          // periodic rows kept at most
  uint64_t next_;         // the next record count to sample at
  uint64_t stride_ = 1;
};

}  // namespace heaplay
