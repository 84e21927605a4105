#include "llm/control.h"

#include <algorithm>

namespace deepkb::llm {

AdaptiveLimiter::AdaptiveLimiter(const LimiterConfig& config, int max_limit)
    : config_(config), max_(std::max(1, max_limit)) {
  if (config_.window == 0) config_.window = 1;
  if (!(config_.decrease_factor > 0 && config_.decrease_factor < 1)) config_.decrease_factor = 0.7;
  limit_ = config_.initial > 0 ? std::min(config_.initial, max_) : max_;
}

void AdaptiveLimiter::OnLatency(double ttft) {
  sum_ += ttft;
  if (++count_ < config_.window) return;
  const double mean = sum_ / static_cast<double>(count_);
  sum_ = 0;
  count_ = 0;
  if (mean > config_.target_high_seconds) {
    limit_ = std::max(1.0, limit_ * config_.decrease_factor);
  } else if (mean < config_.target_low_seconds) {
    limit_ = std::min(static_cast<double>(max_), limit_ + config_.increase_step);
  }
}

void AdaptiveLimiter::OnOverload() {
  limit_ = std::max(1.0, limit_ * config_.decrease_factor);
  sum_ = 0;
  count_ = 0;
}

bool CircuitBreaker::Allow(double now) {
  if (state_ == State::kOpen) {
    if (now - opened_at_ < config_.open_seconds) return false;
    state_ = State::kHalfOpen;
    probes_ = 0;
  }
  if (state_ == State::kHalfOpen) {
    if (probes_ >= std::max(1, config_.half_open_probes)) return false;
    ++probes_;
  }
  return true;
}

void CircuitBreaker::OnSuccess() {
  state_ = State::kClosed;
  failures_ = 0;
  probes_ = 0;
}

void CircuitBreaker::OnFailure(double now) {
  if (state_ == State::kHalfOpen || ++failures_ >= std::max(1, config_.failure_threshold)) {
    state_ = State::kOpen;
    opened_at_ = now;
    failures_ = 0;
    probes_ = 0;
  }
}

void CircuitBreaker::OnNeutral() {
  if (state_ == State::kHalfOpen && probes_ > 0) --probes_;
}

CircuitBreaker::State CircuitBreaker::state(double now) const {
  if (state_ == State::kOpen && now - opened_at_ >= config_.open_seconds) return State::kHalfOpen;
  return state_;
}

double CircuitBreaker::RetryAfter(double now) const {
  if (state_ != State::kOpen) return 0;
  return std::max(0.0, config_.open_seconds - (now - opened_at_));
}

}  // namespace deepkb::llm
