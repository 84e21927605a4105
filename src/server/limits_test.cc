#include "server/limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace deepkb::server {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiterTest, BurstThenRefusalWithRetryAfterThenRecovery) {
  RateLimiter rl(2.0, 3.0);
  const auto t0 = RateLimiter::Clock::now();
  int retry = 0;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.Allow("k", &retry, t0)) << i;
  EXPECT_FALSE(rl.Allow("k", &retry, t0));
  EXPECT_EQ(retry, 1);  // 1 token at 2/s = 0.5 s, rounded up to whole seconds
  EXPECT_TRUE(rl.Allow("other", &retry, t0));  // buckets are per key
  EXPECT_TRUE(rl.Allow("k", &retry, t0 + 600ms));
  EXPECT_FALSE(rl.Allow("k", &retry, t0 + 600ms));
}

TEST(RateLimiterTest, RetryAfterReflectsSlowRates) {
  RateLimiter rl(0.1, 1.0);  // one request per 10 s
  const auto t0 = RateLimiter::Clock::now();
  int retry = 0;
  EXPECT_TRUE(rl.Allow("k", &retry, t0));
  EXPECT_FALSE(rl.Allow("k", &retry, t0 + 1s));
  EXPECT_EQ(retry, 9);
}

TEST(RateLimiterTest, ZeroRateDisables) {
  RateLimiter rl(0, 1);
  EXPECT_FALSE(rl.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(rl.Allow("k", nullptr));
}

TEST(RateLimiterTest, TableStaysBoundedByPruningFullBuckets) {
  RateLimiter rl(100, 1, 4);
  auto t = RateLimiter::Clock::now();
  for (int i = 0; i < 100; ++i) {
    t += 100ms;  // every earlier bucket is full again
    EXPECT_TRUE(rl.Allow("k" + std::to_string(i), nullptr, t));
  }
}

TEST(ConcurrencyLimiterTest, AdmitsUpToLimitThenTimesOutOrRefuses) {
  ConcurrencyLimiter cl(2, 1, 50ms);
  EXPECT_EQ(cl.Acquire(), ConcurrencyLimiter::Outcome::kAdmitted);
  EXPECT_EQ(cl.Acquire(), ConcurrencyLimiter::Outcome::kAdmitted);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(cl.Acquire(), ConcurrencyLimiter::Outcome::kTimedOut);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  // One waiter holds the only queue place; the next caller is refused at once.
  std::thread waiter([&] { EXPECT_EQ(cl.Acquire(), ConcurrencyLimiter::Outcome::kAdmitted); });
  while (cl.waiting() == 0) std::this_thread::yield();
  EXPECT_EQ(cl.Acquire(), ConcurrencyLimiter::Outcome::kQueueFull);
  cl.Release();
  waiter.join();
  EXPECT_EQ(cl.in_flight(), 2);
  cl.Release();
  cl.Release();
  EXPECT_EQ(cl.in_flight(), 0);
}

TEST(ConcurrencyLimiterTest, NeverExceedsLimitUnderContention) {
  ConcurrencyLimiter cl(3, 100, 5s);
  std::atomic<int> now{0}, peak{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        ASSERT_EQ(cl.Acquire(), ConcurrencyLimiter::Outcome::kAdmitted);
        const int n = ++now;
        int p = peak.load();
        while (n > p && !peak.compare_exchange_weak(p, n)) {}
        --now;
        cl.Release();
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_LE(peak.load(), 3);
}

}  // namespace
}  // namespace deepkb::server
