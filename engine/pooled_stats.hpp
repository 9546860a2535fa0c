// pooled_stats.hpp: the pooled layer's state as CPython reports its own.
//
// PymallocStats holds exactly the figures of the pymalloc section of
// _PyObject_DebugMallocStats (what sys._debugmallocstats() and
// PYTHONMALLOCSTATS print), so that heaplay's model and a real interpreter
// can be compared line by line. PooledLayer::pymalloc_stats()
// fills it; reports/pymalloc_stats.hpp renders it as CPython's text.
// A plain struct: no behaviour beyond the sums CPython prints.
#pragma once

#include <cstdint>
#include <vector>

namespace heaplay {

// One size class over a replay (sizeclasses.csv): PooledLayer::size_class_report().
struct SizeClassReport {
  uint32_t index = 0;
  uint64_t size = 0;             // bytes per block
  uint32_t blocks_per_pool = 0;
  uint64_t requests = 0;         // blocks handed out from the class's pools
  uint64_t peak_blocks = 0;      // most blocks in use at once
  uint64_t peak_pools = 0;       // pools in use at the moment of that peak (the first time it was reached)
  uint64_t final_blocks = 0, final_pools = 0;  // at the end
  bool operator==(const SizeClassReport&) const = default;
};

struct PymallocStats {
  // One row of the class table; CPython prints only classes with pools in use.
  struct SizeClass {
    uint32_t index = 0;
    uint64_t size = 0;              // bytes per block
    uint64_t pools = 0;             // pools of this class holding at least one block
    uint64_t blocks_in_use = 0;
    uint64_t available_blocks = 0;  // free blocks in those pools (carved or not)
  };

  uint64_t small_threshold = 0;  // bytes (512)
  uint32_t size_classes = 0;     // 32
  std::vector<SizeClass> classes;  // ascending index, pools > 0 only

  uint64_t arenas_allocated_total = 0;  // arenas ever taken from the layer below
  uint64_t arenas_reclaimed = 0;        // of those, given back (total - current)
  uint64_t arenas_highwater = 0;        // most arenas held at once
  uint64_t arenas_current = 0;
  uint64_t arena_size = 0;  // bytes
  uint64_t pool_size = 0;   // bytes

  uint64_t allocated_bytes = 0;        // blocks in use x their class size
  uint64_t available_bytes = 0;        // free blocks in used pools x their class size
  uint64_t unused_pools = 0;           // empty pools plus pools not carved yet
  uint64_t pool_header_bytes = 0;      // headers of pools in use
  uint64_t quantization_bytes = 0;     // unusable tails of pools in use
  uint64_t arena_alignment_bytes = 0;  // one pool per arena that does not start on a pool boundary

  uint64_t arena_bytes() const { return arenas_current * arena_size; }
  uint64_t unused_pool_bytes() const { return unused_pools * pool_size; }
  // CPython's "Total": equals arena_bytes() when the accounting is right.
  uint64_t total_bytes() const {
    return allocated_bytes + available_bytes + unused_pool_bytes() + pool_header_bytes + quantization_bytes +
           arena_alignment_bytes;
  }
};

}  // namespace heaplay
