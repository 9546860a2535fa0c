// line_reader.hpp: lines from a ByteSource, one at a time, without copying.
//
// A line lives in an internal buffer until the next call. Lines are capped at
// kMaxLine bytes so a file without newlines cannot make the buffer grow
// without bound. A final line without '\n' is returned as a line, unless the
// source reports truncation (a cut compressed file): then it is dropped and
// cut_line() says so.
//
// Readers of very short lines (heaptrack's `+ 1a3` is 6 bytes, where a memchr
// call per line costs more than parsing it) can instead take the buffer's
// whole lines at once with window(), find line ends while they parse, and
// report how far they got with consumed().
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "traces/byte_source.hpp"
#include "traces/error.hpp"

namespace heaplay {

// [pos, complete) of the buffer holds only whole lines.
class LineReader {
 public:
  static constexpr size_t kMaxLine = 1u << 20;  // bytes

  LineReader(std::unique_ptr<ByteSource> src, std::string path)
      : src_(std::move(src)), path_(std::move(path)) {}

  // Next line without its '\n' (and without a trailing '\r'); false at the end.

  bool next(std::string_view& line) {
    for (;;) {
      if (pos_ < complete_) {
        const char* b = buf_.get();
        const char* nl = static_cast<const char*>(std::memchr(b + pos_, '\n', complete_ - pos_));
        size_t len = static_cast<size_t>(nl - (b + pos_));
        line = std::string_view(b + pos_, len);
        pos_ += len + 1;
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return true;
      }
      if (eof_) {
        if (pos_ == end_) return false;
        if (src_->truncated()) {
          cut_line_ = true;
          pos_ = complete_ = end_;
          return false;
        }
        line = std::string_view(buf_.get() + pos_, end_ - pos_);  // a last line without '\n'
        pos_ = complete_ = end_;
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return true;
      }
      fill();
    }
  }
  // Whole lines in the buffer: [*begin, *end). Refills when none is left;
  // false at the end of the data (a last line without '\n' goes to next()).
  bool window(const char*& begin, const char*& end) {
    while (pos_ == complete_) {
      if (eof_) return false;
      fill();
    }
    begin = buf_.get() + pos_;
    end = buf_.get() + complete_;
    return true;
  }
  // The hot loop consumed up to p, which starts a line, and `lines` lines.
  void consumed(const char* p, uint64_t lines) {
    pos_ = static_cast<size_t>(p - buf_.get());
    line_no_ += lines;
  }

  uint64_t line_no() const { return line_no_; }
  bool truncated() const { return src_->truncated(); }
  bool cut_line() const { return cut_line_; }
  uint64_t file_offset() const { return src_->file_offset(); }

 private:
  static constexpr size_t kChunk = 1u << 20;
  static constexpr size_t kBufferBytes = kMaxLine + kChunk;  // the most the buffer grows to
  static constexpr size_t kFirstBuffer = 64u << 10;          // kBufferBytes / 2^5
  void fill() {
    if (pos_ > 0) {
      std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    if (end_ >= kMaxLine)
      throw Error(fmt::format("{}:{}: line longer than {} bytes", path_, line_no_ + 1, kMaxLine));
    // The buffer doubles at every fill until it is whole: a short trace never
    // allocates (or touches) 2 MiB, a long one reaches full size in six fills.
    // Until then a doubling leaves room to read into; after, kChunk is left.
    if (cap_ < kBufferBytes) {
      const size_t cap = cap_ ? cap_ * 2 : kFirstBuffer;
      std::unique_ptr<char[]> grown(new char[cap]);
      if (end_) std::memcpy(grown.get(), buf_.get(), end_);
      buf_ = std::move(grown);
      cap_ = cap;
    }
    size_t got = src_->read(buf_.get() + end_, cap_ - end_);
    if (got == 0) eof_ = true;
    end_ += got;
    const char* b = buf_.get();
    const void* last = memrchr(b, '\n', end_);
    complete_ = last ? static_cast<size_t>(static_cast<const char*>(last) - b) + 1 : 0;
  }

  std::unique_ptr<ByteSource> src_;
  std::string path_;
  std::unique_ptr<char[]> buf_;  // cap_ bytes, not zero-filled: only [0, end_) is ever read
  size_t cap_ = 0;
  size_t pos_ = 0, complete_ = 0, end_ = 0;
  uint64_t line_no_ = 0;
  bool eof_ = false, cut_line_ = false;
};

}  // namespace heaplay
