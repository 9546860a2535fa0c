// record_test.cpp: `heaplay record` on real programs (tests/workloads/
// rec_workload.cpp and CPython), end to end: the binary runs the program
// under the preload library and the tests read the file it wrote.
//
// Exact figures come from what the workload does, counted by hand (the
// comments in rec_workload.cpp): with --sites, per call-site tag, so that
// whatever libc allocates at start-up cannot change them; without sites,
// over the blocks allocated between the workload's two bracket allocations
// (sizes kBegin and kEnd), computed here from the events (an oracle that
// does not use `heaplay stats`).
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "reports/stats.hpp"
#include "tests/test_util.hpp"
#include "traces/trace_io.hpp"

extern char** environ;

namespace heaplay {
namespace {

using testing::CollectingConsumer;
using testing::meta;
using testing::run;
using testing::stats_of;
using testing::temp_path;

constexpr uint64_t kBegin = 777001, kEnd = 777002;

struct Recorded {
  std::string file;
  int status = 0;
  std::string log;  // heaplay's and the program's stdout and stderr
};

// heaplay record FLAGS -o TEMP/name.heaplay -- PROGRAM; env: assignments in
// front of heaplay (it passes its environment on to the program).
Recorded record(const std::string& name, const std::string& program, const std::string& flags = "--sites",
                const std::string& env = "") {
  Recorded r;
  r.file = temp_path(name + ".heaplay");
  r.log = run(fmt::format("{} '{}' record {} -o '{}' -- {} 2>&1", env, HEAPLAY_BIN, flags, r.file, program),
              &r.status);
  return r;
}

std::string workload(const std::string& mode) { return fmt::format("'{}' {}", HEAPLAY_REC_WORKLOAD, mode); }

// The one type whose tag starts with "rec_workload!FUNCTION+".
TypeStats site(const TraceStats& s, const std::string& function) {
  const std::string prefix = "rec_workload!" + function + "+";
  std::vector<TypeStats> found;
  for (const TypeStats& t : s.types)
    if (t.type.starts_with(prefix)) found.push_back(t);
  EXPECT_EQ(found.size(), 1u) << prefix;
  return found.empty() ? TypeStats{} : found.front();
}

void expect_site(const TraceStats& s, const std::string& function, uint64_t allocs, uint64_t bytes, uint64_t frees,
                 uint64_t final_live, uint64_t final_live_bytes, uint64_t peak_live_bytes) {
  TypeStats t = site(s, function);
  EXPECT_EQ(t.allocs, allocs) << function;
  EXPECT_EQ(t.bytes, bytes) << function;
  EXPECT_EQ(t.frees, frees) << function;
  EXPECT_EQ(t.final_live, final_live) << function;
  EXPECT_EQ(t.final_live_bytes, final_live_bytes) << function;
  EXPECT_EQ(t.peak_live_bytes, peak_live_bytes) << function;
}

// Nothing the recorder had to paper over.
void expect_clean(const TraceStats& s) {
  EXPECT_EQ(s.anomalies, 0u);
  EXPECT_FALSE(s.truncated);
  EXPECT_EQ(meta(s, "record.unknown_frees"), "0");
  EXPECT_EQ(meta(s, "record.unknown_reallocs"), "0");
  EXPECT_EQ(meta(s, "record.reused_addresses"), "0");
  EXPECT_EQ(meta(s, "record.lost_records"), "0");
  EXPECT_EQ(meta(s, "record.lost_bytes"), "0");
}

// `rec_workload MODE` recorded with --sites: heaplay's exit status, then the
// recording's stats, checked clean.
TraceStats record_clean(const std::string& mode, int status = 0) {
  Recorded r = record(mode, workload(mode));
  EXPECT_EQ(r.status, status) << r.log;
  TraceStats s = stats_of(r.file);
  expect_clean(s);
  return s;
}

TEST(Record, EveryInterposedFunctionPerCallSite) {
  TraceStats s = record_clean("sequence");
  EXPECT_EQ(s.format, "native");
  EXPECT_EQ(s.threads, 1u);
  //           function            allocs  bytes    frees  final_live  final_bytes  peak_bytes
  expect_site(s, "seq_malloc24",       1000, 24000,   500,   500,        12000,       24000);
  // malloc(100) realloc'ed to 100000 and 200, freed; malloc(100) then realloc(p, 0).
  // A realloc is an alloc and a free of its block, which keeps its tag.
  expect_site(s, "seq_malloc100",      4,    100400,  4,     0,          0,           100000);
  expect_site(s, "seq_calloc",         3,    1200,    1,     2,          800,         1200);
  expect_site(s, "seq_posix_memalign", 1,    1000,    1,     0,          0,           1000);
  expect_site(s, "seq_aligned_alloc",  1,    2048,    1,     0,          0,           2048);
  expect_site(s, "seq_memalign",       1,    3000,    1,     0,          0,           3000);
  expect_site(s, "seq_valloc",         1,    5000,    1,     0,          0,           5000);
  expect_site(s, "seq_pvalloc",        1,    6000,    1,     0,          0,           6000);
  // reallocarray(NULL, 10, 70), then to 20 x 70, freed.
  expect_site(s, "seq_reallocarray",   2,    2100,    2,     0,          0,           1400);
  expect_site(s, "bracket",            2,    kBegin + kEnd, 2, 0,        0,           kEnd);
  // Whole-trace figures include anything libc allocated too: at least these.
  EXPECT_GE(s.reallocs, 3u);
  EXPECT_GE(s.allocs, 1016u);
  EXPECT_GE(std::stoull(meta(s, "record.calls.reallocarray")), 2u);
  EXPECT_GE(std::stoull(meta(s, "record.calls.pvalloc")), 1u);
  EXPECT_EQ(meta(s, "source"), "heaplay record");
  EXPECT_EQ(meta(s, "record.sites"), "true");
  EXPECT_EQ(meta(s, "record.exit_code"), "0");
  EXPECT_NE(meta(s, "record.command").find("rec_workload sequence"), std::string::npos);
  ASSERT_TRUE(s.first_time_ns && s.last_time_ns);
  EXPECT_LE(*s.first_time_ns, *s.last_time_ns);
}

// The blocks allocated between the two brackets: their figures to the end of the trace.
struct Window {
  uint64_t allocs = 0, frees = 0, reallocs = 0, peak = 0, final = 0;
};

Window between_brackets(const CollectingConsumer& c) {
  Window w;
  bool in = false;
  std::map<uint32_t, uint64_t> mine;  // slot -> size
  uint64_t live = 0;
  for (const Event& e : c.all) {
    if (e.kind == EventKind::Alloc && (e.size == kBegin || e.size == kEnd)) {
      in = e.size == kBegin;
      continue;
    }
    auto it = mine.find(e.slot.value);
    if (e.kind == EventKind::Alloc && in) {
      mine[e.slot.value] = e.size;
      ++w.allocs;
      live += e.size;
    } else if (e.kind == EventKind::Realloc && it != mine.end()) {
      ++w.reallocs;
      live = live - it->second + e.size;
      it->second = e.size;
    } else if (e.kind == EventKind::Free && it != mine.end()) {
      ++w.frees;
      live -= it->second;
      mine.erase(it);
    }
    w.peak = std::max(w.peak, live);
  }
  w.final = live;
  return w;
}

TEST(Record, WithoutSitesTheBracketedSequenceIsExact) {
  Recorded r = record("sequence-nosites", workload("sequence"), "");
  ASSERT_EQ(r.status, 0) << r.log;
  CollectingConsumer c;
  open_trace(r.file)->read(c);
  Window w = between_brackets(c);
  // 1000 + 2 malloc, 3 calloc, 5 aligned, 1 reallocarray(NULL): 1011 blocks;
  // 500 + 1 + 1 + 5 + 1 + 1 (realloc to 0) of them freed; realloc 100000,
  // 200 and reallocarray 1400. Peak: 12000 left of the 24-byte blocks and the
  // block realloc'ed to 100000. Final: 500 x 24 and 2 callocs of 400.
  EXPECT_EQ(w.allocs, 1011u);
  EXPECT_EQ(w.frees, 509u);
  EXPECT_EQ(w.reallocs, 3u);
  EXPECT_EQ(w.peak, 112000u);
  EXPECT_EQ(w.final, 12800u);
  for (const std::string& name : c.names) EXPECT_EQ(name.find('!'), std::string::npos) << "no site tags: " << name;
  EXPECT_EQ(*c.metadata.get("record.sites"), "false");
}

TEST(Record, EightThreadsReplayInOrder) {
  TraceStats s = record_clean("threads");  // read strictly: any out-of-order free would stop it
  EXPECT_EQ(s.threads, 9u);
  EXPECT_EQ(meta(s, "record.threads"), "9");
  // 8 x 2000 blocks of 16 + t bytes, each freed once (half by the next
  // thread), and the main thread's 8 bytes.
  TypeStats t = site(s, "worker_alloc");
  const uint64_t all = 2000 * (8 * 16 + 0 + 1 + 2 + 3 + 4 + 5 + 6 + 7) + 8;
  EXPECT_EQ(t.allocs, 16001u);
  EXPECT_EQ(t.bytes, all);
  EXPECT_EQ(t.frees, 16000u);
  EXPECT_EQ(t.final_live, 1u);
  EXPECT_EQ(t.final_live_bytes, 8u);
  // The peak depends on how the threads ran: at least the odd half all
  // threads hold at the barrier, at most everything.
  EXPECT_GE(t.peak_live_bytes, (all - 8) / 2 + 8);
  EXPECT_LE(t.peak_live_bytes, all);
}

// Files beside OUT named OUT.<something>.
std::vector<std::string> siblings(const std::string& out) {
  std::vector<std::string> found;
  const std::filesystem::path p(out);
  for (const auto& e : std::filesystem::directory_iterator(p.parent_path()))
    if (e.path().filename().string().starts_with(p.filename().string() + ".")) found.push_back(e.path().string());
  return found;
}

TEST(Record, ForkedChildIsNotFollowedByDefault) {
  Recorded r = record("fork", workload("fork"));
  ASSERT_EQ(r.status, 0) << r.log;
  TraceStats s = stats_of(r.file);
  expect_clean(s);
  // The parent's 10 x 3001 before the fork and 10 x 3003 after; none of the child's 3002.
  expect_site(s, "worker_alloc", 20, 10 * 3001 + 10 * 3003, 0, 20, 10 * 3001 + 10 * 3003, 10 * 3001 + 10 * 3003);
  EXPECT_TRUE(siblings(r.file).empty());
  EXPECT_EQ(meta(s, "record.follow_fork"), "false");
}

TEST(Record, FollowForkGivesTheChildItsOwnFile) {
  Recorded r = record("fork-follow", workload("fork"), "--sites --follow-fork");
  ASSERT_EQ(r.status, 0) << r.log;
  TraceStats parent = stats_of(r.file);
  expect_clean(parent);
  expect_site(parent, "worker_alloc", 20, 10 * 3001 + 10 * 3003, 0, 20, 10 * 3001 + 10 * 3003, 10 * 3001 + 10 * 3003);
  std::vector<std::string> children = siblings(r.file);
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0], r.file + "." + meta(stats_of(children[0]), "record.pid"));
  TraceStats child = stats_of(children[0]);
  expect_clean(child);
  // Its own 20 x 3002 only (the parent's blocks it inherited are not in its file).
  expect_site(child, "worker_alloc", 20, 20 * 3002, 0, 20, 20 * 3002, 20 * 3002);
  EXPECT_EQ(meta(child, "record.kind"), "fork");
  EXPECT_EQ(meta(child, "record.ppid"), meta(parent, "record.pid"));
}

