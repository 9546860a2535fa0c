// record_stream.hpp: one recorded process image, from the preload library's
// raw records (traces/recorder/wire.hpp) to a native trace file.
//
// The bytes of one connection (after its Hello) come in through feed(), cut
// anywhere. Each chunk is one thread's records in the order it made them;
// RecordStream merges the threads back into the order of their sequence
// numbers (a k-way merge over runs: a run is a thread's records while they
// keep ascending; a chunk whose records come next is written without
// queueing), adds `T` and `t` records, names call sites, and hands the calls
// to a PointerRecorder (addresses to slots; a realloc keeps its block
// wherever it moves) writing the file in place, unpipelined so that flush()
// can close a frame whenever heaplay asks. A record the merge waits for that
// never comes (a lost buffer) only holds it until kMaxHeld records are
// waiting; then it skips ahead (record.lost_records).
//
// Nothing the program does makes an invalid event: PointerRecorder counts
// frees and reallocs of addresses it never saw allocated and allocations at
// addresses still live; the counts go to the trailing metadata.
//
// Memory: the recorder's address map (live blocks), the waiting records
// (bounded as above) and the writer's frame.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "traces/flat_map.hpp"
#include "traces/pointer_recorder.hpp"
#include "traces/recorder/wire.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

struct RecordCounts {
  uint64_t calls = 0;            // interposed calls recorded
  std::array<uint64_t, record_wire::kOps> by_op{};
  uint64_t failed_reallocs = 0;  // realloc returned NULL for a nonzero size
  uint64_t gaps = 0;             // sequence numbers skipped while waiting (lost records)
  uint64_t lost_bytes = 0;       // an incomplete chunk at the end of the connection
  uint64_t threads = 0;          // distinct thread ids
  uint64_t images = 1;           // program images (1 + the execs recorded)
};

// Maps a recorder's clock ticks to CLOCK_MONOTONIC nanoseconds through
// (ticks, ns) pairs the library read together: the first of the image and the
// newest, so the slope is measured over the whole recording so far.
class TickClock {
 public:
  void start(record_wire::ClockKind kind, uint64_t ticks, uint64_t ns) {
    kind_ = kind;
    t0_ = t1_ = ticks;
    n0_ = n1_ = ns;
    slope_ = 1.0;
  }
  void observe(uint64_t ticks, uint64_t ns) {
    if (kind_ == record_wire::ClockKind::Nanoseconds || ticks <= t1_ || ns <= n1_) return;
    t1_ = ticks;
    n1_ = ns;
    slope_ = static_cast<double>(n1_ - n0_) / static_cast<double>(t1_ - t0_);
  }
  uint64_t ns(uint64_t ticks) const {
    if (kind_ == record_wire::ClockKind::Nanoseconds) return ticks;
    const double d = static_cast<double>(static_cast<int64_t>(ticks - t0_)) * slope_;
    return d <= -static_cast<double>(n0_) ? 0 : n0_ + static_cast<int64_t>(d);
  }

 private:
  record_wire::ClockKind kind_ = record_wire::ClockKind::Nanoseconds;
  uint64_t t0_ = 0, t1_ = 0, n0_ = 0, n1_ = 0;
  double slope_ = 1.0;
};

class RecordStream {
 public:
  // Waiting records past which the merge stops waiting for a missing number
  // (4Mi records, 160 MiB).
  static constexpr size_t kMaxHeld = size_t{1} << 22;

  // Creates path (in place: it grows as records come) and writes the header.
  // start_ns: CLOCK_MONOTONIC at the start of the recording; times are
  // written relative to it, at most one `t` per time_resolution_ns.
  RecordStream(const std::string& path, const WriteOptions& options, const Metadata& header, uint64_t start_ns,
               uint64_t time_resolution_ns);
  ~RecordStream();
  RecordStream(const RecordStream&) = delete;
  RecordStream& operator=(const RecordStream&) = delete;

  const std::string& path() const { return path_; }

  // Bytes from the connection, after the Hello. False when they are not a
  // chunk stream (the connection should be dropped; what came before stays).
  bool feed(const char* data, size_t n);
  bool feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }
  // The clock of the image whose bytes come next (from its Hello).
  void set_clock(record_wire::ClockKind kind, uint64_t ticks, uint64_t ns) { clock_.start(kind, ticks, ns); }
  // The process exec'ed: the bytes that follow come from a new image (a new
  // connection). Releases what the old one left waiting, frees its blocks
  // (exec released them all) and marks the boundary with `m LABEL`.
  void new_image(std::string_view label);
  // Writes the events the merge can release now and closes the frame, so
  // the file is readable up to here.
  void flush();
  // The connection ended: releases every waiting record in sequence order,
  // adds the counts and `extra` to the metadata, ends and syncs the file.
  void finish(const Metadata& extra);
  bool finished() const { return finished_; }

  const RecordCounts& counts() const { return counts_; }
  // Records written, and what the address map met (unknown frees, ...).
  uint64_t records() const { return recorder_.counts().records; }
  const PointerRecorder::Counts& blocks() const { return recorder_.counts(); }
  void set_max_held(size_t n) { max_held_ = n; }  // tests: a smaller kMaxHeld

 private:
  struct Run {
    uint64_t tid = 0;
    std::vector<record_wire::Record> recs;
    size_t pos = 0;
    uint64_t head_seq() const { return recs[pos].seq(); }
    bool empty() const { return pos == recs.size(); }
  };
  struct Later {  // min-heap order on the head's sequence number
    bool operator()(const Run* a, const Run* b) const { return a->head_seq() > b->head_seq(); }
  };

  bool take_chunk(const record_wire::ChunkHeader& h, const record_wire::Record* recs);
  void prefetch(const record_wire::Record* unaligned) const;  // its address's map entry
  void define_site(const record_wire::Record& site, const char* text);
  void release(bool all);
  void emit(const record_wire::Record& x, uint64_t tid);
  void prelude(const record_wire::Record& x, uint64_t tid);
  StringId tag(uint64_t caller);

  std::string path_;
  PointerRecorder recorder_;
  FlatMap sites_;      // caller address -> string id
  // Reallocs between their From and To records, by thread (nullopt: of an unknown block).
  std::unordered_map<uint64_t, std::optional<PointerRecorder::Detached>> in_flight_;
  std::unordered_map<uint64_t, Run*> current_;        // each thread's newest run
  std::priority_queue<Run*, std::vector<Run*>, Later> ready_;
  std::vector<std::unique_ptr<Run>> runs_;
  std::string pending_;  // bytes of an incomplete chunk
  uint64_t consumed_ = 0;  // bytes of the image's stream parsed
  size_t held_ = 0;      // records waiting in runs
  size_t max_held_ = kMaxHeld;
  uint64_t next_seq_ = 0;
  TickClock clock_;
  uint64_t start_ns_, resolution_ns_;
  uint64_t last_ns_ = 0, written_ns_ = 0;
  bool time_written_ = false;
  uint64_t last_tid_ = 0;
  bool tid_written_ = false;
  FlatMap tids_;
  RecordCounts counts_;
  bool broken_ = false, finished_ = false;
};

}  // namespace heaplay
