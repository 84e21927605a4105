#include "llm/control.h"

#include <gtest/gtest.h>

namespace deepkb::llm {
namespace {

LimiterConfig Band() {
  LimiterConfig c;
  c.target_low_seconds = 0.1;
  c.target_high_seconds = 0.2;
  c.increase_step = 1;
  c.decrease_factor = 0.5;
  c.window = 2;
  return c;
}

TEST(AdaptiveLimiter, ShrinksAboveBandGrowsBelowHoldsInside) {
  AdaptiveLimiter l(Band(), 8);
  EXPECT_EQ(l.Permits(), 8);
  l.OnLatency(0.5);
  EXPECT_EQ(l.Permits(), 8);  // one sample is not a window
  l.OnLatency(0.5);
  EXPECT_EQ(l.Permits(), 4);
  l.OnLatency(0.15);
  l.OnLatency(0.15);
  EXPECT_EQ(l.Permits(), 4);  // inside the band
  l.OnLatency(0.01);
  l.OnLatency(0.01);
  EXPECT_EQ(l.Permits(), 5);
  for (int i = 0; i < 20; ++i) l.OnLatency(0.01);
  EXPECT_EQ(l.Permits(), 8);  // capped at max
  for (int i = 0; i < 40; ++i) l.OnLatency(9);
  EXPECT_EQ(l.Permits(), 1);  // floor at 1
  EXPECT_GE(l.limit(), 1.0);
}

TEST(AdaptiveLimiter, OverloadShrinksAtOnceAndInitialIsRespected) {
  LimiterConfig c = Band();
  c.initial = 6;
  AdaptiveLimiter l(c, 10);
  EXPECT_EQ(l.Permits(), 6);
  l.OnOverload();
  EXPECT_EQ(l.Permits(), 3);
}

TEST(CircuitBreaker, OpensHalfOpensAndCloses) {
  BreakerConfig c;
  c.failure_threshold = 3;
  c.open_seconds = 10;
  c.half_open_probes = 1;
  CircuitBreaker b(c);
  double t = 100;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.Allow(t));
    b.OnFailure(t);
  }
  EXPECT_EQ(b.state(t), CircuitBreaker::State::kClosed);
  ASSERT_TRUE(b.Allow(t));
  b.OnSuccess();  // success resets the count
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.Allow(t));
    b.OnFailure(t);
  }
  EXPECT_EQ(b.state(t), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.Allow(t + 5));
  EXPECT_DOUBLE_EQ(b.RetryAfter(t + 4), 6);
  // Half-open: one probe at a time.
  EXPECT_TRUE(b.Allow(t + 10));
  EXPECT_FALSE(b.Allow(t + 10));
  b.OnFailure(t + 11);  // probe failed: open again
  EXPECT_EQ(b.state(t + 12), CircuitBreaker::State::kOpen);
  EXPECT_TRUE(b.Allow(t + 21));
  b.OnNeutral();  // a neutral probe gives its slot back
  EXPECT_TRUE(b.Allow(t + 21));
  b.OnSuccess();
  EXPECT_EQ(b.state(t + 21), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(b.Allow(t + 21));
  EXPECT_TRUE(b.Allow(t + 21));
}

}  // namespace
}  // namespace deepkb::llm
