// byte_source.hpp: streaming input, plain or decompressed (zstd, gzip).
//
// Readers pull bytes through a ByteSource and never hold the whole file.
// Compressed input that ends early (a recording cut short) reads up to where
// the data stops and reports truncated(); corrupt data throws Error naming the
// file and a byte offset in the compressed file (zstd: where the corrupt
// frame starts; gzip: where inflating failed), the same however the data is
// read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace heaplay {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes into buf; returns 0 only at the end of the data.
  virtual size_t read(char* buf, size_t n) = 0;
  // The input ended inside a compressed frame or stream.
  virtual bool truncated() const { return false; }
  // Bytes consumed from the underlying file so far.
  virtual uint64_t file_offset() const = 0;
};

// Plain file. Throws Error (exit 2) naming path when it cannot be opened,
// is a directory, or fails to read.
std::unique_ptr<ByteSource> open_file_source(const std::string& path);

// Detects zstd or gzip magic at the start of path and decompresses, or reads it
// as is. compression receives "zstd", "gzip" or "".
std::unique_ptr<ByteSource> open_decoded_source(const std::string& path, std::string* compression);

// Wraps inner so that it is read (and decompressed) ahead on a thread of its
// own (read_ahead.cpp). Same bytes, errors and truncation as inner.
std::unique_ptr<ByteSource> make_read_ahead_source(std::unique_ptr<ByteSource> inner);

// Reads up to n bytes from the start of path (format detection). Throws like open_file_source.
size_t peek_file(const std::string& path, unsigned char* buf, size_t n);

// Output side: compress into an AtomicFile-backed stream.
class AtomicFile;
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const char* data, size_t n) = 0;
  virtual void finish() = 0;  // flush compressor state; then the file may be committed
};
std::unique_ptr<ByteSink> make_plain_sink(AtomicFile& file);
std::unique_ptr<ByteSink> make_zstd_sink(AtomicFile& file, int level);
std::unique_ptr<ByteSink> make_gzip_sink(AtomicFile& file, int level);

}  // namespace heaplay
