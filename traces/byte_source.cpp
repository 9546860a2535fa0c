// byte_source.cpp: plain, zstd and gzip input streams and output sinks.
//
// Decompressors stream with fixed buffers (128 KiB in, 128 KiB out a call
// into the library, whatever the caller asks for: see Decoder), so memory
// does not depend on the file's size. A compressed stream that simply stops
// (no end-of-frame) is a truncation, reported by truncated(); bytes that
// fail to decode are corruption, an Error. PrefixSource keeps the bytes
// format detection looked at and serves them again, so that an input is
// opened and read once (a pipe has no second chance).
#include "traces/byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "traces/atomic_file.hpp"
#include "traces/error.hpp"

namespace heaplay {

namespace {

constexpr size_t kInBuffer = 128 * 1024;

class FileSource final : public ByteSource {
 public:
  // path "-": standard input, read from where it stands and left open.
  explicit FileSource(const std::string& path) : name_(input_name(path)) {
    if (path == "-") {
      fd_ = STDIN_FILENO;
      owned_ = false;
    } else {
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) throw Error(fmt::format("{}: cannot open: {}", name_, std::strerror(errno)));
    }
    struct stat st {};
    if (fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
      if (owned_) ::close(fd_);
      throw Error(fmt::format("{}: is a directory, not a trace", name_));
    }
    if (S_ISREG(st.st_mode)) posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~FileSource() override {
    if (owned_) ::close(fd_);
  }

  size_t read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) {
        offset_ += static_cast<uint64_t>(r);
        return static_cast<size_t>(r);
      }
      if (errno != EINTR)
        throw Error(fmt::format("{}: byte {}: read failed: {}", name_, offset_, std::strerror(errno)));
    }
  }
  uint64_t file_offset() const override { return offset_; }

 private:
  std::string name_;
  int fd_ = -1;
  bool owned_ = true;
  uint64_t offset_ = 0;
};

