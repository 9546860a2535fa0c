// raw_glibc.hpp: the real glibc malloc as the bottom layer (`--raw glibc`).
//
// Every request is a real malloc/free/realloc in this process; Block.addr is
// the pointer glibc returned. map()/unmap() are real mmap/munmap (pooled's
// arenas, as CPython's arena allocator takes them), aligned by mapping more
// and unmapping the ends. `--touch` decides how much of each block is written,
// so that resident memory means something (Touch in stack.hpp):
//   none   nothing is written;
//   first  the first 8 bytes of each block (fewer if it is smaller);
//   all    one byte per page of the whole block (realloc: of the grown part).
// touch() writes the same way; pooled calls it for the blocks of a fresh pool.
//
// Baseline: taken at the first request (allocate or map), after
// malloc_trim(0): the break, mallinfo2, the resident set. Everything heaplay
// allocates before that (reader thread, stack, replayer) is outside it.
//
// Footprint (held_bytes): what mallinfo2's arena + hblkhd would say for the
// replay's own heap, less the baseline, plus the bytes map()ped here; kept up
// to date per request without walking the heap (mallinfo2 walks every bin,
// far too slow per event):
//   main arena  sbrk(0) minus the baseline break: the main arena is the only
//               one that grows by brk, and glibc counts its extent since its
//               first break as its system_mem (0 if it shrank below the
//               baseline; main_arena_delta() has the sign);
//   mmapped     glibc serves large requests (>= the mmap threshold) with a
//               mapping of their own and marks the chunk IS_MMAPPED (bit 1 of
//               the size word just before the pointer). Such a chunk maps
//               malloc_usable_size(p) + 2 * sizeof(size_t) bytes, which is
//               what glibc adds to hblkhd. A glibc-specific assumption: the
//               constructor checks it (verify_chunk_layout) and refuses to
//               run where it does not hold (another malloc, a sanitizer);
//   map()       bytes mapped by this layer and not yet unmapped.
// The peak is updated after every request that can grow the footprint.
//
// Threads: the footprint is of the main arena plus mappings. The replay must
// run on the main thread (the constructor refuses a thread arena); a reader on
// another thread (traces/reader_thread.hpp) allocates from its own glibc
// arena, which is excluded by construction. mallinfo2's figures in report()
// are process-wide and include it. Memory of another arena freed on this
// thread waits in this thread's tcache, and malloc hands it out first: the
// constructor takes such chunks out (up to 16 a size class), and a block
// still served from one is counted (thread_arena_blocks), outside the
// footprint.
//
// Memory: no bookkeeping per block (the Block carries the pointer); nothing
// here calls malloc but the requests themselves.
#pragma once

#include <malloc.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "engine/layer.hpp"
#include "engine/os_memory.hpp"
#include "engine/stack.hpp"

// glibc's record of the program break (misc/sbrk.c: what sbrk(0) returns),
// exported since 2.2.5 and set by every brk and sbrk, through which malloc's
// main arena grows and trims. Read after every request, without a call.
extern "C" void* __curbrk;

