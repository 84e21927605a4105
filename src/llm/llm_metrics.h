// The gateway's upstream metrics. The server creates one LlmMetrics on its Registry at start
// (RegisterLlmMetrics) and hands a pointer to the Router; the Router updates it.
//
//   deepkb_llm_queue_depth{upstream}                 gauge: requests waiting for admission
//   deepkb_llm_in_flight{upstream}                   gauge: attempts running
//   deepkb_llm_concurrency_limit{upstream}           gauge: adaptive limit (fractional)
//   deepkb_llm_circuit_state{upstream}               gauge: 0 closed, 1 half-open, 2 open
//   deepkb_llm_requests_total{upstream,outcome}      counter: one per attempt or rejection;
//       outcome ∈ ok, upstream_error, rate_limited, timeout, malformed, bad_request, cancelled,
//                 queue_full, deadline_unmeetable, circuit_open
//   deepkb_llm_time_to_first_token_seconds{upstream} histogram
//   deepkb_llm_inter_token_latency_seconds{upstream} histogram (between streamed deltas)
// Label values are configured upstream names and the fixed outcome words above.
// Thread safety: all methods may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "metrics/registry.h"

namespace deepkb::llm {

struct LlmMetrics {
  explicit LlmMetrics(metrics::Registry& registry);

  metrics::Family<metrics::Gauge>& queue_depth;
  metrics::Family<metrics::Gauge>& in_flight;
  metrics::Family<metrics::Gauge>& limit;
  metrics::Family<metrics::Gauge>& circuit_state;
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& ttft;
  metrics::Family<metrics::Histogram>& inter_token;
};

// Registers the families above on `registry` (which must outlive the result).
std::unique_ptr<LlmMetrics> RegisterLlmMetrics(metrics::Registry& registry);

}  // namespace deepkb::llm
