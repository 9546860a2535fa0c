// record_python_test.cpp: `heaplay record --python` and `heaplay verify` on real scripts.
//
// Each test records one script of tests/pyscripts/ with the heaplay binary
// (which execs heaplay-python), runs the same script with bare python3, and
// checks: the run is python3's (stdout, stderr, exit status); `heaplay
// verify` finds heaplay's pymalloc statistics identical to the ones CPython
// printed at the end of the recording (the independent oracle: the real
// interpreter); and figures known in advance (a script that makes exactly
// 1000 objects of a size nothing else asks for; cycles of a known number of
// payloads that only the collector frees).
//
// Needs heaplay-python, built where the Python development files are
// (python3-dev, which .ci/setup installs); without it these tests fail
// rather than skip, so a CI machine missing them is noticed.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "engine/replay_run.hpp"
#include "reports/stats.hpp"
#include "reports/verify.hpp"
#include "tests/test_util.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;
using testing::temp_path;

struct Ran {
  int status = -1;
  std::string out, err;
};

// Runs a shell command with stdout and stderr captured apart. PYTHONMALLOC is
// dropped: the recorder would warn that it ignores it, python3 would obey it.
Ran run(const std::string& cmd) {
  const std::string out = temp_path("run.out"), err = temp_path("run.err");
  const int st = std::system(fmt::format("(unset PYTHONMALLOC; {}) >'{}' 2>'{}'", cmd, out, err).c_str());
  Ran r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = testing::read_file(out);
  r.err = testing::read_file(err);
  return r;
}

std::string script(const std::string& name) { return std::string(HEAPLAY_SOURCE_DIR) + "/tests/pyscripts/" + name; }

// Records script (with args) into a fresh trace; checks that the run was
// python3's own and that verify finds the statistics identical.
struct Recording {
  std::string trace;
  Ran run;
};

Recording record_and_check(const std::string& name, const std::string& args = "", int expected_status = 0) {
  if (std::string(HEAPLAY_PYTHON3).empty()) ADD_FAILURE() << "heaplay-python was not built: install python3-dev";
  Recording rec;
  rec.trace = temp_path(name + ".heaplay");
  const std::string path = script(name);
  // The same working directory and argument spelling, so tracebacks match.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  rec.run = run(
      fmt::format("cd '{}' && '{}' -q record --python -o '{}' -- {} {}", dir, HEAPLAY_BIN, rec.trace, name, args));
  const Ran py = run(fmt::format("cd '{}' && '{}' {} {}", dir, HEAPLAY_PYTHON3, name, args));
  EXPECT_EQ(rec.run.status, expected_status) << rec.run.err;
  EXPECT_EQ(rec.run.status, py.status);
  EXPECT_EQ(rec.run.out, py.out);
  EXPECT_EQ(rec.run.err, py.err);
  // The ground truth against the replay, through the CLI and the library.
  const Ran verify = run(fmt::format("'{}' verify '{}'", HEAPLAY_BIN, rec.trace));
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
  EXPECT_TRUE(verify.out.starts_with("identical: ")) << verify.out;
  const VerifyResult v = verify_recording(rec.trace);
  EXPECT_TRUE(v.identical());
  // The version of the interpreter that ran (Debian 12's python3: 3.11.2).
  EXPECT_EQ(v.python + "\n", run(fmt::format("'{}' -c 'import platform; print(platform.python_version())'",
                                            HEAPLAY_PYTHON3)).out);
  EXPECT_NE(v.recorded.find("# arenas allocated current"), std::string::npos) << v.recorded;
  return rec;
}

CollectingConsumer read_events(const std::string& path) {
  CollectingConsumer c;
  open_trace(path)->read(c);
  return c;
}

TraceStats stats_of(const std::string& path) {
  StatsConsumer c;
  open_trace(path)->read(c);
  return c.finish();
}

const DomainStats& domain(const TraceStats& s, std::string_view name) {
  for (const DomainStats& d : s.domains)
    if (d.domain == name) return d;
  throw std::runtime_error("no domain row");
}

ReplayResult replay(const std::string& trace, const std::string& stack) {
  ReplayJob job;
  job.input = trace;
  job.stack = stack;
  return replay_trace(job);
}

TEST(RecordPython, JsonRoundtrip) {
  Recording r = record_and_check("json_roundtrip.py");
  EXPECT_EQ(r.run.out, "1598892 20000\n");
  // Every domain is used, and nothing without one (the recorder always knows the domain).
  const TraceStats s = stats_of(r.trace);
  EXPECT_GT(domain(s, "raw").allocs, 0u);
  EXPECT_GT(domain(s, "mem").allocs, 0u);
  EXPECT_GT(domain(s, "obj").allocs, 500000u);  // 20,000 records of a dozen objects or so, twice
  EXPECT_EQ(domain(s, "-").allocs, 0u);
  EXPECT_EQ(s.objects, 0u);
  // The metadata's call counts are the records: one a, f or r per recorded call.
  uint64_t calls = 0;
  for (const auto& [k, v] : s.metadata)
    if (k == "record.raw_calls" || k == "record.mem_calls" || k == "record.obj_calls") calls += std::stoull(v);
  EXPECT_EQ(calls, s.events - s.markers);
}

