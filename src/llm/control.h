// The two feedback controllers of the gateway, kept free of threads and clocks so that tests can
// drive them step by step (the Router calls them under its per-upstream mutex).
//
// AdaptiveLimiter — the concurrency limit of one upstream, from the operators' rule.
//   Latency signal: time to first token (TTFT) of each successful attempt, measured from sending
//   the request to the first event (for non-streamed calls: to the whole answer). TTFT is where an
//   engine's queueing shows (prefill waits for batch slots) and, unlike total latency, it does
//   not grow with the length of the answer.
//   Every `window` samples the limiter takes their mean m and
//     m > target_high  → limit = max(1, limit × decrease_factor)        (multiplicative)
//     m < target_low   → limit = min(max, limit + increase_step)        (additive)
//     otherwise        → unchanged.
//   An overload signal (HTTP 429) decreases at once. The samples of a window are discarded after
//   each decision, so a decision only uses latencies observed at the current limit.
//   limit() is the fractional value; Permits() = floor(limit), at least 1.
//
// CircuitBreaker — per upstream: closed → open after `failure_threshold` consecutive failures;
//   open for `open_seconds`, then half-open: up to `half_open_probes` attempts may run; a success
//   closes it, a failure opens it again for another open_seconds.
// Thread safety: none; callers serialise.
#pragma once

#include <cstddef>

namespace deepkb::llm {

struct LimiterConfig {
  double target_low_seconds = 0.5;   // grow while mean TTFT is below this
  double target_high_seconds = 2.0;  // shrink while mean TTFT is above this
  double increase_step = 1;          // additive growth per window
  double decrease_factor = 0.7;      // multiplicative shrink per window, in (0, 1)
  size_t window = 5;                 // samples per decision
  int initial = 0;                   // starting limit; 0 = max
};

class AdaptiveLimiter {
 public:
  AdaptiveLimiter(const LimiterConfig& config, int max_limit);

  void OnLatency(double ttft_seconds);
  void OnOverload();

  double limit() const { return limit_; }
  int Permits() const { return limit_ < 1 ? 1 : static_cast<int>(limit_); }
  int max_limit() const { return max_; }

 private:
  LimiterConfig config_;
  int max_;
  double limit_;
  double sum_ = 0;
  size_t count_ = 0;
};

struct BreakerConfig {
  int failure_threshold = 5;
  double open_seconds = 10;
  int half_open_probes = 1;
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kHalfOpen = 1, kOpen = 2 };
  explicit CircuitBreaker(const BreakerConfig& config) : config_(config) {}

  // Whether an attempt may start at time `now` (seconds on any monotonic scale); when it may in
  // half-open state, it takes a probe slot that OnSuccess/OnFailure/OnNeutral give back.
  bool Allow(double now);
  void OnSuccess();
  void OnFailure(double now);
  // The attempt ended without telling anything about the upstream's health (cancelled,
  // rejected by the engine as overloaded, bad request).
  void OnNeutral();

  State state(double now) const;
  // Seconds until an open breaker half-opens (0 when not open).
  double RetryAfter(double now) const;

 private:
  BreakerConfig config_;
  State state_ = State::kClosed;
  int failures_ = 0;
  double opened_at_ = 0;
  int probes_ = 0;  // half-open attempts running
};

}  // namespace deepkb::llm
