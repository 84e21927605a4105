// Request admission for `deepkb serve`: per-key token buckets (429) and a bound on handlers
// running at once with a short, bounded wait (503). Both answer quickly; neither queues without
// bound, so overload turns into fast rejections instead of growing latency and memory.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace deepkb::server {

// One token bucket per key id: `rate` tokens per second, at most `burst` stored; a request
// takes one token. rate <= 0 disables limiting. Buckets idle long enough to be full again are
// dropped when the table grows past `max_keys`, so memory stays bounded by active keys.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(double rate, double burst, size_t max_keys = 100000);

  // True when `key` may proceed now. Otherwise false, with *retry_after_s set to the whole
  // number of seconds (>= 1) after which one token will be available.
  bool Allow(const std::string& key, int* retry_after_s, Clock::time_point now = Clock::now());

  bool enabled() const { return rate_ > 0; }
  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  void Prune(Clock::time_point now);  // requires mu_

  const double rate_;
  const double burst_;
  const size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

// At most `max_inflight` holders at once. Acquire waits up to `max_wait` for a slot, but refuses
// at once when `max_waiting` callers are already waiting (the wait queue is full).
class ConcurrencyLimiter {
 public:
  ConcurrencyLimiter(int max_inflight, int max_waiting, std::chrono::milliseconds max_wait);

  enum class Outcome { kAdmitted, kQueueFull, kTimedOut };
  Outcome Acquire();
  void Release();

  int in_flight() const;
  int waiting() const;
  int max_inflight() const { return max_inflight_; }

 private:
  const int max_inflight_;
  const int max_waiting_;
  const std::chrono::milliseconds max_wait_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;  // guarded by mu_
  int waiting_ = 0;    // guarded by mu_
};

}  // namespace deepkb::server
