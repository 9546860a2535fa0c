// formats.hpp: the per-format entry points behind trace_io.hpp (internal).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "traces/byte_source.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

// Native files start with these 12 bytes (PNG-style: a high byte and CR LF SUB LF
// catch transfers that mangle text).
inline constexpr char kNativeMagic[12] = {'\x89', 'H', 'E', 'A', 'P', 'L', 'A', 'Y', '\r', '\n', '\x1a', '\n'};
inline bool is_native_magic(const unsigned char* p, size_t n) {
  return n >= sizeof kNativeMagic && std::memcmp(p, kNativeMagic, sizeof kNativeMagic) == 0;
}

// source: the input opened once, at its first byte (open_input_source, maybe
// wrapped by peek_source); path names it in messages (input_name) and, when
// it is a regular file, is opened again by a second read(). Reads the header
// block before returning.
std::unique_ptr<TraceReader> open_native_trace(std::unique_ptr<ByteSource> source, const std::string& path,
                                               const ReadOptions& options);
// The same on open_input_source(path).
std::unique_ptr<TraceReader> open_native_trace(const std::string& path, const ReadOptions& options);
std::unique_ptr<TraceWriter> make_native_writer(const std::string& path, const WriteOptions& options);

// source is positioned at the start of the (decompressed) text.
std::unique_ptr<TraceReader> open_text_trace(std::unique_ptr<ByteSource> source, TraceInfo info,
                                             const ReadOptions& options);
std::unique_ptr<TraceWriter> make_text_writer(const std::string& path, OutputFormat format,
                                              const WriteOptions& options);

// Imported formats, read from decompressed text (docs/trace-format.md, the
// last sections). source is positioned at the start of the text.
std::unique_ptr<TraceReader> open_heaptrack_trace(std::unique_ptr<ByteSource> source, TraceInfo info,
                                                  const ReadOptions& options);
std::unique_ptr<TraceReader> open_mtrace_trace(std::unique_ptr<ByteSource> source, TraceInfo info,
                                               const ReadOptions& options);

// The line-oriented format whose first line is `first` (without its '\n'):
// heaptrack files start with `v ` or `X `, glibc mtrace logs with `= Start`,
// anything else is heaplay text.
inline TraceFormat text_format_of(std::string_view first) {
  if (first.starts_with("v ") || first.starts_with("X ") || first == "X") return TraceFormat::Heaptrack;
  if (first.starts_with("= Start")) return TraceFormat::Mtrace;
  return TraceFormat::Text;
}

}  // namespace heaplay
