// mtrace_test.cpp: reading glibc mtrace logs (traces/mtrace_reader.cpp).
//
// A log recorded here from tests/workloads/mt_workload.cpp is checked
// against the program's known pattern and against a second, naive parse of
// the log written in this test; hand-written logs check the rules.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
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
using testing::temp_path;
using testing::write_file;

TraceStats stats_of(const std::string& path) {
  auto reader = open_trace(path);  // finish() reads its string table
  StatsConsumer c;
  reader->read(c);
  return c.finish();
}

// glibc 2.34 moved mtrace into libc_malloc_debug.so.0, which must be preloaded.
std::string malloc_debug_preload() {
  for (const char* dir : {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                          "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"})
    if (std::filesystem::exists(std::string(dir) + "/libc_malloc_debug.so.0")) return "LD_PRELOAD=libc_malloc_debug.so.0";
  return "";  // older glibc: mtrace lives in libc itself
}

std::string record_workload() {
  std::string log = temp_path("mt.log");
  std::string cmd = fmt::format("env MALLOC_TRACE='{}' {} '{}' > /dev/null", log, malloc_debug_preload(),
                                HEAPLAY_MT_WORKLOAD);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return log;
}

// The naive parse: ops by their letter, sizes with stoull; realloc pairs
// as "<" then ">".
struct Naive {
  uint64_t plus = 0, minus = 0, reallocs = 0, unknown = 0;
  uint64_t live = 0, peak = 0, live_blocks = 0;
};
Naive naive_parse(const std::string& log) {
  std::istringstream in(testing::read_file(log));
  std::unordered_map<std::string, uint64_t> live;  // pointer text -> size
  Naive n;
  std::string line, old;
  while (std::getline(in, line)) {
    if (line.starts_with("@ ")) line = line.substr(line.rfind("] ") + 2);
    std::istringstream f(line);
    std::string op, ptr, size;
    f >> op >> ptr >> size;
    if (op == "+") {
      ++n.plus;
      live[ptr] = std::stoull(size, nullptr, 16);
      n.live += live[ptr];
    } else if (op == "-") {
      if (!live.count(ptr)) {
        ++n.unknown;
        continue;
      }
      ++n.minus;
      n.live -= live[ptr];
      live.erase(ptr);
    } else if (op == "<") {
      old = ptr;
    } else if (op == ">") {
      ++n.reallocs;
      uint64_t s = std::stoull(size, nullptr, 16);
      n.live = n.live - live.at(old) + s;
      live.erase(old);
      live[ptr] = s;
    }
    n.peak = std::max(n.peak, n.live);
  }
  n.live_blocks = live.size();
  return n;
}

TEST(MtraceRecorded, WorkloadMatchesItsPatternAndANaiveParse) {
  std::string log = record_workload();
  ASSERT_TRUE(std::filesystem::exists(log)) << "mtrace wrote no log (is libc_malloc_debug.so.0 installed?)";
  TraceStats s = stats_of(log);
  Naive n = naive_parse(log);
  EXPECT_EQ(s.format, "mtrace");
  // tests/workloads/mt_workload.cpp: 50 + 20 + 1 + 1 + 3 allocations, 2 moves or resizes.
  EXPECT_EQ(n.plus, 75u);
  EXPECT_EQ(n.reallocs, 2u);
  EXPECT_EQ(s.allocs, n.plus + n.reallocs);
  EXPECT_EQ(s.reallocs, n.reallocs);
  EXPECT_EQ(s.frees, n.minus + n.reallocs);
  EXPECT_EQ(s.final_live_blocks, 3u);
  EXPECT_EQ(s.final_live_bytes, 3u * 999);
  EXPECT_EQ(s.final_live_bytes, n.live);
  EXPECT_EQ(s.peak_live_bytes, n.peak);
  EXPECT_EQ(s.anomalies, 0u);
  EXPECT_GE(s.temporary, 50u);  // the 50 malloc/free pairs at least

  // Tags are the callers; the 50 pairs come from one call site.
  CollectingConsumer c;
  open_trace(log)->read(c);
  std::unordered_map<std::string, int> by_tag;
  for (const Event& e : c.all)
    if (e.kind == EventKind::Alloc && e.size == 333) ++by_tag[std::string(c.str(e))];
  ASSERT_EQ(by_tag.size(), 1u);
  EXPECT_EQ(by_tag.begin()->second, 50);
  EXPECT_NE(by_tag.begin()->first.find("mt_workload"), std::string::npos) << by_tag.begin()->first;
  EXPECT_EQ(*c.metadata.get("source"), "glibc mtrace");
}

