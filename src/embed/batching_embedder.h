// BatchingEmbedder: dynamic batching in front of another Embedder. Concurrent Embed() calls
// from many threads (ingest workers, search requests) are queued and coalesced into bigger
// calls of the inner embedder, which is what remote model servers and batched model code are
// fast at.
//
// How a batch forms: worker threads (BatchingOptions::workers, default one dispatcher) wait for
// queued texts. A worker sends a batch as soon as the queue holds at least the current batch
// limit, or when the oldest queued text has waited max_wait_ms, whichever comes first. A batch
// takes texts in arrival order up to the limit; a caller's texts may be split over several
// batches (large calls do not monopolise the inner embedder), and one batch may hold texts of
// many callers. Each caller gets exactly its own vectors, in its own order, or — if any batch
// holding one of its texts fails — that batch's error (every caller in a failed batch gets it).
// The inner embedder must return exactly one vector per text; otherwise the batch fails with
// Internal.
//
// Adaptive batch limit (BatchSizeController, when options.adaptive):
//   - Only batches that were full (size == limit, i.e. demand exceeded the limit) measure
//     anything; the per-item latency is averaged over kSamplesPerDecision full batches per
//     decision.
//   - Grow: when no reference exists yet, or the per-item latency at the current limit is at
//     least 10% below the reference measured at the previous (smaller) limit, the limit doubles
//     (up to max_batch, and to no more than target_latency_ms / per-item latency when a target
//     is set); the current value becomes the reference.
//   - Step back: when growing did not cut the per-item latency by 10%, the limit returns to the
//     previous value and holds for kHoldDecisions decisions before probing upward again.
//   - Shrink: any batch slower than target_latency_ms (if > 0) halves the limit (of the smaller
//     of limit and batch size), at least min_batch, and holds.
// So the limit climbs while bigger batches are cheaper per text and stays below the latency
// target; with an inner embedder whose cost is linear in the texts it stays near initial_batch.
//
// Shutdown (Shutdown() or the destructor): new calls fail with Unavailable; callers whose texts
// are still queued fail at once with Unavailable; batches already inside the inner embedder
// finish (bounded by the inner embedder's own timeouts) and deliver; then the workers are
// joined. It never waits for max_wait_ms or for queued work.
// Thread safety: Embed(), stats() and Shutdown() may be called concurrently. The inner embedder
// sees at most `workers` concurrent calls. Do not destroy the object while another thread may
// still be about to call Embed().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "embed/embedder.h"

namespace deepkb::embed {

struct BatchingOptions {
  size_t max_batch = 64;         // upper bound on texts per inner call (>= 1)
  double max_wait_ms = 2;        // longest a queued text waits for company before dispatch
  size_t min_batch = 1;          // lower bound for the adaptive limit
  size_t initial_batch = 16;     // starting limit (clamped into [min_batch, max_batch])
  bool adaptive = true;          // false: the limit stays at initial_batch
  double target_latency_ms = 0;  // > 0: shrink the limit when a batch takes longer than this
  size_t workers = 1;            // inner calls in flight at once (>= 1)
};

// The batch-size rule described above, separate so it can be tested deterministically.
// Not thread-safe; BatchingEmbedder guards it with its mutex.
class BatchSizeController {
 public:
  static constexpr int kSamplesPerDecision = 3;
  static constexpr int kHoldDecisions = 16;

  explicit BatchSizeController(const BatchingOptions& opts);

  size_t limit() const { return limit_; }
  // Reports one finished inner call of `batch_size` texts that took `latency_ms`; `was_full`
  // says whether the batch reached the limit in force when it was formed.
  void Observe(size_t batch_size, bool was_full, double latency_ms);

 private:
  void Hold();

  size_t min_;
  size_t max_;
  bool adaptive_;
  double target_ms_;
  size_t limit_;
  size_t previous_limit_;  // the limit before the last growth
  double reference_ = -1;  // mean per-item ms at previous_limit_; -1: none
  double sum_ = 0;         // per-item ms summed over samples_
  int samples_ = 0;        // full batches seen at limit_ since the last decision
  int hold_ = 0;           // decisions left before probing upward again
};

class BatchingEmbedder final : public Embedder {
 public:
  // `inner` must not be null. Options are clamped into range (max_batch >= 1, workers >= 1,
  // min_batch <= initial_batch <= max_batch).
  BatchingEmbedder(std::unique_ptr<Embedder> inner, BatchingOptions opts = {});
  ~BatchingEmbedder() override;  // Shutdown()

  BatchingEmbedder(const BatchingEmbedder&) = delete;
  BatchingEmbedder& operator=(const BatchingEmbedder&) = delete;

  // The inner embedder's spec and dimension: the wrapper is transparent.
  const std::string& spec() const override { return inner_->spec(); }
  size_t dim() const override { return inner_->dim(); }
  // Blocks until all of `texts` are embedded or failed (see the header comment).
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts) override;

  // Fails queued calls, waits for in-flight batches, joins the workers. Idempotent.
  void Shutdown();

  struct Stats {
    uint64_t calls = 0;    // Embed() calls accepted
    uint64_t batches = 0;  // inner calls made
    uint64_t texts = 0;    // texts sent to the inner embedder
    size_t largest_batch = 0;
    size_t batch_limit = 0;   // current adaptive limit
    size_t queued_texts = 0;  // texts waiting for a batch now
  };
  Stats stats() const;

 private:
  struct Call;
  using Clock = std::chrono::steady_clock;

  void WorkerLoop();
  static void Fail(Call& call, const Status& status);

  const std::unique_ptr<Embedder> inner_;
  const BatchingOptions opts_;

  mutable std::mutex mu_;
  std::condition_variable cv_;               // queue changes, stopping_
  std::deque<std::shared_ptr<Call>> queue_;  // guarded by mu_; calls with texts not yet batched
  size_t queued_texts_ = 0;                  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  BatchSizeController controller_;           // guarded by mu_
  Stats stats_;                              // guarded by mu_ (except batch_limit/queued_texts)

  std::mutex join_mu_;                // serialises Shutdown()'s joins
  std::vector<std::thread> workers_;  // guarded by join_mu_ after construction
};

}  // namespace deepkb::embed
