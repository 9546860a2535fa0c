// gc_layer.hpp: the gc layer, CPython's cyclic collector as a stack layer.
//
// For memory it is a pass-through: blocks and objects are served by the layer
// below, and the Replayer sends its requests straight there (no virtual hop
// per allocation). What the layer adds is the Collector (collector.hpp): the
// Replayer finds it here, attaches it to its reference graph, and the layer
// reports the collector's counters as its own.
#pragma once

#include "engine/collector.hpp"
#include "engine/layer.hpp"

namespace heaplay {

class GcLayer final : public Layer {
 public:
  GcLayer(const GcParams& params, Layer* below, uint8_t depth);

  std::string_view name() const override { return "gc"; }
  Block allocate(const Request& r) override { return below_->allocate(r); }
  void release(const Block& b, const Request& r) override { below_->release(b, r); }
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override {
    return below_->reallocate(b, old_size, r);
  }
  bool keeps(const Request& r) const override { return below_->keeps(r); }
  void use_strings(const StringTable& strings) override;
  LayerReport report() const override;
  bool is_valid() const override { return collector_.is_valid(); }

  Collector& collector() { return collector_; }
  const Collector& collector() const { return collector_; }

 private:
  Collector collector_;
};

}  // namespace heaplay
