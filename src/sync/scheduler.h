// Scheduled sync inside `deepkb serve` (docs/sync.md "Scheduled sync"): one background thread
// per configured peer runs SyncOnce on the peer's interval, plus one thread that purges
// tombstones older than the horizon once a day.
//
// Timing: the first session of a peer starts after a random delay in [0, min(first_delay_max,
// interval)); after a successful session the next one waits interval × (1 ± jitter), uniformly;
// after a failed one it waits retry_initial × 2^(failures−1), capped at retry_max (so a daily
// sync that failed is retried within the hour). A peer never has two sessions at once: its
// sessions run one after the other on its own thread.
//
// Lag (deepkb_sync_lag_seconds{peer}, PeerStatus::lag_seconds) = now − the start time of the
// last session in which every configured direction caught up with its source's feed (before
// the first such session: now − the scheduler's start). Every change either side had committed
// more than `lag` seconds ago is on the other side; it does not depend on whether the peer wrote
// anything, and it needs no request to compute. With an interval I it saw-tooths between about
// 0 and I + session time while sync is healthy and grows without bound while it fails.
//
// Metrics (registered on the Registry given to the constructor; `peer` = PeerLabel(url)):
//   deepkb_sync_lag_seconds{peer}                        gauge (refreshed by RefreshMetrics)
//   deepkb_sync_last_success_timestamp_seconds{peer}     gauge, unix seconds (0 = none yet)
//   deepkb_sync_interval_seconds{peer}                   gauge, the configured interval
//   deepkb_sync_changes_total{peer,direction}            counter, versions applied: direction
//                                                        pull = here from the peer, push = on
//                                                        the peer from here
//   deepkb_sync_conflicts_total{peer}                    counter, both directions
//   deepkb_sync_bytes_total{peer,direction}              counter, JSON payload bytes (before
//                                                        gzip), direction pull or push
//   deepkb_sync_errors_total{peer}                       counter, failed sessions
//   deepkb_sync_pruned_total{peer}                       counter, documents removed after
//                                                        complete full pulls from the peer (it
//                                                        had deleted them beyond its horizon)
//   deepkb_sync_tombstones_purged_total                  counter
//
// Shutdown: Stop() wakes every thread, aborts an HTTP request in flight (CancelToken) and joins;
// it must run before the KnowledgeBase is destroyed. The destructor calls it.
// Thread safety: Start/Stop from one thread; Status, RunNow and RefreshMetrics from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "kb/kb.h"
#include "metrics/registry.h"
#include "sync/replicator.h"

namespace deepkb::sync {

struct ScheduledPeer {
  SyncOptions options;               // peer URL, key, CA, direction, collections
  double interval_seconds = 86'400;  // the operators start with daily
};

// Parses a --sync-peer value:
//   URL,key-file=F[,key-env=VAR][,ca=F][,direction=push|pull|both][,collection=C]...
//      [,interval=DURATION]
// DURATION as `deepkb keys create --expires` (30s, 15m, 24h, 1d12h); default 24h, at least 1 s.
// The key is read from the file (trimmed) or, with key-env, from that environment variable;
// exactly one of the two. InvalidArgument/NotFound naming the bad part otherwise.
Result<ScheduledPeer> ParsePeerSpec(std::string_view spec);

// The metric label of a peer URL: host:port (port from the scheme when absent), characters other
// than letters, digits and . : _ - [ ] replaced by '_'.
std::string PeerLabel(std::string_view url);

struct SchedulerOptions {
  std::vector<ScheduledPeer> peers;
  double jitter = 0.1;
  double first_delay_max_seconds = 30;
  double retry_initial_seconds = 30;
  double retry_max_seconds = 3'600;
  // Tombstones older than this are purged (docs/sync.md "The tombstone horizon"); 0 = never.
  int64_t tombstone_horizon_ms = int64_t{30} * 24 * 3600 * 1000;
  double purge_interval_seconds = 86'400;  // the first purge runs at start
  uint64_t seed = 0;                       // jitter PRNG seed; 0 = random
};

// One peer's state, as served by GET /v1/sync/status. Times are unix seconds, 0 = never.
struct PeerStatus {
  std::string peer;  // label
  std::string url;
  std::string direction;
  std::vector<std::string> collections;
  double interval_seconds = 0;
  bool running = false;
  double last_attempt = 0;     // start of the latest session
  double last_success = 0;     // end of the latest successful session
  double last_complete_start = 0;  // start of the latest session that caught up (lag origin)
  double next_attempt = 0;
  double lag_seconds = 0;
  std::string last_error;      // of the latest session ("" when it succeeded)
  int64_t consecutive_failures = 0;
  int64_t sessions = 0, failures = 0;
  int64_t applied = 0, sent = 0, conflicts = 0, rejected = 0;  // totals since start
  int64_t pruned = 0;  // documents removed by full pulls from the peer, since start
  int64_t bytes_pulled = 0, bytes_pushed = 0;
  std::string peer_node;  // the peer's node id once known
};

class SyncScheduler {
 public:
  // `kb` must outlive Stop(); `registry` (may be null) must outlive this object.
  SyncScheduler(kb::KnowledgeBase& kb, SchedulerOptions opts, metrics::Registry* registry);
  ~SyncScheduler();
  SyncScheduler(const SyncScheduler&) = delete;
  SyncScheduler& operator=(const SyncScheduler&) = delete;

  void Start();
  // Stops promptly (see the top) and joins; safe to call more than once.
  void Stop();

  std::vector<PeerStatus> Status() const;
  // Starts peer `index`'s next session now (after the running one, if any). No-op when out of
  // range or stopped.
  void RunNow(size_t index);
  // Sets the lag gauges to their current values (called at scrape time).
  void RefreshMetrics() const;

  // Tombstone purges run so far and documents purged (for status and tests).
  int64_t purges() const { return purges_.load(); }

 private:
  struct PeerState;
  void PeerLoop(PeerState& p);
  void PurgeLoop();
  double Delay(const PeerState& p);  // mu_ held
  double LagAt(const PeerStatus& st, double now) const;

  kb::KnowledgeBase& kb_;
  SchedulerOptions opts_;
  double started_at_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                         // guarded by mu_
  std::vector<std::unique_ptr<PeerState>> peers_;  // fixed after construction; fields by mu_
  std::vector<std::thread> threads_;
  std::atomic<int64_t> purges_{0};
  uint64_t rng_;  // guarded by mu_

  metrics::Family<metrics::Gauge>* lag_ = nullptr;
  metrics::Family<metrics::Gauge>* last_success_ = nullptr;
  metrics::Family<metrics::Gauge>* interval_ = nullptr;
  metrics::Family<metrics::Counter>* changes_ = nullptr;
  metrics::Family<metrics::Counter>* conflicts_ = nullptr;
  metrics::Family<metrics::Counter>* bytes_ = nullptr;
  metrics::Family<metrics::Counter>* errors_ = nullptr;
  metrics::Family<metrics::Counter>* pruned_ = nullptr;
  metrics::Family<metrics::Counter>* purged_ = nullptr;
};

}  // namespace deepkb::sync
