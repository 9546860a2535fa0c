// site_counts.hpp: the first pass that objspec.sites needs: which site tags
// the trace's a records use most.
//
// A malloc-level trace (heaptrack, mtrace, a recorder's a records) tags blocks
// with their call site; objspec.sites=N gives the N most frequent tags a free
// list each (ObjspecParams::site_tags). SiteCounter is the EventConsumer that
// counts; top_sites() reads a whole trace through it. The pass reads the trace
// once more before the replay, so it needs a file, not standard input.
//
// Memory: 8 bytes per distinct string id of the trace.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "traces/consumer.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

class SiteCounter final : public EventConsumer {
 public:
  void begin(const TraceInfo& info) override { strings_ = info.strings; }
  void events(std::span<const Event> batch) override;
  // Copies the tags out of the reader's string table, which dies with the reader.
  void end(const TraceInfo& info, const ReadSummary& summary) override;

  // After end(): the n most frequent tags of a records (empty tag excluded),
  // most frequent first; equal counts in name order.
  std::vector<std::string> top(uint32_t n) const;
  // After end(): a records with this tag.
  uint64_t count(std::string_view tag) const;

 private:
  const StringTable* strings_ = nullptr;
  std::vector<uint64_t> counts_;  // by StringId value, while reading
  std::vector<std::pair<std::string, uint64_t>> tags_;  // after end(): (tag, count), count > 0
};

// Reads the trace at path (not "-") and returns SiteCounter::top(n).
std::vector<std::string> top_sites(const std::string& path, const ReadOptions& options, uint32_t n);

}  // namespace heaplay
