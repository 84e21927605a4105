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

// Administrative routes, all Permission::kAdmin (routes_admin.cc):
//   GET /v1/keys · POST /v1/keys · DELETE /v1/keys/{id} · GET /v1/audit
std::vector<Route> AdminRoutes(auth::ApiKeys& keys);

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
