#include "common/hlc.h"

#include <chrono>
#include <string>

namespace deepkb {

namespace {
uint64_t SystemMillis() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

HybridClock::HybridClock(WallFn wall, uint64_t max_forward_ms)
    : wall_(wall ? std::move(wall) : WallFn(SystemMillis)), max_forward_ms_(max_forward_ms) {}

uint64_t HybridClock::Now() {
  const uint64_t wall = wall_() & ((1ull << 48) - 1);
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t candidate = Hlc::Pack(wall, 0);
  last_ = candidate > last_ ? candidate : last_ + 1;
  return last_;
}

Status HybridClock::Observe(uint64_t remote) {
  const uint64_t wall = wall_();
  if (Hlc::Millis(remote) > wall + max_forward_ms_) {
    return InvalidArgumentError("remote timestamp is " +
                                std::to_string(Hlc::Millis(remote) - wall) +
                                " ms ahead of the local clock (limit " +
                                std::to_string(max_forward_ms_) +
                                " ms); check the clocks of both nodes (NTP)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (remote > last_) last_ = remote;
  return Status::Ok();
}

void HybridClock::AdvanceTo(uint64_t hlc) {
  std::lock_guard<std::mutex> lock(mu_);
  if (hlc > last_) last_ = hlc;
}

uint64_t HybridClock::last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

}  // namespace deepkb
