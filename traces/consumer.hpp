// consumer.hpp: how readers hand events to whoever wants them.
//
// A reader decodes records, validates them against the stream rules
// (lifetimes.hpp), and pushes batches of Events into an EventConsumer:
// begin(), then events() any number of times, then end(). Every event a
// consumer sees is valid: frees name live blocks, a slot is reused only
// once free, and so on. A consumer knows nothing about formats.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "traces/event.hpp"
#include "traces/string_table.hpp"

namespace heaplay {

enum class TraceFormat : uint8_t { Text, Native, Heaptrack, Mtrace };
std::string_view format_name(TraceFormat f);

// Free-form key/value pairs in file order (source, command line, python.version, ...).
// A later value for the same key replaces the earlier one.
class Metadata {
 public:
  void set(std::string key, std::string value);
  const std::string* get(std::string_view key) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Per-event problems. Strict reading stops at the first; --lenient counts them,
// drops the offending event and carries on.
enum class Anomaly : uint8_t {
  None,
  UnknownId,       // f/r/+/-/l/u of an ID that is not live and never was (or long ago)
  DoubleFree,      // f/r/+/- of an ID that was live and has been released
  LiveId,          // a/o of an ID that is still live
  NotABlock,       // f/r of an object made with o
  NotAnObject,     // +/-/l/u of a block made with a
  NoSuchEdge,      // u SRC DST with no SRC -> DST reference left
  TimeBackwards,   // t smaller than the previous t
  BadGeneration,   // g GEN outside 0..2
  Overflow,        // a count or byte total would pass 2^64 (or a refcount 2^63)
  TooManySlots,    // more than kMaxSlots IDs live at once
  Malformed,       // text: a line that is not a valid record (unknown record, bad number, ...)
};
inline constexpr int kAnomalyKinds = 12;
std::string_view anomaly_name(Anomaly a);  // "unknown_id", ...

struct Anomalies {
  std::array<uint64_t, kAnomalyKinds> counts{};
  uint64_t total() const;
  void add(Anomaly a) { ++counts[static_cast<int>(a)]; }
};

struct TraceInfo {
  std::string path;
  TraceFormat format = TraceFormat::Text;
  std::string compression;        // "", "zstd" or "gzip" (of the whole file)
  uint32_t format_version = 0;    // native: the file's version
  Metadata metadata;              // may grow while reading (native trailers)
  const StringTable* strings = nullptr;  // grows while reading
};

struct ReadSummary {
  uint64_t events = 0;          // records read and delivered (no comments, no Death)
  uint64_t deaths = 0;          // Death events derived
  bool truncated = false;       // the input ended inside a record or frame
  uint64_t truncated_at = 0;    // byte offset where the readable part ends
  Anomalies anomalies;
};

class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual void begin(const TraceInfo& info) { (void)info; }
  virtual void events(std::span<const Event> batch) = 0;
  virtual void end(const TraceInfo& info, const ReadSummary& summary) {
    (void)info;
    (void)summary;
  }
  // A consumer that keeps events past events() (a queue to another thread)
  // may lend the storage an EventBatch builds its next batch in, so that
  // events() then takes that batch where it lies instead of copying it: up to
  // capacity events (set here) at the address returned, theirs to fill until
  // they are given to events(). nullptr: nothing lent, the batch uses its own.
  // One batch at a time: while it holds the storage, the consumer is given
  // no other events.
  virtual Event* lend(size_t& capacity) {
    (void)capacity;
    return nullptr;
  }
};

// Collects events into fixed-size batches and flushes them to a consumer.
//
// Hot readers build each event in place: fill next(), then push(next()),
// which only advances. Building an event field by field on the stack and
// copying it in costs a store-forwarding stall per event (narrow stores
// read back by wide loads), a fifth of decode time when measured. The
// hottest loops (Lifetimes::Fast) keep the fill position in a local instead:
// fill_position() .. fill_end() is theirs to fill, flush_full() hands over a
// full batch, set_fill_position() gives the position back.
class EventBatch {
 public:
  // capacity: events a batch holds, unless the consumer lends its own storage
  // (EventConsumer::lend), which sets it.
  EventBatch(EventConsumer& consumer, size_t capacity) : consumer_(consumer), own_capacity_(capacity ? capacity : 1) {
    take_storage();
  }
  // Storage for the next event; valid until the next push.
  Event& next() { return data_[n_]; }
  void push(const Event& e) {
    if (&e != data_ + n_) data_[n_] = e;
    if (++n_ == cap_) flush();
  }
  // Hands the events over. After it, events pushed before stay readable until
  // the next flush (a lending consumer's other thread only reads them), but
  // not in place: the next batch may be built elsewhere.
  void flush() {
    if (!n_) return;
    consumer_.events(std::span<const Event>(data_, n_));
    n_ = 0;
    if (lent_) take_storage();
  }

  Event* fill_position() const { return data_ + n_; }
  Event* fill_end() const { return data_ + cap_; }
  void set_fill_position(Event* p) { n_ = static_cast<size_t>(p - data_); }
  // The batch is full: flush it and return the new fill position (and so a
  // new fill_end()). Out of line: it is rare, and the consumer's virtual call
  // stays out of hot loops.
  [[gnu::noinline]] Event* flush_full() {
    n_ = cap_;
    flush();
    return data_;
  }

 private:
  void take_storage() {
    size_t lent_capacity = 0;
    if (Event* p = consumer_.lend(lent_capacity); p && lent_capacity > 0) {
      data_ = p;
      cap_ = lent_capacity;
      lent_ = true;
      return;
    }
    lent_ = false;
    if (own_.empty()) own_.resize(own_capacity_);
    data_ = own_.data();
    cap_ = own_.size();
  }

  EventConsumer& consumer_;
  size_t own_capacity_;
  std::vector<Event> own_;  // the batch's own storage, made when the consumer lends none
  Event* data_ = nullptr;
  size_t cap_ = 0;
  size_t n_ = 0;
  bool lent_ = false;
};

}  // namespace heaplay
