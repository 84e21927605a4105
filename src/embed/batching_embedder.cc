#include "embed/batching_embedder.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace deepkb::embed {

// ---- BatchSizeController ---------------------------------------------------------------------

BatchSizeController::BatchSizeController(const BatchingOptions& opts)
    : min_(1),
      max_(std::max<size_t>(1, opts.max_batch)),
      adaptive_(opts.adaptive),
      target_ms_(opts.target_latency_ms > 0 ? opts.target_latency_ms : 0) {
  min_ = std::clamp<size_t>(opts.min_batch, 1, max_);
  limit_ = std::clamp(opts.initial_batch, min_, max_);
  previous_limit_ = limit_;
}

void BatchSizeController::Hold() {
  reference_ = -1;
  sum_ = 0;
  samples_ = 0;
  hold_ = kHoldDecisions;
}

void BatchSizeController::Observe(size_t batch_size, bool was_full, double latency_ms) {
  if (!adaptive_ || batch_size == 0) return;
  if (target_ms_ > 0 && latency_ms > target_ms_) {
    limit_ = std::max(min_, std::min(limit_, batch_size) / 2);
    previous_limit_ = limit_;
    Hold();
    return;
  }
  if (!was_full) return;  // the queue ran dry first: says nothing about bigger batches
  sum_ += latency_ms / static_cast<double>(batch_size);
  if (++samples_ < kSamplesPerDecision) return;
  const double per_item = sum_ / samples_;
  sum_ = 0;
  samples_ = 0;
  if (hold_ > 0) {
    --hold_;
    return;
  }
  if (reference_ >= 0 && per_item > 0.9 * reference_) {
    // The last growth did not make texts at least 10% cheaper: go back and hold.
    limit_ = previous_limit_;
    Hold();
    return;
  }
  size_t next = std::min(max_, limit_ * 2);
  if (target_ms_ > 0 && per_item > 0) {
    next = std::min(next, std::max(limit_, static_cast<size_t>(target_ms_ / per_item)));
  }
  if (next <= limit_) {
    Hold();
    return;
  }
  previous_limit_ = limit_;
  reference_ = per_item;
  limit_ = next;
}

// ---- BatchingEmbedder ------------------------------------------------------------------------

// One Embed() call. `texts` points at the caller's vector, which lives until the caller
// returns, i.e. until `done`; it is read only while holding `mu` with `done` false.
struct BatchingEmbedder::Call {
  explicit Call(const std::vector<std::string>& t)
      : texts(&t), size(t.size()), enqueued(Clock::now()), out(t.size()), remaining(t.size()) {}

  const std::vector<std::string>* const texts;
  const size_t size;
  const Clock::time_point enqueued;
  size_t next = 0;  // first text not yet in a batch; guarded by BatchingEmbedder::mu_

  std::mutex mu;  // lock order: BatchingEmbedder::mu_ before Call::mu
  std::condition_variable cv;
  std::vector<std::vector<float>> out;  // guarded by mu
  size_t remaining;                     // texts not yet delivered; guarded by mu
  Status error;                         // guarded by mu
  bool done = false;                    // guarded by mu
};

