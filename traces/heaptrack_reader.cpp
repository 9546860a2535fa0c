// heaptrack_reader.cpp: heaptrack data files (heaptrack.*.zst / .gz / plain).
//
// Two flavours, told apart by their records (docs/trace-format.md, "heaptrack
// files"):
//   interpreted (what `heaptrack` writes by default): `a SIZE TRACE` defines
//     allocation info N (the Nth `a`, from 0); `+ N` allocates one block of
//     it, `- N` frees one. There are no addresses, so a free releases the
//     most recently allocated live block of that info (LIFO): per info, a
//     stack of live slots threaded through next_ (slot -> the block below).
//   raw (`heaptrack --raw`, and files of format version 0): `+ SIZE TRACE PTR`
//     and `- PTR`. Pointers map to slots through a FlatMap; (SIZE, TRACE)
//     pairs are numbered in order of first appearance, as heaptrack_interpret
//     numbers them, so a raw file and its interpreted form get the same tags.
// Either way a realloc is a `-` then a `+`: a free and an allocation.
//
// Every number in the file is lower-case hex without a prefix. Lines that
// only describe call stacks (s, t, i, m) are checked for form and skipped.
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <unordered_map>

#include "traces/error.hpp"
#include "traces/flat_map.hpp"
#include "traces/formats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/line_problems.hpp"
#include "traces/line_reader.hpp"
#include "traces/text_parse.hpp"

namespace heaplay {

namespace {

constexpr uint32_t kMaxFileVersion = 3;     // heaptrack 1.4's HEAPTRACK_FILE_FORMAT_VERSION
constexpr uint32_t kNone = UINT32_MAX;      // no slot
constexpr uint64_t kNsPerMs = 1'000'000;    // `c` stamps are ms since start; `t` events are ns

// An allocation info: the size every block of it has, its tag, and the top
// of its stack of live blocks.
struct Info {
  uint64_t size;
  StringId tag;
  uint32_t top = kNone;
};

enum class Flavour { Unknown, Interpreted, Raw };


class HeaptrackReader final : public TraceReader {
 public:
  HeaptrackReader(std::unique_ptr<ByteSource> src, TraceInfo info, const ReadOptions& opt)
      : info_(std::move(info)), opt_(opt), lines_(std::move(src), info_.path) {
    info_.format = TraceFormat::Heaptrack;
    info_.strings = &strings_;
    info_.metadata.set("source", "heaptrack");
  }

  const TraceInfo& info() const override { return info_; }

  ReadSummary read(EventConsumer& consumer) override {
    EventBatch batch(consumer, opt_.batch_events);
    consumer_ = &consumer;
    std::string_view line;
    for (;;) {
      // Interpreted files are nearly all `+ N` and `- N` lines: runs of them
      // go through hot_run(), which stops at any other line (or problem).
      if (flavour_ == Flavour::Interpreted) {
        if (!hot_run(batch, line)) break;
      } else if (!lines_.next(line)) {
        break;
      }
      Problem p = parse_line(line, batch);
      if (p.kind != Anomaly::None) report(p);
    }
    start();
    batch.flush();
    finish_metadata();
    finish_lines(lines_, info_, opt_, summary_);
    consumer.end(info_, summary_);
    return summary_;
  }

 private:
  void start() {
    if (!started_) {
      started_ = true;
      consumer_->begin(info_);
    }
  }

