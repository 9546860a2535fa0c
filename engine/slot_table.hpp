// slot_table.hpp: a growable array indexed by slot, kept outside the malloc heap.
//
// The replay's own bookkeeping must not disturb the heap it measures: with
// `--raw glibc` the replayed program's blocks live in this process's malloc
// heap, so a std::vector that grows there would fragment it and move its
// footprint. SlotTable takes its memory straight from mmap and grows with
// mremap (doubling), so it never calls malloc.
//
// Elements are trivially copyable; new elements read as zero bytes.
// Memory: capacity * sizeof(T), capacity <= 2 x the largest index used.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

namespace heaplay {

template <class T>
class SlotTable {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SlotTable() = default;
  ~SlotTable() {
    if (data_) munmap(data_, capacity_ * sizeof(T));
  }
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;

  // Makes index i valid (zero-filled if new). Throws std::bad_alloc when the
  // system has no more address space.
  void ensure(size_t i) {
    if (i >= capacity_) [[unlikely]] grow(i + 1);
  }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  size_t capacity() const { return capacity_; }

 private:
  void grow(size_t need) {
    size_t cap = capacity_ ? capacity_ : kInitial;
    while (cap < need) cap *= 2;
    void* p;
    if (data_) {
      p = mremap(data_, capacity_ * sizeof(T), cap * sizeof(T), MREMAP_MAYMOVE);
    } else {
      p = mmap(nullptr, cap * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Anonymous pages (new, or grown by mremap) read as zeros.
    data_ = static_cast<T*>(p);
    capacity_ = cap;
  }
  static constexpr size_t kInitial = 4096 / sizeof(T) ? 4096 / sizeof(T) : 1;

  T* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace heaplay
