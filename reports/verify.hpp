// verify.hpp: `heaplay verify`, a Python recording's replay against its ground truth.
//
// A trace recorded by `heaplay record --python` carries CPython's own
// pymalloc statistics from the moment recording stopped (metadata
// pymalloc.stats), the Python version and every arena's alignment
// (pymalloc.arena_excess). verify_recording() replays the trace through
// gc+pooled with that version and those alignments (gc so that the frees the
// program's collector made, `f ID gc`, are applied as they happened), renders
// the pooled layer's statistics as CPython prints them, and compares the two
// texts character for character. docs/record-python.md.
#pragma once

#include <string>

namespace heaplay {

struct VerifyResult {
  std::string python;    // the version replayed (the trace's python.version)
  std::string recorded;  // CPython's text, from the trace
  std::string replayed;  // heaplay's, from the replay
  bool identical() const { return recorded == replayed; }
};

// Throws Error (exit 2) when the trace carries no recorded statistics, and
// as reading and replaying do.
VerifyResult verify_recording(const std::string& path, unsigned threads = 1);

// "identical: ..." or "different: ..." and a unified diff (recorded, then replayed).
std::string render_verify(const std::string& path, const VerifyResult& result);

}  // namespace heaplay
