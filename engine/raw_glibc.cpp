// raw_glibc.cpp: see raw_glibc.hpp.
#include "engine/raw_glibc.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/sanitizer.hpp"

namespace heaplay {

namespace {

using namespace glibc_chunk;

// Above glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit): always mmapped, and
// freeing it leaves the dynamic mmap threshold alone.
constexpr size_t kProbeBytes = size_t{64} << 20;
// glibc's per-thread cache: 64 bins of chunk sizes 32, 48, ... 1040 bytes,
// 7 chunks each unless tuned (glibc.malloc.tcache_count).
constexpr size_t kTcacheBins = 64;
#if HEAPLAY_SANITIZER_MALLOC
// Its allocator replaces glibc's, and it would take reading a chunk header for an overflow.
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif

void* ptr(Addr a) { return reinterpret_cast<void*>(static_cast<uintptr_t>(a)); }
Addr addr(void* p) { return static_cast<Addr>(reinterpret_cast<uintptr_t>(p)); }

[[noreturn]] void fail(std::string_view what) {
  throw Error(fmt::format("--raw glibc: {}", what), kExitFailure);
}

}  // namespace

uint64_t RawGlibc::mmapped_size(void* p) { return chunk_of(p).mapped; }

void RawGlibc::verify_chunk_layout() {
  auto refuse = [](std::string_view what) {
    fail(fmt::format("{}; the footprint figures rely on glibc's own malloc (is another allocator or a sanitizer "
                     "in the process?)",
                     what));
  };
  if (kSanitizer) refuse("this build's sanitizer replaces glibc's malloc");
  void* small = malloc(64);
  if (!small) fail("cannot allocate 64 bytes");
  const Chunk s = chunk_of(small);
  const size_t usable = malloc_usable_size(small);
  free(small);
  if (s.mapped || usable < 64 || s.usable != usable) refuse("a 64-byte block does not carry a glibc chunk header");
  if (s.thread_arena) fail("this thread allocates from a glibc thread arena: build and replay on the main thread");

  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const struct mallinfo2 before = mallinfo2();
  void* big = malloc(kProbeBytes);
  if (!big) fail(fmt::format("cannot allocate {} bytes (address space) for the chunk layout check", kProbeBytes));
  const struct mallinfo2 after = mallinfo2();
  const Chunk b = chunk_of(big);
  const size_t big_usable = malloc_usable_size(big);
  free(big);
  if (b.mapped == 0) refuse("a 64 MiB block is not marked IS_MMAPPED");
  if (b.usable != big_usable || b.mapped < kProbeBytes || b.mapped % page != 0 ||
      after.hblkhd - before.hblkhd != b.mapped)
    refuse(fmt::format("a 64 MiB mmapped chunk reads as {} bytes ({} usable, malloc_usable_size says {}), but "
                       "mallinfo2's hblkhd grew by {}",
                       b.mapped, b.usable, big_usable, after.hblkhd - before.hblkhd));
}

RawGlibc::RawGlibc(Touch touch, uint8_t depth, uint64_t max_memory)
    : Layer(nullptr, depth), touch_(touch), page_(page_bytes()), limit_("--raw glibc", max_memory) {
  if (!kSanitizer) take_foreign_chunks();
  try {
    verify_chunk_layout();
  } catch (...) {
    give_back_foreign_chunks();  // no destructor after a throw
    throw;
  }
}

void RawGlibc::start() {
  // Give back the free top of the heap, so that the replay's first requests
  // grow the break as they would in a fresh program.
  malloc_trim(0);
  sbrk(0);  // sets __curbrk should nothing have moved the break yet
  baseline_brk_ = reinterpret_cast<uintptr_t>(__curbrk);
  held_brk_ = baseline_brk_;  // held is 0, as the meter says
  baseline_ = mallinfo2();
  baseline_rss_ = rss_now();
  started_ = true;
}

RawGlibc::~RawGlibc() { give_back_foreign_chunks(); }

void RawGlibc::give_back_foreign_chunks() {
  while (foreign_held_ > 0) free(foreign_[--foreign_held_]);
}

void RawGlibc::take_foreign_chunks() {
  void* mine[kForeignPerBin];
  for (size_t bin = 0; bin < kTcacheBins; ++bin) {
    size_t n = 0;
    for (size_t k = 0; k < kForeignPerBin; ++k) {
      void* p = malloc(24 + 16 * bin);  // the largest request of the bin
      if (!p) break;
      if (chunk_of(p).thread_arena) foreign_[foreign_held_++] = p;
      else mine[n++] = p;
    }
    while (n > 0) free(mine[--n]);
  }
}

std::unique_ptr<Layer> make_raw_glibc(Touch touch, uint8_t depth, uint64_t max_memory) {
  return std::make_unique<RawGlibc>(touch, depth, max_memory);
}

void RawGlibc::malloc_failed(uint64_t bytes) { fail(fmt::format("malloc of {} bytes failed", bytes)); }

void RawGlibc::refresh() {
  if (started_) limit_.check(rss_now(), "the process's resident set");
}

uint64_t RawGlibc::raw_free_bytes() const {
  if (!started_) return 0;
  const struct mallinfo2 now = mallinfo2();
  return now.fordblks > baseline_.fordblks ? now.fordblks - baseline_.fordblks : 0;
}

uint64_t RawGlibc::rss_bytes() const { return rss_now(); }

Block RawGlibc::reallocate(const Block& b, uint64_t old_size, const Request& r) {
  void* old = ptr(b.addr);
  const Chunk was = chunk_of(old);
  // glibc's realloc(p, 0) frees p and returns NULL; the trace's block stays
  // live, so ask for 1 byte, as CPython's PyMem_RawRealloc does.
  void* p = realloc(old, r.size ? r.size : 1);
  if (!p) [[unlikely]]
    fail(fmt::format("realloc from {} to {} bytes failed", old_size, r.size));
  const Chunk c = chunk_of(p);
  if (c.thread_arena) [[unlikely]]
    ++thread_arena_blocks_;
  if (was.mapped) --mmapped_chunks_;
  if (c.mapped) {
    ++mmapped_chunks_;
    if (!was.mapped) ++mmapped_chunks_total_;
  }
  mmapped_bytes_ = mmapped_bytes_ - was.mapped + c.mapped;
  ++reallocs_;
  if (p != old) ++realloc_moves_;
  requested_live_ = requested_live_ - old_size + r.size;
  usable_live_ = usable_live_ - was.usable + c.usable;
  meter_->allocated = meter_->allocated - was.usable + c.usable;
  peak_usable_live_ = std::max(peak_usable_live_, usable_live_);
  note_held();
  write_block(touch_, p, old_size, r.size, page_);
  return Block{addr(p), 0, depth_, {}};
}

Addr RawGlibc::map(uint64_t bytes, uint64_t alignment) {
  if (!started_) [[unlikely]]
    start();
  const Addr a = pages_.map(bytes, alignment);
  note_held();
  return a;
}

void RawGlibc::unmap(Addr a, uint64_t bytes) {
  pages_.unmap(a, bytes);
  note_held();
}

void RawGlibc::touch(Addr a, uint64_t bytes) { write_block(touch_, ptr(a), 0, bytes, page_); }

LayerReport RawGlibc::report() const {
  // Measure before building the report, which allocates.
  using Info = struct mallinfo2;
  const Info now = mallinfo2();
  const uint64_t rss = rss_now(), hwm = rss_peak();
  const int64_t main = main_arena_delta();
  const uint64_t held = held_bytes();

  LayerReport rep;
  rep.layer = "raw";
  rep.add("mallocs", mallocs_);
  rep.add("frees", frees_);
  rep.add("reallocs", reallocs_);
  rep.add("realloc_moves", realloc_moves_);
  rep.add("live_blocks", mallocs_ - frees_);
  rep.add("requested_live_bytes", requested_live_);
  rep.add("usable_live_bytes", usable_live_);
  rep.add("peak_usable_live_bytes", peak_usable_live_);
  rep.add("mmapped_chunks", mmapped_chunks_);
  rep.add("mmapped_chunks_total", mmapped_chunks_total_);
  rep.add("mmapped_chunk_bytes", mmapped_bytes_);
  rep.add("thread_arena_blocks", thread_arena_blocks_);
  rep.add("maps", pages_.maps());
  rep.add("unmaps", pages_.unmaps());
  rep.add("mapped_bytes", pages_.mapped_bytes());
  rep.add("main_arena_bytes", main > 0 ? static_cast<uint64_t>(main) : 0);
  rep.add("footprint_bytes", held);
  rep.add("peak_footprint_bytes", peak_held_);
  const std::pair<const char*, size_t Info::*> fields[] = {
      {"arena", &Info::arena},       {"hblkhd", &Info::hblkhd},     {"uordblks", &Info::uordblks},
      {"fordblks", &Info::fordblks}, {"keepcost", &Info::keepcost},
  };
  // Nothing replayed yet: now is the baseline.
  const Info& base = started_ ? baseline_ : now;
  for (const auto& [field, member] : fields) {
    rep.add(fmt::format("mallinfo2_{}_baseline_bytes", field), base.*member);
    rep.add(fmt::format("mallinfo2_{}_final_bytes", field), now.*member);
  }
  rep.add("rss_baseline_bytes", started_ ? baseline_rss_ : rss);
  rep.add("rss_peak_bytes", hwm);
  rep.add("rss_final_bytes", rss);
  return rep;
}

bool RawGlibc::is_valid() const {
  const uint64_t live = mallocs_ - frees_;
  return frees_ <= mallocs_ && requested_live_ <= usable_live_ && mmapped_chunks_ <= live &&
         mmapped_chunks_ <= mmapped_chunks_total_ && peak_usable_live_ >= usable_live_ &&
         (live != 0 || (requested_live_ == 0 && usable_live_ == 0 && mmapped_bytes_ == 0)) &&
         pages_.unmaps() <= pages_.maps() && peak_held_ >= meter_->held &&
         (!started_ || brk_moved() || meter_->held == held_bytes());
}

}  // namespace heaplay
