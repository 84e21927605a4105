// POST /v1/admin/backup {"dest": "/abs/path"} (Permission::kAdmin): writes an online backup of
// the node's data directory to `dest` on the server's machine (ops/backup.h) while the node
// keeps serving, and answers 201 with the manifest. 400 for a relative or missing path, 409
// when `dest` is not new and empty or when another backup is running. Recorded in the audit
// log as backup.create (resource = dest).
#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>

#include "ops/backup.h"
#include "server/routes.h"

namespace deepkb::server {

std::vector<Route> BackupRoutes(kb::KnowledgeBase& kb, auth::AuditLog* audit) {
  auto running = std::make_shared<std::atomic<bool>>(false);
  Handler h = [&kb, audit, running](const HttpRequest& req) {
    auto body = ParseJsonObject(req.body);
    if (!body.ok()) return HttpResponse::Error(body.status());
    if (body->size() != 1 || !body->contains("dest") || !(*body)["dest"].is_string()) {
      return HttpResponse::Error(InvalidArgumentError(
          "body must be {\"dest\": \"/absolute/path\"} (a new directory on the server)"));
    }
    const std::string dest = (*body)["dest"];
    if (running->exchange(true)) {
      return HttpResponse::Error(Status(StatusCode::kAborted, "a backup is already running; retry when it ends"));
    }
    auto m = ops::CreateBackup(kb, dest);
    running->store(false);
    if (audit) {
      auth::AuditEvent e = AuditEventFor(req, "backup.create", dest, m.ok() ? "ok" : "error");
      e.detail = m.ok() ? "covered_seq=" + std::to_string(m->covered_seq) : m.status().message();
      audit->Record(std::move(e));
    }
    if (!m.ok()) return HttpResponse::Error(m.status());
    return HttpResponse::Json(201, nlohmann::json::parse(ops::ManifestToJson(*m)));
  };
  Route r{"POST", "/v1/admin/backup", "/v1/admin/backup", auth::Permission::kAdmin, 0, h};
  r.server_admission = false;  // may run for minutes; one at a time by its own flag
  return {r};
}

}  // namespace deepkb::server
