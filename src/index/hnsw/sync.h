// Small synchronisation pieces used by the HNSW index (internal).
//
//  - Rcu: read-side critical sections that never block, and Synchronize(), which waits until
//    every read section that had begun when it was called has ended (a grace period). The
//    index uses it before reusing memory a concurrent search might still be reading: retired
//    slots, the old graph after Compact(), float vectors dropped after int8 training.
//    Readers register in one of kShards counter pairs (picked per thread) so concurrent searches
//    do not all bounce one cache line.
//  - WriterGate: a reader/writer lock that cannot starve its exclusive side (glibc's rwlock
//    prefers readers): exclusive holders first take a turnstile that new shared holders must
//    pass through.
//  - SpinLock helpers over one byte of a slot (per-node link-list locks).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <thread>

namespace deepkb::hnsw::internal {

class Rcu {
 public:
  class ReadGuard {
   public:
    ReadGuard(ReadGuard&& o) noexcept : counter_(o.counter_) { o.counter_ = nullptr; }
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;
    ~ReadGuard() {
      if (counter_) counter_->fetch_sub(1, std::memory_order_release);
    }

   private:
    friend class Rcu;
    explicit ReadGuard(std::atomic<int64_t>* c) : counter_(c) {}
    std::atomic<int64_t>* counter_;
  };

  // Enters a read section; it lasts until the guard is destroyed.
  ReadGuard Read() const;
  // Waits for a grace period. Must not be called inside a read section of the same Rcu.
  void Synchronize();

 private:
  static constexpr int kShards = 16;
  struct alignas(64) Shard {
    std::atomic<int64_t> count[2] = {0, 0};
  };
  void WaitForZero(int parity) const;

  mutable Shard shards_[kShards];
  std::atomic<uint64_t> epoch_{0};
  std::mutex sync_mu_;
};

class WriterGate {
 public:
  void lock_shared() {
    { std::lock_guard<std::mutex> t(turnstile_); }
    rw_.lock_shared();
  }
  void unlock_shared() { rw_.unlock_shared(); }
  void lock() {
    std::lock_guard<std::mutex> t(turnstile_);
    rw_.lock();
  }
  void unlock() { rw_.unlock(); }

 private:
  std::mutex turnstile_;
  std::shared_mutex rw_;
};

inline void SpinLockByte(uint8_t* byte) {
  std::atomic_ref<uint8_t> a(*byte);
  for (int spins = 0;; ++spins) {
    if (a.load(std::memory_order_relaxed) == 0 && a.exchange(1, std::memory_order_acquire) == 0) {
      return;
    }
    if (spins > 64) std::this_thread::yield();
#if defined(__x86_64__)
    else
      __builtin_ia32_pause();
#endif
  }
}

inline void SpinUnlockByte(uint8_t* byte) {
  std::atomic_ref<uint8_t>(*byte).store(0, std::memory_order_release);
}

class SpinGuard {
 public:
  explicit SpinGuard(uint8_t* byte) : byte_(byte) { SpinLockByte(byte_); }
  ~SpinGuard() { SpinUnlockByte(byte_); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  uint8_t* byte_;
};

}  // namespace deepkb::hnsw::internal
