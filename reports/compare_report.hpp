// compare_report.hpp: `heaplay compare`'s rows, one per stack, rendered.
//
// A row holds a stack's finished ReplayResult on one raw kind or, when its
// worker failed, the reason. Table: one line per stack and raw kind with the
// headline figures (bytes in KiB/MiB/GiB, one decimal), a failed one's line
// saying "error: REASON".
// CSV: a FIXED set of columns (compare_summary_columns()), the same for every
// stack whatever its layers, units in the names; a figure a stack does not
// have (gc.* without gc, freelist.* without objspec, *_rss_bytes without raw
// glibc) and every figure of a failed stack is an empty field, and the
// `error` column is filled for a failed stack only. JSON: {"trace": ...,
// "stacks": [each stack's `heaplay replay --format json` object, or
// {"stack": ..., "error": ...}]}. docs/compare.md describes them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/replay.hpp"
#include "reports/format.hpp"

namespace heaplay {

struct CompareRow {
  std::string stack;                   // the stack's name (StackSpec::name())
  std::optional<ReplayResult> result;  // absent: the worker failed
  std::string error;                   // why, when it failed ("killed by SIGKILL", ...)
  std::string raw;                     // the raw kind ("sim", "jemalloc", ...); "": the result's
};

std::string render_compare(const std::string& trace, const std::vector<CompareRow>& rows, Format format);

// The summary CSV's header, in order.
const std::vector<std::string>& compare_summary_columns();

// timeline.csv and sizeclasses.csv of every stack that finished, in row
// order, under one header (the files of `heaplay replay -o`, concatenated).
std::string render_compare_timeline_csv(const std::vector<CompareRow>& rows);
std::string render_compare_sizeclasses_csv(const std::vector<CompareRow>& rows);

}  // namespace heaplay
