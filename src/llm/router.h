// Router: the gateway's path to the engines — admission control, adaptive concurrency, circuit
// breakers, retries and failover over a list of LlmUpstreams.
//
// For a request for model M the Router tries the upstreams that list M in UpstreamConfig::models,
// in order of UpstreamConfig::priority (lower first; ties keep configuration order). At each:
//  1. Circuit breaker (control.h): open → skip to the next upstream (outcome circuit_open).
//  2. Admission: an attempt needs one of the upstream's Permits() (the adaptive limit). If none
//     is free the request waits in the upstream's bounded queue, highest ChatRequest::priority
//     first, FIFO within a priority. Rejected at once, without waiting:
//       queue full                        → ResourceExhausted (HTTP 429), outcome queue_full
//       the estimated wait (position ÷ permits × mean attempt duration) ends after the deadline
//                                         → Unavailable (HTTP 503), outcome deadline_unmeetable
//     and then the next upstream is tried; when none admits, that rejection is returned with
//     RouteInfo::retry_after_seconds set (the message also says "retry after N s"). A request
//     whose deadline passes while queued gets DeadlineExceeded.
//  3. The attempt (LlmUpstream::Stream). Retries on the same upstream, up to
//     RetryConfig::max_attempts in all, after Unavailable (connect error, 5xx, cut stream, hang)
//     or ResourceExhausted (429) — except a hang (no byte within read_timeout_seconds), which
//     fails over at once — waiting backoff_initial × 2^k (capped at backoff_max) with equal
//     jitter, or the engine's Retry-After when larger (capped at retry_after_max). Internal
//     (malformed answer) skips to the next upstream at once; other errors end the request.
//     Retries and failover happen ONLY while no event has been delivered to the caller's
//     callback: after the first delivered byte an error ends the request (RouteInfo::delivered).
//     No wait runs past the deadline.
//  Feedback: a successful attempt's time to first token feeds the limiter; 429 shrinks it;
//  Unavailable/Internal count as breaker failures, success closes the breaker, everything else
//  (cancel, 4xx, 429, deadline) is neutral.
//
// Thread safety: Complete() and Stream() may run concurrently from any number of threads; each
// blocks its caller (queueing included). The Router must outlive its calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "llm/control.h"
#include "llm/upstream.h"

namespace deepkb::llm {

struct LlmMetrics;

struct RetryConfig {
  int max_attempts = 3;  // per upstream, the first included
  double backoff_initial_seconds = 0.1;
  double backoff_max_seconds = 2;
  double retry_after_max_seconds = 5;
};

struct AdmissionConfig {
  size_t max_queue = 64;                  // waiting requests per upstream
  double initial_duration_seconds = 1.0;  // attempt duration assumed before any is observed
};

struct RouterConfig {
  AdmissionConfig admission;
  LimiterConfig limiter;
  BreakerConfig breaker;
  RetryConfig retry;
};

struct RouteInfo {
  std::string upstream;             // the upstream of the last attempt ("" if none ran)
  int attempts = 0;                 // attempts started, over all upstreams
  bool delivered = false;           // at least one event reached the caller's callback
  double retry_after_seconds = -1;  // on admission/breaker rejection: when to come back
};

class Router {
 public:
  // InvalidArgument when the list is empty, names repeat, or a config value is out of range.
  // `metrics` may be null; otherwise it must outlive the Router.
  static Result<std::unique_ptr<Router>> Create(std::vector<std::unique_ptr<LlmUpstream>> upstreams,
                                                const RouterConfig& config,
                                                LlmMetrics* metrics = nullptr);
  ~Router();

  // Streams events to `on_event` (on the calling thread). OK when an upstream finished;
  // NotFound when no upstream serves the model; otherwise the error of the last attempt or
  // rejection (see the header comment). `info` may be null.
  Status Stream(const ChatRequest& request, Deadline deadline, const EventCallback& on_event,
                RouteInfo* info = nullptr);

  // The whole answer, gathered from a streamed upstream call (so TTFT is measured the same way).
  // Nothing reaches the caller before the end, so every retryable failure may be retried.
  Result<ChatResponse> Complete(const ChatRequest& request, Deadline deadline,
                                RouteInfo* info = nullptr);

  // Models served, without duplicates, in configuration order.
  std::vector<std::string> Models() const;

  struct UpstreamState {
    std::string name;
    double limit = 0;
    int in_flight = 0;
    size_t queued = 0;
    CircuitBreaker::State breaker = CircuitBreaker::State::kClosed;
  };
  std::vector<UpstreamState> States() const;

 private:
  struct Slot;
  Router(RouterConfig config, LlmMetrics* metrics);
  Status Run(const ChatRequest& request, Deadline deadline, const EventCallback& on_event,
             bool buffered, const std::function<void()>& on_attempt, RouteInfo& info);
  Status Admit(Slot& slot, const ChatRequest& request, Deadline deadline, double& retry_after);
  void Finish(Slot& slot, const Status& s, double ttft, double duration);
  void Publish(Slot& slot);  // slot.mu held
  void Count(Slot& slot, const char* outcome);

  const RouterConfig config_;
  LlmMetrics* const metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;  // sorted by priority; fixed after Create
};

}  // namespace deepkb::llm
