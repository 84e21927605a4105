#include "common/hlc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace deepkb {
namespace {

TEST(HybridClock, MonotonicEvenWhenWallClockStalls) {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; });
  uint64_t a = clock.Now();
  uint64_t b = clock.Now();
  EXPECT_LT(a, b);
  EXPECT_EQ(Hlc::Millis(a), 1000u);
  EXPECT_EQ(Hlc::Counter(b), 1u);
  wall = 900;  // wall clock goes backwards
  uint64_t c = clock.Now();
  EXPECT_LT(b, c);
  wall = 2000;
  uint64_t d = clock.Now();
  EXPECT_EQ(d, Hlc::Pack(2000, 0));
}

TEST(HybridClock, ObserveAdoptsRemoteWithinBound) {
  uint64_t wall = 10'000;
  HybridClock clock([&] { return wall; }, 60'000);
  ASSERT_TRUE(clock.Observe(Hlc::Pack(50'000, 7)).ok());
  EXPECT_GT(clock.Now(), Hlc::Pack(50'000, 7));
}

TEST(HybridClock, ObserveRejectsFarFutureAndKeepsState) {
  uint64_t wall = 10'000;
  HybridClock clock([&] { return wall; }, 60'000);
  const uint64_t before = clock.Now();
  Status s = clock.Observe(Hlc::Pack(10'000 + 60'001, 0));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(clock.last(), before);
}

TEST(HybridClock, UniqueAcrossThreads) {
  HybridClock clock([] { return uint64_t{5}; });
  std::vector<std::vector<uint64_t>> got(4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) got[t].push_back(clock.Now());
    });
  }
  for (auto& t : ts) t.join();
  std::vector<uint64_t> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

}  // namespace
}  // namespace deepkb
