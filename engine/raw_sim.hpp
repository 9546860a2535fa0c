// raw_sim.hpp: `--raw sim`, a deterministic simulated general-purpose malloc.
//
// Why: to replay a trace through a glibc-like malloc without running one, so
// that the result is the same on every run and machine and a trace whose peak
// exceeds this machine's memory still replays: no simulated byte is ever
// touched. It models glibc's main arena (ptmalloc2/dlmalloc): chunks with a
// header and 16-byte alignment, best fit over free chunks with immediate
// coalescing of neighbours, a top chunk grown by top_pad and trimmed past
// trim_threshold, and blocks at or above mmap_threshold in mappings of their
// own. docs/raw-sim.md states every rule and where the model departs from
// glibc (no tcache, fastbins or unsorted bin; one arena; LIFO ties).
//
// Addresses: the heap starts at kHeapBase and grows up to kMapFloor; mappings
// (mapped blocks and map()) fill [kMapFloor, kMapCeiling) from the top down.
//
// Memory: one 32-byte record per chunk (in use, free, or mapped block), the
// free index (about 66 KiB fixed plus a map entry per distinct large free
// size) and two tree entries per mmap hole: proportional to the live chunks,
// never to the length of the trace.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/free_chunks.hpp"
#include "engine/layer.hpp"
#include "engine/map_space.hpp"
#include "engine/params.hpp"

namespace heaplay {

class RawSim final : public Layer {
 public:
  static constexpr Addr kHeapBase = Addr{1} << 40;           // the heap's first byte
  static constexpr Addr kMapFloor = Addr{1} << 44;           // the heap ends below; mappings start at or above
  static constexpr Addr kMapCeiling = Addr{0x7f} << 40;      // mappings end at or below
  static constexpr uint64_t kTrimCheckMin = 64 << 10;        // glibc's FASTBIN_CONSOLIDATION_THRESHOLD
  static constexpr uint64_t kDynamicThresholdMax = 32 << 20;  // glibc's DEFAULT_MMAP_THRESHOLD_MAX (64-bit)

  // Throws Error (exit 2) when params break Params::validate()'s rules.
  RawSim(const RawParams& params, uint8_t depth);

  std::string_view name() const override { return "raw"; }
  Block allocate(const Request& r) override;
  void release(const Block& b, const Request& r) override;
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override;
  Addr map(uint64_t bytes, uint64_t alignment) override;
  void unmap(Addr addr, uint64_t bytes) override;
  void touch(Addr, uint64_t) override {}  // nothing is real
  uint64_t held_bytes() const override { return extent_ + mmapped_bytes_ + mapped_bytes_; }
  uint64_t peak_held_bytes() const override { return peak_held_; }
  uint64_t raw_free_bytes() const override;  // free chunks and the top chunk: extent less chunks in use
  uint64_t rss_bytes() const override { return 0; }
  LayerReport report() const override;
  bool is_valid() const override;

  // The model's arithmetic and state, for tests and reports.
  uint64_t chunk_size(uint64_t request) const;  // glibc's request2size
  uint64_t heap_extent() const { return extent_; }  // bytes from the heap start to its top (sbrk's view)
  Addr top_address() const { return recs_[rawsim::kTop].addr; }
  uint64_t top_bytes() const { return recs_[rawsim::kTop].size(); }
  uint64_t mmap_threshold() const { return mmap_threshold_; }  // current (it moves when dynamic)
  uint64_t trim_threshold() const { return trim_threshold_; }

 private:
  using ChunkRec = rawsim::ChunkRec;

  // A chunk of nb bytes in use (heap or mapped), as glibc's _int_malloc finds one.
  uint32_t take_chunk(uint64_t nb);
  uint32_t take_from_top(uint64_t nb);
  uint32_t take_mapped(uint64_t nb);
  void grow_top(uint64_t nb);
  // Frees heap chunk i (in use): coalesces, indexes, maybe trims (_int_free).
  void free_heap_chunk(uint32_t i);
  // Cuts heap chunk i (in use) to nb bytes and frees the rest when it is at
  // least a minimum chunk (the end of _int_realloc).
  void shrink_heap_chunk(uint32_t i, uint64_t nb);
  void trim_top();  // systrim
  void free_mapped_chunk(uint32_t i);
  // Resize chunk i to nb bytes; the record that now holds the block.
  uint32_t realloc_heap(uint32_t i, uint64_t nb);
  uint32_t realloc_mapped(uint32_t i, uint64_t nb);

  uint32_t new_record();
  void drop_record(uint32_t i);
  // Record j (a new heap chunk) goes just below record `above` in address order.
  void link_before(uint32_t above, uint32_t j);
  void unlink(uint32_t i);  // takes heap chunk i out of the address order
  Block block_of(uint32_t i) const;
  uint32_t check_block(const Block& b, const char* what) const;
  void note_growth();  // after any change of held_bytes(): the meter and the peak
  uint64_t usable(uint32_t i) const;  // the usable bytes of chunk i (in use), as malloc_usable_size

  RawParams p_;
  uint64_t lead_;              // bytes before the first header of a region, so blocks are aligned
  uint64_t mmap_threshold_;    // current (raw.mmap_threshold_dynamic moves it)
  uint64_t trim_threshold_;
  std::vector<ChunkRec> recs_;  // record 0: the top chunk
  uint32_t unused_ = rawsim::kNone;  // first unused record
  rawsim::FreeChunks free_;
  rawsim::MapSpace space_;
  std::unordered_map<Addr, uint64_t> maps_;  // map()'s mappings: address -> bytes

  // Accounting (docs/raw-sim.md defines each counter).
  uint64_t mallocs_ = 0, frees_ = 0, reallocs_ = 0, reallocs_in_place_ = 0;
  uint64_t requested_live_ = 0;
  uint64_t chunks_live_ = 0, chunk_bytes_live_ = 0;  // heap chunks in use
  uint64_t extent_ = 0, peak_extent_ = 0, grows_ = 0, trims_ = 0;
  uint64_t mmaps_ = 0, mmaps_total_ = 0, mmapped_bytes_ = 0, peak_mmapped_bytes_ = 0;
  uint64_t maps_total_ = 0, mapped_bytes_ = 0, peak_mapped_bytes_ = 0;
  uint64_t peak_held_ = 0;
};

}  // namespace heaplay
