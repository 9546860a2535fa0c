// free_chunks.cpp: the large-size half of raw sim's free index, and its checks.
//
// Large free chunks (kSmallBins * alignment bytes and more: 256 KiB with the
// default 16-byte alignment) are rare next to small ones, so an ordered map of
// one list per size is enough; see free_chunks.hpp.
#include "engine/free_chunks.hpp"

namespace heaplay::rawsim {

void FreeChunks::insert_large(uint32_t i, uint64_t size) {
  auto [it, fresh] = large_.try_emplace(size, i);
  ChunkRec& c = recs_[i];
  c.bin_next = fresh ? kNone : it->second;
  if (!fresh) {
    recs_[it->second].bin_prev = i;
    it->second = i;
  }
}

void FreeChunks::remove_large_head(uint64_t size, uint32_t new_head) {
  auto it = large_.find(size);
  if (new_head == kNone) large_.erase(it);
  else it->second = new_head;
}

uint32_t FreeChunks::best_fit_large(uint64_t size) const {
  auto it = large_.lower_bound(size);
  return it == large_.end() ? kNone : it->second;
}

uint64_t FreeChunks::largest() const {
  if (!large_.empty()) return large_.rbegin()->first;
  for (uint64_t w = kWords; w-- > 0;)
    if (words_[w]) return ((w << 6) + 63 - std::countl_zero(words_[w])) << shift_;
  return 0;
}

// Walks one list: every member free, of this size, doubly linked; adds them up.
bool FreeChunks::list_is_valid(uint32_t head, uint64_t size, uint64_t& count, uint64_t& bytes) const {
  uint32_t prev = kNone;
  for (uint32_t i = head; i != kNone; prev = i, i = recs_[i].bin_next) {
    if (i >= recs_.size() || count > count_) return false;  // out of range, or a cycle
    const ChunkRec& c = recs_[i];
    if (!c.is(ChunkRec::kFree) || c.is(ChunkRec::kMapped | ChunkRec::kUnused) || c.size() != size ||
        c.bin_prev != prev)
      return false;
    ++count;
    bytes += size;
  }
  return true;
}

bool FreeChunks::is_valid() const {
  uint64_t count = 0, bytes = 0;
  for (uint64_t unit = 0; unit < kSmallBins; ++unit) {
    const bool marked = (words_[unit >> 6] >> (unit & 63)) & 1;
    if (marked != (heads_[unit] != kNone)) return false;
    if (!list_is_valid(heads_[unit], unit << shift_, count, bytes)) return false;
  }
  for (uint64_t w = 0; w < kWords; ++w)
    if (((summary_[w >> 6] >> (w & 63)) & 1) != (words_[w] != 0)) return false;
  for (const auto& [size, head] : large_) {
    if ((size >> shift_) < kSmallBins || head == kNone) return false;
    if (!list_is_valid(head, size, count, bytes)) return false;
  }
  return count == count_ && bytes == bytes_;
}

}  // namespace heaplay::rawsim
