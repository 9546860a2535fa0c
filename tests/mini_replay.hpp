// mini_replay.hpp: the replay loop of engine/replay.cpp cut down to a, f and
// r records into one layer, for tests and benchmarks that replay without a
// Stack. Like the Replayer, it keeps one Block per slot in a SlotTable, so it
// never calls malloc itself.
#pragma once

#include <cstdint>
#include <span>

#include "engine/layer.hpp"
#include "engine/slot_table.hpp"
#include "traces/consumer.hpp"

namespace heaplay::testing {

class MiniReplay final : public EventConsumer {
 public:
  explicit MiniReplay(Layer& layer) : layer_(layer) {}

  void events(std::span<const Event> batch) override {
    for (const Event& e : batch) {
      const Request r{e.size, e.str, e.domain};
      const uint32_t s = e.slot.value;
      switch (e.kind) {
        case EventKind::Alloc:
          blocks_.ensure(s);
          sizes_.ensure(s);
          blocks_[s] = layer_.allocate(r);
          sizes_[s] = e.size + 1;
          live_bytes += e.size;
          break;
        case EventKind::Free:
          layer_.release(blocks_[s], r);
          sizes_[s] = 0;
          live_bytes -= e.size;
          break;
        case EventKind::Realloc:
          blocks_[s] = layer_.reallocate(blocks_[s], e.old_size, r);
          sizes_[s] = e.size + 1;
          live_bytes = live_bytes - e.old_size + e.size;
          break;
        default: break;
      }
    }
  }

  // Releases the blocks still live (a trace need not free them all).
  void release_all() {
    for (size_t i = 0; i < sizes_.capacity(); ++i)
      if (sizes_[i]) layer_.release(blocks_[i], Request{sizes_[i] - 1, {}, Domain::None});
    live_bytes = 0;
  }

  uint64_t live_bytes = 0;  // requested bytes of the live blocks

 private:
  Layer& layer_;
  SlotTable<Block> blocks_;
  SlotTable<uint64_t> sizes_;  // the live block's size + 1; 0: no live block
};

}  // namespace heaplay::testing
