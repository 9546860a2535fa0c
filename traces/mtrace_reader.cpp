// mtrace_reader.cpp: glibc mtrace logs (MALLOC_TRACE=FILE and mtrace()).
//
// glibc writes one line per call while tracing is on (docs/trace-format.md,
// "glibc mtrace logs"):
//   = Start / = End                    tracing switched on / off
//   [@ CALLER ]+ 0xPTR 0xSIZE          malloc, calloc, memalign, realloc(NULL, n)
//   [@ CALLER ]- 0xPTR                 free, realloc(p, 0)
//   [@ CALLER ]< 0xOLD                 realloc that moved or resized a block,
//   [@ CALLER ]> 0xNEW 0xSIZE            always as this pair of lines
//   [@ CALLER ]! 0xPTR 0xSIZE          a realloc that failed (nothing changes)
// Sizes are written with %#lx, so 0 appears as "0"; pointers with %p, so a
// failed malloc's NULL appears as "(nil)". CALLER ("./prog:[0x11a0]",
// "/lib/libc.so.6:(fn+0x1a)[0x7f..]" or "[0x..]") ends in "] " and becomes
// the block's type tag. Pointers map to slots through a FlatMap.
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/flat_map.hpp"
#include "traces/formats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/line_problems.hpp"
#include "traces/line_reader.hpp"
#include "traces/text_parse.hpp"

namespace heaplay {

namespace {

constexpr uint64_t kNil = UINT64_MAX;  // "(nil)": no pointer

class MtraceReader final : public TraceReader {
 public:
  MtraceReader(std::unique_ptr<ByteSource> src, TraceInfo info, const ReadOptions& opt)
      : info_(std::move(info)), opt_(opt), lines_(std::move(src), info_.path) {
    info_.format = TraceFormat::Mtrace;
    info_.strings = &strings_;
    info_.metadata.set("source", "glibc mtrace");
  }

  const TraceInfo& info() const override { return info_; }

  ReadSummary read(EventConsumer& consumer) override {
    EventBatch batch(consumer, opt_.batch_events);
    consumer.begin(info_);  // mtrace logs carry no metadata to wait for
    std::string_view line;
    while (lines_.next(line)) {
      Problem p = parse_line(line, batch);
      if (p.kind != Anomaly::None) report(p);
    }
    if (pending_ != kNil) {
      pending_ = kNil;
      report(malformed("the log ends between a realloc's '<' and '>' lines"));
    }
    batch.flush();
    Metadata& m = info_.metadata;
    m.set("mtrace.unknown_frees", std::to_string(unknown_frees_));
    if (failed_) m.set("mtrace.failed_calls", std::to_string(failed_));
    if (unknown_frees_)
      spdlog::info("{}: {} frees or reallocs of pointers the log never allocated (allocated before "
                   "tracing began?): counted in mtrace.unknown_frees, otherwise ignored",
                   info_.path, unknown_frees_);
    finish_lines(lines_, info_, opt_, summary_);
    consumer.end(info_, summary_);
    return summary_;
  }

 private:
  void report(const Problem& p) { report_problem(p, info_, opt_, lines_.line_no(), summary_); }

  // "0x..." (or "(nil)" for pointers, "0" for sizes); on failure fills p.
  static bool number(std::string_view tok, const char* what, uint64_t& out, Problem& p) {
    if (tok == "(nil)" && what[0] == 'p') {
      out = kNil;
      return true;
    }
    if (tok == "0") {
      out = 0;
      return true;
    }
    if (tok.empty()) return number_problem(NumError::Empty, tok, what, "", p);
    NumError err = tok.size() > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')
                       ? parse_hex(tok.substr(2), out)
                       : NumError::NotANumber;
    return number_problem(err, tok, what, " (0x... expected)", p);
  }

