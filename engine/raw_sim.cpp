// raw_sim.cpp: the rules of the simulated malloc (see raw_sim.hpp, docs/raw-sim.md).
//
// The function names follow glibc's malloc/malloc.c where a function models
// one of its steps (request2size, _int_malloc, sysmalloc, systrim, _int_free,
// _int_realloc, mremap_chunk); the code is this model's own.
//
// Conventions: a heap chunk's address is where its header starts, so its
// block is at addr + header and the chunk ends at addr + size; chunk sizes are
// multiples of the alignment and the first chunk starts lead_ bytes into the
// heap, which keeps every block aligned. (glibc's chunk pointer is 8 bytes
// lower, at the previous chunk's prev_size field; sizes and block addresses
// are the same.) The heap's chunks, ending with the top chunk, tile
// [kHeapBase + lead_, kHeapBase + lead_ + extent_) with no gaps.
#include "engine/raw_sim.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "engine/stack.hpp"
#include "traces/error.hpp"

namespace heaplay {

using rawsim::kNone;
using rawsim::kTop;

namespace {

// The model's arithmetic (power-of-two masks, the free index's bins) relies
// on Params::validate()'s rules; build_stack checks them, direct users get
// the same check here.
const RawParams& checked(const RawParams& p) {
  Params whole;
  whole.raw = p;
  whole.validate();
  return p;
}

uint64_t round_up(uint64_t n, uint64_t pow2) { return (n + pow2 - 1) & ~(pow2 - 1); }
uint64_t round_down(uint64_t n, uint64_t pow2) { return n & ~(pow2 - 1); }

// Larger requests are refused before any arithmetic could wrap; no simulated
// space holds them anyway.
constexpr uint64_t kMaxRequest = uint64_t{1} << 60;

}  // namespace

RawSim::RawSim(const RawParams& params, uint8_t depth)
    : Layer(nullptr, depth),
      p_(checked(params)),
      lead_((params.alignment - params.header % params.alignment) % params.alignment),
      mmap_threshold_(params.mmap_threshold),
      trim_threshold_(params.trim_threshold),
      free_(recs_, params.alignment),
      space_(kMapFloor, kMapCeiling) {
  ChunkRec top;  // empty until the first allocation grows the heap
  top.addr = kHeapBase + lead_;
  top.set(0, 0);
  recs_.push_back(top);
}

uint64_t RawSim::chunk_size(uint64_t request) const {
  if (request > kMaxRequest) [[unlikely]]
    throw Error(fmt::format("raw sim: a request of {} bytes cannot be had", request), kExitBadInput);
  return std::max(round_up(request + p_.header, p_.alignment), p_.min_chunk);
}

// ---- records ----

uint32_t RawSim::new_record() {
  uint32_t i = unused_;
  if (i != kNone) {
    unused_ = recs_[i].next;
    recs_[i] = ChunkRec{};
    return i;
  }
  if (recs_.size() >= kNone) throw Error("raw sim: more than 2^32 chunks", kExitBadInput);
  recs_.emplace_back();
  return static_cast<uint32_t>(recs_.size() - 1);
}

void RawSim::drop_record(uint32_t i) {
  recs_[i].set(0, ChunkRec::kUnused);
  recs_[i].next = unused_;
  unused_ = i;
}

void RawSim::link_before(uint32_t above, uint32_t j) {
  ChunkRec& c = recs_[j];
  c.next = above;
  c.prev = recs_[above].prev;
  if (c.prev != kNone) recs_[c.prev].next = j;
  recs_[above].prev = j;
}

void RawSim::unlink(uint32_t i) {
  const ChunkRec& c = recs_[i];
  if (c.prev != kNone) recs_[c.prev].next = c.next;
  recs_[c.next].prev = c.prev;  // a heap chunk always has one above: a chunk or the top
}

Block RawSim::block_of(uint32_t i) const {
  const ChunkRec& c = recs_[i];
  Block b;
  b.addr = c.addr + (c.is(ChunkRec::kMapped) ? lead_ : 0) + p_.header;
  b.handle = i;
  b.depth = depth_;
  return b;
}

uint32_t RawSim::check_block(const Block& b, const char* what) const {
  const uint32_t i = b.handle;
  if (b.depth != depth_ || i == kTop || i >= recs_.size() || recs_[i].is(ChunkRec::kFree | ChunkRec::kUnused) ||
      block_of(i).addr != b.addr) [[unlikely]]
    throw Error(fmt::format("raw sim: {} of block {:#x}, which it does not hold", what, b.addr), kExitFailure);
  return i;
}

// Every change of held_bytes() comes through here (growth and shrinking alike).
void RawSim::note_growth() {
  meter_->held = held_bytes();
  peak_held_ = std::max(peak_held_, meter_->held);
}

// glibc's malloc_usable_size: a heap chunk less its header; a mapped chunk
// (the mapping less the lead before it) less its header and the next one's.
uint64_t RawSim::usable(uint32_t i) const {
  const ChunkRec& c = recs_[i];
  return c.is(ChunkRec::kMapped) ? c.size() - lead_ - 2 * p_.header : c.size() - p_.header;
}

uint64_t RawSim::raw_free_bytes() const { return extent_ - chunk_bytes_live_; }

// ---- allocation (_int_malloc, sysmalloc) ----

uint32_t RawSim::take_chunk(uint64_t nb) {
  // Best fit among free chunks; the remainder, when it can be a chunk, stays free.
  if (const uint32_t i = free_.best_fit(nb); i != kNone) {
    free_.remove(i);
    const uint64_t size = recs_[i].size();
    const uint64_t kept = size - nb >= p_.min_chunk ? nb : size;
    recs_[i].set(kept, 0);
    if (kept != size) {
      const uint32_t r = new_record();
      recs_[r].addr = recs_[i].addr + nb;
      recs_[r].set(size - nb, ChunkRec::kFree);
      link_before(recs_[i].next, r);
      free_.insert(r);
    }
    ++chunks_live_;
    chunk_bytes_live_ += kept;
    return i;
  }
  // The top, when it keeps a minimum chunk after; else a mapping or a taller top.
  if (top_bytes() >= nb + p_.min_chunk) return take_from_top(nb);
  if (nb >= mmap_threshold_) return take_mapped(nb);
  grow_top(nb);
  return take_from_top(nb);
}

uint32_t RawSim::take_from_top(uint64_t nb) {
  const uint32_t i = new_record();
  ChunkRec& top = recs_[kTop];
  recs_[i].addr = top.addr;
  recs_[i].set(nb, 0);
  top.addr += nb;
  top.set(top.size() - nb, 0);
  link_before(kTop, i);
  ++chunks_live_;
  chunk_bytes_live_ += nb;
  return i;
}

void RawSim::grow_top(uint64_t nb) {
  // sysmalloc, main arena, contiguous sbrk: enough for nb, top_pad and a
  // minimum chunk beyond what the top already has, in whole pages.
  const uint64_t top = top_bytes();  // < nb + min_chunk here
  const uint64_t room = kMapFloor - (kHeapBase + extent_);
  if (p_.top_pad >= room || nb + p_.min_chunk >= room) [[unlikely]]
    throw Error(fmt::format("raw sim: the simulated heap cannot grow by {} bytes", nb), kExitBadInput);
  const uint64_t grow = round_up(nb + p_.top_pad + p_.min_chunk - top, p_.page);
  if (grow > room) [[unlikely]]
    throw Error(fmt::format("raw sim: the simulated heap cannot grow by {} bytes", grow), kExitBadInput);
  recs_[kTop].set(top + grow, 0);
  extent_ += grow;
  peak_extent_ = std::max(peak_extent_, extent_);
  ++grows_;
  note_growth();
}

uint32_t RawSim::take_mapped(uint64_t nb) {
  // sysmalloc_mmap: the chunk and the lead before its header, in whole pages.
  const uint64_t bytes = round_up(lead_ + nb, p_.page);
  const Addr at = space_.take(bytes, p_.page);
  const uint32_t i = new_record();
  recs_[i].addr = at;
  recs_[i].set(bytes, ChunkRec::kMapped);
  ++mmaps_;
  ++mmaps_total_;
  mmapped_bytes_ += bytes;
  peak_mmapped_bytes_ = std::max(peak_mmapped_bytes_, mmapped_bytes_);
  note_growth();
  return i;
}

Block RawSim::allocate(const Request& r) {
  const uint32_t i = take_chunk(chunk_size(r.size));
  meter_->allocated += usable(i);
  ++mallocs_;
  requested_live_ += r.size;
  return block_of(i);
}

// ---- release (_int_free, systrim, munmap_chunk) ----

void RawSim::free_heap_chunk(uint32_t i) {
  uint64_t size = recs_[i].size();
  --chunks_live_;
  chunk_bytes_live_ -= size;
  // Backward: a free chunk just below absorbs this one.
  if (const uint32_t below = recs_[i].prev; below != kNone && recs_[below].is(ChunkRec::kFree)) {
    free_.remove(below);
    size += recs_[below].size();
    unlink(i);
    drop_record(i);
    i = below;
  }
  // Forward: into the top, or absorbing a free chunk just above.
  uint64_t merged;
  if (const uint32_t above = recs_[i].next; above == kTop) {
    ChunkRec& top = recs_[kTop];
    top.addr = recs_[i].addr;
    top.set(top.size() + size, 0);
    unlink(i);
    drop_record(i);
    merged = top.size();
  } else {
    if (recs_[above].is(ChunkRec::kFree)) {
      free_.remove(above);
      size += recs_[above].size();
      unlink(above);
      drop_record(above);
    }
    recs_[i].set(size, ChunkRec::kFree);
    free_.insert(i);
    merged = size;
  }
  // glibc looks at the top only after freeing a large space.
  if (merged >= kTrimCheckMin && top_bytes() >= trim_threshold_) trim_top();
}

void RawSim::trim_top() {
  // systrim(top_pad): give back whole pages above top_pad plus a minimum chunk
  // (and one byte: glibc's top_area is top - MINSIZE - 1).
  const uint64_t top = top_bytes();
  if (top <= p_.min_chunk + 1 || top - p_.min_chunk - 1 <= p_.top_pad) return;
  const uint64_t extra = round_down(top - p_.min_chunk - 1 - p_.top_pad, p_.page);
  if (extra == 0) return;
  recs_[kTop].set(top - extra, 0);
  extent_ -= extra;
  ++trims_;
  note_growth();
}

void RawSim::free_mapped_chunk(uint32_t i) {
  const uint64_t bytes = recs_[i].size();
  space_.give(recs_[i].addr, bytes);
  --mmaps_;
  mmapped_bytes_ -= bytes;
  drop_record(i);
  note_growth();
}

void RawSim::release(const Block& b, const Request& r) {
  const uint32_t i = check_block(b, "release");
  meter_->allocated -= usable(i);
  ++frees_;
  requested_live_ -= r.size;
  if (!recs_[i].is(ChunkRec::kMapped)) [[likely]] {
    free_heap_chunk(i);
    return;
  }
  // free() of a mapped block moves glibc's dynamic thresholds (when on).
  const uint64_t bytes = recs_[i].size();
  if (p_.mmap_threshold_dynamic && bytes >= mmap_threshold_ && bytes < kDynamicThresholdMax) {
    mmap_threshold_ = bytes;
    trim_threshold_ = 2 * bytes;
  }
  free_mapped_chunk(i);
}

// ---- realloc (_int_realloc, mremap_chunk) ----

void RawSim::shrink_heap_chunk(uint32_t i, uint64_t nb) {
  const uint64_t size = recs_[i].size();
  if (size - nb < p_.min_chunk) return;
  recs_[i].set(nb, 0);
  const uint32_t r = new_record();
  recs_[r].addr = recs_[i].addr + nb;
  recs_[r].set(size - nb, 0);
  link_before(recs_[i].next, r);
  ++chunks_live_;  // in use until free_heap_chunk frees it, as glibc's _int_free does
  free_heap_chunk(r);
}

uint32_t RawSim::realloc_heap(uint32_t i, uint64_t nb) {
  const uint64_t old = recs_[i].size();
  if (old >= nb) {
    shrink_heap_chunk(i, nb);
    return i;
  }
  const uint32_t above = recs_[i].next;
  if (above == kTop) {
    // Into the top, when it keeps a minimum chunk after.
    ChunkRec& top = recs_[kTop];
    if (old + top.size() >= nb + p_.min_chunk) {
      const uint64_t more = nb - old;
      recs_[i].set(nb, 0);
      top.addr += more;
      top.set(top.size() - more, 0);
      chunk_bytes_live_ += more;
      return i;
    }
  } else if (recs_[above].is(ChunkRec::kFree) && old + recs_[above].size() >= nb) {
    // Absorb the free chunk above, then give back what is left over.
    const uint64_t more = recs_[above].size();
    free_.remove(above);
    unlink(above);
    drop_record(above);
    recs_[i].set(old + more, 0);
    chunk_bytes_live_ += more;
    shrink_heap_chunk(i, nb);
    return i;
  }
  // Allocate, copy, free.
  const uint32_t j = take_chunk(nb);
  if (!recs_[j].is(ChunkRec::kMapped) && recs_[j].prev == i) {
    // The new chunk came from a grown top right above this one: glibc joins
    // the two and frees the old chunk's worth at the end (no copy).
    recs_[i].set(old + recs_[j].size(), 0);
    unlink(j);
    drop_record(j);
    --chunks_live_;
    shrink_heap_chunk(i, nb);
    return i;
  }
  free_heap_chunk(i);
  return j;
}

uint32_t RawSim::realloc_mapped(uint32_t i, uint64_t nb) {
  // mremap_chunk: the mapping follows the new size in whole pages, whatever
  // the size (a mapped block never returns to the heap); growing moves it
  // when the hole above cannot take the extra pages.
  const uint64_t old = recs_[i].size(), now = round_up(lead_ + nb, p_.page);
  if (now == old) return i;
  if (now < old) {
    space_.give(recs_[i].addr + now, old - now);
  } else if (!space_.extend(recs_[i].addr, old, now - old)) {
    const Addr at = space_.take(now, p_.page);  // chosen while the old mapping still stands
    space_.give(recs_[i].addr, old);
    recs_[i].addr = at;
  }
  recs_[i].set(now, ChunkRec::kMapped);
  mmapped_bytes_ = mmapped_bytes_ - old + now;
  peak_mmapped_bytes_ = std::max(peak_mmapped_bytes_, mmapped_bytes_);
  note_growth();
  return i;
}

Block RawSim::reallocate(const Block& b, uint64_t old_size, const Request& r) {
  const uint32_t i = check_block(b, "realloc");
  const uint64_t nb = chunk_size(r.size);
  meter_->allocated -= usable(i);
  const uint32_t j = recs_[i].is(ChunkRec::kMapped) ? realloc_mapped(i, nb) : realloc_heap(i, nb);
  meter_->allocated += usable(j);
  ++reallocs_;
  requested_live_ = requested_live_ - old_size + r.size;
  const Block nbk = block_of(j);
  if (nbk.addr == b.addr) ++reallocs_in_place_;
  return nbk;
}

// ---- direct mappings (the pooled layer's arenas) ----

Addr RawSim::map(uint64_t bytes, uint64_t alignment) {
  if (bytes == 0 || bytes > kMaxRequest || alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error(fmt::format("raw sim: map({}, alignment {}): bad size or alignment", bytes, alignment),
                kExitFailure);
  bytes = round_up(bytes, p_.page);
  const Addr at = space_.take(bytes, std::max(alignment, p_.page));
  maps_.emplace(at, bytes);
  ++maps_total_;
  mapped_bytes_ += bytes;
  peak_mapped_bytes_ = std::max(peak_mapped_bytes_, mapped_bytes_);
  note_growth();
  return at;
}

void RawSim::unmap(Addr addr, uint64_t bytes) {
  auto it = maps_.find(addr);
  if (it == maps_.end() || it->second != round_up(bytes, p_.page))
    throw Error(fmt::format("raw sim: unmap({:#x}, {}) does not name a whole mapping made by map()", addr, bytes),
                kExitFailure);
  space_.give(addr, it->second);
  mapped_bytes_ -= it->second;
  maps_.erase(it);
  note_growth();
}

// ---- accounting and checks ----

LayerReport RawSim::report() const {
  LayerReport r;
  r.layer = "raw";
  r.add("mallocs", mallocs_);
  r.add("frees", frees_);
  r.add("reallocs", reallocs_);
  r.add("reallocs_in_place", reallocs_in_place_);
  r.add("bytes_requested_live", requested_live_);
  r.add("chunks_live", chunks_live_);
  r.add("chunk_bytes_live", chunk_bytes_live_);
  r.add("free_chunks", free_.count());
  r.add("free_chunk_bytes", free_.bytes());
  r.add("largest_free_chunk", free_.largest());
  r.add("top_bytes", top_bytes());
  r.add("heap_extent_bytes", extent_);
  r.add("peak_heap_extent_bytes", peak_extent_);
  r.add("heap_grows", grows_);
  r.add("trims", trims_);
  r.add("mmaps", mmaps_);
  r.add("mmaps_total", mmaps_total_);
  r.add("mmapped_bytes", mmapped_bytes_);
  r.add("peak_mmapped_bytes", peak_mmapped_bytes_);
  r.add("maps", maps_.size());
  r.add("maps_total", maps_total_);
  r.add("mapped_bytes", mapped_bytes_);
  r.add("peak_mapped_bytes", peak_mapped_bytes_);
  r.add("mmap_threshold", mmap_threshold_);
  r.add("trim_threshold", trim_threshold_);
  return r;
}

bool RawSim::is_valid() const {
  const ChunkRec& top = recs_[kTop];
  const Addr start = kHeapBase + lead_;
  if ((top.size_flags & ChunkRec::kFlags) != 0 || top.addr + top.size() != start + extent_ || extent_ % p_.page)
    return false;
  // The heap, from the top down: chunks tile it, neighbours agree, no two
  // free chunks touch and none touches the top.
  uint64_t heap_chunks = 0, live = 0, live_bytes = 0, free_count = 0, free_bytes = 0;
  Addr at = top.addr;
  uint32_t above = kTop;
  for (uint32_t i = top.prev; i != kNone; above = i, i = recs_[i].prev) {
    if (i >= recs_.size() || ++heap_chunks > recs_.size()) return false;
    const ChunkRec& c = recs_[i];
    const uint64_t size = c.size();
    if (c.next != above || c.is(ChunkRec::kMapped | ChunkRec::kUnused) || size < p_.min_chunk ||
        size % p_.alignment || c.addr + size != at)
      return false;
    if (c.is(ChunkRec::kFree)) {
      if (above == kTop || recs_[above].is(ChunkRec::kFree)) return false;
      ++free_count;
      free_bytes += size;
    } else {
      ++live;
      live_bytes += size;
    }
    at = c.addr;
  }
  if (at != start || live != chunks_live_ || live_bytes != chunk_bytes_live_) return false;
  if (!free_.is_valid() || free_.count() != free_count || free_.bytes() != free_bytes) return false;
  if (live_bytes + free_bytes + top.size() != extent_) return false;
  // Every other record: a mapped block or unused.
  uint64_t mapped = 0, mapped_bytes = 0, unused = 0;
  for (const ChunkRec& c : recs_) {
    if (c.is(ChunkRec::kMapped)) {
      ++mapped;
      mapped_bytes += c.size();
      if (c.addr % p_.page || c.size() % p_.page || c.addr < kMapFloor || c.addr + c.size() > kMapCeiling)
        return false;
    }
    unused += c.is(ChunkRec::kUnused);
  }
  uint64_t listed = 0;
  for (uint32_t i = unused_; i != kNone; i = recs_[i].next)
    if (i >= recs_.size() || !recs_[i].is(ChunkRec::kUnused) || ++listed > unused) return false;
  if (listed != unused || 1 + heap_chunks + mapped + unused != recs_.size()) return false;
  if (mapped != mmaps_ || mapped_bytes != mmapped_bytes_) return false;
  uint64_t map_bytes = 0;
  for (const auto& [addr, bytes] : maps_) map_bytes += bytes;
  if (map_bytes != mapped_bytes_ || !space_.is_valid() || space_.mapped_bytes() != mmapped_bytes_ + mapped_bytes_)
    return false;
  return peak_extent_ >= extent_ && peak_mmapped_bytes_ >= mmapped_bytes_ && peak_mapped_bytes_ >= mapped_bytes_ &&
         peak_held_ >= held_bytes();
}

std::unique_ptr<Layer> make_raw_sim(const RawParams& params, uint8_t depth) {
  return std::make_unique<RawSim>(params, depth);
}

}  // namespace heaplay
