#include "server/server_metrics.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "server/disk_guard.h"

namespace deepkb::server {

ServerMetrics::ServerMetrics()
    : requests_(registry_.AddCounter("deepkb_http_requests_total",
                                     "HTTP requests by route (pattern name) and status code.",
                                     {"route", "code"})),
      request_duration_(registry_.AddHistogram(
          "deepkb_http_request_duration_seconds",
          "HTTP request duration from routing to response, by route.", {"route"})),
      rejected_(registry_.AddCounter(
          "deepkb_http_rejected_total",
          "Requests refused before their handler ran: rate_limited (429), overloaded or "
          "queue_full (503).",
          {"reason"})),
      slow_(registry_.AddCounter("deepkb_http_slow_requests_total",
                                 "Requests whose handler ran longer than --slow-request.",
                                 {"route"})),
      in_flight_(registry_.AddGauge("deepkb_http_in_flight_requests",
                                    "Handlers running now (admission-controlled routes).")),
      search_duration_(registry_.AddHistogram("deepkb_search_duration_seconds",
                                              "Search latency inside the KB, by mode used.",
                                              {"mode"})),
      index_update_duration_(registry_.AddHistogram(
          "deepkb_index_update_duration_seconds",
          "Time to apply one document write or delete to SQLite, full-text and vector indexes.",
          {}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      documents_(registry_.AddGauge("deepkb_documents", "Live documents per collection.",
                                    {"collection"})),
      chunks_(registry_.AddGauge("deepkb_chunks", "Chunks of live documents per collection.",
                                 {"collection"})),
      vector_queue_(registry_.AddGauge(
          "deepkb_vector_queue",
          "Vector index changes committed but not yet in the in-memory graphs (searchable "
          "already; applied by a background thread, bounded by the KB's queue limit).")),
      disk_usage_(registry_.AddGauge(
          "deepkb_disk_usage_ratio",
          "Used fraction (0-1) of the file system holding the data directory.")),
      rss_(registry_.AddGauge("deepkb_process_resident_memory_bytes",
                              "Resident memory of the server process.")),
      fragmentation_(registry_.AddGauge(
          "deepkb_process_memory_fragmentation_ratio",
          "Free bytes that glibc malloc holds between live allocations (not trimmable from "
          "the top of the main heap) as a fraction (0-1) of the bytes it obtained from the OS.")) {
  // Series that should exist before the first event, so dashboards see zeros.
  for (const char* r : {"rate_limited", "overloaded", "queue_full"}) rejected_.With({r});
  in_flight_.With();
}

void ServerMetrics::HookKb(kb::KbOptions& opts) {
  opts.on_search = [this](std::string_view mode, double seconds) {
    search_duration_.With({std::string(mode)}).Observe(seconds);
  };
  opts.on_index_update = [this](double seconds) {
    index_update_duration_.With().Observe(seconds);
  };
}

void ServerMetrics::ObserveRequest(std::string_view route, int status, double seconds) {
  const std::string r(route);
  requests_.With({r, std::to_string(status)}).Inc();
  request_duration_.With({r}).Observe(seconds);
}

void ServerMetrics::CountRejected(std::string_view reason) {
  rejected_.With({std::string(reason)}).Inc();
}

void ServerMetrics::CountSlow(std::string_view route) { slow_.With({std::string(route)}).Inc(); }

std::string ServerMetrics::Scrape(kb::KnowledgeBase& kb, const std::string& data_dir) {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  auto cs = kb.ListCollections();
  if (cs.ok()) {
    documents_.Clear();
    chunks_.Clear();
    for (const auto& c : *cs) {
      documents_.With({c.name}).Set(static_cast<double>(c.documents));
      chunks_.With({c.name}).Set(static_cast<double>(c.chunks));
    }
  }
  vector_queue_.With().Set(static_cast<double>(kb.VectorQueueLength()));
  if (auto usage = DiskGuard::StatvfsUsage(data_dir); usage.ok()) disk_usage_.With().Set(*usage);
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    long pages = 0, resident = 0;
    if (std::fscanf(f, "%ld %ld", &pages, &resident) == 2) {
      rss_.With().Set(static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
    }
    std::fclose(f);
  }
  // mallinfo2 sums every arena: arena = heap bytes from sbrk/mmap'd arenas, hblkhd = large
  // mmap'd blocks, fordblks = free bytes in the arenas, keepcost = the trimmable top of the main
  // heap (returned to the OS by malloc_trim, so not fragmentation).
  const struct mallinfo2 mi = ::mallinfo2();
  const double obtained = static_cast<double>(mi.arena + mi.hblkhd);
  if (obtained > 0) {
    const size_t holes = mi.fordblks > mi.keepcost ? mi.fordblks - mi.keepcost : 0;
    fragmentation_.With().Set(static_cast<double>(holes) / obtained);
  }
  return registry_.Expose();
}

}  // namespace deepkb::server