namespace heaplay {

namespace glibc_chunk {
// glibc's chunk header (malloc/malloc.c): the size word sits just before the
// pointer; its low bits are flags.
inline constexpr size_t kIsMmapped = 0x2;     // the chunk is a mapping of its own
inline constexpr size_t kNonMainArena = 0x4;  // the chunk belongs to a thread arena
inline constexpr size_t kFlags = 0x7;
inline constexpr uint64_t kHeader = 2 * sizeof(size_t);  // prev_size + size

// The size word of the chunk of the live block at p.
inline size_t size_word(void* p) {
  // To the compiler, a malloc'd block is uninitialised memory with nothing
  // before it; hide where the pointer comes from.
  const char* q = static_cast<const char*>(p);
  asm("" : "+r"(q));
  size_t w;
  std::memcpy(&w, q - sizeof(size_t), sizeof w);
  return w;
}

// What glibc's chunk header says about the live block at p: malloc_usable_size
// without the call (musable() in malloc.c), and the chunk's mapping. The
// constructor checks both against malloc_usable_size and mallinfo2.
struct Chunk {
  uint64_t usable;    // malloc_usable_size(p)
  uint64_t mapped;    // bytes of its own mapping (IS_MMAPPED), else 0
  bool thread_arena;  // a heap chunk of a thread arena
};
inline Chunk chunk_of(void* p) {
  const size_t word = size_word(p);
  const uint64_t size = word & ~kFlags;
  if (word & kIsMmapped) [[unlikely]]
    return {size - kHeader, size, false};
  return {size - sizeof(size_t), 0, (word & kNonMainArena) != 0};
}
}  // namespace glibc_chunk

// allocate() and release() are defined below, inline: the replay loop calls
// them directly when raw glibc is the stack's memory layer (Replayer), one
// malloc or free and a few counters a record, no virtual call.
class RawGlibc final : public Layer {
 public:
  // Checks glibc's chunk layout and that this thread allocates from the main
  // arena; takes other arenas' chunks out of this thread's tcache. Throws
  // Error (exit 1) where a check fails. Build and use it on the main thread.
  // max_memory: --max-memory (os_memory.hpp), checked against held after
  // every request that can grow it and against the resident set at refresh().
  RawGlibc(Touch touch, uint8_t depth, uint64_t max_memory = UINT64_MAX);
  ~RawGlibc() override;

  std::string_view name() const override { return "raw"; }
  inline Block allocate(const Request& r) override;
  inline void release(const Block& b, const Request& r) override;
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override;
  Addr map(uint64_t bytes, uint64_t alignment) override;
  void unmap(Addr addr, uint64_t bytes) override;
  void touch(Addr addr, uint64_t bytes) override;
  uint64_t held_bytes() const override {  // 0 before the first request
    const int64_t main = main_arena_delta();
    return (main > 0 ? static_cast<uint64_t>(main) : 0) + mmapped_bytes_ + pages_.mapped_bytes();
  }
  uint64_t peak_held_bytes() const override { return peak_held_; }
  uint64_t raw_free_bytes() const override;  // mallinfo2's fordblks less the baseline's (0 if below)
  uint64_t rss_bytes() const override;       // the process's resident set (/proc/self/statm)
  void refresh() override;                   // the resident set against --max-memory
  // Takes mallinfo2 and the resident set before it allocates anything itself.
  LayerReport report() const override;
  bool is_valid() const override;

  // The parts of held_bytes(): the main arena's growth since the baseline
  // (negative when it shrank below it), mmapped chunks live, map()ped bytes.
  int64_t main_arena_delta() const {
    return started_ ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(__curbrk) - baseline_brk_) : 0;
  }
  uint64_t mmapped_chunk_bytes() const { return mmapped_bytes_; }
  uint64_t mapped_bytes() const { return pages_.mapped_bytes(); }
  // mallinfo2 at the baseline (zeros before the first request).
  const struct mallinfo2& baseline() const { return baseline_; }

  // Bytes of the mapping behind p when glibc served it with a mapping of its
  // own (IS_MMAPPED), else 0. p: a live pointer from malloc/realloc.
  static uint64_t mmapped_size(void* p);
  // Checks, with one small and one large (64 MiB, never touched) allocation,
  // that glibc's chunk header reads as expected, that IS_MMAPPED and
  // mmapped_size() agree with mallinfo2, and that the calling thread
  // allocates from the main arena. Throws Error (exit 1) naming what fails.
  static void verify_chunk_layout();

