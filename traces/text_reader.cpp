// text_reader.cpp: the text trace format (*.trace, *.trace.zst, *.trace.gz).
//
// One record per line (docs/trace-format.md). The trace's own 64-bit IDs are
// mapped to dense slots through a FlatMap; an ID's entry is kept for a while
// after its free (marked dead, with the line) so that a double free can be
// told from a free of an ID never seen, and purged once dead entries
// outnumber live ones, so the map stays proportional to what is live.
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/formats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/line_problems.hpp"
#include "traces/line_reader.hpp"
#include "traces/text_parse.hpp"

namespace heaplay {

namespace {

constexpr uint64_t kDead = uint64_t{1} << 63;  // map value: dead, low bits = line of release
constexpr size_t kMinPurge = 1u << 20;         // dead entries kept before a purge is considered

class TextReader final : public TraceReader {
 public:
  TextReader(std::unique_ptr<ByteSource> src, TraceInfo info, const ReadOptions& opt)
      : info_(std::move(info)), opt_(opt), lines_(std::move(src), info_.path) {
    info_.format = TraceFormat::Text;
    info_.strings = &strings_;
  }

  const TraceInfo& info() const override { return info_; }

  ReadSummary read(EventConsumer& consumer) override {
    EventBatch batch(consumer, opt_.batch_events);
    consumer_ = &consumer;
    std::string_view line;
    while (lines_.next(line)) {
      Problem p = parse_line(line, batch);
      if (p.kind != Anomaly::None) report(p);
    }
    start(consumer);
    batch.flush();
    finish_lines(lines_, info_, opt_, summary_);
    consumer.end(info_, summary_);
    return summary_;
  }

 private:
  void start(EventConsumer& c) {
    if (!started_) {
      started_ = true;
      c.begin(info_);
    }
  }

  void report(const Problem& p) { report_problem(p, info_, opt_, lines_.line_no(), summary_); }

  // Parses a number field; on failure fills p and returns false.
  static bool number(std::string_view tok, const char* what, uint64_t& out, Problem& p) {
    return number_problem(parse_u64(tok, out), tok, what, "", p);
  }

  // Looks up a live ID; fills p when it is not live.
  bool resolve(std::string_view tok, const char* what, SlotId& slot, Problem& p) {
    uint64_t id;
    if (!number(tok, what, id, p)) return false;
    const uint64_t* v = ids_.find(id);
    if (!v) {
      p = Problem{Anomaly::UnknownId, fmt::format("{} {} is not live (never allocated)", what, tok)};
      return false;
    }
    if (*v & kDead) {
      p = Problem{Anomaly::DoubleFree,
                  fmt::format("{} {} is no longer live (released at line {})", what, tok, *v & ~kDead)};
      return false;
    }
    slot = SlotId{static_cast<uint32_t>(*v)};
    return true;
  }

  static Domain domain_word(std::string_view w) {
    if (w == "raw") return Domain::Raw;
    if (w == "mem") return Domain::Mem;
    if (w == "obj") return Domain::Obj;
    return Domain::None;
  }

  Problem parse_line(std::string_view line, EventBatch& batch) {
    size_t i = 0;
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) return {};
    if (line[i] == '#') {
      if (line.substr(i).starts_with("#@")) return parse_metadata(line.substr(i + 2));
      return {};
    }
    if (i + 1 < line.size() && !is_blank(line[i + 1]))
      return malformed(fmt::format("unknown record '{}'", excerpt(Tokens(line.substr(i)).next())));
    char rec = line[i];
    Tokens t(line.substr(i + 1));
    Problem p;
    Event e;
    uint64_t id = 0;
    std::string_view id_tok, id2_tok;
    switch (rec) {
      case 'a': {
        e.kind = EventKind::Alloc;
        id_tok = t.next();
        if (!number(id_tok, "ID", id, p) || !number(t.next(), "size", e.size, p)) return p;
        std::string_view w = t.next();
        if (!w.empty()) {
          Domain d = domain_word(w);
          if (d != Domain::None) {
            e.domain = d;
          } else {
            if (w != "-" && !intern_field(strings_, w, "type", e.str, p)) return p;
            std::string_view dw = t.next();
            if (!dw.empty() && dw != "-") {
              e.domain = domain_word(dw);
              if (e.domain == Domain::None)
                return malformed(fmt::format("bad domain '{}' (raw, mem or obj)", excerpt(dw)));
            }
          }
        }
        break;
      }
      case 'o': {
        e.kind = EventKind::Object;
        id_tok = t.next();
        if (!number(id_tok, "ID", id, p) || !number(t.next(), "size", e.size, p)) return p;
        std::string_view w = t.next();
        if (w.empty() || w == "-") return malformed("an object needs a TYPE");
        if (domain_word(w) != Domain::None) return malformed(fmt::format("'{}' is a domain, not a type", excerpt(w)));
        if (!intern_field(strings_, w, "type", e.str, p)) return p;
        break;
      }
      case 'f': {
        e.kind = EventKind::Free;
        id_tok = t.next();
        if (!resolve(id_tok, "ID", e.slot, p)) return p;
        std::string_view w = t.next();
        if (w == "gc") e.flags = kFlagGc;
        else if (!w.empty()) return malformed(fmt::format("unexpected '{}' after f ID (only 'gc')", excerpt(w)));
        break;
      }
      case 'r':
        e.kind = EventKind::Realloc;
        id_tok = t.next();
        if (!resolve(id_tok, "ID", e.slot, p) || !number(t.next(), "size", e.size, p)) return p;
        break;
      case '+':
      case '-':
        e.kind = rec == '+' ? EventKind::Incref : EventKind::Decref;
        id_tok = t.next();
        if (!resolve(id_tok, "ID", e.slot, p)) return p;
        break;
      case 'l':
      case 'u':
        e.kind = rec == 'l' ? EventKind::Link : EventKind::Unlink;
        id_tok = t.next();
        id2_tok = t.next();
        if (!resolve(id_tok, "SRC", e.slot, p) || !resolve(id2_tok, "DST", e.dst, p)) return p;
        break;
      case 'g': {
        e.kind = EventKind::Collect;
        std::string_view w = t.next();
        e.size = 2;
        if (!w.empty() && !number(w, "generation", e.size, p)) return p;
        break;
      }
      case 't':
        e.kind = EventKind::Time;
        if (!number(t.next(), "time", e.size, p)) return p;
        break;
      case 'T':
        e.kind = EventKind::Thread;
        if (!number(t.next(), "thread id", e.size, p)) return p;
        break;
      case 'm': {
        e.kind = EventKind::Mark;
        std::string_view label = t.rest();
        if (label.empty()) return malformed("a marker needs a LABEL");
        if (!intern_field(strings_, label, "label", e.str, p)) return p;
        return apply(e, id, batch, {});  // the label is the whole rest of the line
      }
      default:
        return malformed(fmt::format("unknown record '{}'", excerpt(rec)));
    }
    if (!t.done()) return malformed(fmt::format("unexpected '{}' at the end of the record", excerpt(t.rest())));
    return apply(e, id, batch, id_tok);
  }