TEST(Record, ExecContinuesInTheSameFile) {
  Recorded r = record("exec", workload("exec"));
  ASSERT_EQ(r.status, 0) << r.log;
  TraceStats s = stats_of(r.file);
  expect_clean(s);
  EXPECT_EQ(meta(s, "record.images"), "2");
  EXPECT_EQ(s.markers, 1u);
  // The first image's 5 blocks end with it; then the whole sequence runs.
  expect_site(s, "worker_alloc", 5, 5 * 6001, 5, 0, 0, 5 * 6001);
  expect_site(s, "seq_malloc24", 1000, 24000, 500, 500, 12000, 24000);
  CollectingConsumer c;
  open_trace(r.file)->read(c);
  auto mark = std::find_if(c.all.begin(), c.all.end(), [](const Event& e) { return e.kind == EventKind::Mark; });
  ASSERT_NE(mark, c.all.end());
  EXPECT_TRUE(c.str(*mark).starts_with("exec ")) << c.str(*mark);
  EXPECT_NE(c.str(*mark).find("sequence"), std::string::npos) << c.str(*mark);
}

// MODE makes 100 blocks of `size` bytes, fewer than fill a thread's buffer,
// then ends abruptly: all 100 must have been sent on the way out, and heaplay
// must exit with `status` and record how the program ended (key = value).
void expect_abrupt_end(const std::string& mode, uint64_t size, int status, const std::string& key,
                       const std::string& value) {
  TraceStats s = record_clean(mode, status);
  expect_site(s, "worker_alloc", 100, 100 * size, 0, 100, 100 * size, 100 * size);
  EXPECT_EQ(meta(s, key), value);
}

