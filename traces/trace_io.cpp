// trace_io.cpp: format detection and writer selection (see trace_io.hpp).
#include "traces/trace_io.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/formats.hpp"

namespace heaplay {

std::unique_ptr<TraceReader> open_trace(const std::string& path, const ReadOptions& options) {
  unsigned char head[16] = {};
  size_t n = peek_file(path, head, sizeof head);
  if (is_native_magic(head, n)) return open_native_trace(path, options);
  // Everything else is line-oriented text, possibly compressed as a whole.
  TraceInfo info;
  info.path = path;
  auto source = open_decoded_source(path, &info.compression);
  return open_text_trace(std::move(source), std::move(info), options);
}

OutputFormat parse_output_format(const std::string& name) {
  if (name == "text") return OutputFormat::Text;
  if (name == "text.zst") return OutputFormat::TextZstd;
  if (name == "text.gz") return OutputFormat::TextGzip;
  if (name == "native") return OutputFormat::Native;
  throw Error(fmt::format("unknown output format '{}' (text, text.zst, text.gz or native)", name));
}

OutputFormat output_format_for(const std::string& path) {
  if (path == "-") return OutputFormat::Text;
  auto ends = [&](std::string_view s) { return path.size() >= s.size() && path.ends_with(s); };
  if (ends(".heaplay")) return OutputFormat::Native;
  if (ends(".trace.zst")) return OutputFormat::TextZstd;
  if (ends(".trace.gz")) return OutputFormat::TextGzip;
  if (ends(".trace")) return OutputFormat::Text;
  throw Error(fmt::format("{}: cannot tell the output format from the name "
                          "(.heaplay, .trace, .trace.zst, .trace.gz); use --to",
                          path));
}

std::unique_ptr<TraceWriter> make_writer(const std::string& path, OutputFormat format,
                                         const WriteOptions& options) {
  if (format == OutputFormat::Native) return make_native_writer(path, options);
  return make_text_writer(path, format, options);
}

}  // namespace heaplay
