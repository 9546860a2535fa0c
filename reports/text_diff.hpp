// text_diff.hpp: a line diff of two texts, in the unified format diff -u prints.
//
// For `heaplay verify`, which shows where heaplay's pymalloc statistics and
// CPython's part ways. The edit script is a longest common subsequence of
// lines (dynamic programming: these texts are tens of lines); past
// kMaxDiffCells cells the two texts are shown as one replaced block.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace heaplay {

inline constexpr size_t kMaxDiffCells = size_t{1} << 24;

// "--- old_label", "+++ new_label", then hunks "@@ -a,b +c,d @@" with
// `context` unchanged lines around each change (' ', '-', '+' prefixes).
// Empty when the texts are equal.
std::string unified_diff(std::string_view old_text, std::string_view new_text, std::string_view old_label,
                         std::string_view new_label, size_t context = 3);

}  // namespace heaplay
