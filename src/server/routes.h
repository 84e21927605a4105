// Route tables of `deepkb serve`, one function per area. Each returns routes with their
// declared permission (server/http.h); KbServer registers them all.
#pragma once

#include <string>
#include <vector>

#include "auth/api_keys.h"
#include "auth/audit.h"
#include "kb/kb.h"
#include "server/http.h"

namespace deepkb::server {

// /healthz, /readyz and the knowledge-base routes of CONTRACT.md. With `audit`, collection and
// document deletes and in-handler scope denials (403) are recorded there.
std::vector<Route> KbRoutes(kb::KnowledgeBase& kb, auth::AuditLog* audit = nullptr);

// POST /v1/collections/{c}/documents: multipart upload of one or more files, per-file results
// (routes_upload.cc). Permission::kWrite on the collection.
std::vector<Route> UploadRoutes(kb::KnowledgeBase& kb);

// Sync between KB nodes (routes_sync.cc, docs/sync.md):
//   GET /v1/sync/info · GET /v1/sync/changes?since=&limit=&collection=&exclude_node=&full=
//   POST /v1/sync/apply · GET|PUT /v1/sync/checkpoints/{id}   — Permission::kWrite (scoped keys:
//   their collections only); GET /v1/sync/conflicts · POST /v1/sync/run — Permission::kAdmin.
// Applies and runs are recorded in `audit` (sync.apply, sync.run).
std::vector<Route> SyncRoutes(kb::KnowledgeBase& kb, auth::AuditLog* audit);
}  // namespace deepkb::server
namespace deepkb::sync {
class SyncScheduler;
}
namespace deepkb::server {
// GET /v1/sync/status (Permission::kAdmin): the scheduled peers of `scheduler` and their state
// (null: none). `deepkb serve` passes these as extra routes; the scheduler must outlive them.
std::vector<Route> SyncStatusRoutes(const sync::SyncScheduler* scheduler);

// Administrative routes, all Permission::kAdmin (routes_admin.cc):
//   GET /v1/keys · POST /v1/keys · DELETE /v1/keys/{id} · GET /v1/audit
std::vector<Route> AdminRoutes(auth::ApiKeys& keys);

// POST /v1/admin/backup {"dest"}: online backup to a new directory on the server's machine
// (routes_backup.cc; ops/backup.h), Permission::kAdmin, one at a time (409 otherwise).
std::vector<Route> BackupRoutes(kb::KnowledgeBase& kb, auth::AuditLog* audit);

class DiskGuard;
// Node diagnosis and index maintenance, all Permission::kAdmin (routes_doctor.cc):
//   GET /v1/admin/doctor → {"checks": [{check, status, detail, fix}], "exit_code"} (server-side
//     checks of server/doctor.h: data dir, disk against `disk`, admin.key mode, index integrity)
//   GET /v1/admin/index/verify → {"ok": true} or the DataLoss error (500 data_loss)
//   POST /v1/admin/index/rebuild {"collection"} → {"collection", "chunks", "embedder", "dim",
//     "seconds"}; searches keep being served from the old index while it runs.
std::vector<Route> DoctorRoutes(kb::KnowledgeBase& kb, DiskGuard& disk);

// The embedded web UI and the route it needs (routes_ui.cc, docs/ui.md):
//   GET / and GET /ui/{file}: the UI's static files, Permission::kPublic (no data in them);
//   GET /v1/whoami → {"key_id", "role", "collections"}, Permission::kRead.
std::vector<Route> UiRoutes();

// An audit event about `req`: acting key id, client address and request id filled in.
auth::AuditEvent AuditEventFor(const HttpRequest& req, std::string action, std::string resource,
                               std::string result);

// The audit event for a request refused before its handler ran: auth.failure for a 401 (key_id
// empty: the id the client claimed, when its key was shaped like one; never the secret),
// auth.denied for a 403 (key_id = the caller's key). Resource = "METHOD route-name".
auth::AuditEvent AuthFailureEvent(const HttpRequest& req, const Route& route, const Status& s,
                                  const std::string& key_id);

// Wraps `route`'s handler so that a 403 it returns itself (a scope check inside the handler) is
// recorded as auth.denied in `audit`. (KbServer records the 401/403 it answers before calling a
// handler.)
Route WithDenialAudit(Route route, auth::AuditLog* audit);

}  // namespace deepkb::server