CollectingConsumer read_log(std::string_view content, bool lenient = false) {
  return testing::read_content(content, lenient, "m.log");
}

std::string error_of(std::string_view content) { return testing::error_of_content(content, "m.log"); }

TEST(Mtrace, ReallocKeepsTheBlockAndFollowsThePointer) {
  auto c = read_log(
      "= Start\n"
      "@ ./p:[0x11a0] + 0x1000 0x64\n"
      "@ ./p:(f+0x1a)[0x11c8] < 0x1000\n"
      "@ ./p:(f+0x1a)[0x11c8] > 0x2000 0x1388\n"
      "+ 0x3000 0\n"
      "@ [0x7f00] + (nil) 0x10\n"
      "@ ./p:[0x11e0] - 0x2000\n"
      "@ ./p:[0x11e0] - 0x9000\n"
      "= End\n");
  ASSERT_EQ(c.all.size(), 4u);
  EXPECT_EQ(c.str(c.all[0]), "./p:[0x11a0]");
  EXPECT_EQ(c.all[1].kind, EventKind::Realloc);
  EXPECT_EQ(c.all[1].old_size, 100u);
  EXPECT_EQ(c.all[1].size, 5000u);
  EXPECT_EQ(c.all[2].size, 0u);
  EXPECT_EQ(c.str(c.all[2]), "");  // no caller: no tag
  EXPECT_EQ(c.all[3].kind, EventKind::Free);
  EXPECT_EQ(c.all[3].slot, c.all[0].slot);  // 0x2000 is the block 0x1000 became
  EXPECT_EQ(*c.metadata.get("mtrace.unknown_frees"), "1");
  EXPECT_EQ(*c.metadata.get("mtrace.failed_calls"), "1");
}

TEST(Mtrace, BadInputIsAnErrorWithItsLine) {
  EXPECT_EQ(error_of("= Start\n@ ./p:[0x1] + 0x10 0x8\n@ ./p:[0x1] + 0x10 0x8\n"),
            ":3: pointer 0x10 is already live (allocated at line 2)");
  EXPECT_EQ(error_of("= Start\n< 0x10\n- 0x10\n"), ":3: a realloc's '<' line is not followed by its '>' line");
  EXPECT_EQ(error_of("= Start\n> 0x10 0x5\n"), ":2: a realloc's '>' line without its '<' line");
  EXPECT_EQ(error_of("= Start\n+ 0x10 12\n"), ":2: bad size '12' (0x... expected)");
  EXPECT_EQ(error_of("= Start\n* 0x10\n"), ":2: unknown record '*'");
  EXPECT_EQ(error_of("= Start\n@ ./p:[0x1 + 0x10 0x8\n"), ":2: '@ CALLER' without its closing '] '");
  EXPECT_EQ(error_of("= Start\n+ 0x10 0x8 0x9\n"), ":2: unexpected '0x9' at the end of the record");
}

TEST(Mtrace, LenientCountsAndSkips) {
  auto c = read_log("= Start\n+ 0x10 0x8\n+ 0x10 0x8\n? x\n- 0x10\n", true);
  EXPECT_EQ(c.all.size(), 2u);
  EXPECT_EQ(c.summary.anomalies.total(), 2u);
  EXPECT_EQ(c.summary.anomalies.counts[static_cast<int>(Anomaly::LiveId)], 1u);
}

}  // namespace
}  // namespace heaplay
