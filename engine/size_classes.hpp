// size_classes.hpp: pymalloc's size classes, request size <-> class index.
//
// Why a type of its own: the pooled layer, its statistics and the tests all
// round sizes the same way, and the rule has two edges that are easy to get
// wrong (0 bytes and anything above the threshold are not pooled at all; they
// go to the raw allocator, as _PyObject_Malloc does).
//
// Rule (Objects/obmalloc.c, every version heaplay knows): with alignment A
// (16 on 64-bit builds) a request of n bytes, 1 <= n <= small_threshold, is in
// class (n - 1) / A, and class i serves blocks of (i + 1) * A bytes. A pool of
// a class holds (pool_size - pool_header) / block size blocks; the remainder at
// the pool's end is never used (CPython's "quantization").
#pragma once

#include <bit>
#include <cstdint>

#include "engine/params.hpp"

namespace heaplay {

class SizeClasses {
 public:
  static constexpr uint32_t kNotPooled = UINT32_MAX;  // class_of() for 0 and large requests

  // p must have passed Params::validate() (powers of two, at most 256 classes).
  explicit SizeClasses(const PooledParams& p)
      : shift_(static_cast<uint32_t>(std::countr_zero(p.alignment))),
        threshold_(p.small_threshold),
        count_(static_cast<uint32_t>(p.small_threshold / p.alignment)),
        usable_(p.pool_size - p.pool_header) {}

  // Number of classes (32 with CPython's 512-byte threshold and 16-byte alignment).
  uint32_t count() const { return count_; }
  uint64_t small_threshold() const { return threshold_; }
  uint32_t alignment_shift() const { return shift_; }

  // True for the requests pymalloc serves from pools: 1..small_threshold bytes.
  // (0 - 1 wraps to the largest value, so one comparison covers both edges.)
  bool pooled(uint64_t nbytes) const { return nbytes - 1 < threshold_; }

  // The class of a pooled request; kNotPooled for 0 bytes and > small_threshold.
  uint32_t class_of(uint64_t nbytes) const {
    return pooled(nbytes) ? index_of(nbytes) : kNotPooled;
  }
  // class_of() without the check, for callers that tested pooled() already.
  uint32_t index_of(uint64_t nbytes) const { return static_cast<uint32_t>((nbytes - 1) >> shift_); }

  // Bytes of a block of class i (CPython's INDEX2SIZE).
  uint64_t block_size(uint32_t i) const { return static_cast<uint64_t>(i + 1) << shift_; }

  // Blocks a pool of class i holds (CPython's NUMBLOCKS).
  uint32_t blocks_per_pool(uint32_t i) const { return static_cast<uint32_t>(usable_ / block_size(i)); }

  // Bytes at the end of a pool of class i that no block can use.
  uint64_t quantization(uint32_t i) const { return usable_ % block_size(i); }

 private:
  uint32_t shift_;      // log2(alignment)
  uint64_t threshold_;  // bytes; largest pooled request
  uint32_t count_;      // classes
  uint64_t usable_;     // bytes of a pool after its header
};

}  // namespace heaplay
