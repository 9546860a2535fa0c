// gc_layer.cpp: the gc layer's pass-through and report (gc_layer.hpp).
#include "engine/gc_layer.hpp"

#include "engine/stack.hpp"

namespace heaplay {

GcLayer::GcLayer(const GcParams& params, Layer* below, uint8_t depth)
    : Layer(below, depth), collector_(params, *below) {}

void GcLayer::use_strings(const StringTable& strings) {
  collector_.use_strings(strings);
  below_->use_strings(strings);
}

LayerReport GcLayer::report() const {
  LayerReport r;
  r.layer = "gc";
  collector_.report(r);
  return r;
}

std::unique_ptr<Layer> make_gc(const GcParams& params, Layer* below, uint8_t depth) {
  return std::make_unique<GcLayer>(params, below, depth);
}

}  // namespace heaplay
