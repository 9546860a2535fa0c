// flat_map_test.cpp: FlatMap (traces/flat_map.hpp) against std::unordered_map.
//
// Random operations over key sets chosen to stress it: a regular stride (as
// addresses and IDs have) and random keys, the extreme keys (0, ~0 and its
// neighbours, which a map with a reserved key would have to treat apart),
// and growth through many rehashes. After every operation the answers must
// match the oracle's; at the end every key the oracle holds is found and
// every other one is not.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "traces/flat_map.hpp"

namespace heaplay {
namespace {

constexpr uint64_t kMax = ~uint64_t{0};

void check_same(FlatMap& m, const std::unordered_map<uint64_t, uint64_t>& oracle, const std::vector<uint64_t>& keys) {
  ASSERT_EQ(m.size(), oracle.size());
  for (uint64_t k : keys) {
    const uint64_t* v = m.find(k);
    auto it = oracle.find(k);
    if (it == oracle.end()) {
      EXPECT_EQ(v, nullptr) << "key " << k;
    } else {
      ASSERT_NE(v, nullptr) << "key " << k;
      EXPECT_EQ(*v, it->second) << "key " << k;
    }
  }
}

// max_load_eighths: 7 (the default) and 4 (Lifetimes' edge index).
class FlatMapLoad : public ::testing::TestWithParam<unsigned> {};

TEST_P(FlatMapLoad, MatchesAnUnorderedMapUnderRandomOperations) {
  const unsigned load = GetParam();
  std::mt19937_64 rng(7);
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 3000; ++i) keys.push_back(i * (uint64_t{1} << 40));  // a regular stride
  for (uint64_t i = 0; i < 3000; ++i) keys.push_back(rng());
  for (uint64_t i = 0; i < 8; ++i) keys.push_back(kMax - i);
  keys.push_back(0);
  FlatMap m(load);
  std::unordered_map<uint64_t, uint64_t> oracle;
  for (int step = 0; step < 200'000; ++step) {
    const uint64_t k = keys[rng() % keys.size()];
    const uint64_t v = rng();
    switch (rng() % 5) {
      case 0:
        m.put(k, v);
        oracle[k] = v;
        break;
      case 1: {
        auto [p, inserted] = m.try_emplace(k);
        const bool was = oracle.count(k) != 0;
        ASSERT_EQ(inserted, !was) << "key " << k;
        ASSERT_EQ(*p, was ? oracle[k] : 0) << "key " << k;
        *p = v;
        oracle[k] = v;
        break;
      }
      case 2:
        if (!oracle.count(k) && m.try_put_new(k, v)) oracle[k] = v;
        break;
      case 3:
        ASSERT_EQ(m.erase(k), oracle.erase(k) == 1) << "key " << k;
        break;
      default: {
        const uint64_t* p = m.find(k);
        ASSERT_EQ(p != nullptr, oracle.count(k) == 1) << "key " << k;
        if (p) {
          ASSERT_EQ(*p, oracle[k]);
        }
      }
    }
    ASSERT_EQ(m.size(), oracle.size());
  }
  EXPECT_GT(oracle.size(), 1000u);  // the run kept the table large, through rehashes
  EXPECT_GE(m.capacity() * load, m.size() * 8);
  check_same(m, oracle, keys);
}

INSTANTIATE_TEST_SUITE_P(Loads, FlatMapLoad, ::testing::Values(7u, 4u));

TEST(FlatMap, GrowsBeforeItIsFullerThanItsMaximumLoad) {
  // From 16 entries: at most 14 keys at 7/8 (the default), 8 at 1/2; the
  // next one doubles the table. Out-of-range loads are clamped to 1..7.
  for (auto [load, fits] : {std::pair{7u, 14u}, {4u, 8u}, {1u, 2u}, {0u, 2u}, {9u, 14u}}) {
    FlatMap m(load);
    for (uint64_t k = 0; k < fits; ++k) m.put(k, k);
    EXPECT_EQ(m.capacity(), 16u) << "load " << load;
    m.put(fits, fits);
    EXPECT_EQ(m.capacity(), 32u) << "load " << load;
  }
  FlatMap full(4);  // try_put_new refuses, rather than grow, at the limit
  for (uint64_t k = 0; k < 8; ++k) ASSERT_TRUE(full.try_put_new(k, k));
  EXPECT_FALSE(full.try_put_new(8, 8));
  EXPECT_EQ(full.capacity(), 16u);
  EXPECT_EQ(full.size(), 8u);
}

TEST(FlatMap, TheLargestKeyIsAKeyLikeAnyOther) {
  FlatMap m;
  EXPECT_EQ(m.find(kMax), nullptr);
  m.put(kMax, 5);
  m.put(kMax - 1, 6);
  EXPECT_EQ(m.size(), 2u);
  ASSERT_NE(m.find(kMax), nullptr);
  EXPECT_EQ(*m.find(kMax), 5u);
  EXPECT_EQ(*m.find(kMax - 1), 6u);
  auto [p, inserted] = m.try_emplace(kMax);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(*p, 5u);
  // erase_if sees it like any other entry.
  std::vector<uint64_t> seen;
  m.erase_if([&](uint64_t k, uint64_t&) {
    seen.push_back(k);
    return k == kMax;
  });
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(m.find(kMax), nullptr);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_FALSE(m.erase(kMax));
  EXPECT_TRUE(m.erase(kMax - 1));
  EXPECT_EQ(m.size(), 0u);
}

TEST(FlatMap, EraseKeepsEveryOtherKeyOfACollidingRunReachable) {
  // Keys whose homes coincide form one probe run; erasing from its middle
  // must pull the later ones back (backward shift), or they become unreachable.
  FlatMap m;
  std::vector<uint64_t> run;
  // Keys with the same home in the first, 16-entry table: FlatMap's
  // Fibonacci hash, the top 4 bits of key x 0x9E3779B97F4A7C15.
  for (uint64_t k = 1; run.size() < 10; ++k)
    if ((k * 0x9E3779B97F4A7C15ull) >> 60 == 3) run.push_back(k);
  for (uint64_t k : run) m.put(k, k + 1);
  ASSERT_EQ(m.capacity(), 16u);
  for (size_t gone = 0; gone < run.size(); gone += 3) {
    EXPECT_TRUE(m.erase(run[gone]));
    for (size_t j = 0; j < run.size(); ++j) {
      const uint64_t* v = m.find(run[j]);
      if (j % 3 == 0 && j <= gone) {
        EXPECT_EQ(v, nullptr) << j;
      } else {
        ASSERT_NE(v, nullptr) << j;
        EXPECT_EQ(*v, run[j] + 1);
      }
    }
  }
}

}  // namespace
}  // namespace heaplay
