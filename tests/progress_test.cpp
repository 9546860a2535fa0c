// progress_test.cpp: the progress bar's text (reports/progress.hpp); no terminal needed.
#include <gtest/gtest.h>

#include <atomic>

#include "reports/progress.hpp"

namespace heaplay {
namespace {

TEST(Progress, CountsAndClocks) {
  EXPECT_EQ(short_count(950), "950");
  EXPECT_EQ(short_count(1234), "1.2k");
  EXPECT_EQ(short_count(3.45e6), "3.5M");
  EXPECT_EQ(short_count(5.6e9), "5.6G");
  EXPECT_EQ(clock_text(0), "0:00");
  EXPECT_EQ(clock_text(61.4), "1:01");
  EXPECT_EQ(clock_text(3725), "1:02:05");
}

TEST(Progress, WithATotalShowsShareRateAndTimeLeft) {
  // 1.5M of 6M records in 2 s: 25%, 750k/s, 4.5M left at that rate: 6 s.
  EXPECT_EQ(progress_text(1.5e6, 6e6, 2.0), "[######                  ]  25% 1.5M/6.0M events, 750.0k/s, 0:06 left");
  // Done: a full bar, nothing left; past the total (a total that was short) stays at 100%.
  EXPECT_EQ(progress_text(6e6, 6e6, 3.0), "[########################] 100% 6.0M/6.0M events, 2.0M/s, 0:00 left");
  EXPECT_EQ(progress_text(7e6, 6e6, 3.0), "[########################] 100% 7.0M/6.0M events, 2.3M/s, 0:00 left");
  // Nothing done yet: no rate, so no estimate.
  EXPECT_EQ(progress_text(0, 6e6, 0.0), "[                        ]   0% 0/6.0M events, 0/s, ? left");
}

TEST(Progress, WithoutATotalShowsEventsRateAndElapsed) {
  EXPECT_EQ(progress_text(2.5e6, std::nullopt, 5.0), "2.5M events, 500.0k/s, 0:05 elapsed");
  EXPECT_EQ(progress_text(2.5e6, 0.0, 5.0), "2.5M events, 500.0k/s, 0:05 elapsed");  // a 0 total is no total
}

TEST(Progress, HiddenBarWritesNothingAndThreadStops) {
  ProgressBar hidden(false);
  hidden.draw(1, 2);  // show false: no write (stderr untouched), no crash
  hidden.clear();
  std::atomic<uint64_t> counter{0};
  ProgressThread t(counter, 10);
  counter = 5;
  t.stop();
  t.stop();  // idempotent
}

}  // namespace
}  // namespace heaplay
