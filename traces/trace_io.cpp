// trace_io.cpp: format detection and writer selection (see trace_io.hpp).
#include "traces/trace_io.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/formats.hpp"

namespace heaplay {

namespace {

// Serves a few bytes already read from a source (to look at the first line),
// then the rest of that source: detection consumes nothing.
class PrefixSource final : public ByteSource {
 public:
  PrefixSource(std::string prefix, std::unique_ptr<ByteSource> inner)
      : prefix_(std::move(prefix)), inner_(std::move(inner)) {}
  size_t read(char* buf, size_t n) override {
    if (pos_ < prefix_.size()) {
      size_t k = std::min(n, prefix_.size() - pos_);
      std::memcpy(buf, prefix_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    return inner_->read(buf, n);
  }
  bool truncated() const override { return inner_->truncated(); }
  uint64_t file_offset() const override { return inner_->file_offset(); }

 private:
  std::string prefix_;
  size_t pos_ = 0;
  std::unique_ptr<ByteSource> inner_;
};

constexpr size_t kSniffBytes = 4096;  // enough for any first line that decides the format

}  // namespace

std::unique_ptr<TraceReader> open_trace(const std::string& path, const ReadOptions& options) {
  unsigned char head[16] = {};
  size_t n = peek_file(path, head, sizeof head);
  // A native file, or one cut inside the magic: the native reader says so.
  const bool native_prefix = n > 0 && n < sizeof kNativeMagic && std::memcmp(head, kNativeMagic, n) == 0;
  if (is_native_magic(head, n) || native_prefix) return open_native_trace(path, options);
  // Everything else is line-oriented text, possibly compressed as a whole:
  // heaplay text, heaptrack or mtrace, told apart by the first line.
  TraceInfo info;
  info.path = path;
  auto source = open_decoded_source(path, &info.compression);
  // Decompression may overlap parsing; a plain file has the kernel's read-ahead.
  if (options.prefetch && !info.compression.empty()) source = make_read_ahead_source(std::move(source));
  std::string prefix(kSniffBytes, '\0');
  size_t got = 0;
  while (got < prefix.size() && std::memchr(prefix.data(), '\n', got) == nullptr) {
    size_t k = source->read(prefix.data() + got, prefix.size() - got);
    if (k == 0) break;
    got += k;
  }
  prefix.resize(got);
  std::string_view first(prefix);
  first = first.substr(0, first.find('\n'));
  if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
  TraceFormat format = text_format_of(first);
  auto all = std::make_unique<PrefixSource>(std::move(prefix), std::move(source));
  switch (format) {
    case TraceFormat::Heaptrack: return open_heaptrack_trace(std::move(all), std::move(info), options);
    case TraceFormat::Mtrace: return open_mtrace_trace(std::move(all), std::move(info), options);
    default: return open_text_trace(std::move(all), std::move(info), options);
  }
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

namespace heaplay {

namespace {

// Stops a read where its consumer begins: every reader calls begin() once
// the metadata that precedes the first event is known, before any event and
// before it warns about the end of its input (so a trace without events,
// read again later, is not warned about twice).
struct FirstEvent {};
class StopAtFirstEvent final : public EventConsumer {
 public:
  void begin(const TraceInfo&) override { throw FirstEvent{}; }
  void events(std::span<const Event>) override { throw FirstEvent{}; }
};

}  // namespace

Metadata leading_metadata(const std::string& path) {
  ReadOptions options;
  options.batch_events = 1;
  auto reader = open_trace(path, options);
  StopAtFirstEvent stop;
  try {
    reader->read(stop);
  } catch (const FirstEvent&) {
  }
  return reader->info().metadata;
}

}  // namespace heaplay
