#include "kb/vector_applier.h"

#include <spdlog/spdlog.h>

namespace deepkb::kb {

void VectorApplier::Apply(const Task& t) {
  Status s = Status::Ok();  // the first failure; the rest of the change is still applied
  const auto note = [&s](Status r) {
    if (s.ok() && !r.ok()) s = std::move(r);
  };
  for (int64_t id : t.removed) {
    const auto label = static_cast<hnsw::Label>(id);
    if (t.vc->index->Contains(label)) note(t.vc->index->Remove(label));
  }
  for (size_t i = 0; i < t.added.size(); ++i) {
    note(t.vc->index->Add(static_cast<hnsw::Label>(t.added[i]), t.vectors[i]));
  }
  if (!s.ok()) {
    spdlog::error("vector index update of collection {} failed (repaired at next start): {}",
                  t.collection_id, s.ToString());
  }
}

void VectorApplier::WaitForRoom() {
  if (max_pending_ == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_ < max_pending_ || stopping_; });
}

void VectorApplier::Submit(int64_t collection_id, std::shared_ptr<VectorCollection> vc,
                           std::vector<int64_t> removed, std::vector<int64_t> added,
                           std::vector<std::vector<float>> vectors) {
  if (!vc || (removed.empty() && added.empty())) return;
  Task t{collection_id, std::move(vc), std::move(removed), std::move(added), std::move(vectors)};
  std::unique_lock<std::mutex> lock(mu_);
  if (max_pending_ == 0 || stopping_) {
    lock.unlock();
    Apply(t);
    if (on_applied_) on_applied_(t.collection_id, t.vc);
    return;
  }
  // Visible to searches before the caller releases the KB lock.
  t.vc->pending.Push(t.removed, t.added, t.vectors, t.vc->index->options().metric);
  pending_ += t.weight();
  queue_.push_back(std::move(t));
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  work_cv_.notify_one();
}

void VectorApplier::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return (!queue_.empty() && (!paused_ || stopping_)) || stopping_; });
    if (queue_.empty()) return;  // stopping with nothing left
    busy_ = true;
    const Task& t = queue_.front();  // only this thread removes elements, so the reference holds
    lock.unlock();
    Apply(t);
    t.vc->pending.Pop(t.removed, t.added.size());
    if (on_applied_) on_applied_(t.collection_id, t.vc);
    lock.lock();
    pending_ -= t.weight();
    queue_.pop_front();
    busy_ = false;
    done_cv_.notify_all();
  }
}

void VectorApplier::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return queue_.empty(); });
}

void VectorApplier::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    t = std::move(thread_);
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  if (t.joinable()) t.join();
}

size_t VectorApplier::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

void VectorApplier::PauseForTesting(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = paused;
  }
  work_cv_.notify_all();
}

}  // namespace deepkb::kb
