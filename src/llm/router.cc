#include "llm/router.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "llm/llm_metrics.h"

namespace deepkb::llm {

namespace {

double Now() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

double SecondsUntil(Deadline d) {
  return std::chrono::duration<double>(d - Clock::now()).count();
}

std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::max(0.0, s));
  return buf;
}

const char* OutcomeOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kUnavailable: return "upstream_error";
    case StatusCode::kResourceExhausted: return "rate_limited";
    case StatusCode::kDeadlineExceeded: return "timeout";
    case StatusCode::kInternal: return "malformed";
    case StatusCode::kAborted: return "cancelled";
    default: return "bad_request";
  }
}

double Backoff(const RetryConfig& r, int retry_index) {
  const double base =
      std::min(r.backoff_max_seconds, r.backoff_initial_seconds * std::pow(2.0, retry_index));
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, base / 2);
  return base / 2 + jitter(rng);
}

}  // namespace

struct Router::Slot {
  Slot(std::unique_ptr<LlmUpstream> u, const RouterConfig& c)
      : up(std::move(u)),
        limiter(c.limiter, up->config().max_concurrency),
        breaker(c.breaker),
        mean_duration(c.admission.initial_duration_seconds) {}

  struct Waiter {
    int priority;
    uint64_t seq;
    bool granted = false;
  };

  std::unique_ptr<LlmUpstream> up;
  std::mutex mu;
  std::condition_variable cv;
  // All below guarded by mu.
  AdaptiveLimiter limiter;
  CircuitBreaker breaker;
  std::list<Waiter*> queue;
  int in_flight = 0;
  uint64_t next_seq = 0;
  double mean_duration;  // EWMA of attempt durations, for the wait estimate

  // Hands free permits to the best waiters.
  void Grant() {
    bool any = false;
    while (in_flight < limiter.Permits() && !queue.empty()) {
      auto best = queue.begin();
      for (auto it = queue.begin(); it != queue.end(); ++it) {
        if ((*it)->priority > (*best)->priority ||
            ((*it)->priority == (*best)->priority && (*it)->seq < (*best)->seq)) {
          best = it;
        }
      }
      (*best)->granted = true;
      queue.erase(best);
      ++in_flight;
      any = true;
    }
    if (any) cv.notify_all();
  }
};

Router::Router(RouterConfig config, LlmMetrics* metrics)
    : config_(std::move(config)), metrics_(metrics) {}

Router::~Router() = default;

Result<std::unique_ptr<Router>> Router::Create(std::vector<std::unique_ptr<LlmUpstream>> ups,
                                               const RouterConfig& config, LlmMetrics* metrics) {
  if (ups.empty()) return InvalidArgumentError("the router needs at least one upstream");
  const auto& l = config.limiter;
  if (!(l.target_low_seconds > 0) || !(l.target_high_seconds >= l.target_low_seconds) ||
      !(l.increase_step > 0) || !(l.decrease_factor > 0 && l.decrease_factor < 1) ||
      l.window == 0) {
    return InvalidArgumentError(
        "limiter: need 0 < target_low <= target_high, increase_step > 0, 0 < decrease_factor < 1, "
        "window >= 1");
  }
  if (config.retry.max_attempts < 1 || config.retry.max_attempts > 10 ||
      config.retry.backoff_initial_seconds < 0 || config.retry.backoff_max_seconds < 0 ||
      config.retry.retry_after_max_seconds < 0) {
    return InvalidArgumentError("retry: max_attempts must be 1..10 and delays not negative");
  }
  if (config.breaker.failure_threshold < 1 || config.breaker.open_seconds < 0 ||
      config.breaker.half_open_probes < 1) {
    return InvalidArgumentError("breaker: need failure_threshold >= 1, half_open_probes >= 1");
  }
  if (!(config.admission.initial_duration_seconds > 0)) {
    return InvalidArgumentError("admission: initial_duration_seconds must be positive");
  }
  std::unique_ptr<Router> r(new Router(config, metrics));
  std::set<std::string> names;
  for (auto& u : ups) {
    if (!u) return InvalidArgumentError("null upstream");
    if (!names.insert(u->config().name).second) {
      return InvalidArgumentError("upstream name '" + u->config().name + "' is used twice");
    }
    r->slots_.push_back(std::make_unique<Slot>(std::move(u), config));
  }
  std::stable_sort(r->slots_.begin(), r->slots_.end(), [](const auto& a, const auto& b) {
    return a->up->config().priority < b->up->config().priority;
  });
  for (auto& s : r->slots_) {
    std::lock_guard<std::mutex> lock(s->mu);
    r->Publish(*s);
  }
  return r;
}

