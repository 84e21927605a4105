// VectorApplier: applies committed vector-index changes to the collections' in-memory HNSW graphs
// on one background thread, in commit order, so that a document write does not wait for graph
// insertion — with ef_construction 200 that insertion was about half of a write's CPU time at 100k
// chunks (bench/README.md, "Set C").
//
// Contract:
//  - Submit() is called after the SQLite commit, with the KB lock held (so submissions are in
//    commit order). It records the change in the collection's PendingVectors before it returns,
//    so the write is visible to vector searches at once: pending additions are scanned exactly and
//    pending removals are filtered out of the graph's results (kb_search.cc). The thread then
//    applies the change (removals, then additions) and pops it from PendingVectors.
//  - Durability is not affected: SQLite is the source of truth. Changes still queued when the
//    process dies are replayed at the next start by VectorSet::Load's reconciliation (live chunks
//    missing from the graph are added, labels of deleted chunks removed).
//  - Back-pressure: WaitForRoom() blocks a writer — call it before taking the KB lock — while the
//    queue holds max_pending or more vector changes (additions plus removals), so the queue and the
//    exact scan of searches stay bounded. One write may overshoot the bound by its own size.
//  - max_pending == 0 selects synchronous mode: Submit() applies the change in the caller's
//    thread before it returns (how writes worked before the applier; kept for comparisons).
//  - A failed graph update is logged; the next start's reconciliation repairs it.
//  - `on_applied(collection_id, vc)` runs on the applier's thread (or the caller's, synchronous
//    mode) after each change; the KB uses it to schedule graph compaction. It must not take the
//    KB lock (WaitIdle may be called with it held).
//
// Thread safety: every method may be called from any thread. The thread starts at the first
// asynchronous Submit. Stop() (also run by the destructor) applies everything queued and joins;
// after it Submit applies synchronously.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kb/vectors.h"

namespace deepkb::kb {

class VectorApplier {
 public:
  using AppliedFn = std::function<void(int64_t, const std::shared_ptr<VectorCollection>&)>;

  VectorApplier(size_t max_pending, AppliedFn on_applied)
      : max_pending_(max_pending), on_applied_(std::move(on_applied)) {}
  ~VectorApplier() { Stop(); }
  VectorApplier(const VectorApplier&) = delete;
  VectorApplier& operator=(const VectorApplier&) = delete;

  // Blocks while the queue is full (never in synchronous mode or after Stop).
  void WaitForRoom();
  // Records the change as pending and queues it (or applies it now, synchronous mode).
  // `vectors` holds one vector per `added` id.
  void Submit(int64_t collection_id, std::shared_ptr<VectorCollection> vc,
              std::vector<int64_t> removed, std::vector<int64_t> added,
              std::vector<std::vector<float>> vectors);
  // Blocks until every change submitted before the call has been applied.
  void WaitIdle();
  // Applies what is queued, then stops the thread.
  void Stop();

  // Vector changes queued or being applied.
  size_t pending() const;
  size_t max_pending() const { return max_pending_; }
  // Tests: while paused the thread applies nothing (WaitForRoom still blocks when full).
  void PauseForTesting(bool paused);

 private:
  struct Task {
    int64_t collection_id = 0;
    std::shared_ptr<VectorCollection> vc;
    std::vector<int64_t> removed, added;
    std::vector<std::vector<float>> vectors;
    size_t weight() const { return removed.size() + added.size(); }
  };
  void Run();
  void Apply(const Task& t);

  const size_t max_pending_;
  const AppliedFn on_applied_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the thread waits for tasks (or unpause / stop)
  std::condition_variable done_cv_;  // writers wait for room, WaitIdle for an empty queue
  std::deque<Task> queue_;           // guarded by mu_; front() is being applied when busy_
  size_t pending_ = 0;               // sum of weight() over queue_; guarded by mu_
  bool busy_ = false;                // guarded by mu_
  bool paused_ = false;              // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  std::thread thread_;               // started at the first queued task; guarded by mu_
};

}  // namespace deepkb::kb
