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
