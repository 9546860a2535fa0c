// flat_map.hpp: an open-addressing hash map from uint64_t keys to uint64_t values.
//
// Used where a trace names things by arbitrary 64-bit numbers (text IDs,
// addresses, (source, destination) reference pairs). Linear probing over a
// power-of-two table, erase by backward shift (no tombstones, so a map that
// churns forever keeps its probe lengths short). Memory: 17 bytes a slot,
// load factor at most 7/8, shrinks never (the peak is what was needed).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace heaplay {

class FlatMap {
 public:
  FlatMap() { rehash(16); }

  size_t size() const { return size_; }

  // Returns a pointer to the value of key, or nullptr.
  uint64_t* find(uint64_t key) {
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      if (!used_[i]) return nullptr;
      if (keys_[i] == key) return &vals_[i];
    }
  }
  const uint64_t* find(uint64_t key) const { return const_cast<FlatMap*>(this)->find(key); }

  // Inserts or overwrites.
  void put(uint64_t key, uint64_t value) {
    if ((size_ + 1) * 8 > capacity() * 7) rehash(capacity() * 2);
    size_t i = home(key);
    for (; used_[i]; i = (i + 1) & mask_) {
      if (keys_[i] == key) {
        vals_[i] = value;
        return;
      }
    }
    used_[i] = 1;
    keys_[i] = key;
    vals_[i] = value;
    ++size_;
  }

  // Removes key if present; returns whether it was.
  bool erase(uint64_t key) {
    size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (!used_[i]) return false;
      if (keys_[i] == key) break;
    }
    // Backward shift: pull later members of the probe run into the hole.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; used_[j]; j = (j + 1) & mask_) {
      size_t h = home(keys_[j]);
      // j may move to hole when its home is not in (hole, j] cyclically.
      bool between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (!between) {
        keys_[hole] = keys_[j];
        vals_[hole] = vals_[j];
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
      if (used_[i] && f(keys_[i], vals_[i])) doomed.push_back(keys_[i]);
    for (uint64_t k : doomed) erase(k);
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  size_t home(uint64_t key) const {
    // Fibonacci hashing: addresses and small counters both spread well.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  void rehash(size_t cap) {
    std::vector<uint64_t> old_keys = std::move(keys_), old_vals = std::move(vals_);
    std::vector<uint8_t> old_used = std::move(used_);
    keys_.assign(cap, 0);
    vals_.assign(cap, 0);
    used_.assign(cap, 0);
    mask_ = cap - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(cap));
    size_ = 0;
    for (size_t i = 0; i < old_used.size(); ++i)
      if (old_used[i]) put(old_keys[i], old_vals[i]);
  }

  std::vector<uint64_t> keys_, vals_;
  std::vector<uint8_t> used_;
  size_t mask_ = 0;
  unsigned shift_ = 60;
  size_t size_ = 0;
};

}  // namespace heaplay
