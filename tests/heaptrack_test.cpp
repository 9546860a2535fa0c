// heaptrack_test.cpp: reading heaptrack files (traces/heaptrack_reader.cpp).
//
// Hand-written files check the rules (LIFO matching, versions, errors);
// files recorded here with heaptrack (a C++ program with a known pattern and
// CPython with PYTHONMALLOC=malloc) check the figures against heaptrack_print
// (within its rounding) and exactly against a second, naive parse of the
// same file written in this test. heaptrack must be installed (.ci/setup);
// without it these tests fail, they are not skipped.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>

#include "reports/stats.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;
using testing::meta;
using testing::run;
using testing::stats_of;
using testing::temp_path;
using testing::write_file;

::testing::AssertionResult heaptrack_installed() {
  int st = 0;
  run("command -v heaptrack && command -v heaptrack_print", &st);
  if (st == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "heaptrack / heaptrack_print not found: install the Debian package "
                                          "'heaptrack' (.ci/setup does)";
}

// Records cmd with heaptrack into DIR/name(.zst or .raw.zst); returns the file.
// env: assignments for heaptrack's environment (a wrapper like env(1) would
// be the process heaptrack records instead of the program).
std::string record(const std::string& name, const std::string& cmd, bool raw = false, const std::string& env = "") {
  std::string base = temp_path(name);
  int st = 0;
  std::string log = run(fmt::format("{} heaptrack {} -o '{}' {} 2>&1", env, raw ? "-r" : "", base, cmd), &st);
  EXPECT_EQ(st, 0) << log;
  return base + (raw ? ".raw.zst" : ".zst");
}


// A byte figure as heaptrack_print rounds it: "777B" exact, "82.77K" = 82770
// +- 5 (units of 1000, two decimals).
struct Rounded {
  double value = 0, tolerance = 0;
  bool holds(uint64_t exact) const { return std::fabs(static_cast<double>(exact) - value) <= tolerance + 1e-6; }
};
Rounded rounded(const std::string& s) {
  size_t unit = s.find_first_of("BKMGT");
  double v = std::stod(s.substr(0, unit));
  double scale = 1;
  for (char u : std::string_view("KMGT")) {
    scale *= 1000;
    if (s[unit] == u) return Rounded{v * scale, 0.005 * scale};
  }
  return Rounded{v, 0};
}

struct PrintFigures {
  uint64_t allocs = 0, temporary = 0;
  Rounded peak, leaked, suppressed;
};
PrintFigures heaptrack_print(const std::string& file) {
  int st = 0;
  std::string out = run(fmt::format("heaptrack_print -p 0 -a 0 -t 0 -l 0 '{}' 2>/dev/null", file), &st);
  EXPECT_EQ(st, 0);
  PrintFigures f;
  std::istringstream in(out);
  std::string line;
  auto after = [&](std::string_view label) { return line.substr(label.size(), line.find(' ', label.size()) - label.size()); };
  while (std::getline(in, line)) {
    if (line.starts_with("calls to allocation functions: ")) f.allocs = std::stoull(after("calls to allocation functions: "));
    if (line.starts_with("temporary memory allocations: ")) f.temporary = std::stoull(after("temporary memory allocations: "));
    if (line.starts_with("peak heap memory consumption: ")) f.peak = rounded(after("peak heap memory consumption: "));
    if (line.starts_with("total memory leaked: ")) f.leaked = rounded(after("total memory leaked: "));
    if (line.starts_with("suppressed leaks: ")) f.suppressed = rounded(after("suppressed leaks: "));
  }
  EXPECT_GT(f.allocs, 0u) << out;
  return f;
}

// The same figures from a second, deliberately naive parse of the
// interpreted file (only a, + and - matter).
struct Naive {
  uint64_t allocs = 0, peak = 0, live = 0, ht_temporary = 0, lifo_temporary = 0;
};
Naive naive_parse(const std::string& file) {
  std::istringstream in(run(fmt::format("zstd -dc '{}'", file)));
  Naive n;
  std::vector<uint64_t> sizes;
  uint64_t last = 0;    // heaptrack_print's lastAllocationPtr: reset to 0 by a free
  int64_t last_plus = -1;  // the previous +/- line was "+ last_plus" (-1: it was a free)
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 3) continue;
    if (line[0] == 'a') sizes.push_back(std::stoull(line.substr(2), nullptr, 16));
    if (line[0] != '+' && line[0] != '-') continue;
    uint64_t idx = std::stoull(line.substr(2), nullptr, 16);
    if (line[0] == '+') {
      ++n.allocs;
      n.live += sizes.at(idx);
      n.peak = std::max(n.peak, n.live);
      last = idx;
      last_plus = static_cast<int64_t>(idx);
    } else {
      n.live -= sizes.at(idx);
      n.ht_temporary += last == idx;
      n.lifo_temporary += last_plus == static_cast<int64_t>(idx);
      last = 0;
      last_plus = -1;
    }
  }
  return n;
}

