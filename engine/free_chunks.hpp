// free_chunks.hpp: raw sim's chunk records and its index of free chunks by size.
//
// Why a file of its own: the index is the hot half of the simulated malloc
// (every allocation asks it for a best fit, every free inserts into it), and it
// is a data structure with its own invariants, apart from the malloc rules in
// raw_sim.cpp.
//
// Chunk records live in one flat vector indexed by record number (the raw sim
// Block.handle). A free chunk sits in the list of its exact size: sizes below
// kSmallBins * alignment have a bin each (a bitmap finds the next non-empty
// one), larger sizes a list each in an ordered map. Lists are LIFO, so a best
// fit is "the smallest size that holds the request; of that size, the chunk
// that became free last" -- deterministic, O(1) for small sizes and O(log n)
// in the number of distinct large free sizes.
#pragma once

#include <bit>
#include <cstdint>
#include <map>
#include <vector>

#include "engine/layer.hpp"

namespace heaplay::rawsim {

inline constexpr uint32_t kNone = UINT32_MAX;  // no record
inline constexpr uint32_t kTop = 0;            // record 0 is always the top chunk

// One heap chunk, the top chunk, or one mapped block. 32 bytes.
struct ChunkRec {
  // Flags in the low bits of size_flags: sizes are multiples of 8 (the
  // alignment is at least 8 and the page at least the alignment).
  static constexpr uint64_t kFree = 1;     // a heap chunk in the free index
  static constexpr uint64_t kMapped = 2;   // a block with a mapping of its own
  static constexpr uint64_t kUnused = 4;   // a record on the record free list
  static constexpr uint64_t kFlags = 7;

  Addr addr = 0;            // heap chunk: its first byte (where its header starts); mapped: the mapping's
  uint64_t size_flags = 0;  // bytes (heap: the chunk's, header included; mapped: the mapping's) | flags
  uint32_t prev = kNone;    // heap: the chunk just below (kNone for the first one)
  uint32_t next = kNone;    // heap: the chunk just above (kTop for the last); unused: next unused record
  uint32_t bin_prev = kNone, bin_next = kNone;  // free: neighbours in its size's list

  uint64_t size() const { return size_flags & ~kFlags; }
  bool is(uint64_t flag) const { return (size_flags & flag) != 0; }
  void set(uint64_t size, uint64_t flags) { size_flags = size | flags; }
};
static_assert(sizeof(ChunkRec) == 32);

class FreeChunks {
 public:
  // Exact-size bins, one per multiple of the alignment below this many.
  static constexpr uint64_t kSmallBins = 16384;

  // recs: the records the lists link (the owner's vector; it may reallocate).
  // alignment: a power of two; every free size is a multiple of it.
  FreeChunks(std::vector<ChunkRec>& recs, uint64_t alignment)
      : recs_(recs), shift_(static_cast<unsigned>(std::countr_zero(alignment))), heads_(kSmallBins, kNone) {}

  // Puts record i (flagged kFree, size set) at the front of its size's list.
  void insert(uint32_t i) {
    ChunkRec& c = recs_[i];
    const uint64_t size = c.size();
    c.bin_prev = kNone;
    if (const uint64_t unit = size >> shift_; unit < kSmallBins) {
      c.bin_next = heads_[unit];
      if (c.bin_next != kNone) recs_[c.bin_next].bin_prev = i;
      else mark(unit);
      heads_[unit] = i;
    } else {
      insert_large(i, size);
    }
    ++count_;
    bytes_ += size;
  }

  // Takes record i (in the index) out of its list; its flags are the caller's.
  void remove(uint32_t i) {
    ChunkRec& c = recs_[i];
    const uint64_t size = c.size();
    if (c.bin_next != kNone) recs_[c.bin_next].bin_prev = c.bin_prev;
    if (c.bin_prev != kNone) {
      recs_[c.bin_prev].bin_next = c.bin_next;
    } else if (const uint64_t unit = size >> shift_; unit < kSmallBins) {
      heads_[unit] = c.bin_next;
      if (c.bin_next == kNone) unmark(unit);
    } else {
      remove_large_head(size, c.bin_next);
    }
    --count_;
    bytes_ -= size;
  }

  // The record of the best fit for a chunk of `size` bytes, or kNone.
  uint32_t best_fit(uint64_t size) const {
    if (const uint64_t unit = size >> shift_; unit < kSmallBins) {
      const uint64_t bin = next_bin(unit);
      if (bin < kSmallBins) return heads_[bin];
    }
    return best_fit_large(size);
  }

  uint64_t count() const { return count_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t largest() const;  // 0 when empty

  // Lists, bitmap, map and totals agree; every member is flagged kFree.
  bool is_valid() const;

 private:
  static constexpr uint64_t kWords = kSmallBins / 64;    // bitmap words, one bit per bin
  static constexpr uint64_t kSummary = kWords / 64;      // one bit per non-empty word
  static_assert(kSummary > 0 && kSummary * 64 * 64 == kSmallBins);

  void mark(uint64_t unit) {
    words_[unit >> 6] |= uint64_t{1} << (unit & 63);
    summary_[unit >> 12] |= uint64_t{1} << ((unit >> 6) & 63);
  }
  void unmark(uint64_t unit) {
    uint64_t& w = words_[unit >> 6];
    w &= ~(uint64_t{1} << (unit & 63));
    if (w == 0) summary_[unit >> 12] &= ~(uint64_t{1} << ((unit >> 6) & 63));
  }
  // The first non-empty bin at or above unit, or kSmallBins.
  uint64_t next_bin(uint64_t unit) const {
    uint64_t w = unit >> 6;
    if (uint64_t bits = words_[w] & (~uint64_t{0} << (unit & 63))) return (w << 6) + std::countr_zero(bits);
    // The next non-empty word above w, through the summary.
    for (uint64_t s = (w + 1) >> 6, from = (w + 1) & 63; s < kSummary; ++s, from = 0) {
      if (uint64_t bits = summary_[s] & (~uint64_t{0} << from)) {
        const uint64_t word = (s << 6) + std::countr_zero(bits);
        return (word << 6) + std::countr_zero(words_[word]);
      }
    }
    return kSmallBins;
  }

  void insert_large(uint32_t i, uint64_t size);
  void remove_large_head(uint64_t size, uint32_t new_head);
  uint32_t best_fit_large(uint64_t size) const;
  bool list_is_valid(uint32_t head, uint64_t size, uint64_t& count, uint64_t& bytes) const;

  std::vector<ChunkRec>& recs_;
  unsigned shift_;                      // log2(alignment)
  std::vector<uint32_t> heads_;         // small bin -> its first record (kNone: empty)
  uint64_t words_[kWords] = {};         // bit per small bin: non-empty
  uint64_t summary_[kSummary] = {};     // bit per word of words_: non-zero
  std::map<uint64_t, uint32_t> large_;  // size -> first record of that size (never empty lists)
  uint64_t count_ = 0, bytes_ = 0;
};

}  // namespace heaplay::rawsim
