// raw_real.hpp: a real allocator library as the bottom layer
// (`--raw jemalloc|mimalloc|tcmalloc`).
//
// Every request is a real call into the library (malloc_library.hpp: loaded
// with dlopen, RTLD_LOCAL, so heaplay's own memory stays in glibc's heap and
// the library serves the replay alone); Block.addr is the pointer it returned.
// map()/unmap() are real aligned mmaps (pooled's arenas: CPython maps them
// itself whatever malloc it runs on), and --touch writes as raw glibc does
// (os_memory.hpp).
//
// Held bytes: the library's own figure (jemalloc stats.resident, mimalloc's
// committed bytes, tcmalloc heap_size - unmapped; docs/metrics.md), plus the
// bytes map()ped. No baseline is subtracted: the library serves the replay
// alone (unlike glibc's heap, which holds heaplay's own memory too), so what
// it held before the first request (its start-up metadata, a first heap
// chunk) is part of what it costs to serve the trace. Reading it costs
// microseconds, so it is read at refresh() (the Replayer calls it between
// requests: every few thousand records, at timeline samples, when the live
// bytes have grown by 1/64 since the last refresh, and at the end); between
// refreshes held is the last reading, or the usable bytes of the live blocks
// when those are more (the library holds at least them):
//   held = max(library figure at the last refresh, usable live) + mapped
// The peak is the largest of those after any request or refresh.
//
// Usable sizes: the library's malloc_usable_size for every realloc and for
// blocks past kCachedSizes; for a fresh malloc of a smaller size, the usable
// size the first block of that size had (a size-class allocator gives every
// fresh block of one request size the same; Debug builds check each). A
// Block's handle keeps its usable size, so a free looks nothing up.
//
// Baseline: at the first request, the library's figures and the resident
// set, for the report.
// --max-memory (MemoryLimit): checked after every request against the usable
// live bytes plus mapped bytes (before any byte is touched), and at each
// refresh against held and the process's resident set.
//
// Memory: no bookkeeping per block; kCachedSizes words of usable sizes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/layer.hpp"
#include "engine/malloc_library.hpp"
#include "engine/os_memory.hpp"
#include "engine/stack.hpp"

namespace heaplay {

class RawReal final : public Layer {
 public:
  static constexpr uint64_t kCachedSizes = 4096;  // request sizes below this have a cached usable size

  RawReal(MallocLibrary& library, Touch touch, uint64_t max_memory, uint8_t depth);

  std::string_view name() const override { return "raw"; }
  Block allocate(const Request& r) override;
  void release(const Block& b, const Request& r) override;
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override;
  Addr map(uint64_t bytes, uint64_t alignment) override;
  void unmap(Addr addr, uint64_t bytes) override;
  void touch(Addr addr, uint64_t bytes) override;
  uint64_t held_bytes() const override;
  uint64_t peak_held_bytes() const override { return peak_held_; }
  // The library's free figure (mimalloc: its held figure less the usable live bytes).
  uint64_t raw_free_bytes() const override;
  uint64_t rss_bytes() const override { return rss_now(); }
  bool held_is_polled() const override { return true; }
  void refresh() override;
  LayerReport report() const override;
  bool is_valid() const override;

  const MallocLibrary& library() const { return lib_; }
  // The library's held figure at the last refresh.
  uint64_t polled_held_bytes() const { return polled_; }
  uint64_t usable_live_bytes() const { return usable_live_; }
  uint64_t refreshes() const { return refreshes_; }

 private:
  static constexpr uint32_t kLookUp = UINT32_MAX;  // Block::handle: usable size too large to keep, look it up
  void start();  // takes the baseline
  [[noreturn]] void fail(std::string_view what) const;
  uint64_t usable_of(const Block& b) const;
  void grown();  // after a request that can grow: limit, meter, peak

  MallocLibrary& lib_;
  MallocApi api_;  // a copy: one load less per call
  Touch touch_;
  uint64_t page_;
  std::string who_;  // "--raw jemalloc", for messages (pages_ and limit_ keep a view of it)
  PageMap pages_;
  MemoryLimit limit_;
  bool started_ = false;
  uint64_t baseline_rss_ = 0;
  std::vector<AllocatorFigure> baseline_figures_;
  uint64_t polled_ = 0, refreshes_ = 0;
  uint64_t mallocs_ = 0, frees_ = 0, reallocs_ = 0, realloc_moves_ = 0;
  uint64_t requested_live_ = 0, usable_live_ = 0, peak_usable_live_ = 0;
  uint64_t peak_held_ = 0;
  std::unique_ptr<uint32_t[]> usable_cache_;  // by request size; 0: not known yet
};

// What the raw layer of that kind runs on, for the report: "" for sim,
// "glibc 2.36", or the library's file and version (loading it).
std::string describe_raw(RawKind kind);

}  // namespace heaplay