  Problem parse_line(std::string_view line, EventBatch& batch) {
    if (line.empty()) return {};
    if (line[0] == '=') {  // "= Start", "= End": tracing on and off
      if (line != "= Start" && line != "= End") return malformed(fmt::format("unknown line '{}'", excerpt(line)));
      return {};
    }
    StringId tag = kNoString;
    if (line.starts_with("@ ")) {
      size_t end = line.rfind("] ");
      if (end == std::string_view::npos || end < 2) return malformed("'@ CALLER' without its closing '] '");
      if (Problem p; !intern_field(strings_, line.substr(2, end - 1), "caller", tag, p)) return p;
      line.remove_prefix(end + 2);
    }
    if (line.size() < 2 || line[1] != ' ') return malformed(fmt::format("unknown record '{}'", excerpt(Tokens(line).next())));
    const char op = line[0];
    if (pending_ != kNil && op != '>') {
      pending_ = kNil;
      return malformed("a realloc's '<' line is not followed by its '>' line");
    }
    Tokens t(line.substr(2));
    Problem p;
    uint64_t ptr = 0, size = 0;
    if (!number(t.next(), "pointer", ptr, p)) return p;
    if (op == '+' || op == '>' || op == '!') {
      if (!number(t.next(), "size", size, p)) return p;
    } else if (op != '-' && op != '<') {
      return malformed(fmt::format("unknown record '{}'", excerpt(op)));
    }
    if (!t.done()) return malformed(fmt::format("unexpected '{}' at the end of the record", excerpt(t.rest())));
    switch (op) {
      case '+':
        if (ptr == kNil) {  // the allocation failed
          ++failed_;
          return {};
        }
        return allocate(ptr, size, tag, batch);
      case '-': {
        if (ptr == kNil) return malformed("free of (nil)");
        const uint64_t* v = ids_.find(ptr);
        if (!v) {
          ++unknown_frees_;
          return {};
        }
        Event e;
        e.kind = EventKind::Free;
        e.slot = SlotId{static_cast<uint32_t>(*v)};
        ids_.erase(ptr);
        return apply(e, batch);
      }
      case '<':
        if (ptr == kNil) return malformed("realloc of (nil)");
        pending_ = ptr;
        return {};
      case '>': {
        if (pending_ == kNil) return malformed("a realloc's '>' line without its '<' line");
        if (ptr == kNil) return malformed("realloc to (nil)");
        uint64_t old = pending_;
        pending_ = kNil;
        const uint64_t* v = ids_.find(old);
        if (!v) {  // a block from before tracing began: from here on, a new one
          ++unknown_frees_;
          return allocate(ptr, size, tag, batch);
        }
        SlotId slot{static_cast<uint32_t>(*v)};
        if (ptr != old) {
          if (ids_.find(ptr)) return live(ptr);
          ids_.erase(old);
          ids_.put(ptr, slot.value);
        }
        Event e;
        e.kind = EventKind::Realloc;
        e.slot = slot;
        e.size = size;
        return apply(e, batch);
      }
      default:  // '!': a failed realloc leaves the block as it was
        ++failed_;
        return {};
    }
  }

  Problem live(uint64_t ptr) const {
    const uint64_t* v = ids_.find(ptr);
    return Problem{Anomaly::LiveId, fmt::format("pointer {:#x} is already live (allocated at line {})", ptr,
                                                birth_line_[*v])};
  }

  Problem allocate(uint64_t ptr, uint64_t size, StringId tag, EventBatch& batch) {
    if (ids_.find(ptr)) return live(ptr);
    Event e;
    e.kind = EventKind::Alloc;
    e.size = size;
    e.str = tag;
    if (Problem p = apply(e, batch); p.kind != Anomaly::None) return p;
    uint32_t s = e.slot.value;
    if (s >= birth_line_.size()) birth_line_.resize(size_t{s} + 1);
    birth_line_[s] = lines_.line_no();
    ids_.put(ptr, s);
    return {};
  }

  Problem apply(Event& e, EventBatch& batch) {
    Anomaly a = lifetimes_.apply(e, batch);
    if (a == Anomaly::TooManySlots) return Problem{a, fmt::format("more than {} blocks live at once", kMaxSlots)};
    if (a != Anomaly::None) return Problem{a, std::string(anomaly_name(a))};
    ++summary_.events;
    return {};
  }

  TraceInfo info_;
  ReadOptions opt_;
  LineReader lines_;
  StringTable strings_;
  Lifetimes lifetimes_;
  FlatMap ids_;                       // live pointer -> slot
  std::vector<uint64_t> birth_line_;  // slot -> line of its allocation
  uint64_t pending_ = kNil;           // the pointer of a '<' waiting for its '>'
  uint64_t unknown_frees_ = 0, failed_ = 0;
  ReadSummary summary_;
};

}  // namespace

std::unique_ptr<TraceReader> open_mtrace_trace(std::unique_ptr<ByteSource> source, TraceInfo info,
                                               const ReadOptions& options) {
  return std::make_unique<MtraceReader>(std::move(source), std::move(info), options);
}

}  // namespace heaplay