// heaplay's figures against heaptrack_print's and the naive parse's.
void check_against_heaptrack(const std::string& file) {
  TraceStats s = stats_of(file);
  PrintFigures p = heaptrack_print(file);
  Naive n = naive_parse(file);
  EXPECT_EQ(s.format, "heaptrack");
  EXPECT_EQ(s.allocs, p.allocs);
  EXPECT_EQ(s.allocs, n.allocs);
  EXPECT_EQ(s.peak_live_bytes, n.peak);
  EXPECT_TRUE(p.peak.holds(s.peak_live_bytes)) << s.peak_live_bytes << " vs " << p.peak.value;
  EXPECT_EQ(s.final_live_bytes, n.live);
  Rounded final{p.leaked.value + p.suppressed.value, p.leaked.tolerance + p.suppressed.tolerance};
  EXPECT_TRUE(final.holds(s.final_live_bytes)) << s.final_live_bytes << " vs " << final.value;
  // temporary is heaptrack_print's, reset quirk (info 0) included; heaplay's
  // general rule would count the naive parse's lifo_temporary instead.
  EXPECT_EQ(s.temporary, p.temporary);
  EXPECT_EQ(meta(s, "heaptrack.temporary"), std::to_string(p.temporary));
  EXPECT_EQ(n.ht_temporary, p.temporary);
  EXPECT_LE(n.lifo_temporary, n.ht_temporary);
  EXPECT_EQ(s.anomalies, 0u);
}

TEST(HeaptrackRecorded, CppProgramMatchesHeaptrackPrintAndItsOwnPattern) {
  ASSERT_TRUE(heaptrack_installed());
  const int rounds = 3;
  std::string file = record("cpp", fmt::format("'{}' {}", HEAPLAY_HT_WORKLOAD, rounds));
  check_against_heaptrack(file);

  // The program's own pattern (tests/workloads/ht_workload.cpp).
  CollectingConsumer c;
  open_trace(file)->read(c);
  std::unordered_map<uint64_t, uint64_t> allocs, frees;  // by size
  std::unordered_map<uint32_t, uint64_t> live_size;      // slot -> size
  std::string temp_tag;
  for (const Event& e : c.all) {
    if (e.kind == EventKind::Alloc) {
      ++allocs[e.size];
      live_size[e.slot.value] = e.size;
      if (e.size == 12345) {
        if (temp_tag.empty()) temp_tag = std::string(c.str(e));
        EXPECT_EQ(c.str(e), temp_tag) << "one call site, one size: one allocation info";
      }
    } else if (e.kind == EventKind::Free) {
      ++frees[e.size];
      live_size.erase(e.slot.value);
    }
  }
  EXPECT_TRUE(temp_tag.starts_with("site")) << temp_tag;
  EXPECT_EQ(allocs[12345], 1000u * rounds);
  EXPECT_EQ(frees[12345], 1000u * rounds);
  EXPECT_EQ(allocs[4321], 300u * rounds);
  EXPECT_EQ(frees[4321], 300u * rounds);
  for (uint64_t size = 1111; size <= 5555; size += 1111) EXPECT_EQ(allocs[size], uint64_t{rounds}) << size;
  uint64_t leaks = 0;
  for (auto [slot, size] : live_size) leaks += size == 999;
  EXPECT_EQ(leaks, 7u);
  EXPECT_NE(c.metadata.get("heaptrack.command")->find("ht_workload"), std::string::npos);
  EXPECT_NE(c.metadata.get("heaptrack.version"), nullptr);
}

TEST(HeaptrackRecorded, PythonMatchesHeaptrackPrint) {
  ASSERT_TRUE(heaptrack_installed());
  std::string script = temp_path("work.py");
  write_file(script,
             "root = []\n"
             "for i in range(3000):\n"
             "    root.append({'k': str(i) * 3, 'v': [i] * (i % 7)})\n"
             "d = {i: bytearray(i % 300) for i in range(1000)}\n"
             "del d\n"
             "s = ''.join(str(x) for x in range(5000))\n");
  std::string file = record("py", fmt::format("/usr/bin/python3 '{}'", script), false, "PYTHONMALLOC=malloc");
  TraceStats s = stats_of(file);
  EXPECT_GT(s.allocs, 10000u);
  check_against_heaptrack(file);
}