void Router::Publish(Slot& s) {
  if (metrics_ == nullptr) return;
  const std::string& n = s.up->config().name;
  metrics_->queue_depth.With({n}).Set(static_cast<double>(s.queue.size()));
  metrics_->in_flight.With({n}).Set(s.in_flight);
  metrics_->limit.With({n}).Set(s.limiter.limit());
  metrics_->circuit_state.With({n}).Set(static_cast<double>(s.breaker.state(Now())));
}

void Router::Count(Slot& s, const char* outcome) {
  if (metrics_ != nullptr) metrics_->requests.With({s.up->config().name, outcome}).Inc();
}

Status Router::Admit(Slot& s, const ChatRequest& request, Deadline deadline,
                     double& retry_after) {
  const std::string who = "upstream '" + s.up->config().name + "'";
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.in_flight < s.limiter.Permits() && s.queue.empty()) {
    ++s.in_flight;
    Publish(s);
    return Status::Ok();
  }
  const double permits = s.limiter.Permits();
  if (s.queue.size() >= config_.admission.max_queue) {
    retry_after = std::max(1.0, std::ceil(s.mean_duration * static_cast<double>(s.queue.size()) /
                                          permits));
    return ResourceExhaustedError(who + ": admission queue is full (" +
                                  std::to_string(s.queue.size()) + " waiting); retry after " +
                                  Secs(retry_after) + " s");
  }
  size_t ahead = 0;
  for (const auto* w : s.queue) ahead += w->priority >= request.priority ? 1 : 0;
  const double wait = static_cast<double>(ahead + 1) / permits * s.mean_duration;
  if (wait > SecondsUntil(deadline)) {
    retry_after = std::max(1.0, std::ceil(wait));
    return UnavailableError(who + ": the deadline cannot be met (estimated wait " + Secs(wait) +
                            " s); retry after " + Secs(retry_after) + " s");
  }
  Slot::Waiter me{request.priority, s.next_seq++};
  s.queue.push_back(&me);
  Publish(s);
  s.cv.wait_until(lock, deadline, [&] { return me.granted; });
  if (!me.granted) {
    s.queue.remove(&me);
    Publish(s);
    return Status(StatusCode::kDeadlineExceeded, who + ": the deadline passed while queued");
  }
  Publish(s);
  return Status::Ok();
}

void Router::Finish(Slot& s, const Status& st, double ttft, double duration) {
  std::lock_guard<std::mutex> lock(s.mu);
  --s.in_flight;
  s.mean_duration = 0.8 * s.mean_duration + 0.2 * duration;
  switch (st.code()) {
    case StatusCode::kOk:
      s.breaker.OnSuccess();
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kInternal:
      s.breaker.OnFailure(Now());
      break;
    default:
      s.breaker.OnNeutral();
  }
  if (st.code() == StatusCode::kResourceExhausted) {
    s.limiter.OnOverload();
  } else if (ttft >= 0 && (st.ok() || st.code() == StatusCode::kAborted)) {
    s.limiter.OnLatency(ttft);
  }
  s.Grant();
  Publish(s);
}

