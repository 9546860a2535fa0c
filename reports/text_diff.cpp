// text_diff.cpp: see text_diff.hpp.
#include "reports/text_diff.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

namespace heaplay {

namespace {

// Lines with their '\n' (the last may lack it), so "a" and "a\n" differ.
std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  for (size_t at = 0; at < s.size();) {
    const size_t nl = s.find('\n', at);
    const size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
    lines.push_back(s.substr(at, end - at));
    at = end;
  }
  return lines;
}

enum class Op : uint8_t { Equal, Delete, Insert };
struct Edit {
  Op op;
  size_t a, b;  // line indices in the old and new text (the next ones, for the other side)
};

// The edit script: common prefix and suffix trimmed, the middle by LCS.
std::vector<Edit> edit_script(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  size_t lo = 0;
  while (lo < a.size() && lo < b.size() && a[lo] == b[lo]) ++lo;
  size_t ha = a.size(), hb = b.size();
  while (ha > lo && hb > lo && a[ha - 1] == b[hb - 1]) --ha, --hb;
  std::vector<Edit> edits;
  for (size_t i = 0; i < lo; ++i) edits.push_back({Op::Equal, i, i});
  const size_t n = ha - lo, m = hb - lo;
  if (n * m <= kMaxDiffCells && n > 0 && m > 0) {
    // lcs[i][j]: the longest common subsequence of a[lo+i..ha) and b[lo+j..hb).
    std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (m + 1) + j]; };
    for (size_t i = n; i-- > 0;)
      for (size_t j = m; j-- > 0;)
        at(i, j) = a[lo + i] == b[lo + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[lo + i] == b[lo + j]) {
        edits.push_back({Op::Equal, lo + i++, lo + j++});
      } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
        edits.push_back({Op::Delete, lo + i++, lo + j});  // deletions first, as diff -u prints them
      } else {
        edits.push_back({Op::Insert, lo + i, lo + j++});
      }
    }
  } else {
    for (size_t i = lo; i < ha; ++i) edits.push_back({Op::Delete, i, lo});
    for (size_t j = lo; j < hb; ++j) edits.push_back({Op::Insert, ha, j});
  }
  for (size_t i = ha, j = hb; i < a.size(); ++i, ++j) edits.push_back({Op::Equal, i, j});
  return edits;
}

// "@@ -start,count" as diff -u spells a range: ",1" left out; an empty
// range starts at the line before it.
std::string range(size_t first, size_t count) {
  if (count == 1) return std::to_string(first + 1);
  return fmt::format("{},{}", count == 0 ? first : first + 1, count);
}

void put_line(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string unified_diff(std::string_view old_text, std::string_view new_text, std::string_view old_label,
                         std::string_view new_label, size_t context) {
  if (old_text == new_text) return {};
  const std::vector<std::string_view> a = split_lines(old_text), b = split_lines(new_text);
  const std::vector<Edit> edits = edit_script(a, b);
  std::string out = fmt::format("--- {}\n+++ {}\n", old_label, new_label);
  size_t k = 0;
  while (k < edits.size()) {
    while (k < edits.size() && edits[k].op == Op::Equal) ++k;
    if (k == edits.size()) break;
    // A hunk: context before the first change, then changes joined while at
    // most 2 * context equal lines separate them, then context after.
    const size_t begin = k - std::min(k, context);
    size_t end = k;
    while (end < edits.size()) {
      while (end < edits.size() && edits[end].op != Op::Equal) ++end;
      size_t run = 0;
      while (end + run < edits.size() && edits[end + run].op == Op::Equal) ++run;
      if (end + run == edits.size() || run > 2 * context) {
        end += std::min(run, context);
        break;
      }
      end += run;
    }
    size_t old_count = 0, new_count = 0;
    for (size_t i = begin; i < end; ++i) {
      old_count += edits[i].op != Op::Insert;
      new_count += edits[i].op != Op::Delete;
    }
    out += fmt::format("@@ -{} +{} @@\n", range(edits[begin].a, old_count), range(edits[begin].b, new_count));
    for (size_t i = begin; i < end; ++i) {
      const Edit& e = edits[i];
      if (e.op == Op::Equal) put_line(out, ' ', a[e.a]);
      else if (e.op == Op::Delete) put_line(out, '-', a[e.a]);
      else put_line(out, '+', b[e.b]);
    }
    k = end;
  }
  return out;
}

}  // namespace heaplay