// A raw recording and heaptrack_interpret's reading of it give the same
// events, but for the slots: raw frees name their block by pointer, while
// interpreted ones take the latest live block of the info (LIFO), and this
// program frees its kept blocks first to last.
TEST(HeaptrackRecorded, RawEqualsInterpreted) {
  ASSERT_TRUE(heaptrack_installed());
  std::string raw = record("raw", fmt::format("'{}' 1", HEAPLAY_HT_WORKLOAD), true);
  std::string interpreted = temp_path("interpreted.zst");
  int st = 0;
  run(fmt::format("zstd -dc '{}' | /usr/lib/heaptrack/libexec/heaptrack_interpret 2>/dev/null | zstd -q -c > '{}'",
                  raw, interpreted),
      &st);
  ASSERT_EQ(st, 0);
  CollectingConsumer a, b;
  open_trace(raw)->read(a);
  open_trace(interpreted)->read(b);
  ASSERT_EQ(a.all.size(), b.all.size());
  for (size_t i = 0; i < a.all.size(); ++i) {
    ASSERT_EQ(a.all[i].kind, b.all[i].kind) << "event " << i;
    ASSERT_EQ(a.all[i].size, b.all[i].size) << "event " << i;
    ASSERT_EQ(a.str(a.all[i]), b.str(b.all[i])) << "event " << i;
  }
  EXPECT_EQ(*a.metadata.get("heaptrack.flavour"), "raw");
  EXPECT_EQ(*b.metadata.get("heaptrack.flavour"), "interpreted");
  EXPECT_EQ(*a.metadata.get("heaptrack.temporary"), *b.metadata.get("heaptrack.temporary"));
}

// --- hand-written files -------------------------------------------------

std::string header(int file_version = 3) {
  return fmt::format("v 10400 {}\nX ./prog --flag\nI 1000 100\n", file_version);
}

CollectingConsumer read_text(std::string_view content, bool lenient = false) {
  return testing::read_content(content, lenient, "h.txt");
}

std::string error_of(std::string_view content) { return testing::error_of_content(content, "h.txt"); }

TEST(Heaptrack, FreesTheMostRecentLiveBlockOfTheInfo) {
  auto c = read_text(header() + "s 4 main\nt 1 0\ni 400000 1 1\na 10 1\na 20 1\n"
                                "+ 0\n+ 1\n+ 0\n- 0\n- 1\n+ 0\n- 0\n- 0\nc 2a\nR 30\n");
  ASSERT_EQ(c.all.size(), 9u);
  // + 0 (slot 0), + 1 (slot 1), + 0 (slot 2), - 0 frees slot 2, not 0.
  EXPECT_EQ(c.all[3].kind, EventKind::Free);
  EXPECT_EQ(c.all[3].slot, c.all[2].slot);
  EXPECT_EQ(c.all[3].size, 0x10u);
  EXPECT_EQ(c.str(c.all[3]), "site0");
  EXPECT_EQ(c.str(c.all[4]), "site1");
  EXPECT_EQ(c.all[7].slot, c.all[0].slot);  // the last - 0 takes the first block
  EXPECT_EQ(c.all[8].kind, EventKind::Time);
  EXPECT_EQ(c.all[8].size, 42u * 1'000'000);  // 0x2a ms, in ns
  EXPECT_EQ(*c.metadata.get("heaptrack.command"), "./prog --flag");
  EXPECT_EQ(*c.metadata.get("heaptrack.version"), "1.4.0");
  EXPECT_EQ(*c.metadata.get("heaptrack.peak_rss_pages"), "48");
  EXPECT_EQ(*c.metadata.get("heaptrack.peak_rss_bytes"), std::to_string(48 * 4096));
  EXPECT_EQ(*c.metadata.get("heaptrack.flavour"), "interpreted");
}

