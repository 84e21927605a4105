// Hybrid logical clock (HLC): 48-bit wall milliseconds + 16-bit logical counter packed in a
// uint64 so that timestamps compare as integers. Every document write is stamped with
// (hlc, node_id); the later sync issue orders versions by that pair.
//
// Thread safety: HybridClock is safe to call from any thread (internal mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "common/status.h"

namespace deepkb {

struct Hlc {
  static constexpr uint64_t kCounterBits = 16;
  static uint64_t Pack(uint64_t millis, uint32_t counter) {
    return (millis << kCounterBits) | (counter & 0xffffu);
  }
  static uint64_t Millis(uint64_t hlc) { return hlc >> kCounterBits; }
  static uint32_t Counter(uint64_t hlc) { return static_cast<uint32_t>(hlc & 0xffffu); }
};

class HybridClock {
 public:
  using WallFn = std::function<uint64_t()>;  // milliseconds since the Unix epoch
  // `wall` defaults to the system clock; `max_forward_ms` bounds how far ahead of the local wall
  // clock a received timestamp may be before Observe() rejects it.
  explicit HybridClock(WallFn wall = nullptr, uint64_t max_forward_ms = 60'000);

  // A new timestamp strictly greater than every timestamp issued or observed before.
  uint64_t Now();

  // Merges a timestamp received from another node. Fails with InvalidArgument (and leaves the
  // clock unchanged) when `remote` is more than max_forward_ms ahead of the local wall clock.
  Status Observe(uint64_t remote);

  // Raises the clock to at least `hlc` without the skew check (used when loading persisted
  // state at start-up so that the clock never goes backwards across restarts).
  void AdvanceTo(uint64_t hlc);

  uint64_t last() const;

 private:
  WallFn wall_;
  uint64_t max_forward_ms_;
  mutable std::mutex mu_;
  uint64_t last_ = 0;  // guarded by mu_
};

}  // namespace deepkb
