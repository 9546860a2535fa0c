// memory_source.hpp: a trace read once into memory, replayable into any
// consumer, for benchmarks that must measure the consumer alone.
//
// The events (32 bytes each) are kept in a vector and handed out again in
// batches of 2048, as the readers do; info() is the source's own (its
// string table stays alive with it).
#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "traces/trace_io.hpp"

namespace heaplay::testing {

class MemorySource final : public TraceReader {
 public:
  explicit MemorySource(std::unique_ptr<TraceReader> source) : src_(std::move(source)) {
    struct Keep final : EventConsumer {
      std::vector<Event>* out;
      void events(std::span<const Event> b) override { out->insert(out->end(), b.begin(), b.end()); }
    } keep;
    keep.out = &events_;
    summary_ = src_->read(keep);
  }
  const TraceInfo& info() const override { return src_->info(); }
  ReadSummary read(EventConsumer& consumer) override {
    consumer.begin(info());
    constexpr size_t kBatch = 2048;
    for (size_t i = 0; i < events_.size(); i += kBatch)
      consumer.events(std::span<const Event>(events_.data() + i, std::min(kBatch, events_.size() - i)));
    consumer.end(info(), summary_);
    return summary_;
  }
  uint64_t records() const { return summary_.events; }

 private:
  std::unique_ptr<TraceReader> src_;
  std::vector<Event> events_;
  ReadSummary summary_;
};

}  // namespace heaplay::testing
