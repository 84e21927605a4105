// The audit log: an append-only record of security events in table audit_log (schema v4).
//
// Events written by deepkb (action → when):
//   auth.failure        a request with no, malformed, unknown, revoked or expired key (401)
//   auth.denied         a valid key asked for something its role or scope does not allow (403)
//   key.create          a key was created (resource = the new key's id; detail = role, scope)
//   key.revoke          a key was revoked (resource = the key's id)
//   collection.delete   resource = collection name
//   document.delete     resource = "<collection>/<doc id>"
//   sync.session        for the sync code (resource = peer, detail = counts)
//   backup.restore      for the restore code (resource = source)
//   audit.suppressed    auth.* events dropped by the flood limit (detail = how many)
// result is "ok", "denied" or "error"; key_id is the acting key ("cli" for the local command
// line; for auth.failure the id the client claimed, when its key was shaped like one); client is
// the remote address ("local" for the CLI).
//
// Never written: key secrets, Authorization headers, document text. Callers pass only ids,
// names and Status messages (which by contract carry no secrets).
//
// Append-only: SQLite triggers abort every UPDATE and DELETE on audit_log, so this class has no
// way to change history and neither has anything else using the database.
//
// Flood limit: auth.failure/auth.denied events beyond kAuthEventsPerSecond in one second are
// counted instead of written, and the count is written as one audit.suppressed event later, so
// an attacker hammering with bad keys cannot fill the disk through the audit log.
//
// Thread safety: all methods are thread-safe (internal mutex around its own connection).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/sqlite.h"

namespace deepkb::auth {

struct AuditEvent {
  int64_t id = 0;    // assigned by Append (increasing)
  int64_t time = 0;  // unix ms; 0 = now
  std::string key_id;
  std::string client;
  std::string action;
  std::string resource;
  std::string result;  // ok | denied | error
  std::string detail;
  std::string request_id;
};

struct AuditQuery {
  int limit = 100;          // 1..1000
  int64_t before_id = 0;    // > 0: only events with id < before_id (paging cursor)
  int64_t since_time = 0;   // > 0: only events with time >= since_time (unix ms)
  std::string action;       // non-empty: only this action
};

class AuditLog {
 public:
  static constexpr int kAuthEventsPerSecond = 20;

  // Opens its own connection to the KB database at `db_path` (already migrated to v4).
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& db_path);

  // Writes one event (fields longer than 1,000 bytes are cut, invalid UTF-8 replaced).
  // InvalidArgument when action or result is empty; storage errors as Status.
  Status Append(AuditEvent e);

  // Append() that never fails the caller: errors are logged (spdlog) and dropped, and
  // auth.* events are subject to the flood limit. For request paths where the response must not
  // depend on the audit write.
  void Record(AuditEvent e);

  // Newest first. InvalidArgument for a limit outside 1..1000.
  Result<std::vector<AuditEvent>> List(const AuditQuery& q);

 private:
  explicit AuditLog(std::unique_ptr<storage::Database> db) : db_(std::move(db)) {}
  Status AppendLocked(AuditEvent e);  // requires mu_

  std::mutex mu_;
  std::unique_ptr<storage::Database> db_;  // guarded by mu_
  int64_t window_second_ = 0;              // guarded by mu_: flood-limit window (unix s)
  int window_count_ = 0;                   // guarded by mu_: auth.* events in the window
  int64_t suppressed_ = 0;                 // guarded by mu_: dropped, not yet reported
};

}  // namespace deepkb::auth
