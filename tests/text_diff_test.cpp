// text_diff_test.cpp: unified_diff (reports/text_diff.hpp), the diff `heaplay verify` prints.
//
// A hand-checked case (what GNU diff -u prints for it), then random texts
// against two oracles: applying the hunks to the old text gives the new one,
// and the number of changed lines equals GNU `diff --minimal`'s (both are
// minimal edit scripts; which of several equal ones is shown may differ).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reports/text_diff.hpp"
#include "tests/test_util.hpp"
#include "traces/synth_common.hpp"

namespace heaplay {
namespace {

TEST(TextDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "x", "y"), "");
  EXPECT_EQ(unified_diff("", "", "x", "y"), "");
}

TEST(TextDiff, AsDiffUPrintsIt) {
  // diff -u --label old --label new on these two files prints exactly this.
  const std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
  const std::string b = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n";
  EXPECT_EQ(unified_diff(a, b, "old", "new"),
            "--- old\n+++ new\n"
            "@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n"
            "@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n");
  // An insertion into an empty text, a missing last newline.
  EXPECT_EQ(unified_diff("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
  EXPECT_EQ(unified_diff("x\n", "x", "a", "b"),
            "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+x\n\\ No newline at end of file\n");
}

// Applies a unified diff to old (the hunks in order, context checked).
std::string apply_diff(const std::string& old, const std::string& diff) {
  std::vector<std::string> in, out;
  for (size_t at = 0; at < old.size();) {
    size_t e = old.find('\n', at);
    in.push_back(old.substr(at, e - at + 1));
    at = e + 1;
  }
  size_t next = 0;  // next line of old not yet copied
  std::vector<std::string> lines;
  for (size_t at = 0; at < diff.size();) {
    size_t e = diff.find('\n', at);
    lines.push_back(diff.substr(at, e - at + 1));
    at = e + 1;
  }
  for (size_t k = 2; k < lines.size(); ++k) {
    const std::string& l = lines[k];
    if (l.starts_with("@@ -")) {
      size_t start = std::stoul(l.substr(4));
      size_t count = l.find(',') < l.find(' ', 4) ? std::stoul(l.substr(l.find(',') + 1)) : 1;
      size_t first = count == 0 ? start : start - 1;
      while (next < first) out.push_back(in[next++]);
    } else if (l[0] == ' ' || l[0] == '-') {
      EXPECT_EQ(in.at(next), l.substr(1));
      if (l[0] == ' ') out.push_back(in[next]);
      ++next;
    } else if (l[0] == '+') {
      out.push_back(l.substr(1));
    }
  }
  while (next < in.size()) out.push_back(in[next++]);
  std::string s;
  for (const std::string& x : out) s += x;
  return s;
}

// '+' and '-' lines after the two header lines.
int changed_lines(const std::string& diff) {
  int n = 0, line = 0;
  for (size_t at = 0; at < diff.size(); ++line) {
    size_t e = diff.find('\n', at);
    if (line >= 2 && (diff[at] == '+' || diff[at] == '-')) ++n;
    at = e + 1;
  }
  return n;
}

TEST(TextDiff, RandomTextsAgainstGnuDiff) {
  synth::Rng rng(7);
  for (int round = 0; round < 60; ++round) {
    std::string a, b;
    const uint32_t n = rng.below(40), alphabet = 2 + rng.below(6);
    for (uint32_t i = 0; i < n; ++i) a += fmt::format("line {}\n", rng.below(alphabet));
    // b: a with random lines replaced, dropped and added.
    for (size_t at = 0; at < a.size();) {
      size_t e = a.find('\n', at);
      const uint32_t r = rng.below(10);
      if (r == 0) b += fmt::format("new {}\n", rng.below(alphabet));
      if (r != 1) b += a.substr(at, e - at + 1);
      at = e + 1;
    }
    const std::string d = unified_diff(a, b, "old", "new", rng.below(4));
    EXPECT_EQ(apply_diff(a, d), b) << d;
    const std::string fa = testing::temp_path("a.txt"), fb = testing::temp_path("b.txt");
    testing::write_file(fa, a);
    testing::write_file(fb, b);
    FILE* p = popen(fmt::format("diff --minimal -u '{}' '{}'", fa, fb).c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string gnu;
    char buf[4096];
    for (size_t k; (k = fread(buf, 1, sizeof buf, p)) > 0;) gnu.append(buf, k);
    const int st = pclose(p);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st) == 0, d.empty());
    EXPECT_EQ(changed_lines(d), changed_lines(gnu)) << d << "\n" << gnu;
  }
}

}  // namespace
}  // namespace heaplay