  // Applies `+ N` / `- N` lines through Lifetimes::Fast until another kind
  // of line, a line with a problem, or the end (false). Such a line is left
  // in `line` for parse_line(), which reports its problem, if any: nothing
  // here changes state for a line it does not complete. Same rules as
  // allocate() and release(), inline.
  bool hot_run(EventBatch& batch, std::string_view& line) {
    start();
    uint64_t events = 0;
    {
      Lifetimes::Fast lt(lifetimes_, batch);
      Info* const infos = infos_.data();
      const uint64_t ninfos = infos_.size();
      uint32_t* next = next_.data();
      size_t nnext = next_.size();
      uint64_t ht_last = ht_last_, ht_temporary = ht_temporary_;
      uint32_t last_slot = last_slot_;
      const char *p, *end;
      while (lines_.window(p, end)) {
        uint64_t lines = 0;
        // Whole lines only: every line in [p, end) ends in '\n' before end.
        while (p < end) {
          const char rec = p[0];
          if ((rec != '+' && rec != '-') || p[1] != ' ') break;
          const char* q = p + 2;
          uint64_t idx = 0;
          unsigned digits = 0;
          for (uint8_t d; (d = kHexValue[static_cast<unsigned char>(*q)]) != 0xff; ++q, ++digits) idx = idx << 4 | d;
          if (*q != '\n' || digits == 0 || digits > 15 || idx >= ninfos) break;  // parse_line() says why
          Info& info = infos[idx];
          if (rec == '+') {
            SlotId slot;
            if (lt.allocate(EventKind::Alloc, Domain::None, info.size, info.tag, slot) != Anomaly::None) [[unlikely]]
              break;  // nothing changed: parse_line() meets the same problem
            if (slot.value >= nnext) [[unlikely]] {
              next_.resize(std::max<size_t>(size_t{slot.value} + 1, nnext * 2), kNone);
              next = next_.data();
              nnext = next_.size();
            }
            next[slot.value] = info.top;
            info.top = slot.value;
            last_slot = slot.value;
            ht_last = idx;
          } else {
            const uint32_t s = info.top;
            if (s == kNone) [[unlikely]] break;
            (void)lt.free(SlotId{s}, 0);  // cannot fail: s is a live block
            info.top = next[s];
            ht_temporary += ht_last == idx;
            ht_last = 0;
          }
          p = q + 1;
          ++lines;
        }
        lines_.consumed(p, lines);
        events += lines;
        if (p < end) break;  // another kind of line
      }
      ht_last_ = ht_last;
      ht_temporary_ = ht_temporary;
      last_slot_ = last_slot;
    }
    summary_.events += events;
    return lines_.next(line);  // the line that stopped the run, or the last one without '\n'
  }

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(fmt::format("{}:{}: {}", info_.path, lines_.line_no(), msg));
  }

  void report(const Problem& p) { report_problem(p, info_, opt_, lines_.line_no(), summary_); }

  // One hex field; on failure fills p.
  static bool hex(std::string_view tok, const char* what, uint64_t& out, Problem& p) {
    return number_problem(parse_hex(tok, out), tok, what, " (hex expected)", p);
  }
  // Every remaining field is hex (call-stack records whose values we skip).
  static Problem all_hex(Tokens& t, char rec, size_t min_fields) {
    size_t n = 0;
    Problem p;
    for (std::string_view tok = t.next(); !tok.empty(); tok = t.next(), ++n) {
      uint64_t v;
      if (!hex(tok, "field", v, p)) return p;
    }
    if (n < min_fields) return malformed(fmt::format("'{}' needs {} fields, has {}", excerpt(rec), min_fields, n));
    return {};
  }
  static Problem trailing(const Tokens& t) {
    if (t.done()) return {};
    return malformed(fmt::format("unexpected '{}' at the end of the record", excerpt(t.rest())));
  }

  // The flavour a record implies; a record of the other flavour is malformed.
  bool settle(Flavour f, char rec, Problem& p) {
    if (flavour_ == Flavour::Unknown) flavour_ = f;
    if (flavour_ == f) return true;
    p = malformed(fmt::format("'{}' record in {} heaptrack file", excerpt(rec),
                              flavour_ == Flavour::Raw ? "a raw" : "an interpreted"));
    return false;
  }

