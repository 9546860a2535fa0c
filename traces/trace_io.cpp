// trace_io.cpp: format detection, writer selection, and the refusal of
// inputs that cannot be read twice (see trace_io.hpp).
#include "traces/trace_io.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/formats.hpp"

namespace heaplay {

namespace {

constexpr size_t kSniffBytes = 4096;  // enough for any first line that decides the format

}  // namespace

// The input is opened once and every look at its first bytes goes through
// peek_source, which hands them on: a pipe, a FIFO or standard input reads
// as a file does.
std::unique_ptr<TraceReader> open_trace(const std::string& path, const ReadOptions& options) {
  std::unique_ptr<ByteSource> source = open_input_source(path);
  const std::string head = peek_source(source, sizeof kNativeMagic);
  const auto* h = reinterpret_cast<const unsigned char*>(head.data());
  // A native file, or one cut inside the magic: the native reader says so.
  const bool native_prefix = !head.empty() && head.size() < sizeof kNativeMagic &&
                             std::memcmp(h, kNativeMagic, head.size()) == 0;
  if (is_native_magic(h, head.size()) || native_prefix) return open_native_trace(std::move(source), path, options);
  // Everything else is line-oriented text, possibly compressed as a whole:
  // heaplay text, heaptrack or mtrace, told apart by the first line.
  TraceInfo info;
  info.path = input_name(path);
  source = open_decoded_source(std::move(source), path, &info.compression);
  // Decompression may overlap parsing; a plain file has the kernel's read-ahead.
  if (options.prefetch && !info.compression.empty()) source = make_read_ahead_source(std::move(source));
  const std::string prefix = peek_source(source, kSniffBytes, true);
  std::string_view first(prefix);
  first = first.substr(0, first.find('\n'));
  if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
  switch (text_format_of(first)) {
    case TraceFormat::Heaptrack: return open_heaptrack_trace(std::move(source), std::move(info), options);
    case TraceFormat::Mtrace: return open_mtrace_trace(std::move(source), std::move(info), options);
    default: return open_text_trace(std::move(source), std::move(info), options);
  }
}

void require_rereadable(const std::string& path, std::string_view what) {
  struct stat st {};
  const bool standard_input = path == "-";
  if (standard_input ? fstat(STDIN_FILENO, &st) != 0 : stat(path.c_str(), &st) != 0) {
    if (!standard_input) return;  // opening it names the problem
    st.st_mode = 0;
  }
  const char* kind = S_ISFIFO(st.st_mode)  ? "a pipe"
                     : S_ISCHR(st.st_mode) ? "a character device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                     : standard_input      ? "standard input"
                                           : nullptr;
  if (!kind) return;  // a regular file (a directory, a block device: opening or reading decides)
  // Standard input redirected from a file: the file has a path to give.
  const char* remedy = S_ISREG(st.st_mode) ? "give the file's path instead" : "write it to a file first";
  throw Error(fmt::format("{}: {}; {} can be read only once: {}", input_name(path), what, kind, remedy),
              kExitBadInput);
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
