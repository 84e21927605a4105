#include "llm/llm_metrics.h"

namespace deepkb::llm {

LlmMetrics::LlmMetrics(metrics::Registry& r)
    : queue_depth(r.AddGauge("deepkb_llm_queue_depth",
                             "Requests waiting for admission to an upstream.", {"upstream"})),
      in_flight(r.AddGauge("deepkb_llm_in_flight", "Attempts running against an upstream.",
                           {"upstream"})),
      limit(r.AddGauge("deepkb_llm_concurrency_limit",
                       "Adaptive concurrency limit of an upstream.", {"upstream"})),
      circuit_state(r.AddGauge("deepkb_llm_circuit_state",
                               "Circuit breaker: 0 closed, 1 half-open, 2 open.", {"upstream"})),
      requests(r.AddCounter("deepkb_llm_requests_total",
                            "Upstream attempts and admission rejections by outcome.",
                            {"upstream", "outcome"})),
      ttft(r.AddHistogram("deepkb_llm_time_to_first_token_seconds",
                          "Time from sending a request upstream to its first token.",
                          {"upstream"},
                          {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
      inter_token(r.AddHistogram("deepkb_llm_inter_token_latency_seconds",
                                 "Time between streamed deltas from an upstream.", {"upstream"},
                                 {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                  2.5})) {}

std::unique_ptr<LlmMetrics> RegisterLlmMetrics(metrics::Registry& registry) {
  return std::make_unique<LlmMetrics>(registry);
}

}  // namespace deepkb::llm
