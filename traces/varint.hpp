// varint.hpp: LEB128 varints and zigzag coding for the native trace format.
//
// Unsigned integers are written 7 bits a byte, least significant group first;
// a set high bit means "another byte follows". A u64 takes 1..10 bytes and the
// 10th byte may only hold the top bit (values 0 or 1). Signed deltas are
// zigzag-mapped first (0,-1,1,-2,... -> 0,1,2,3,...) so small magnitudes of
// either sign stay short.
//
// Decoding runs over untrusted bytes: VarintReader never reads past its end and
// reports malformed input (cut short, overlong, overflowing) through ok()
// instead of throwing, so the caller turns a failure into an error with a
// byte offset once, after the fact. next_varint() below is the unchecked
// variant for the event decoder's hot loop.
#pragma once

#include <cstdint>
#include <string>

namespace heaplay::native {

inline constexpr size_t kMaxVarintBytes = 10;  // a full u64

inline uint64_t zigzag_encode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t zigzag_decode(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Appends v to out (growable byte buffer).
inline void put_varint(std::string& out, uint64_t v) {
  char buf[kMaxVarintBytes];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

// Reads varints and raw bytes from [p, end). After the first malformed or
// short read every further read returns 0 and ok() stays false.
class VarintReader {
 public:
  VarintReader() = default;
  VarintReader(const uint8_t* p, const uint8_t* end) : p_(p), begin_(p), end_(end) {}

  // The 1-byte case (values < 128) is by far the most common: inline it and
  // leave everything else to the out-of-line path.
  uint64_t get() {
    if (p_ < end_ && *p_ < 0x80) [[likely]]
      return *p_++;
    return get_slow();
  }
  uint8_t byte() {
    if (p_ < end_) [[likely]]
      return *p_++;
    ok_ = false;
    return 0;
  }
  // A length-prefixed byte string; returns false (and poisons the reader)
  // when the length runs past the end.
  bool bytes(uint64_t n, const uint8_t** out) {
    if (n > static_cast<uint64_t>(end_ - p_)) {
      fail();
      return false;
    }
    *out = p_;
    p_ += n;
    return true;
  }

  bool ok() const { return ok_; }
  bool at_end() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  size_t consumed() const { return static_cast<size_t>(p_ - begin_); }

 private:
  void fail() {
    ok_ = false;
    p_ = end_;
  }
  [[gnu::noinline]] uint64_t get_slow() {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) break;
      uint8_t b = *p_++;
      // The 10th byte carries bit 63 only; anything more would overflow.
      if (shift == 63 && b > 1) break;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    fail();
    return 0;
  }

  const uint8_t* p_ = nullptr;
  const uint8_t* begin_ = nullptr;
  const uint8_t* end_ = nullptr;
  bool ok_ = true;
};

// Unchecked decoding for streams already validated to end in a final byte
// and to hold exactly the varints their reader takes (native_reader.cpp checks
// both per frame), so no read can run past the stream: the hot loop then
// needs no bounds checks at all.

// A varint of two or more bytes; flags overlong ones (over 10 bytes, or bits
// past 64) instead of failing, so the caller checks once per event.
struct LongVarint {
  uint64_t value;
  const uint8_t* end;
  bool overlong;
};
[[gnu::noinline]] inline LongVarint read_long_varint(const uint8_t* p) {
  uint64_t v = 0;
  for (unsigned i = 0;; ++i) {
    uint8_t b = *p++;
    if (i < 10) v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) return {v, p, i > 9 || (i == 9 && b > 1)};
  }
}

// Bytes the hot loop may read past the last stream: the buffer holding the
// streams must have this many readable bytes after them.
inline constexpr size_t kVarintReadAhead = 2;

// The next varint at p when it takes one to three bytes (nearly every size,
// slot delta and string id does): p is advanced past it and v set; false,
// with nothing changed, for a longer one. One- and two-byte varints are
// decoded without a branch, since which of the two comes next is as random
// as the sizes; that reads p[1] even after a one-byte varint ending its
// stream (see kVarintReadAhead). A continuation byte is never the last of its
// stream (checked per frame), so a longer varint stays inside it.
[[gnu::always_inline]] inline bool short_varint(const uint8_t*& p, uint64_t& v) {
  const uint32_t b0 = p[0], b1 = p[1];
  if (b0 & b1 & 0x80) [[unlikely]] {
    // Three bytes inline too: slot deltas across a large slot table take
    // them often enough for the call to show (blocks workload: ~5%).
    const uint32_t b2 = p[2];
    if (b2 >= 0x80) return false;
    p += 3;
    v = (b0 & 0x7f) | (b1 & 0x7f) << 7 | b2 << 14;
    return true;
  }
  const uint32_t two = b0 >> 7;  // b1 < 0x80 then
  p += 1 + two;
  v = (b0 & 0x7f) | ((b1 << 7) & (0u - two));
  return true;
}

// The same without any branch, for streams where two and three bytes are
// equally likely (slot fields across a large slot table): reads p[1] and
// p[2] whatever the length (see kVarintReadAhead).
[[gnu::always_inline]] inline bool short_varint_flat(const uint8_t*& p, uint64_t& v) {
  const uint32_t b0 = p[0], b1 = p[1], b2 = p[2];
  const uint32_t c0 = b0 >> 7, c1 = c0 & (b1 >> 7);  // a second byte, a third byte
  if (c1 & (b2 >> 7)) [[unlikely]] return false;
  v = (b0 & 0x7f) | ((b1 & 0x7f) << 7 & (0u - c0)) | (b2 << 14 & (0u - c1));
  p += 1 + c0 + c1;
  return true;
}

// The next varint at p, of any length (advanced past it); bad is set on an
// overlong one.
[[gnu::always_inline]] inline uint64_t next_varint(const uint8_t*& p, bool& bad) {
  uint64_t v;
  if (short_varint(p, v)) [[likely]]
    return v;
  LongVarint r = read_long_varint(p);
  p = r.end;
  bad |= r.overlong;
  return r.value;
}

}  // namespace heaplay::native