  Problem parse_line(std::string_view line, EventBatch& batch) {
    if (line.empty() || line[0] == '#') return {};  // heaptrack: an empty line is a comment
    const char rec = line[0];
    if (line.size() > 1 && line[1] != ' ') return malformed(fmt::format("unknown record '{}'", excerpt(Tokens(line).next())));
    // heaptrack's own reader starts every record's fields at the third byte.
    std::string_view rest = line.size() > 2 ? line.substr(2) : std::string_view{};
    Tokens t(rest);
    Problem p;
    switch (rec) {
      case 'v': return version(t);
      case 'X':
        if (seen_command_) return malformed("a second debuggee ('X') record");
        seen_command_ = true;
        info_.metadata.set("heaptrack.command", std::string(rest));
        return {};
      case 'x':  // raw: the executable, as "x LEN PATH"
        if (!settle(Flavour::Raw, rec, p)) return p;
        info_.metadata.set("heaptrack.exe", std::string(sized_string(rest, true)));
        return {};
      case 'I': {
        uint64_t page = 0, pages = 0;
        if (!hex(t.next(), "page size", page, p) || !hex(t.next(), "page count", pages, p)) return p;
        page_size_ = page;
        info_.metadata.set("heaptrack.page_size", std::to_string(page));
        info_.metadata.set("heaptrack.phys_pages", std::to_string(pages));
        return trailing(t);
      }
      case 's': {
        if (!settle(Flavour::Interpreted, rec, p)) return p;
        if (file_version_ >= 3 && sized_string(rest, false).data() == nullptr)
          return malformed("'s' needs a hex LENGTH and that many bytes");
        return {};  // before version 3 the string is the rest of the line
      }
      case 't': return all_hex(t, rec, 2);  // trace node: IP PARENT
      case 'i':
        if (!settle(Flavour::Interpreted, rec, p)) return p;
        return all_hex(t, rec, 2);  // IP MODULE [FUNCTION FILE LINE]...
      case 'm':  // raw: module map ("m LEN NAME ADDR [VADDR SIZE]..." or "m 1 -")
        if (!settle(Flavour::Raw, rec, p)) return p;
        return {};
      case 'a': {
        if (!settle(Flavour::Interpreted, rec, p)) return p;
        uint64_t size, trace;
        if (!hex(t.next(), "size", size, p) || !hex(t.next(), "trace", trace, p)) return p;
        if (p = trailing(t); p.kind != Anomaly::None) return p;
        add_info(size);
        return {};
      }
      case '+':
      case '-': return rec == '+' ? plus(t, batch) : minus(t, batch);
      case 'c': {
        uint64_t ms, ns;
        if (!hex(t.next(), "time stamp", ms, p)) return p;
        if (p = trailing(t); p.kind != Anomaly::None) return p;
        if (__builtin_mul_overflow(ms, kNsPerMs, &ns))
          return Problem{Anomaly::Overflow, fmt::format("time stamp {} ms overflows 64 bits in ns", ms)};
        Event e;
        e.kind = EventKind::Time;
        e.size = ns;
        return apply(e, batch);
      }
      case 'R': {
        uint64_t pages;
        if (!hex(t.next(), "RSS", pages, p)) return p;
        peak_rss_ = std::max(peak_rss_, pages);
        return trailing(t);
      }
      case 'A':
        info_.metadata.set("heaptrack.attached", "yes");
        return {};
      case 'S':  // an embedded leak suppression: affects only heaptrack's leak report
        ++suppressions_;
        return {};
      default: return malformed(fmt::format("unknown record '{}'", excerpt(rec)));
    }
  }

  Problem version(Tokens& t) {
    Problem p;
    uint64_t program = 0, file = 0;
    if (!hex(t.next(), "heaptrack version", program, p)) return p;
    std::string_view f = t.next();
    if (f.empty()) {
      // heaptrack before 1.0 wrote 0x010200 alone for what is file version 1.
      file = program == 0x010200 ? 1 : 0;
    } else if (!hex(f, "file version", file, p)) {
      return p;
    }
    if (file > kMaxFileVersion)
      fail(fmt::format("heaptrack file format version {} is newer than this reader knows ({}); "
                       "written by heaptrack {}.{}.{}",
                       file, kMaxFileVersion, program >> 16, (program >> 8) & 0xff, program & 0xff));
    file_version_ = static_cast<uint32_t>(file);
    info_.format_version = file_version_;
    info_.metadata.set("heaptrack.version",
                       fmt::format("{}.{}.{}", program >> 16, (program >> 8) & 0xff, program & 0xff));
    info_.metadata.set("heaptrack.file_version", std::to_string(file));
    return trailing(t);
  }

