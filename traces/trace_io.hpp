// trace_io.hpp: opening traces for reading and writing, whatever their format.
//
// open_trace() detects the format from the content (magic bytes, the first
// line), never from the extension. make_writer() picks the output format from
// an explicit choice or the output's extension.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "traces/consumer.hpp"

namespace heaplay {

struct ReadOptions {
  bool lenient = false;       // count per-event problems instead of stopping
  size_t batch_events = 2048; // events per consumer call
  size_t max_warnings = 10;   // lenient: problems logged one by one before going quiet
  bool prefetch = false;      // read and decompress ahead on a second thread (native, .zst, .gz)
};

class TraceReader {
 public:
  virtual ~TraceReader() = default;
  virtual const TraceInfo& info() const = 0;
  // Reads the whole trace into consumer: begin(), events()..., end().
  // Throws Error (exit 2) on the first bad record unless lenient.
  virtual ReadSummary read(EventConsumer& consumer) = 0;
};

// path "-" reads standard input. The input is opened once and read once, in
// order (format detection hands the bytes it looks at on to the reader), so a
// pipe, a FIFO or standard input serves as well as a file; messages name "-"
// as "<stdin>" (input_name, byte_source.hpp).
std::unique_ptr<TraceReader> open_trace(const std::string& path, const ReadOptions& options = {});

// For commands that read a trace more than once (its metadata first, then its
// events; compare once per stack): throws Error (exit 2) naming the input when
// path is "-" (standard input) or names a pipe, a FIFO, a character device or
// a socket, which a first pass would consume. Looks at the file's type only
// (stat), reading nothing. what says why, e.g. "replay reads the trace more
// than once (its metadata first)". A path that does not exist passes (opening
// it names the problem).
void require_rereadable(const std::string& path, std::string_view what);

enum class OutputFormat { Text, TextZstd, TextGzip, Native };
// "text", "text.zst", "text.gz", "native" -> format; throws Error otherwise.
OutputFormat parse_output_format(const std::string& name);
// From the extension: .trace, .trace.zst, .trace.gz, .heaplay; throws Error otherwise.
OutputFormat output_format_for(const std::string& path);

struct WriteOptions {
  int zstd_level = 3;              // native frames and .zst text
  uint32_t frame_events = 1u << 16;  // native: events per independent frame
  uint32_t native_version = 0;       // native: format version to write; 0 = the newest
  bool in_place = false;             // native: write at the destination as it comes (recordings; atomic_file.hpp)
  // native: the events are valid and their slots already follow the slot rule
  // (docs/trace-format.md, "Slots"), as a recorder that hands slots out by
  // that rule makes them (PointerRecorder): the writer skips its own check
  // (a second Lifetimes, up to a third of `heaplay record`'s time) and writes the
  // slots as they are. An event that breaks the rules is then written as it
  // is, and readers reject the file.
  bool trusted_slots = false;
};

// A writer is a consumer: feed it a reader's events, then commit(). Until then
// the output exists only as a temporary file (atomic_file.hpp).
class TraceWriter : public EventConsumer {
 public:
  virtual void commit() = 0;
  // Writes what is buffered as complete blocks now (native: closes the
  // current frame), so that a reader sees it even if the writer stops here.
  virtual void flush() {}
};

std::unique_ptr<TraceWriter> make_writer(const std::string& path, OutputFormat format,
                                         const WriteOptions& options = {});

}  // namespace heaplay

namespace heaplay {

// The metadata a trace declares before its first event (native: the header;
// text: leading "#@" lines), read without going further. Commands that must
// choose settings before replaying (the Python version) look here. On a pipe
// the bytes read are gone: such commands require_rereadable first.
Metadata leading_metadata(const std::string& path);

// The metadata as it stands at the end of the trace: for a native file, every
// metadata block (found by hopping over block headers, no decoding; a damaged
// or cut block ends the walk), so keys a recorder wrote after its last frame
// are included; for other formats, the leading metadata (late `#@` lines of a
// text trace are seen only by a full read). A first pass, so path must be a
// file that can be read again: throws like require_rereadable otherwise.
Metadata trace_metadata(const std::string& path);

}  // namespace heaplay

namespace heaplay {

// The number of records a complete native trace declares in its end block
// (read from the file's last bytes, nothing else); nullopt for other formats,
// truncated files, anything unreadable and anything but a regular file (a
// pipe is not touched). Progress bars use it as a total.
std::optional<uint64_t> recorded_event_count(const std::string& path);

}  // namespace heaplay