TEST(RecordPython, CountedObjects) {
  Recording r = record_and_check("counted.py");
  // Exactly the script's 1000 bytes objects of 4033 bytes: allocated, then freed.
  const CollectingConsumer c = read_events(r.trace);
  uint64_t allocs = 0, frees = 0;
  for (const Event& e : c.all) {
    if (e.size != 4033 || e.domain != Domain::Obj) continue;
    allocs += e.kind == EventKind::Alloc;
    frees += e.kind == EventKind::Free;
  }
  EXPECT_EQ(allocs, 1000u);
  EXPECT_EQ(frees, 1000u);
}

TEST(RecordPython, ChurnReallocsAcrossTheSmallLimit) {
  Recording r = record_and_check("churn.py");
  EXPECT_EQ(r.run.out, "3033 2033 3156 14000 3000\n");
  // list_resize and the bytearray move blocks between pymalloc (<= 512 bytes)
  // and malloc, both ways; verify above holds the pooled model to it.
  const CollectingConsumer c = read_events(r.trace);
  uint64_t up = 0, down = 0;
  for (const Event& e : c.all) {
    if (e.kind != EventKind::Realloc || e.domain == Domain::Raw) continue;
    up += e.old_size <= 512 && e.size > 512;
    down += e.old_size > 512 && e.size <= 512;
  }
  // At least one each way per cut of a stack (100 items: 864 bytes; cut to 30: 288).
  EXPECT_GT(up, 1000u);
  EXPECT_GT(down, 1000u);
}

TEST(RecordPython, CyclesFreedByTheCollector) {
  Recording r = record_and_check("cycles.py");
  EXPECT_EQ(r.run.out, "collected 1000\n");  // gc.collect()'s own count: 5 x 200 nodes
  const CollectingConsumer c = read_events(r.trace);
  // One start and one stop marker per gc.collect() (automatic collections are off).
  std::vector<std::string> marks;
  for (const Event& e : c.all)
    if (e.kind == EventKind::Mark) marks.emplace_back(c.str(e));
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    expected.push_back("gc start gen=2");
    expected.push_back("gc stop gen=2 collected=200 uncollectable=0");
  }
  EXPECT_EQ(marks, expected);
  // The 1000 payloads are freed by the collector (f ID gc), none otherwise.
  uint64_t gc_frees = 0, plain_frees = 0, gc_bytes = 0;
  for (const Event& e : c.all) {
    if (e.kind != EventKind::Free) continue;
    if (e.flags & kFlagGc) gc_bytes += e.size;
    if (e.size != 3033 || e.domain != Domain::Obj) continue;
    ((e.flags & kFlagGc) ? gc_frees : plain_frees) += 1;
  }
  EXPECT_EQ(gc_frees, 1000u);
  EXPECT_EQ(plain_frees, 0u);
  // Stacks without gc keep those blocks live: what the collector saved.
  const TraceStats s = stats_of(r.trace);
  const std::string* recorded = nullptr;
  for (const auto& [k, v] : s.metadata)
    if (k == "record.gc_frees") recorded = &v;
  ASSERT_NE(recorded, nullptr);
  EXPECT_EQ(std::to_string(s.gc_frees), *recorded);
  const ReplayResult pooled = replay(r.trace, "pooled"), gc = replay(r.trace, "gc");
  EXPECT_EQ(pooled.skipped_gc_frees, s.gc_frees);
  EXPECT_EQ(gc.skipped_gc_frees, 0u);
  EXPECT_EQ(pooled.final_live_bytes - gc.final_live_bytes, gc_bytes);
  EXPECT_GT(gc_bytes, 1000u * 3033);
  // compare runs every stack on a recording.
  const Ran cmp = run(fmt::format("'{}' compare '{}' --stacks raw,pooled,objspec,gc --format csv --no-progress",
                                  HEAPLAY_BIN, r.trace));
  EXPECT_EQ(cmp.status, 0) << cmp.err;
  EXPECT_EQ(std::count(cmp.out.begin(), cmp.out.end(), '\n'), 5) << cmp.out;  // header and four stacks
}

TEST(RecordPython, UncaughtException) {
  Recording r = record_and_check("raises.py", "", 1);
  EXPECT_NE(r.run.err.find("ZeroDivisionError: division by zero"), std::string::npos) << r.run.err;
}

TEST(RecordPython, SysExitWithArguments) {
  Recording r = record_and_check("exit3.py", "a 'b c'", 3);
  EXPECT_EQ(r.run.out, "['exit3.py', 'a', 'b c'] __main__ 300\n");
}

TEST(RecordPython, Threads) {
  Recording r = record_and_check("threads.py");
  const TraceStats s = stats_of(r.trace);
  EXPECT_GT(domain(s, "raw").allocs, 0u);
}

TEST(RecordPython, ForkedChildrenLeaveTheTraceAlone) {
  // Children that exit through atexit (sys.exit) and os._exit: only the parent ends the recording.
  Recording r = record_and_check("forks.py");
  EXPECT_EQ(r.run.out, "children 0 4\n");
}

}  // namespace
}  // namespace heaplay
