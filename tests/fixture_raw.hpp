// fixture_raw.hpp: TEST FIXTURE ONLY, a stand-in raw layer for testing and
// benchmarking the layers above raw on their own.
//
// Not a model of any malloc: allocations and mappings come from a bump
// pointer (never reused), frees only count. It records what the layer above
// asked of it, so tests can check the calls themselves (arena maps and
// unmaps, the arena table's raw allocations, touched blocks). The real
// simulated raw allocator is engine/raw_sim.cpp (make_raw_sim).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/layer.hpp"

namespace heaplay::testing {

class FixtureRaw final : public Layer {
 public:
  explicit FixtureRaw(uint8_t depth = 1) : Layer(nullptr, depth) {}

  std::string_view name() const override { return "fixture-raw"; }

  Block allocate(const Request& r) override {
    ++allocs;
    last_request = r;
    held_ += r.size;
    return Block{bump(r.size ? r.size : 1, 16), 0, depth_, {}};
  }
  void release(const Block& b, const Request& r) override {
    (void)b;
    ++frees;
    held_ -= r.size;
  }
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override {
    ++reallocs;
    last_request = r;
    held_ += r.size - old_size;
    (void)b;
    return Block{bump(r.size ? r.size : 1, 16), 0, depth_, {}};
  }

  Addr map(uint64_t bytes, uint64_t alignment) override {
    const Addr a = bump(bytes, alignment);
    maps.push_back(a);
    held_ += bytes;
    return a;
  }
  void unmap(Addr addr, uint64_t bytes) override {
    unmaps.push_back(addr);
    held_ -= bytes;
  }
  void touch(Addr addr, uint64_t bytes) override {
    ++touches;
    last_touch = addr;
    touched_bytes += bytes;
  }

  uint64_t held_bytes() const override { return held_; }
  uint64_t peak_held_bytes() const override { return held_; }
  LayerReport report() const override { return LayerReport{"fixture-raw", {}}; }

  // Where the next mapping or block starts: map() returns the first multiple
  // of its alignment at or after it, so tests can place arenas (set it to one
  // page past a 16 KiB boundary for an arena that loses a pool).
  Addr next = Addr{1} << 32;

  uint64_t allocs = 0, frees = 0, reallocs = 0, touches = 0, touched_bytes = 0;
  Request last_request;
  Addr last_touch = 0;
  std::vector<Addr> maps, unmaps;

 private:
  Addr bump(uint64_t bytes, uint64_t alignment) {
    const Addr a = (next + alignment - 1) & ~(alignment - 1);
    next = a + bytes;
    return a;
  }
  uint64_t held_ = 0;
};

}  // namespace heaplay::testing