TEST(Heaptrack, TemporaryIsHeaptrackPrintsQuirkIncluded) {
  // - 1 right after + 1: temporary by any rule. The final - 0 follows a free:
  // heaptrack_print counts it too (its reset value 0 is info 0), and for
  // heaptrack files heaplay reports heaptrack's figure.
  std::string path = temp_path("t.txt");
  write_file(path, header() + "a 10 1\na 20 1\n+ 0\n+ 1\n- 1\n- 0\n");
  TraceStats s = stats_of(path);
  EXPECT_EQ(s.temporary, 2u);
  EXPECT_EQ(meta(s, "heaptrack.temporary"), "2");
  // The same events as a heaplay text trace: heaplay's own rule, one temporary.
  std::string text = temp_path("t.trace");
  write_file(text, "a 1 16\na 2 32\nf 2\nf 1\n");
  EXPECT_EQ(stats_of(text).temporary, 1u);
}

TEST(Heaptrack, OlderVersionsAndRawLines) {
  // File version 2: strings are the rest of the line, spaces included.
  auto c = read_text(header(2) + "s operator new(unsigned long)\na 8 1\n+ 0\n- 0\n");
  EXPECT_EQ(c.all.size(), 2u);
  // Raw (and version 0) allocation lines carry pointers; unknown frees are counted.
  c = read_text("v 10400 3\nx 5 ./a b\nm 1 -\nt 5 0\n+ 40 1 1000\n+ 8 1 2000\n- 1000\n- 3000\n+ 40 1 3000\n");
  ASSERT_EQ(c.all.size(), 4u);
  EXPECT_EQ(c.all[2].kind, EventKind::Free);
  EXPECT_EQ(c.all[2].size, 0x40u);
  EXPECT_EQ(c.str(c.all[3]), "site0");  // (0x40, trace 1) again: the same info
  EXPECT_EQ(c.str(c.all[1]), "site1");
  EXPECT_EQ(*c.metadata.get("heaptrack.unknown_frees"), "1");
  EXPECT_EQ(*c.metadata.get("heaptrack.exe"), "./a b");
  EXPECT_EQ(*c.metadata.get("heaptrack.flavour"), "raw");
}

TEST(Heaptrack, BadInputIsAnErrorWithItsLine) {
  EXPECT_EQ(error_of(header() + "a 8 1\n- 0\n"),
            ":5: free of allocation info 0 (size 8) with no live block of it");
  EXPECT_EQ(error_of(header() + "a 8 1\n+ 1\n"), ":5: allocation info 1 is not defined (1 'a' records so far)");
  EXPECT_EQ(error_of(header() + "a 8 1\n+ 0 x\n"), ":5: bad trace 'x' (hex expected)");
  EXPECT_EQ(error_of(header() + "q 1\n"), ":4: unknown record 'q'");
  EXPECT_EQ(error_of(header() + "X again\n"), ":4: a second debuggee ('X') record");
  EXPECT_EQ(error_of(header() + "s 99 short\n"), ":4: 's' needs a hex LENGTH and that many bytes");
  EXPECT_EQ(error_of(header() + "a 8 1\nm 1 -\n"), ":5: 'm' record in an interpreted heaptrack file");
  EXPECT_EQ(error_of("v 10400 4\n"),
            ":1: heaptrack file format version 4 is newer than this reader knows (3); written by heaptrack 1.4.0");
  EXPECT_EQ(error_of(header() + "c 5\nc 4\n"), ":5: time stamp 4 ms is earlier than the previous one");
}

TEST(Heaptrack, LenientCountsAndSkips) {
  auto c = read_text(header() + "a 8 1\n- 0\n+ 7\nzz\n+ 0\n", true);
  EXPECT_EQ(c.all.size(), 1u);
  EXPECT_EQ(c.summary.anomalies.total(), 3u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::UnknownId)], 1u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::Malformed)], 2u);
}

TEST(Heaptrack, TruncatedZstdReadsToTheLastCompleteLine) {
  std::string text = header();
  text += "a 8 1\n";
  for (int i = 0; i < 200000; ++i) text += "+ 0\n- 0\n";
  std::string plain = temp_path("big.txt"), cut = temp_path("cut.zst");
  write_file(plain, text);
  int st = 0;
  run(fmt::format("zstd -q -c '{0}' > '{1}.full' && head -c $(( $(stat -c %s '{1}.full') / 2 )) '{1}.full' > '{1}'",
                  plain, cut),
      &st);
  ASSERT_EQ(st, 0);
  CollectingConsumer c;
  open_trace(cut)->read(c);
  EXPECT_TRUE(c.summary.truncated);
  EXPECT_GT(c.all.size(), 1000u);
  EXPECT_LT(c.all.size(), 400000u);
}

}  // namespace
}  // namespace heaplay