TEST(Record, UnderscoreExitKeepsEverythingAndTheStatus) {
  expect_abrupt_end("exit", 7001, 7, "record.exit_code", "7");  // _exit: no exit handlers, the hook sends
}

TEST(Record, FatalSignalFlushesAndExitsLikeAShell) {
  expect_abrupt_end("abort", 8001, 128 + SIGABRT, "record.exit_signal", "SIGABRT");  // the signal handler sends
  Recorded r = record("abort-message", workload("abort"));
  EXPECT_NE(r.log.find("was killed by SIGABRT"), std::string::npos) << r.log;
}

TEST(Record, SigkilledProgramLeavesACompleteFileUpToItsLastBuffer) {
  Recorded r = record("sigkill", workload("sigkill"));
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.log;
  TraceStats s = stats_of(r.file);
  EXPECT_FALSE(s.truncated);  // heaplay itself finished the file
  EXPECT_EQ(s.anomalies, 0u);
  // 10000 malloc/free pairs: the buffers sent whole (4096 records each) got
  // through, the last one died with the program.
  TypeStats t = site(s, "worker_alloc");
  EXPECT_GE(t.allocs, 8000u);
  EXPECT_LE(t.allocs, 10000u);
  EXPECT_LE(t.frees, t.allocs);
  EXPECT_EQ(meta(s, "record.exit_signal"), "SIGKILL");
}