  Problem apply(Event& e, uint64_t id, EventBatch& batch, std::string_view id_tok) {
    bool allocating = e.kind == EventKind::Alloc || e.kind == EventKind::Object;
    if (allocating) {
      if (const uint64_t* v = ids_.find(id); v && !(*v & kDead))
        return Problem{Anomaly::LiveId, fmt::format("ID {} is already live (allocated at line {})", id_tok,
                                                    birth_line_[*v])};
    }
    start(*consumer_);
    Anomaly a = lifetimes_.apply(e, batch);
    if (a != Anomaly::None) return Problem{a, describe(a, e)};
    ++summary_.events;
    uint64_t line = lines_.line_no();
    if (allocating) {
      uint32_t s = e.slot.value;
      if (s >= slot_id_.size()) {
        slot_id_.resize(size_t{s} + 1);
        birth_line_.resize(size_t{s} + 1);
      }
      slot_id_[s] = id;
      birth_line_[s] = line;
      if (const uint64_t* v = ids_.find(id); v) --dead_;
      ids_.put(id, s);
    } else if (e.kind == EventKind::Free) {
      bury(e.slot, line);
    }
    for (SlotId s : lifetimes_.died()) bury(s, line);
    summary_.deaths += lifetimes_.died().size();
    return {};
  }

  // Marks the ID in slot s dead as of line; purges dead entries when they pile up.
  void bury(SlotId s, uint64_t line) {
    ids_.put(slot_id_[s.value], kDead | line);
    if (++dead_ > kMinPurge && dead_ > lifetimes_.live_slots()) {
      ids_.erase_if([](uint64_t, uint64_t v) { return (v & kDead) != 0; });
      dead_ = 0;
    }
  }

  std::string describe(Anomaly a, const Event& e) const {
    switch (a) {
      case Anomaly::NotABlock:
        return fmt::format("{} of an object made with o (objects are freed by their reference count)",
                           kind_name(e.kind));
      case Anomaly::NotAnObject:
        return fmt::format("{} names a block made with a, not an object", kind_name(e.kind));
      case Anomaly::NoSuchEdge:
        if (e.kind == EventKind::Decref)
          return "- of an object whose references are all held by other objects (l), none by the program";
        return "u SRC DST: SRC holds no reference to DST";
      case Anomaly::TimeBackwards: return fmt::format("time {} is earlier than the previous time stamp", e.size);
      case Anomaly::BadGeneration: return fmt::format("generation {} is not 0, 1 or 2", e.size);
      case Anomaly::Overflow: return "reference count overflows";
      case Anomaly::TooManySlots: return fmt::format("more than {} IDs live at once", kMaxSlots);
      default: return std::string(anomaly_name(a));
    }
  }

  Problem parse_metadata(std::string_view rest) {
    Tokens t(rest);
    std::string_view key = t.next();
    if (key.empty()) return malformed("#@ needs a KEY");
    std::string value;
    std::string_view raw = t.rest();
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\' && i + 1 < raw.size()) {
        char n = raw[++i];
        c = n == 'n' ? '\n' : n == 't' ? '\t' : n == 'r' ? '\r' : n;
      }
      value.push_back(c);
    }
    info_.metadata.set(std::string(key), std::move(value));
    return {};
  }

  TraceInfo info_;
  ReadOptions opt_;
  LineReader lines_;
  StringTable strings_;
  Lifetimes lifetimes_;
  FlatMap ids_;                       // trace ID -> slot, or kDead | line of release
  std::vector<uint64_t> slot_id_;     // slot -> trace ID (to bury it on release)
  std::vector<uint64_t> birth_line_;  // slot -> line of its allocation
  uint64_t dead_ = 0;                 // dead entries in ids_
  ReadSummary summary_;
  EventConsumer* consumer_ = nullptr;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<TraceReader> open_text_trace(std::unique_ptr<ByteSource> source, TraceInfo info,
                                             const ReadOptions& options) {
  return std::make_unique<TextReader>(std::move(source), std::move(info), options);
}

}  // namespace heaplay