// Bytes already read from the start of inner (format detection), served
// again before the rest of inner: detection consumes nothing, so an input
// is opened, and a pipe read, once.
class PrefixSource final : public ByteSource {
 public:
  explicit PrefixSource(std::unique_ptr<ByteSource> inner) : inner_(std::move(inner)) {}
  size_t read(char* buf, size_t n) override {
    if (pos_ < prefix_.size()) {
      const size_t k = std::min(n, prefix_.size() - pos_);
      std::memcpy(buf, prefix_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    return inner_->read(buf, n);
  }
  bool truncated() const override { return inner_->truncated(); }
  // inner's offset counts the held bytes not yet served: a decompressor on
  // top sees offsets as if it read the input directly.
  uint64_t file_offset() const override { return inner_->file_offset() - (prefix_.size() - pos_); }

  bool started() const { return pos_ > 0; }
  // Reads from inner until n bytes are held, a '\n' is (stop_at_newline),
  // or inner ends; the held bytes, at most n.
  std::string held(size_t n, bool stop_at_newline) {
    size_t look = 0;  // no '\n' before this
    while (prefix_.size() < n) {
      if (stop_at_newline && std::memchr(prefix_.data() + look, '\n', prefix_.size() - look)) break;
      look = prefix_.size();
      prefix_.resize(n);
      const size_t k = inner_->read(prefix_.data() + look, n - look);
      prefix_.resize(look + k);
      if (k == 0) break;
    }
    return prefix_.substr(0, n);
  }

 private:
  std::unique_ptr<ByteSource> inner_;
  std::string prefix_;
  size_t pos_ = 0;  // bytes of prefix_ served
};

// What the decompressors below share: every call into zstd or zlib is given
// exactly kOutChunk bytes of room, whatever the caller asked for, so the
// library is called the same way (the same input consumed, the same output,
// an error at the same point) however the data is read: a reader's line
// buffer, or read-ahead's 1 MiB chunks. Given room that varied with the
// caller, zstd reported other errors, or delivered more or fewer bytes
// before one, with read-ahead than without (found by fuzz_text and
// fuzz_heaptrack). A caller with room for whole chunks gets them directly;
// a smaller read is served from a chunk decoded aside.
class Decoder : public ByteSource {
 public:
  size_t read(char* out, size_t n) final {
    if (held_pos_ < held_end_) {
      const size_t k = std::min(n, held_end_ - held_pos_);
      std::memcpy(out, held_.get() + held_pos_, k);
      held_pos_ += k;
      return k;
    }
    if (error_) std::rethrow_exception(error_);
    size_t got = 0;
    while (n - got >= kOutChunk) {
      size_t k = 0;
      try {
        k = decode(out + got);
      } catch (...) {
        if (got == 0) throw;
        error_ = std::current_exception();  // after the bytes decoded before it, as a smaller read would
        return got;
      }
      if (k == 0) break;
      got += k;
    }
    if (got > 0 || n >= kOutChunk) return got;
    if (!held_) held_.reset(new char[kOutChunk]);
    held_end_ = decode(held_.get());
    held_pos_ = std::min(n, held_end_);
    std::memcpy(out, held_.get(), held_pos_);
    return held_pos_;
  }

 protected:
  static constexpr size_t kOutChunk = 128 * 1024;
  // Decompresses into dst (kOutChunk bytes of room) until something is
  // there; returns how much, 0 at the end of the data. Throws Error on
  // corrupt data.
  virtual size_t decode(char* dst) = 0;

 private:
  std::unique_ptr<char[]> held_;  // a chunk decoded for a read with less room
  size_t held_pos_ = 0, held_end_ = 0;
  std::exception_ptr error_;  // raised at the next read, after the bytes before it
};

class ZstdSource final : public Decoder {
 public:
  ZstdSource(std::unique_ptr<ByteSource> in, std::string path)
      : in_(std::move(in)), path_(std::move(path)), buf_(kInBuffer), dctx_(ZSTD_createDCtx()) {
    if (!dctx_) throw Error("out of memory creating a zstd decoder", kExitFailure);
    // Bound the window a hostile frame may ask for (128 MiB).
    ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, 27);
  }
  ~ZstdSource() override { ZSTD_freeDCtx(dctx_); }

  bool truncated() const override { return truncated_; }
  uint64_t file_offset() const override { return base_ + ib_.pos; }

 private:
  size_t decode(char* dst) override {
    ZSTD_outBuffer ob{dst, kOutChunk, 0};
    while (ob.pos == 0) {
      if (ib_.pos == ib_.size && !pending_) {
        if (eof_) return 0;
        size_t got = in_->read(buf_.data(), buf_.size());
        if (got == 0) {
          eof_ = true;
          // Ending anywhere but between frames means the data was cut.
          truncated_ = in_frame_;
          return 0;
        }
        ib_ = ZSTD_inBuffer{buf_.data(), got, 0};
        base_ = in_->file_offset() - got;
      }
      size_t ret = ZSTD_decompressStream(dctx_, &ob, &ib_);
      // On an error zstd leaves ib_.pos where this call began, which depends
      // on how much output earlier calls were given (a reader's buffer, or
      // read-ahead's larger chunks): the start of the frame does not.
      if (ZSTD_isError(ret))
        throw Error(fmt::format("{}: byte {}: corrupt zstd frame: {}", path_, frame_start_, ZSTD_getErrorName(ret)));
      in_frame_ = ret != 0;
      if (!in_frame_) frame_start_ = base_ + ib_.pos;  // the next frame, if any, starts here
      // A frame not done that filled the room may hold decoded bytes it
      // could not hand out: the next call takes them, before more input (or
      // the end of it) is looked at. Missing that, a cut file lost the
      // complete lines zstd still held.
      pending_ = in_frame_ && ob.pos == ob.size;
    }
    return ob.pos;
  }

  std::unique_ptr<ByteSource> in_;
  std::string path_;
  std::vector<char> buf_;
  ZSTD_DCtx* dctx_;
  ZSTD_inBuffer ib_{nullptr, 0, 0};
  uint64_t base_ = 0;
  uint64_t frame_start_ = 0;  // file offset of the frame being decoded
  bool eof_ = false, in_frame_ = false, truncated_ = false;
  bool pending_ = false;  // zstd may hold output the last call had no room for
};

class GzipSource final : public Decoder {
 public:
  GzipSource(std::unique_ptr<ByteSource> in, std::string path)
      : in_(std::move(in)), path_(std::move(path)), buf_(kInBuffer) {
    std::memset(&zs_, 0, sizeof zs_);
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) throw Error("cannot initialise zlib", kExitFailure);
  }
  ~GzipSource() override { inflateEnd(&zs_); }

