// object_test_util.hpp: helpers for the reference-counting and collector tests.
//
// replay_text replays a text trace through a named stack, as `heaplay replay`
// does; LogLayer is a one-layer stand-in for a stack that records what it is
// asked (sizes identify objects in the tests) and can play an object cache.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/replay.hpp"
#include "engine/stack.hpp"
#include "tests/test_util.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::testing {

inline ReplayResult replay_text(const std::string& text, const std::string& stack,
                                const std::vector<std::string>& sets = {}) {
  std::string path = temp_path("object_test.trace");
  write_file(path, text);
  Params params = params_for_trace(leading_metadata(path), "", sets);
  StackOptions options;
  Stack s = build_stack(parse_stack(stack), params, options);
  Replayer replayer(s, params, options);
  open_trace(path)->read(replayer);
  for (const auto& layer : s.layers()) EXPECT_TRUE(layer->is_valid()) << layer->name();
  return replayer.finish();
}

inline uint64_t counter(const ReplayResult& r, std::string_view layer, std::string_view name) {
  for (const LayerReport& l : r.layers)
    if (l.layer == layer)
      for (const auto& [k, v] : l.counters)
        if (k == name) return v;
  ADD_FAILURE() << "no counter " << layer << "." << name;
  return 0;
}

class LogLayer final : public Layer {
 public:
  LogLayer() : Layer(nullptr, 0) {}
  std::string_view name() const override { return "log"; }
  Block allocate(const Request& r) override {
    Block b;
    b.addr = next_ += 16;
    if (cached_sizes.count(r.size)) b.flags = kBlockCached;
    return b;
  }
  void release(const Block& b, const Request& r) override {
    (void)b;
    ++release_count;
    if (log_releases) released.push_back(r.size);
  }
  Block reallocate(const Block& b, uint64_t, const Request&) override { return b; }
  bool keeps(const Request& r) const override { return kept_sizes.count(r.size) != 0; }
  void clear_caches() override { ++clears; }
  uint64_t held_bytes() const override { return 0; }
  uint64_t peak_held_bytes() const override { return 0; }
  LayerReport report() const override { return {"log", {}}; }

  std::vector<uint64_t> released;  // sizes, in order of release
  std::set<uint64_t> cached_sizes; // allocations of these sizes come back kBlockCached
  std::set<uint64_t> kept_sizes;   // releases of these sizes: keeps() is true
  int clears = 0;
  uint64_t release_count = 0;
  bool log_releases = true;

 private:
  Addr next_ = 0;
};

}  // namespace heaplay::testing
