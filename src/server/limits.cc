#include "server/limits.h"

#include <algorithm>
#include <cmath>

namespace deepkb::server {

RateLimiter::RateLimiter(double rate, double burst, size_t max_keys)
    : rate_(rate), burst_(std::max(1.0, burst)), max_keys_(std::max<size_t>(1, max_keys)) {}

void RateLimiter::Prune(Clock::time_point now) {
  const double full_after_s = burst_ / rate_;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double idle = std::chrono::duration<double>(now - it->second.last).count();
    it = idle >= full_after_s ? buckets_.erase(it) : std::next(it);
  }
}

bool RateLimiter::Allow(const std::string& key, int* retry_after_s, Clock::time_point now) {
  if (rate_ <= 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) Prune(now);
    it = buckets_.emplace(key, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::max(0.0, std::chrono::duration<double>(now - b.last).count());
  b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.last = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  if (retry_after_s) {
    *retry_after_s = std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / rate_)));
  }
  return false;
}

ConcurrencyLimiter::ConcurrencyLimiter(int max_inflight, int max_waiting,
                                       std::chrono::milliseconds max_wait)
    : max_inflight_(std::max(1, max_inflight)), max_waiting_(std::max(0, max_waiting)),
      max_wait_(max_wait) {}

ConcurrencyLimiter::Outcome ConcurrencyLimiter::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  if (in_flight_ < max_inflight_ && waiting_ == 0) {
    ++in_flight_;
    return Outcome::kAdmitted;
  }
  if (waiting_ >= max_waiting_) return Outcome::kQueueFull;
  ++waiting_;
  const bool got = cv_.wait_for(lock, max_wait_, [&] { return in_flight_ < max_inflight_; });
  --waiting_;
  if (!got) return Outcome::kTimedOut;
  ++in_flight_;
  return Outcome::kAdmitted;
}

void ConcurrencyLimiter::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
  cv_.notify_one();
}

int ConcurrencyLimiter::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int ConcurrencyLimiter::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

}  // namespace deepkb::server