  bool truncated() const override { return truncated_; }
  uint64_t file_offset() const override { return base_ + consumed_before_; }

 private:
  size_t decode(char* dst) override {
    zs_.next_out = reinterpret_cast<Bytef*>(dst);
    zs_.avail_out = static_cast<uInt>(kOutChunk);
    const size_t want = kOutChunk;
    while (zs_.avail_out == want) {
      if (zs_.avail_in == 0 && !pending_) {
        if (eof_) return 0;
        size_t got = in_->read(buf_.data(), buf_.size());
        if (got == 0) {
          eof_ = true;
          truncated_ = in_member_;
          return want - zs_.avail_out;
        }
        zs_.next_in = reinterpret_cast<Bytef*>(buf_.data());
        zs_.avail_in = static_cast<uInt>(got);
        base_ = in_->file_offset() - got;
        consumed_before_ = 0;
        if (!in_member_) {
          // Between members: anything but another gzip header is trailing garbage.
          in_member_ = true;
        }
      }
      uInt before = zs_.avail_in;
      int ret = inflate(&zs_, Z_NO_FLUSH);
      consumed_before_ += before - zs_.avail_in;
      // As for zstd: a member not done that filled the room may hold output.
      pending_ = ret != Z_STREAM_END && zs_.avail_out == 0;
      if (ret == Z_STREAM_END) {
        // Multi-member gzip (concatenated files): continue with the next member.
        in_member_ = false;
        inflateReset(&zs_);
        if (zs_.avail_in == 0) continue;
        in_member_ = true;
        continue;
      }
      if (ret != Z_OK && ret != Z_BUF_ERROR)
        throw Error(fmt::format("{}: byte {}: corrupt gzip data: {}", path_, base_ + consumed_before_,
                                zs_.msg ? zs_.msg : "inflate failed"));
    }
    return want - zs_.avail_out;
  }

  std::unique_ptr<ByteSource> in_;
  std::string path_;
  std::vector<char> buf_;
  z_stream zs_;
  uint64_t base_ = 0, consumed_before_ = 0;
  bool eof_ = false, in_member_ = false, truncated_ = false;
  bool pending_ = false;  // zlib may hold output the last call had no room for
};

// Output sinks -------------------------------------------------------------

class PlainSink final : public ByteSink {
 public:
  explicit PlainSink(AtomicFile& f) : f_(f) {}
  void write(const char* d, size_t n) override { f_.write(d, n); }
  void finish() override {}

 private:
  AtomicFile& f_;
};

class ZstdSink final : public ByteSink {
 public:
  ZstdSink(AtomicFile& f, int level) : f_(f), out_(ZSTD_CStreamOutSize()), cctx_(ZSTD_createCCtx()) {
    if (!cctx_) throw Error("out of memory creating a zstd encoder", kExitFailure);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
  }
  ~ZstdSink() override { ZSTD_freeCCtx(cctx_); }
  void write(const char* d, size_t n) override { pump(d, n, ZSTD_e_continue); }
  void finish() override { pump(nullptr, 0, ZSTD_e_end); }