  // "LEN TEXT" with a hex LEN (version 3 strings, raw `x`); the text, or a
  // null view when the length is missing or longer than the line. Without a
  // length (lenient_form), the whole field is the text.
  std::string_view sized_string(std::string_view s, bool lenient_form) const {
    size_t sp = s.find(' ');
    uint64_t len;
    if (sp == std::string_view::npos || parse_hex(s.substr(0, sp), len) != NumError::None ||
        len > s.size() - sp - 1)
      return lenient_form ? s : std::string_view{};
    return s.substr(sp + 1, len);
  }

  uint32_t add_info(uint64_t size) {
    // Each info has a tag string of its own: past the string table's limit the file cannot be read.
    if (infos_.size() >= StringTable::kMaxStrings - 1)
      fail(fmt::format("more than {} allocation infos", StringTable::kMaxStrings - 1));
    uint32_t idx = static_cast<uint32_t>(infos_.size());
    infos_.push_back(Info{size, strings_.intern(fmt::format("site{}", idx))});
    return idx;
  }

  // `+`: interpreted "+ N" or raw "+ SIZE TRACE PTR".
  Problem plus(Tokens& t, EventBatch& batch) {
    Problem p;
    uint64_t a;
    if (!hex(t.next(), "allocation", a, p)) return p;
    std::string_view trace_tok = t.next();
    if (trace_tok.empty()) {
      if (!settle(Flavour::Interpreted, '+', p)) return p;
      if (a >= infos_.size())
        return malformed(fmt::format("allocation info {:x} is not defined ({} 'a' records so far)", a,
                                     infos_.size()));
      return allocate(a, batch);
    }
    uint64_t trace, ptr;
    if (!hex(trace_tok, "trace", trace, p) || !hex(t.next(), "pointer", ptr, p)) return p;
    if (p = trailing(t); p.kind != Anomaly::None) return p;
    if (!settle(Flavour::Raw, '+', p)) return p;
    auto [it, fresh] = raw_infos_.try_emplace(Key{a, trace}, static_cast<uint32_t>(infos_.size()));
    if (fresh) add_info(a);
    if (p = allocate(it->second, batch); p.kind != Anomaly::None) return p;
    // A pointer allocated while still live (a free heaptrack missed): the
    // old block stays live for good, as heaptrack_interpret leaves it.
    if (ptrs_.find(ptr)) ++reused_ptrs_;
    ptrs_.put(ptr, uint64_t{last_slot_} | (uint64_t{it->second} << 32));
    return {};
  }

  // `-`: interpreted "- N" or raw "- PTR".
  Problem minus(Tokens& t, EventBatch& batch) {
    Problem p;
    uint64_t a;
    if (!hex(t.next(), "allocation", a, p)) return p;
    if (p = trailing(t); p.kind != Anomaly::None) return p;
    if (flavour_ != Flavour::Raw) {
      if (!settle(Flavour::Interpreted, '-', p)) return p;
      if (a >= infos_.size())
        return malformed(fmt::format("allocation info {:x} is not defined ({} 'a' records so far)", a,
                                     infos_.size()));
      return release(a, batch);
    }
    const uint64_t* v = ptrs_.find(a);
    if (!v) {  // allocated before recording began, or never: counted, not an error
      ++unknown_frees_;
      return {};
    }
    uint64_t packed = *v;
    ptrs_.erase(a);
    if (Problem p2 = free_slot(static_cast<uint32_t>(packed), batch); p2.kind != Anomaly::None) return p2;
    count_heaptrack_temporary(static_cast<uint32_t>(packed >> 32));
    return {};
  }

  Problem allocate(uint64_t idx, EventBatch& batch) {
    Info& info = infos_[idx];
    Event e;
    e.kind = EventKind::Alloc;
    e.size = info.size;
    e.str = info.tag;
    if (Problem p = apply(e, batch); p.kind != Anomaly::None) return p;
    uint32_t s = e.slot.value;
    last_slot_ = s;
    ht_last_ = idx;
    if (flavour_ == Flavour::Raw) return {};  // raw frees name their block
    if (s >= next_.size()) next_.resize(size_t{s} + 1, kNone);
    next_[s] = info.top;
    info.top = s;
    return {};
  }

