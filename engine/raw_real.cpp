// raw_real.cpp: see raw_real.hpp.
#include "engine/raw_real.hpp"

#include <gnu/libc-version.h>

#include <algorithm>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

namespace {

void* ptr(Addr a) { return reinterpret_cast<void*>(static_cast<uintptr_t>(a)); }
Addr addr(void* p) { return static_cast<Addr>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace

RawReal::RawReal(MallocLibrary& library, Touch touch, uint64_t max_memory, uint8_t depth)
    : Layer(nullptr, depth),
      lib_(library),
      api_(library.api()),
      touch_(touch),
      page_(page_bytes()),
      who_(fmt::format("--raw {}", raw_kind_name(library.kind()))),
      pages_(who_),
      limit_(who_, max_memory),
      usable_cache_(std::make_unique<uint32_t[]>(kCachedSizes)) {}

std::unique_ptr<Layer> make_raw_real(RawKind kind, Touch touch, uint8_t depth, uint64_t max_memory) {
  return std::make_unique<RawReal>(load_malloc_library(kind), touch, max_memory, depth);
}

std::string describe_raw(RawKind kind) {
  if (kind == RawKind::Sim) return "";
  if (kind == RawKind::Glibc) return fmt::format("glibc {}", gnu_get_libc_version());
  return load_malloc_library(kind).description();
}

void RawReal::fail(std::string_view what) const { throw Error(fmt::format("{}: {}", who_, what), kExitFailure); }

void RawReal::start() {
  baseline_figures_ = lib_.figures();
  baseline_rss_ = rss_now();
  started_ = true;
}

uint64_t RawReal::held_bytes() const { return std::max(polled_, usable_live_) + pages_.mapped_bytes(); }

void RawReal::grown() {
  // Before the caller touches a byte: the live blocks alone must fit.
  limit_.check(usable_live_ + pages_.mapped_bytes(), "the live blocks and mapped arenas");
  const uint64_t h = held_bytes();
  meter_->held = h;
  peak_held_ = std::max(peak_held_, h);
}

void RawReal::refresh() {
  if (!started_) return;
  polled_ = lib_.held();
  ++refreshes_;
  const uint64_t h = held_bytes();
  meter_->held = h;
  peak_held_ = std::max(peak_held_, h);
  limit_.check(h, "the allocator's held bytes and mapped arenas");
  limit_.check(rss_now(), "the process's resident set");
}

uint64_t RawReal::usable_of(const Block& b) const {
  return b.handle != kLookUp ? b.handle : api_.usable_size(ptr(b.addr));
}

Block RawReal::allocate(const Request& r) {
  if (!started_) [[unlikely]]
    start();
  void* p = api_.malloc(r.size);
  if (!p) [[unlikely]]
    fail(fmt::format("malloc of {} bytes failed", r.size));
  uint64_t usable;
  if (r.size < kCachedSizes) {
    usable = usable_cache_[r.size];
    if (usable == 0) [[unlikely]]
      usable = usable_cache_[r.size] = static_cast<uint32_t>(api_.usable_size(p));
#ifdef HEAPLAY_CHECKS
    else if (usable != api_.usable_size(p))
      fail(fmt::format("a fresh block of {} bytes has {} usable bytes, an earlier one had {}", r.size,
                       api_.usable_size(p), usable));
#endif
  } else {
    usable = api_.usable_size(p);
  }
  ++mallocs_;
  requested_live_ += r.size;
  usable_live_ += usable;
  meter_->allocated += usable;
  peak_usable_live_ = std::max(peak_usable_live_, usable_live_);
  grown();
  write_block(touch_, p, 0, r.size, page_);
  return Block{addr(p), usable < kLookUp ? static_cast<uint32_t>(usable) : kLookUp, depth_, 0, {}};
}

void RawReal::release(const Block& b, const Request& r) {
  const uint64_t usable = usable_of(b);
  api_.free(ptr(b.addr));
  ++frees_;
  requested_live_ -= r.size;
  usable_live_ -= usable;
  meter_->allocated -= usable;
  meter_->held = held_bytes();
}

Block RawReal::reallocate(const Block& b, uint64_t old_size, const Request& r) {
  const uint64_t was = usable_of(b);
  void* old = ptr(b.addr);
  // realloc(p, 0) may free p (jemalloc does); the trace's block stays live,
  // so ask for 1 byte, as CPython's PyMem_RawRealloc does.
  void* p = api_.realloc(old, r.size ? r.size : 1);
  if (!p) [[unlikely]]
    fail(fmt::format("realloc from {} to {} bytes failed", old_size, r.size));
  const uint64_t usable = api_.usable_size(p);
  ++reallocs_;
  if (p != old) ++realloc_moves_;
  requested_live_ = requested_live_ - old_size + r.size;
  usable_live_ = usable_live_ - was + usable;
  meter_->allocated = meter_->allocated - was + usable;
  peak_usable_live_ = std::max(peak_usable_live_, usable_live_);
  grown();
  write_block(touch_, p, old_size, r.size, page_);
  return Block{addr(p), usable < kLookUp ? static_cast<uint32_t>(usable) : kLookUp, depth_, 0, {}};
}

Addr RawReal::map(uint64_t bytes, uint64_t alignment) {
  if (!started_) [[unlikely]]
    start();
  const Addr a = pages_.map(bytes, alignment);
  grown();
  return a;
}

void RawReal::unmap(Addr a, uint64_t bytes) {
  pages_.unmap(a, bytes);
  meter_->held = held_bytes();
}

void RawReal::touch(Addr a, uint64_t bytes) { write_block(touch_, ptr(a), 0, bytes, page_); }

uint64_t RawReal::raw_free_bytes() const {
  if (!started_) return 0;
  if (const std::optional<uint64_t> f = lib_.free_bytes()) return *f;
  return polled_ > usable_live_ ? polled_ - usable_live_ : 0;
}

LayerReport RawReal::report() const {
  // The library's figures and the resident set first (the report's own
  // strings are glibc's, not the library's, but read before them all the same).
  std::vector<AllocatorFigure> now = lib_.figures();
  const uint64_t rss = rss_now(), hwm = rss_peak();
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
  rep.add("maps", pages_.maps());
  rep.add("unmaps", pages_.unmaps());
  rep.add("mapped_bytes", pages_.mapped_bytes());
  rep.add("refreshes", refreshes_);
  rep.add("polled_held_bytes", polled_);
  rep.add("footprint_bytes", held_bytes());
  rep.add("peak_footprint_bytes", peak_held_);
  // Nothing replayed yet: now is the baseline.
  const std::vector<AllocatorFigure>& base = started_ ? baseline_figures_ : now;
  for (size_t i = 0; i < now.size() && i < base.size(); ++i) {
    rep.add(now[i].name + "_baseline_bytes", base[i].bytes);
    rep.add(now[i].name + "_final_bytes", now[i].bytes);
  }
  rep.add("rss_baseline_bytes", started_ ? baseline_rss_ : rss);
  rep.add("rss_peak_bytes", hwm);
  rep.add("rss_final_bytes", rss);
  return rep;
}

bool RawReal::is_valid() const {
  const uint64_t live = mallocs_ - frees_;
  return frees_ <= mallocs_ && requested_live_ <= usable_live_ && peak_usable_live_ >= usable_live_ &&
         (live != 0 || (requested_live_ == 0 && usable_live_ == 0)) && pages_.unmaps() <= pages_.maps() &&
         peak_held_ >= pages_.mapped_bytes();
}

}  // namespace heaplay
