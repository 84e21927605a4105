#include "index/hnsw/sync.h"

#include <chrono>

namespace deepkb::hnsw::internal {
namespace {

unsigned ThreadShard() {
  static std::atomic<unsigned> next{0};
  thread_local unsigned shard = next.fetch_add(1, std::memory_order_relaxed);
  return shard;
}

}  // namespace

Rcu::ReadGuard Rcu::Read() const {
  Shard& shard = shards_[ThreadShard() % kShards];
  for (;;) {
    uint64_t e = epoch_.load(std::memory_order_seq_cst);
    std::atomic<int64_t>& c = shard.count[e & 1];
    c.fetch_add(1, std::memory_order_seq_cst);
    // If Synchronize flipped the epoch between our two loads it may already have found this
    // counter at zero; register again under the new epoch.
    if (epoch_.load(std::memory_order_seq_cst) == e) return ReadGuard(&c);
    c.fetch_sub(1, std::memory_order_release);
  }
}

void Rcu::WaitForZero(int parity) const {
  for (int spins = 0;; ++spins) {
    int64_t total = 0;
    for (const Shard& s : shards_) total += s.count[parity].load(std::memory_order_acquire);
    if (total == 0) return;
    if (spins < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

void Rcu::Synchronize() {
  std::lock_guard<std::mutex> lock(sync_mu_);
  uint64_t e = epoch_.load(std::memory_order_seq_cst);
  // Readers of the previous parity that were still unregistering from an earlier flip.
  WaitForZero(static_cast<int>((e + 1) & 1));
  epoch_.store(e + 1, std::memory_order_seq_cst);
  WaitForZero(static_cast<int>(e & 1));
}

}  // namespace deepkb::hnsw::internal