  // Interpreted: the most recent live block of info idx.
  Problem release(uint64_t idx, EventBatch& batch) {
    uint32_t s = infos_[idx].top;
    if (s == kNone)
      return Problem{Anomaly::UnknownId, fmt::format("free of allocation info {:x} (size {}) with no live block of it",
                                                     idx, infos_[idx].size)};
    if (Problem p = free_slot(s, batch); p.kind != Anomaly::None) return p;
    infos_[idx].top = next_[s];
    count_heaptrack_temporary(idx);
    return {};
  }

  // heaptrack_print's "temporary memory allocations": a free whose info is
  // that of the last allocation, when no free came in between. It forgets
  // the last allocation by setting it to 0, which is also a valid info, so a
  // free of info 0 right after another free counts too (heaplay's own
  // `temporary` does not count those; docs/trace-format.md).
  void count_heaptrack_temporary(uint64_t idx) {
    ht_temporary_ += ht_last_ == idx;
    ht_last_ = 0;
  }

  Problem free_slot(uint32_t s, EventBatch& batch) {
    Event e;
    e.kind = EventKind::Free;
    e.slot = SlotId{s};
    return apply(e, batch);
  }

  Problem apply(Event& e, EventBatch& batch) {
    start();
    Anomaly a = lifetimes_.apply(e, batch);
    if (a == Anomaly::TimeBackwards)
      return Problem{a, fmt::format("time stamp {} ms is earlier than the previous one", e.size / kNsPerMs)};
    if (a == Anomaly::TooManySlots) return Problem{a, fmt::format("more than {} blocks live at once", kMaxSlots)};
    if (a != Anomaly::None) return Problem{a, std::string(anomaly_name(a))};
    ++summary_.events;
    return {};
  }

  void finish_metadata() {
    Metadata& m = info_.metadata;
    m.set("heaptrack.flavour", flavour_ == Flavour::Raw ? "raw" : "interpreted");
    m.set("heaptrack.allocation_infos", std::to_string(infos_.size()));
    m.set("heaptrack.temporary", std::to_string(ht_temporary_));
    if (peak_rss_) {
      m.set("heaptrack.peak_rss_pages", std::to_string(peak_rss_));
      if (page_size_) m.set("heaptrack.peak_rss_bytes", std::to_string(peak_rss_ * page_size_));
    }
    if (suppressions_) m.set("heaptrack.suppressions", std::to_string(suppressions_));
    if (flavour_ == Flavour::Raw) {
      m.set("heaptrack.unknown_frees", std::to_string(unknown_frees_));
      if (reused_ptrs_) m.set("heaptrack.reused_pointers", std::to_string(reused_ptrs_));
    }
  }

  struct Key {
    uint64_t size, trace;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.size * 0x9e3779b97f4a7c15ull ^ k.trace); }
  };

  TraceInfo info_;
  ReadOptions opt_;
  LineReader lines_;
  StringTable strings_;
  Lifetimes lifetimes_;
  Flavour flavour_ = Flavour::Unknown;
  uint32_t file_version_ = 0;
  std::vector<Info> infos_;       // by allocation info index
  std::vector<uint32_t> next_;    // slot -> the live block of the same info allocated before it
  uint32_t last_slot_ = kNone;    // slot of the latest allocation
  uint64_t ht_last_ = 0;          // heaptrack_print's last allocation info (0 after a free)
  uint64_t ht_temporary_ = 0;     // heaptrack_print's temporary count
  // Raw only: pointer -> slot | info << 32, and (SIZE, TRACE) -> info index.
  FlatMap ptrs_;
  std::unordered_map<Key, uint32_t, KeyHash> raw_infos_;
  uint64_t unknown_frees_ = 0, reused_ptrs_ = 0, suppressions_ = 0;
  uint64_t peak_rss_ = 0, page_size_ = 0;  // RSS in pages; page size in bytes
  bool seen_command_ = false;
  ReadSummary summary_;
  EventConsumer* consumer_ = nullptr;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<TraceReader> open_heaptrack_trace(std::unique_ptr<ByteSource> source, TraceInfo info,
                                                  const ReadOptions& options) {
  return std::make_unique<HeaptrackReader>(std::move(source), std::move(info), options);
}

}  // namespace heaplay
