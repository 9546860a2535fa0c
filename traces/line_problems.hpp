// line_problems.hpp: what line-based readers (text, heaptrack, mtrace) do
// with a bad line and at the end of their input, in one place.
//
// Strict reading stops at the first problem with "FILE:LINE: what"; lenient
// reading counts it by kind, warns for the first ReadOptions::max_warnings and
// drops the line. At the end, a cut compressed file and the lenient tally are
// reported once.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "traces/consumer.hpp"
#include "traces/error.hpp"
#include "traces/line_reader.hpp"
#include "traces/string_table.hpp"
#include "traces/text_parse.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

// One problem with one line: its kind and a description.
struct Problem {
  Anomaly kind = Anomaly::None;
  std::string text;
};

inline Problem malformed(std::string text) { return Problem{Anomaly::Malformed, std::move(text)}; }

// Turns a failed parse of the number field `what` (token tok) into p and
// returns false; returns true when err is None. hint follows the "bad"
// message, e.g. " (hex expected)".
inline bool number_problem(NumError err, std::string_view tok, const char* what, const char* hint, Problem& p) {
  switch (err) {
    case NumError::None: return true;
    case NumError::Empty: p = malformed(fmt::format("missing {}", what)); break;
    case NumError::NotANumber: p = malformed(fmt::format("bad {} '{}'{}", what, excerpt(tok), hint)); break;
    case NumError::Overflow:
      p = Problem{Anomaly::Overflow, fmt::format("{} {} overflows 64 bits", what, excerpt(tok))};
      break;
  }
  return false;
}

// Interns a type, tag or label taken from a line into out; false (and p
// filled) for a string past StringTable's limits, which is a problem with
// that line like any other: strict reading names the line, lenient skips it.
inline bool intern_field(StringTable& strings, std::string_view s, const char* what, StringId& out, Problem& p) {
  if (s.size() > StringTable::kMaxStringBytes) {
    p = malformed(fmt::format("{} of {} bytes is longer than the limit of {}", what, s.size(),
                              StringTable::kMaxStringBytes));
    return false;
  }
  if (strings.size() >= StringTable::kMaxStrings && strings.find(s) == kNoString && !s.empty()) {
    p = Problem{Anomaly::Overflow, fmt::format("more than {} distinct type, tag and label strings",
                                               StringTable::kMaxStrings)};
    return false;
  }
  out = strings.intern(s);
  return true;
}

// Strict: throws Error "PATH:LINE: text". Lenient: counts and warns.
inline void report_problem(const Problem& p, const TraceInfo& info, const ReadOptions& opt, uint64_t line,
                           ReadSummary& summary) {
  if (!opt.lenient) throw Error(fmt::format("{}:{}: {}", info.path, line, p.text));
  summary.anomalies.add(p.kind);
  if (summary.anomalies.total() <= opt.max_warnings)
    spdlog::warn("{}:{}: {} (skipped)", info.path, line, p.text);
}

// After the last line: notes a truncated input and the problems not shown.
inline void finish_lines(const LineReader& lines, const TraceInfo& info, const ReadOptions& opt,
                         ReadSummary& summary) {
  if (lines.truncated()) {
    summary.truncated = true;
    summary.truncated_at = lines.file_offset();
    spdlog::warn("{}: byte {}: compressed data ends early (a cut recording?); read {} complete lines{}",
                 info.path, summary.truncated_at, lines.line_no(),
                 lines.cut_line() ? ", dropped the incomplete last one" : "");
  }
  if (summary.anomalies.total() > opt.max_warnings)
    spdlog::warn("{}: {} problems in all (--lenient): {} not shown", info.path, summary.anomalies.total(),
                 summary.anomalies.total() - opt.max_warnings);
}

}  // namespace heaplay