 private:
  [[gnu::noinline]] void start();                   // takes the baseline
  // held_bytes() changes only where the break moves, a chunk of its own is
  // mapped or unmapped, or map()/unmap() run. Those call note_held(); every
  // other request only compares the break with the one held was computed at
  // (brk_moved(): one load and a compare, where held_bytes() and the limit
  // check took five loads and three branches a request). The break may also
  // move under heaplay's own mallocs on this thread between requests: the next
  // request sees it. Invariant: meter_->held == held_bytes() whenever the
  // break is at held_brk_.
  bool brk_moved() const { return reinterpret_cast<uintptr_t>(__curbrk) != held_brk_; }
  void note_held() {  // --max-memory, meter_->held, peak_held_
    held_brk_ = reinterpret_cast<uintptr_t>(__curbrk);
    const uint64_t h = held_bytes();
    limit_.check(h, "the heap and mapped arenas");
    meter_->held = h;
    if (h > peak_held_) peak_held_ = h;
  }
  [[noreturn, gnu::noinline]] static void malloc_failed(uint64_t bytes);
  void take_foreign_chunks();                       // see foreign_
  void give_back_foreign_chunks();

  Touch touch_;
  uint64_t page_;
  bool started_ = false;
  uintptr_t baseline_brk_ = 0;
  uintptr_t held_brk_ = 0;  // the break when held was last computed (note_held)
  struct mallinfo2 baseline_ {};
  uint64_t baseline_rss_ = 0;

  uint64_t mallocs_ = 0, frees_ = 0, reallocs_ = 0, realloc_moves_ = 0;
  uint64_t requested_live_ = 0, usable_live_ = 0, peak_usable_live_ = 0;
  uint64_t mmapped_chunks_ = 0, mmapped_chunks_total_ = 0, mmapped_bytes_ = 0;
  uint64_t thread_arena_blocks_ = 0;  // blocks served from a thread arena's chunk all the same
  PageMap pages_{"--raw glibc"};  // map()/unmap()
  MemoryLimit limit_;
  uint64_t peak_held_ = 0;

  // Chunks of thread arenas that sat in this thread's tcache (another
  // thread's memory freed on this one), taken out by the constructor so that
  // the replay is not served them; freed by the destructor.
  static constexpr size_t kForeignPerBin = 16;
  void* foreign_[64 * kForeignPerBin];
  size_t foreign_held_ = 0;
};

inline Block RawGlibc::allocate(const Request& r) {
  if (!started_) [[unlikely]]
    start();
  void* p = malloc(r.size);
  if (!p) [[unlikely]]
    malloc_failed(r.size);
  const glibc_chunk::Chunk c = glibc_chunk::chunk_of(p);
  if (c.mapped) [[unlikely]] {
    ++mmapped_chunks_;
    ++mmapped_chunks_total_;
    mmapped_bytes_ += c.mapped;
  }
  if (c.mapped || brk_moved()) [[unlikely]]
    note_held();  // before a byte is touched: --max-memory
  if (c.thread_arena) [[unlikely]]
    ++thread_arena_blocks_;
  ++mallocs_;
  requested_live_ += r.size;
  usable_live_ += c.usable;
  meter_->allocated += c.usable;
  peak_usable_live_ = std::max(peak_usable_live_, usable_live_);
  write_block(touch_, p, 0, r.size, page_);
  return Block{static_cast<Addr>(reinterpret_cast<uintptr_t>(p)), 0, depth_, 0, {}};
}

inline void RawGlibc::release(const Block& b, const Request& r) {
  void* p = reinterpret_cast<void*>(static_cast<uintptr_t>(b.addr));
  const glibc_chunk::Chunk c = glibc_chunk::chunk_of(p);
  free(p);
  if (c.mapped) [[unlikely]] {
    --mmapped_chunks_;
    mmapped_bytes_ -= c.mapped;
  }
  if (c.mapped || brk_moved()) [[unlikely]]
    note_held();  // a mapping went back, or glibc trimmed the top of the heap
  ++frees_;
  requested_live_ -= r.size;
  usable_live_ -= c.usable;
  meter_->allocated -= c.usable;
}

}  // namespace heaplay
