// text_writer.cpp: writes an event stream as a text trace (plain, .zst or .gz).
//
// IDs in the output are the reader's slot numbers: they are unique among live
// blocks and objects, which is all the format asks, and reading the output
// back yields the very same slots, so text -> native -> text is a fixed point.
// Death events are derived, never written. Metadata goes out as "#@ KEY VALUE"
// lines: the header's first, keys that changed by the end after the events.
#include <fmt/format.h>

#include <string>

#include "traces/atomic_file.hpp"
#include "traces/byte_source.hpp"
#include "traces/error.hpp"
#include "traces/formats.hpp"

namespace heaplay {

namespace {

class TextWriter final : public TraceWriter {
 public:
  TextWriter(const std::string& path, OutputFormat format, const WriteOptions& opt) : file_(path) {
    switch (format) {
      case OutputFormat::TextZstd: sink_ = make_zstd_sink(file_, opt.zstd_level); break;
      case OutputFormat::TextGzip: sink_ = make_gzip_sink(file_, 6); break;
      default: sink_ = make_plain_sink(file_); break;
    }
    buf_.reserve(kFlushAt + 4096);
  }

  void begin(const TraceInfo& info) override {
    strings_ = info.strings;
    buf_ += "# heaplay text trace (docs/trace-format.md)\n";
    write_metadata(info.metadata);
    written_ = info.metadata;
  }

  void events(std::span<const Event> batch) override {
    auto out = std::back_inserter(buf_);
    for (const Event& e : batch) {
      switch (e.kind) {
        case EventKind::Alloc:
          // Shortest form: "a ID SIZE", then TYPE, then DOMAIN ("-" holds TYPE's place).
          if (e.domain != Domain::None)
            fmt::format_to(out, "a {} {} {} {}\n", e.slot.value, e.size, type(e), domain_name(e.domain));
          else if (e.str != kNoString)
            fmt::format_to(out, "a {} {} {}\n", e.slot.value, e.size, type(e));
          else
            fmt::format_to(out, "a {} {}\n", e.slot.value, e.size);
          break;
        case EventKind::Free:
          if (e.flags & kFlagGc) fmt::format_to(out, "f {} gc\n", e.slot.value);
          else fmt::format_to(out, "f {}\n", e.slot.value);
          break;
        case EventKind::Realloc: fmt::format_to(out, "r {} {}\n", e.slot.value, e.size); break;
        case EventKind::Object: fmt::format_to(out, "o {} {} {}\n", e.slot.value, e.size, type(e)); break;
        case EventKind::Incref: fmt::format_to(out, "+ {}\n", e.slot.value); break;
        case EventKind::Decref: fmt::format_to(out, "- {}\n", e.slot.value); break;
        case EventKind::Link: fmt::format_to(out, "l {} {}\n", e.slot.value, e.dst.value); break;
        case EventKind::Unlink: fmt::format_to(out, "u {} {}\n", e.slot.value, e.dst.value); break;
        case EventKind::Collect: fmt::format_to(out, "g {}\n", e.size); break;
        case EventKind::Time: fmt::format_to(out, "t {}\n", e.size); break;
        case EventKind::Mark: fmt::format_to(out, "m {}\n", strings_->at(e.str)); break;
        case EventKind::Thread: fmt::format_to(out, "T {}\n", e.size); break;
        case EventKind::Death: break;
      }
      if (buf_.size() >= kFlushAt) flush();
    }
  }

  void end(const TraceInfo& info, const ReadSummary&) override {
    Metadata changed;
    for (const auto& [k, v] : info.metadata.items()) {
      const std::string* old = written_.get(k);
      if (!old || *old != v) changed.set(k, v);
    }
    write_metadata(changed);
    flush();
    sink_->finish();
    ended_ = true;
  }

  void commit() override {
    if (!ended_) throw Error(fmt::format("{}: writer committed before the end of its input", file_.path()),
                             kExitFailure);
    file_.commit();
  }

 private:
  static constexpr size_t kFlushAt = 1u << 20;

  std::string_view type(const Event& e) const {
    return e.str == kNoString ? std::string_view("-") : strings_->at(e.str);
  }

  void write_metadata(const Metadata& m) {
    for (const auto& [k, v] : m.items()) {
      buf_ += "#@ ";
      for (char c : k) buf_.push_back(c == ' ' || c == '\t' || c == '\n' ? '_' : c);
      buf_.push_back(' ');
      for (char c : v) {
        switch (c) {
          case '\\': buf_ += "\\\\"; break;
          case '\n': buf_ += "\\n"; break;
          case '\r': buf_ += "\\r"; break;
          case '\t': buf_ += "\\t"; break;
          default: buf_.push_back(c);
        }
      }
      buf_.push_back('\n');
    }
  }

  void flush() override {
    sink_->write(buf_.data(), buf_.size());
    buf_.clear();
  }

  AtomicFile file_;
  std::unique_ptr<ByteSink> sink_;
  std::string buf_;
  const StringTable* strings_ = nullptr;
  Metadata written_;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<TraceWriter> make_text_writer(const std::string& path, OutputFormat format,
                                              const WriteOptions& options) {
  return std::make_unique<TextWriter>(path, format, options);
}

}  // namespace heaplay