Status Router::Run(const ChatRequest& request, Deadline deadline, const EventCallback& on_event,
                   bool buffered, const std::function<void()>& on_attempt, RouteInfo& info) {
  std::vector<Slot*> candidates;
  for (auto& s : slots_) {
    const auto& m = s->up->config().models;
    if (std::find(m.begin(), m.end(), request.model) != m.end()) candidates.push_back(s.get());
  }
  if (candidates.empty()) {
    return NotFoundError("no upstream serves model '" + request.model + "'");
  }
  Status last;
  double hint = -1;
  auto note_hint = [&](double h) {
    if (h >= 0) hint = hint < 0 ? h : std::min(hint, h);
  };
  for (Slot* slot : candidates) {
    Slot& s = *slot;
    const std::string& name = s.up->config().name;
    for (int attempt = 0; attempt < config_.retry.max_attempts; ++attempt) {
      if (SecondsUntil(deadline) <= 0) {
        return Status(StatusCode::kDeadlineExceeded,
                      "the deadline passed" + (last.ok() ? "" : " after: " + last.message()));
      }
      {
        std::lock_guard<std::mutex> lock(s.mu);
        if (!s.breaker.Allow(Now())) {
          note_hint(std::max(1.0, std::ceil(s.breaker.RetryAfter(Now()))));
          Publish(s);
          last = UnavailableError("upstream '" + name + "': circuit breaker is open");
          Count(s, "circuit_open");
          break;
        }
      }
      double admit_hint = -1;
      Status adm = Admit(s, request, deadline, admit_hint);
      if (!adm.ok()) {
        {
          std::lock_guard<std::mutex> lock(s.mu);
          s.breaker.OnNeutral();  // give back a half-open probe slot
          Publish(s);
        }
        if (adm.code() == StatusCode::kDeadlineExceeded) {
          Count(s, "timeout");
          return adm;
        }
        Count(s, adm.code() == StatusCode::kResourceExhausted ? "queue_full"
                                                                : "deadline_unmeetable");
        note_hint(admit_hint);
        last = adm;
        break;
      }
      // The attempt.
      ++info.attempts;
      info.upstream = name;
      if (on_attempt) on_attempt();
      const auto t0 = Clock::now();
      double ttft = -1;
      Clock::time_point last_token{};
      bool have_token = false;
      EventCallback wrapped = [&](const ChatEvent& ev) -> bool {
        const auto now = Clock::now();
        if (ttft < 0) {
          ttft = std::chrono::duration<double>(now - t0).count();
          if (metrics_ != nullptr) metrics_->ttft.With({name}).Observe(ttft);
        }
        if (ev.kind == ChatEvent::Kind::kContent || ev.kind == ChatEvent::Kind::kReasoning) {
          if (have_token && metrics_ != nullptr) {
            metrics_->inter_token.With({name}).Observe(
                std::chrono::duration<double>(now - last_token).count());
          }
          have_token = true;
          last_token = now;
        }
        if (!buffered) info.delivered = true;
        return on_event(ev);
      };
      CallInfo ci;
      Status st = s.up->Stream(request, deadline, wrapped, &ci);
      const double duration = std::chrono::duration<double>(Clock::now() - t0).count();
      Finish(s, st, ttft, duration);
      Count(s, OutcomeOf(st));
      if (st.ok()) return st;
      if (info.delivered) return st;  // bytes reached the caller: never retried
      last = st;
      const bool retry_same = (st.code() == StatusCode::kUnavailable && !ci.hung) ||
                              st.code() == StatusCode::kResourceExhausted;
      const bool failover = retry_same || st.code() == StatusCode::kUnavailable ||
                            st.code() == StatusCode::kInternal;
      if (!failover) return st;
      if (!retry_same || attempt + 1 >= config_.retry.max_attempts) break;
      double wait = Backoff(config_.retry, attempt);
      if (ci.retry_after_seconds > wait) {
        wait = std::min(ci.retry_after_seconds, config_.retry.retry_after_max_seconds);
      }
      if (wait >= SecondsUntil(deadline)) break;  // no time to retry here; try the next one
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
  }
  if (last.code() == StatusCode::kResourceExhausted || last.code() == StatusCode::kUnavailable) {
    info.retry_after_seconds = hint;
  }
  return last;
}

Status Router::Stream(const ChatRequest& request, Deadline deadline,
                      const EventCallback& on_event, RouteInfo* info) {
  RouteInfo local;
  RouteInfo& ri = info != nullptr ? *info : local;
  ri = RouteInfo{};
  return Run(request, deadline, on_event, /*buffered=*/false, nullptr, ri);
}

Result<ChatResponse> Router::Complete(const ChatRequest& request, Deadline deadline,
                                      RouteInfo* info) {
  RouteInfo local;
  RouteInfo& ri = info != nullptr ? *info : local;
  ri = RouteInfo{};
  ChatResponse r;
  auto reset = [&] { r = ChatResponse{}; };
  auto gather = [&](const ChatEvent& ev) -> bool {
    if (ev.index != 0) return true;
    switch (ev.kind) {
      case ChatEvent::Kind::kContent: r.content += ev.text; break;
      case ChatEvent::Kind::kReasoning: r.reasoning_content += ev.text; break;
      case ChatEvent::Kind::kFinish: r.finish_reason = ev.finish_reason; break;
      case ChatEvent::Kind::kUsage:
        r.has_usage = true;
        r.usage = ev.usage;
        break;
    }
    return true;
  };
  Status st = Run(request, deadline, gather, /*buffered=*/true, reset, ri);
  if (!st.ok()) return st;
  r.model = request.model;
  r.upstream = ri.upstream;
  return r;
}

std::vector<std::string> Router::Models() const {
  std::vector<std::string> out;
  for (const auto& s : slots_) {
    for (const auto& m : s->up->config().models) {
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    }
  }
  return out;
}

std::vector<Router::UpstreamState> Router::States() const {
  std::vector<UpstreamState> out;
  for (const auto& s : slots_) {
    std::lock_guard<std::mutex> lock(s->mu);
    out.push_back({s->up->config().name, s->limiter.limit(), s->in_flight, s->queue.size(),
                   s->breaker.state(Now())});
  }
  return out;
}

}  // namespace deepkb::llm
