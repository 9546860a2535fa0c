// byte_source.hpp: streaming input, plain or decompressed (zstd, gzip).
//
// Readers pull bytes through a ByteSource and never hold the whole file. An
// input is opened once and read once, in order (format detection peeks
// through peek_source, which hands the bytes on), so pipes, FIFOs and
// standard input read as files do.
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

// An input path as messages name it: "-" is standard input, named
// "<stdin>"; any other path as given.
std::string input_name(const std::string& path);

// A plain input, opened once: a file, a pipe or a FIFO by its path, or
// standard input for "-" (read from where it stands; never closed). Throws
// Error (exit 2) naming the input when it cannot be opened, is a directory,
// or fails to read. Everything built on it reads it exactly once, in order,
// so a pipe serves as well as a file.
std::unique_ptr<ByteSource> open_input_source(const std::string& path);

// path names a regular file (following symbolic links, so /dev/stdin
// redirected from a file is one), which can be opened and read again; false
// for "-", pipes, FIFOs, devices, sockets and paths that do not exist.
bool is_regular_file(const std::string& path);

// Format detection: the first bytes of source, without consuming them. Reads
// until n bytes are held, or (stop_at_newline) a '\n' is among them, or the
// data ends; source is replaced by one that serves those bytes first, then the
// rest (a source so wrapped and not yet read from is extended, not wrapped
// again). Returns at most n bytes, fewer only at the end of the data or past
// the newline. file_offset() stays that of the bytes handed out.
std::string peek_source(std::unique_ptr<ByteSource>& source, size_t n, bool stop_at_newline = false);

// Detects zstd or gzip magic at the start of source (by peek_source, so
// nothing is lost) and decompresses, or hands source on as it is.
// compression receives "zstd", "gzip" or "". Errors name input_name(path).
std::unique_ptr<ByteSource> open_decoded_source(std::unique_ptr<ByteSource> source, const std::string& path,
                                                std::string* compression);
// The same on open_input_source(path).
std::unique_ptr<ByteSource> open_decoded_source(const std::string& path, std::string* compression);

// Wraps inner so that it is read (and decompressed) ahead on a thread of its
// own (read_ahead.cpp). Same bytes, errors and truncation as inner.
std::unique_ptr<ByteSource> make_read_ahead_source(std::unique_ptr<ByteSource> inner);

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
