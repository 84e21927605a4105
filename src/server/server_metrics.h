// The metrics `deepkb serve` exports on /metrics (names from CONTRACT.md; seconds for times,
// bytes for sizes, _total for counters). One instance per process, created before the
// KnowledgeBase is opened so that HookKb() can route kb's observers (search latency per mode,
// index update duration) into it. Per-collection documents/chunks, the data directory's disk
// usage, the process RSS and the malloc heap's fragmentation are computed at scrape time
// (Scrape()).
//
// Label cardinality is bounded: `route` is a Route's name (never the raw path), `code` an HTTP
// status, `mode` a search mode, `collection` a collection name, `reason` a fixed word.
// Thread safety: all methods may be called from any thread.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "kb/kb.h"
#include "metrics/registry.h"

namespace deepkb::server {

class ServerMetrics {
 public:
  ServerMetrics();

  // Sets opts.on_search and opts.on_index_update to feed this object (which must outlive the
  // KnowledgeBase opened with `opts`).
  void HookKb(kb::KbOptions& opts);

  // One finished HTTP request.
  void ObserveRequest(std::string_view route, int status, double seconds);
  // A request refused before its handler ran: "rate_limited", "overloaded", "queue_full".
  void CountRejected(std::string_view reason);
  void CountSlow(std::string_view route);
  void SetInFlight(int n) { in_flight_.With().Set(n); }

  // Refreshes the scrape-time gauges from `kb` and `data_dir`, then returns the exposition.
  std::string Scrape(kb::KnowledgeBase& kb, const std::string& data_dir);

  metrics::Registry& registry() { return registry_; }

 private:
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& request_duration_;
  metrics::Family<metrics::Counter>& rejected_;
  metrics::Family<metrics::Counter>& slow_;
  metrics::Family<metrics::Gauge>& in_flight_;
  metrics::Family<metrics::Histogram>& search_duration_;
  metrics::Family<metrics::Histogram>& index_update_duration_;
  metrics::Family<metrics::Gauge>& documents_;
  metrics::Family<metrics::Gauge>& chunks_;
  metrics::Family<metrics::Gauge>& vector_queue_;
  metrics::Family<metrics::Gauge>& disk_usage_;
  metrics::Family<metrics::Gauge>& rss_;
  metrics::Family<metrics::Gauge>& fragmentation_;
  std::mutex scrape_mu_;  // one scrape at a time (Clear + refill of the per-collection gauges)
};

}  // namespace deepkb::server
