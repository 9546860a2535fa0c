// line_reader.hpp: lines from a ByteSource, one at a time, without copying.
//
// A line lives in an internal buffer until the next call. Lines are capped at
// kMaxLine bytes so a file without newlines cannot make the buffer grow
// without bound. A final line without '\n' is returned as a line, unless the
// source reports truncation (a cut compressed file): then it is dropped and
// cut_line() says so.
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

class LineReader {
 public:
  static constexpr size_t kMaxLine = 1u << 20;  // bytes

  LineReader(std::unique_ptr<ByteSource> src, std::string path)
      : src_(std::move(src)), path_(std::move(path)), buf_(kMaxLine + kChunk) {}

  // Next line without its '\n' (and without a trailing '\r'); false at the end.
  bool next(std::string_view& line) {
    for (;;) {
      const char* nl = static_cast<const char*>(std::memchr(buf_.data() + pos_, '\n', end_ - pos_));
      if (nl) {
        size_t len = static_cast<size_t>(nl - (buf_.data() + pos_));
        line = std::string_view(buf_.data() + pos_, len);
        pos_ += len + 1;
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return true;
      }
      if (eof_) {
        if (pos_ == end_) return false;
        if (src_->truncated()) {
          cut_line_ = true;
          pos_ = end_;
          return false;
        }
        line = std::string_view(buf_.data() + pos_, end_ - pos_);
        pos_ = end_;
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return true;
      }
      fill();
    }
  }

  uint64_t line_no() const { return line_no_; }
  bool truncated() const { return src_->truncated(); }
  bool cut_line() const { return cut_line_; }
  uint64_t file_offset() const { return src_->file_offset(); }

 private:
  static constexpr size_t kChunk = 1u << 20;

  void fill() {
    if (pos_ > 0) {
      std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    if (end_ >= kMaxLine)
      throw Error(fmt::format("{}:{}: line longer than {} bytes", path_, line_no_ + 1, kMaxLine));
    size_t got = src_->read(buf_.data() + end_, buf_.size() - end_);
    if (got == 0) eof_ = true;
    end_ += got;
  }

  std::unique_ptr<ByteSource> src_;
  std::string path_;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  uint64_t line_no_ = 0;
  bool eof_ = false, cut_line_ = false;
};

}  // namespace heaplay
