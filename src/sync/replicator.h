// The replicator: one sync session between this node's KnowledgeBase and a peer KB node over
// HTTP(S) (protocol and rules: docs/sync.md, wire shapes: sync_json.h).
//
//   pull: GET peer /v1/sync/info (collections missing here are created with the peer's
//         settings), then pages of GET /v1/sync/changes after the checkpoint
//         "<local node>-><peer node>:pull", each applied locally (ApplyChanges commits) BEFORE
//         the checkpoint is written here and (best effort) on the peer.
//   push: the mirror image: local ChangesSince after the peer's copy of checkpoint
//         "<local node>-><peer node>:push" (collections missing on the peer are created there),
//         POST /v1/sync/apply (the peer commits), then PUT the checkpoint on the peer and here.
// A session interrupted anywhere resumes from the last checkpoint; re-sent changes are ignored
// by the idempotent apply. Versions stamped by the other node are not sent to it
// (exclude_node), except with `full`.
// The first session of a replication (no checkpoint) is a full one: it is allowed behind the
// source's tombstone horizon.
// A full pull that read the source's whole feed (every page, no interruption) ends with
// KnowledgeBase::PruneAbsentFromSource over the session's collections: documents here whose
// version is at or below the source's purged_hlc (from /v1/sync/info) and that the feed did not
// carry are removed, and the source's horizon is adopted (docs/sync.md "Full resync and the
// horizon"). An interrupted or page-limited pull prunes nothing. In `both` the prune runs right
// after the pull, before the push (it only removes versions the peer would refuse, so the push
// could not have delivered them).
//
// Errors: Unavailable (peer unreachable, 5xx), Unauthenticated/PermissionDenied (the key: a
// writer key for the collections is needed), FailedPrecondition (checkpoint behind the
// tombstone horizon: run with full), InvalidArgument (bad options, malformed peer answers).
// Thread safety: SyncOnce may run concurrently for different peers (the KnowledgeBase is
// thread-safe); the same replication twice at once is harmless but wasteful.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::sync {

enum class Direction { kPush, kPull, kBoth };
Result<Direction> ParseDirection(std::string_view s);  // "push" | "pull" | "both"
std::string_view DirectionName(Direction d);

struct PeerConfig {
  std::string url;      // http(s)://host[:port]
  std::string api_key;  // a writer (or admin) key of the peer
  std::string ca_file;  // PEM bundle to verify an https peer ("" = system store)
  // Mutual TLS: a PEM client certificate and its key, for peers started with --tls-client-ca
  // (both or neither; https only).
  std::string client_cert_file;
  std::string client_key_file;
  double connect_timeout_seconds = 5;
  double timeout_seconds = 120;  // per request
  bool compress = true;  // gzip request bodies and accept gzip answers
};

// Stops a running SyncOnce from another thread (the scheduler at shutdown): the session ends
// with Aborted before its next request, and a request in flight is cut (its socket shut down).
// A token stays cancelled. Thread-safe.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const;
  // For the replicator: `abort` cuts the session's connection; null when the session ends.
  void SetAbort(std::function<void()> abort);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;        // guarded by mu_
  std::function<void()> abort_;   // guarded by mu_
};

struct SyncOptions {
  PeerConfig peer;
  Direction direction = Direction::kBoth;
  std::vector<std::string> collections;  // empty = every collection
  bool full = false;   // start from seq 0, behind the horizon, versions of the other node too
  int batch = 200;     // change rows per page (1..1000)
  int max_pages = 0;   // per direction; 0 = until caught up (tests use it to interrupt)
  CancelToken* cancel = nullptr;  // not owned; null = not cancellable
};

struct DirectionReport {
  bool ran = false;
  bool complete = false;  // caught up with the source's feed
  int64_t from_seq = 0, to_seq = 0;  // checkpoint before and after
  int64_t pages = 0, changes = 0, applied = 0, ignored = 0, conflicts = 0, rejected = 0;
  int64_t bytes = 0;  // JSON payload bytes sent and received (before compression)
  std::vector<std::string> rejections;  // "doc_id: reason", the first 10
  // Pull only: documents removed after a complete full pull because the peer had deleted them
  // beyond its tombstone horizon (PruneAbsentFromSource), and "collection/doc_id" of the first 10.
  int64_t pruned = 0;
  std::vector<std::string> pruned_ids;
};

struct SyncReport {
  std::string local_node, peer_node;
  DirectionReport push, pull;
  uint64_t newest_hlc = 0;  // newest HLC among versions applied here by the pull
  double seconds = 0;
};
nlohmann::json ReportToJson(const SyncReport& r);

// One session as described at the top. On error the checkpoints hold what was committed.
Result<SyncReport> SyncOnce(kb::KnowledgeBase& local, const SyncOptions& opts);
// The same, filling `report` as the session goes, so a failed session still reports what it
// applied, sent and transferred before the error (the scheduler's metrics count it).
Status SyncOnce(kb::KnowledgeBase& local, const SyncOptions& opts, SyncReport& report);

}  // namespace deepkb::sync