 private:
  void pump(const char* d, size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer ib{d, n, 0};
    for (;;) {
      ZSTD_outBuffer ob{out_.data(), out_.size(), 0};
      size_t left = ZSTD_compressStream2(cctx_, &ob, &ib, mode);
      if (ZSTD_isError(left))
        throw Error(fmt::format("{}: zstd compression failed: {}", f_.path(), ZSTD_getErrorName(left)),
                    kExitFailure);
      f_.write(out_.data(), ob.pos);
      if (mode == ZSTD_e_end ? left == 0 : ib.pos == ib.size) break;
    }
  }
  AtomicFile& f_;
  std::vector<char> out_;
  ZSTD_CCtx* cctx_;
};

class GzipSink final : public ByteSink {
 public:
  GzipSink(AtomicFile& f, int level) : f_(f), out_(kInBuffer) {
    std::memset(&zs_, 0, sizeof zs_);
    if (deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw Error("cannot initialise zlib", kExitFailure);
  }
  ~GzipSink() override { deflateEnd(&zs_); }
  void write(const char* d, size_t n) override {
    while (n > 0) {
      uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(d));
      zs_.avail_in = chunk;
      pump(Z_NO_FLUSH);
      d += chunk;
      n -= chunk;
    }
  }
  void finish() override { pump(Z_FINISH); }

 private:
  void pump(int flush) {
    int ret;
    do {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
      zs_.avail_out = static_cast<uInt>(out_.size());
      ret = deflate(&zs_, flush);
      if (ret == Z_STREAM_ERROR) throw Error(fmt::format("{}: gzip compression failed", f_.path()), kExitFailure);
      f_.write(out_.data(), out_.size() - zs_.avail_out);
    } while (zs_.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
  }
  AtomicFile& f_;
  std::vector<char> out_;
  z_stream zs_;
};

}  // namespace

std::string input_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

std::unique_ptr<ByteSource> open_input_source(const std::string& path) { return std::make_unique<FileSource>(path); }

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return path != "-" && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string peek_source(std::unique_ptr<ByteSource>& source, size_t n, bool stop_at_newline) {
  auto* prefix = dynamic_cast<PrefixSource*>(source.get());
  if (!prefix || prefix->started()) {
    auto wrapped = std::make_unique<PrefixSource>(std::move(source));
    prefix = wrapped.get();
    source = std::move(wrapped);
  }
  return prefix->held(n, stop_at_newline);
}

std::unique_ptr<ByteSource> open_decoded_source(std::unique_ptr<ByteSource> source, const std::string& path,
                                                std::string* compression) {
  const std::string magic = peek_source(source, 4);
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(magic[i]); };
  if (magic.size() >= 4 && byte(0) == 0x28 && byte(1) == 0xB5 && byte(2) == 0x2F && byte(3) == 0xFD) {
    if (compression) *compression = "zstd";
    return std::make_unique<ZstdSource>(std::move(source), input_name(path));
  }
  if (magic.size() >= 2 && byte(0) == 0x1F && byte(1) == 0x8B) {
    if (compression) *compression = "gzip";
    return std::make_unique<GzipSource>(std::move(source), input_name(path));
  }
  if (compression) compression->clear();
  return source;
}

std::unique_ptr<ByteSource> open_decoded_source(const std::string& path, std::string* compression) {
  return open_decoded_source(open_input_source(path), path, compression);
}

std::unique_ptr<ByteSink> make_plain_sink(AtomicFile& file) { return std::make_unique<PlainSink>(file); }
std::unique_ptr<ByteSink> make_zstd_sink(AtomicFile& file, int level) {
  return std::make_unique<ZstdSink>(file, level);
}
std::unique_ptr<ByteSink> make_gzip_sink(AtomicFile& file, int level) {
  return std::make_unique<GzipSink>(file, level);
}

}  // namespace heaplay