BatchingEmbedder::BatchingEmbedder(std::unique_ptr<Embedder> inner, BatchingOptions opts)
    : inner_(std::move(inner)),
      opts_([&] {
        opts.max_batch = std::max<size_t>(1, opts.max_batch);
        opts.workers = std::clamp<size_t>(opts.workers, 1, 64);
        opts.max_wait_ms = std::max(0.0, opts.max_wait_ms);
        return opts;
      }()),
      controller_(opts_) {
  workers_.reserve(opts_.workers);
  for (size_t i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

BatchingEmbedder::~BatchingEmbedder() {
  Shutdown();
}

void BatchingEmbedder::Fail(Call& call, const Status& status) {
  std::lock_guard<std::mutex> lock(call.mu);
  if (call.done) return;
  call.error = status;
  call.out.clear();
  call.done = true;
  call.cv.notify_all();
}

Result<std::vector<std::vector<float>>> BatchingEmbedder::Embed(
    const std::vector<std::string>& texts) {
  if (!inner_) return FailedPreconditionError("BatchingEmbedder has no inner embedder");
  if (texts.empty()) return std::vector<std::vector<float>>{};
  auto call = std::make_shared<Call>(texts);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return UnavailableError("embedder " + inner_->spec() + " is shutting down");
    queue_.push_back(call);
    queued_texts_ += texts.size();
    ++stats_.calls;
  }
  cv_.notify_all();
  std::unique_lock<std::mutex> lock(call->mu);
  call->cv.wait(lock, [&] { return call->done; });
  if (!call->error.ok()) return call->error;
  return std::move(call->out);
}

void BatchingEmbedder::WorkerLoop() {
  struct Slice {
    std::shared_ptr<Call> call;
    size_t begin;
    size_t end;
  };
  const auto max_wait = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(opts_.max_wait_ms));
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || queued_texts_ > 0; });
    if (stopping_) return;
    // Wait for company: until the limit is reached or the oldest text has waited max_wait.
    while (!stopping_ && queued_texts_ > 0 && queued_texts_ < controller_.limit()) {
      const Clock::time_point deadline = queue_.front()->enqueued + max_wait;
      if (Clock::now() >= deadline) break;
      cv_.wait_until(lock, deadline);
    }
    if (stopping_) return;
    if (queued_texts_ == 0) continue;  // another worker took them

    const size_t limit = controller_.limit();
    std::vector<Slice> slices;
    std::vector<std::string> batch;
    batch.reserve(std::min(limit, queued_texts_));
    while (batch.size() < limit && !queue_.empty()) {
      const std::shared_ptr<Call>& call = queue_.front();
      {
        std::lock_guard<std::mutex> call_lock(call->mu);
        if (call->done) {  // failed by an earlier batch: its caller is gone
          queued_texts_ -= call->size - call->next;
          call->next = call->size;
        } else {
          const size_t take = std::min(limit - batch.size(), call->size - call->next);
          for (size_t i = call->next; i < call->next + take; ++i)
            batch.push_back((*call->texts)[i]);
          slices.push_back({call, call->next, call->next + take});
          call->next += take;
          queued_texts_ -= take;
        }
      }
      if (call->next == call->size) queue_.pop_front();
    }
    if (batch.empty()) continue;
    const bool was_full = batch.size() >= limit;
    ++stats_.batches;
    stats_.texts += batch.size();
    stats_.largest_batch = std::max(stats_.largest_batch, batch.size());
    lock.unlock();

    const Clock::time_point start = Clock::now();
    Result<std::vector<std::vector<float>>> result = InternalError("inner embedder threw");
    try {
      result = inner_->Embed(batch);
    } catch (const std::exception&) {
      // keep the Internal error above; exceptions must not escape a worker thread
    }
    const double latency_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (result.ok() && result.value().size() != batch.size()) {
      result = InternalError("embedder " + inner_->spec() + " returned " +
                             std::to_string(result.value().size()) + " vectors for " +
                             std::to_string(batch.size()) + " texts");
    }
    if (!result.ok()) {
      for (const Slice& s : slices) Fail(*s.call, result.status());
    } else {
      std::vector<std::vector<float>>& vectors = result.value();
      size_t pos = 0;
      for (const Slice& s : slices) {
        Call& call = *s.call;
        std::lock_guard<std::mutex> call_lock(call.mu);
        if (!call.done) {
          for (size_t i = s.begin; i < s.end; ++i)
            call.out[i] = std::move(vectors[pos + i - s.begin]);
          call.remaining -= s.end - s.begin;
          if (call.remaining == 0) {
            call.done = true;
            call.cv.notify_all();
          }
        }
        pos += s.end - s.begin;
      }
    }
    slices.clear();
    lock.lock();
    controller_.Observe(batch.size(), was_full, latency_ms);
  }
}

void BatchingEmbedder::Shutdown() {
  std::lock_guard<std::mutex> join_lock(join_mu_);
  std::deque<std::shared_ptr<Call>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    pending.swap(queue_);
    queued_texts_ = 0;
  }
  cv_.notify_all();
  const Status status = UnavailableError(
      "embedder " + (inner_ ? inner_->spec() : std::string("?")) + " is shutting down");
  for (const auto& call : pending) Fail(*call, status);
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

BatchingEmbedder::Stats BatchingEmbedder::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.batch_limit = controller_.limit();
  s.queued_texts = queued_texts_;
  return s;
}

}  // namespace deepkb::embed
