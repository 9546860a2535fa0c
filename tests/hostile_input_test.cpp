// hostile_input_test.cpp: traces that are valid but ask for absurd amounts
// (docs/robustness.md, "Bounds"). Sizes are simulated by raw sim, never
// allocated on the host; IDs are hashed, never used as indices; a request no
// 64-bit machine could serve stops the replay with exit status 2, naming the
// trace and the record.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fmt/format.h>

#include <string>

#include "engine/replay_run.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"

namespace heaplay {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;
const char* const kStacks[] = {"raw", "pooled", "objspec", "gc"};

// The peak resident set of this process so far, in bytes (ctest runs each
// test in a process of its own, so it starts small).
uint64_t peak_rss() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<uint64_t>(u.ru_maxrss) * 1024;
}

std::string replay_error(const std::string& path, const std::string& stack) {
  ReplayJob job;
  job.input = path;
  job.stack = stack;
  try {
    replay_trace(job);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_status(), kExitBadInput) << e.what();
    return e.what();
  }
  return "(no error)";
}

// 100 TiB live at once, in blocks and objects of 1 TiB under IDs near 2^64:
// the replay's figures are exact and the host's memory does not notice.
TEST(HostileInput, HugeSizesAndIdsAreSimulatedNotAllocated) {
  std::string text;
  for (uint64_t i = 0; i < 50; ++i) {
    text += fmt::format("a {} {}\n", UINT64_MAX - i, kTiB);
    text += fmt::format("o {} {} dict\n", (uint64_t{1} << 63) + i, kTiB);
  }
  const std::string path = testing::temp_path("huge.trace");
  testing::write_file(path, text);
  for (const char* stack : kStacks) {
    SCOPED_TRACE(stack);
    const uint64_t before = peak_rss();
    ReplayJob job;
    job.input = path;
    job.stack = stack;
    const ReplayResult r = replay_trace(job);
    EXPECT_EQ(r.peak_live_bytes, 100 * kTiB);
    EXPECT_EQ(r.final_live_bytes, 100 * kTiB);
    EXPECT_GE(r.peak_footprint_bytes, 100 * kTiB);
    EXPECT_LT(peak_rss() - before, uint64_t{64} << 20);
  }
}

// 2^64-1 bytes: refused at once, at its record (comments and deaths do not count).
TEST(HostileInput, ARequestNoMachineCouldServeStopsTheReplayAtItsRecord) {
  const std::string path = testing::temp_path("max.trace");
  testing::write_file(path, "# two records, a death, then the request\na 1 8\no 2 16 dict\n- 2\na 3 18446744073709551615\n");
  for (const char* stack : kStacks)
    EXPECT_EQ(replay_error(path, stack),
              path + ": record 4: raw sim: a request of 18446744073709551615 bytes cannot be had")
        << stack;
}

// Mappings of 1 TiB (and a page: the chunk header and its lead) until the
// simulated address space, [16 TiB, 127 TiB), has no room: 110 fit, the
// 111th does not.
TEST(HostileInput, ExhaustingTheSimulatedAddressSpaceStopsTheReplayAtItsRecord) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += fmt::format("a {} {}\n", i, kTiB);
  const std::string path = testing::temp_path("space.trace");
  testing::write_file(path, text);
  for (const char* stack : kStacks)
    EXPECT_EQ(replay_error(path, stack),
              fmt::format("{}: record 111: raw sim: no room for a mapping of {} bytes in the simulated address space",
                          path, kTiB + 4096))
        << stack;
}

}  // namespace
}  // namespace heaplay
