// Visited sets for graph walks (internal): one byte per slot tagged with a per-walk epoch, so
// starting a walk costs nothing (bump the epoch) and the array is only cleared once every 255
// walks. Tables are pooled; a walk takes one and returns it when done.
// Thread safety: a VisitedTable belongs to one walk at a time; VisitedPool is thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace deepkb::hnsw::internal {

class VisitedTable {
 public:
  // Readies the table for slots [0, n) with nothing visited.
  void Prepare(uint32_t n) {
    if (tags_.size() < n) {
      // Grow with headroom so a growing index does not reallocate on every walk.
      tags_.assign(static_cast<size_t>(n) + n / 4 + 64, 0);
      epoch_ = 0;
    }
    if (++epoch_ == 0) {
      std::memset(tags_.data(), 0, tags_.size());
      epoch_ = 1;
    }
    limit_ = n;
  }
  // Slots at or beyond the prepared size (added after the walk began) count as visited.
  bool TestAndSet(uint32_t i) {
    if (i >= limit_) return true;
    if (tags_[i] == epoch_) return true;
    tags_[i] = epoch_;
    return false;
  }
  size_t bytes() const { return tags_.capacity(); }

 private:
  std::vector<uint8_t> tags_;
  uint8_t epoch_ = 0;
  uint32_t limit_ = 0;
};

class VisitedPool {
 public:
  class Handle {
   public:
    Handle(VisitedPool* pool, std::unique_ptr<VisitedTable> t) : pool_(pool), t_(std::move(t)) {}
    Handle(Handle&&) = default;
    ~Handle() {
      if (t_) pool_->Put(std::move(t_));
    }
    VisitedTable* operator->() { return t_.get(); }
    VisitedTable& operator*() { return *t_; }

   private:
    VisitedPool* pool_;
    std::unique_ptr<VisitedTable> t_;
  };

  Handle Get(uint32_t n) {
    std::unique_ptr<VisitedTable> t;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!free_.empty()) {
        t = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!t) t = std::make_unique<VisitedTable>();
    t->Prepare(n);
    return Handle(this, std::move(t));
  }

  size_t MemoryBytes() const {
    std::lock_guard<std::mutex> l(mu_);
    size_t b = 0;
    for (const auto& t : free_) b += t->bytes();
    return b;
  }

 private:
  void Put(std::unique_ptr<VisitedTable> t) {
    std::lock_guard<std::mutex> l(mu_);
    if (free_.size() < 64) free_.push_back(std::move(t));
  }
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<VisitedTable>> free_;
};

}  // namespace deepkb::hnsw::internal