TEST(Record, ProgramThatNeverReturnsFromMain) {
  TraceStats s = record_clean("pthread-exit");
  EXPECT_EQ(s.threads, 2u);
  expect_site(s, "worker_alloc", 50, 50 * 4001, 0, 50, 50 * 4001, 50 * 4001);
}

TEST(Record, KilledRecorderLeavesAReadableTruncatedFile) {
  const std::string file = temp_path("killed.heaplay");
  const std::string heaplay = HEAPLAY_BIN, program = HEAPLAY_REC_WORKLOAD;
  std::vector<std::string> args = {heaplay, "-q", "record", "--sites", "-o", file, "--", program, "forever"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  // Until the file holds a few frames (written every 100 ms), at most 60 s.
  struct stat st {};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((stat(file.c_str(), &st) != 0 || st.st_size < 20000) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_GE(st.st_size, 20000) << "the recording did not grow";
  // The program notices that heaplay is gone and ends by itself.
  TraceStats s = stats_of(file);
  EXPECT_TRUE(s.truncated);
  EXPECT_EQ(s.anomalies, 0u);
  EXPECT_GT(site(s, "worker_alloc").allocs, 1000u);
}

TEST(Record, CPythonReplaysThroughEveryStack) {
  const std::string code =
      "import json\n"
      "d = [{'k': str(i) * (i % 5), 'v': [i] * (i % 9)} for i in range(20000)]\n"
      "s = json.dumps(d)\n"
      "print(len(json.loads(s)))\n";
  const std::string script = temp_path("work.py");
  testing::write_file(script, code);
  Recorded r = record("python", "/usr/bin/python3 '" + script + "'", "--sites", "PYTHONMALLOC=malloc");
  ASSERT_EQ(r.status, 0) << r.log;
  EXPECT_NE(r.log.find("20000"), std::string::npos) << r.log;
  TraceStats s = stats_of(r.file);
  EXPECT_EQ(s.anomalies, 0u);
  EXPECT_GT(s.allocs, 100000u);
  EXPECT_GT(s.frees, 50000u);
  bool python_site = false;
  for (const TypeStats& t : s.types) python_site = python_site || t.type.starts_with("python3");
  EXPECT_TRUE(python_site) << "a site in the interpreter itself";
  int st = 0;
  std::string out = run(fmt::format("'{}' compare '{}' --stacks raw,pooled,objspec,gc --format csv --no-progress",
                                    HEAPLAY_BIN, r.file),
                        &st);
  EXPECT_EQ(st, 0) << out;
  // The header and one row per stack, each with an empty error column (the third).
  std::vector<std::string> rows;
  for (size_t at = 0, end; (end = out.find('\n', at)) != std::string::npos; at = end + 1)
    rows.push_back(out.substr(at, end - at));
  ASSERT_EQ(rows.size(), 5u) << out;
  EXPECT_TRUE(rows[0].starts_with("trace,stack,error,")) << rows[0];
  const std::vector<std::string> stacks = {"raw", "pooled", "objspec", "gc"};
  for (size_t i = 0; i < stacks.size(); ++i)
    EXPECT_NE(rows[i + 1].find("," + stacks[i] + ",,"), std::string::npos) << rows[i + 1];
}

}  // namespace
}  // namespace heaplay
