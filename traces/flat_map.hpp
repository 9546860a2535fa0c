// flat_map.hpp: an open-addressing hash map from uint64_t keys to uint64_t values.
//
// Used where a trace names things by arbitrary 64-bit numbers (text IDs,
// addresses, (source, destination) reference pairs). Linear probing over a
// power-of-two table, erase by backward shift (no tombstones, so a map that
// churns forever keeps its probe lengths short). A key and its value share
// an entry, so a lookup misses the cache at most twice (the used flags, and
// the entry), not three times. Memory: 17 bytes a slot, shrinks never (the
// peak is what was needed). Load factor at most 7/8 by default; a map that
// misses and erases as often as it finds can ask for less: a lookup of an
// absent key, and an erase's backward shift, run to the end of a probe run,
// on average (1 + 1/(1-a)^2)/2 entries at load a (Knuth): 32 at 7/8, 2.5 at 1/2.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace heaplay {

class FlatMap {
 public:
  // max_load_eighths: the table doubles before it is fuller than that (1 to 7).
  explicit FlatMap(unsigned max_load_eighths = 7) : max_load_(std::clamp(max_load_eighths, 1u, 7u)) { rehash(16); }

  size_t size() const { return size_; }

  // Returns a pointer to the value of key, or nullptr.
  uint64_t* find(uint64_t key) {
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      if (!used_[i]) return nullptr;
      if (entries_[i].key == key) return &entries_[i].val;
    }
  }
  const uint64_t* find(uint64_t key) const { return const_cast<FlatMap*>(this)->find(key); }

  // Asks for key's home entry ahead of a lookup (a large map misses the
  // cache on nearly every lookup; a loop that knows its next keys overlaps
  // those misses).
  void prefetch(uint64_t key) const {
    const size_t i = home(key);
    __builtin_prefetch(&used_[i]);
    __builtin_prefetch(&entries_[i]);
  }

  // Inserts or overwrites.
  void put(uint64_t key, uint64_t value) {
    if (full_for_one_more()) rehash(capacity() * 2);
    size_t i = home(key);
    for (; used_[i]; i = (i + 1) & mask_) {
      if (entries_[i].key == key) {
        entries_[i].val = value;
        return;
      }
    }
    used_[i] = 1;
    entries_[i] = {key, value};
    ++size_;
  }

  // The value of key, inserted as 0 when absent (second: whether it was).
  // One probe sequence either way; the pointer is valid until the next insertion.
  std::pair<uint64_t*, bool> try_emplace(uint64_t key) {
    if (full_for_one_more()) rehash(capacity() * 2);
    size_t i = home(key);
    for (; used_[i]; i = (i + 1) & mask_)
      if (entries_[i].key == key) return {&entries_[i].val, false};
    used_[i] = 1;
    entries_[i] = {key, 0};
    ++size_;
    return {&entries_[i].val, true};
  }

  // Inserts key, which must be absent, unless the table would have to grow
  // first: then returns false and changes nothing. Calls nothing.
  bool try_put_new(uint64_t key, uint64_t value) {
    if (full_for_one_more()) return false;
    size_t i = home(key);
    while (used_[i]) i = (i + 1) & mask_;
    used_[i] = 1;
    entries_[i] = {key, value};
    ++size_;
    return true;
  }

  // Removes key if present; returns whether it was.
  bool erase(uint64_t key) {
    size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (!used_[i]) return false;
      if (entries_[i].key == key) break;
    }
    // Backward shift: pull later members of the probe run into the hole.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; used_[j]; j = (j + 1) & mask_) {
      size_t h = home(entries_[j].key);
      // j may move to hole when its home is not in (hole, j] cyclically.
      bool between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (!between) {
        entries_[hole] = entries_[j];
        hole = j;
      }
    }
    used_[hole] = 0;
    --size_;
    return true;
  }

  // Calls f(key, value&) for every entry; f returns true to erase the entry.
  template <class F>
  void erase_if(F f) {
    std::vector<uint64_t> doomed;
    for (size_t i = 0; i < capacity(); ++i)
      if (used_[i] && f(entries_[i].key, entries_[i].val)) doomed.push_back(entries_[i].key);
    for (uint64_t k : doomed) erase(k);
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  size_t home(uint64_t key) const {
    // Fibonacci hashing: addresses and small counters both spread well.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  // One more key would take the table past its maximum load.
  bool full_for_one_more() const { return (size_ + 1) * 8 > capacity() * max_load_; }
  void rehash(size_t cap) {
    std::vector<Entry> old = std::move(entries_);
    std::vector<uint8_t> old_used = std::move(used_);
    entries_.assign(cap, Entry{});
    used_.assign(cap, 0);
    mask_ = cap - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(cap));
    size_ = 0;
    for (size_t i = 0; i < old_used.size(); ++i)
      if (old_used[i]) put(old[i].key, old[i].val);
  }

  struct Entry {
    uint64_t key = 0, val = 0;
  };
  std::vector<Entry> entries_;
  std::vector<uint8_t> used_;
  size_t mask_ = 0;
  unsigned shift_ = 60;
  size_t size_ = 0;
  unsigned max_load_;  // in eighths
};

}  // namespace heaplay
