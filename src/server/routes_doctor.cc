// Node diagnosis and index maintenance over HTTP (routes.h DoctorRoutes), all Permission::kAdmin:
// `deepkb doctor --server`, `deepkb index verify --server` and `deepkb index rebuild --server`
// call these, because the CLI cannot open a data directory that a server holds.
//
//   GET  /v1/admin/doctor         → {"checks": [{check, status, detail, fix, kind}], "exit_code"}
//   GET  /v1/admin/index/verify   → {"ok": true, "seconds"}; a corrupt index: 500 data_loss
//   POST /v1/admin/index/rebuild  {"collection", "embedder"?} → {"collection", "chunks",
//                                  "embedder", "dim", "seconds"}
// A rebuild embeds every chunk without holding the KB lock and then swaps the new vectors and
// full-text rows in with one transaction, so searches are answered from the old index until the
// swap (docs/doctor.md gives the measured pause of the swap). Verify reads every page of kb.db:
// on a large node these requests take as long as a full scan and run outside admission limits'
// usual budget (they are counted as slow requests when they pass --slow-request).
#include <nlohmann/json.hpp>

#include <chrono>

#include "server/doctor.h"
#include "server/routes.h"

namespace deepkb::server {

using nlohmann::json;

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

HttpResponse Rebuild(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto body = ParseJsonObject(req.body.empty() ? "{}" : req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  if (Status s = RejectUnknownFields(*body, {"collection", "embedder"}); !s.ok()) {
    return HttpResponse::Error(s);
  }
  std::string collection, embedder;
  if (Status s = ReadField(*body, "collection", collection); !s.ok()) return HttpResponse::Error(s);
  if (Status s = ReadField(*body, "embedder", embedder); !s.ok()) return HttpResponse::Error(s);
  if (collection.empty()) {
    return HttpResponse::Error(
        InvalidArgumentError("field 'collection' is required: the collection to rebuild"));
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (Status s = kb.RebuildIndexes(collection, embedder); !s.ok()) return HttpResponse::Error(s);
  auto c = kb.GetCollection(collection);
  if (!c.ok()) return HttpResponse::Error(c.status());
  return HttpResponse::Json(200, json{{"collection", c->name},
                                      {"chunks", c->chunks},
                                      {"embedder", c->embedder},
                                      {"dim", c->dim},
                                      {"seconds", SecondsSince(t0)}});
}

}  // namespace

std::vector<Route> DoctorRoutes(kb::KnowledgeBase& kb, DiskGuard& disk) {
  using auth::Permission;
  std::vector<Route> r;
  r.push_back({"GET", "/v1/admin/doctor", "/v1/admin/doctor", Permission::kAdmin, 0,
               [&kb, &disk](const HttpRequest&) {
                 const auto findings = doctor::NodeFindings(kb, disk);
                 json checks = json::array();
                 for (const auto& f : findings) checks.push_back(doctor::ToJson(f));
                 return HttpResponse::Json(
                     200, json{{"checks", checks}, {"exit_code", doctor::ExitCodeFor(findings)}});
               }});
  r.push_back({"GET", "/v1/admin/index/verify", "/v1/admin/index/verify", Permission::kAdmin, 0,
               [&kb](const HttpRequest&) {
                 const auto t0 = std::chrono::steady_clock::now();
                 if (Status s = kb.Verify(); !s.ok()) return HttpResponse::Error(s);
                 return HttpResponse::Json(200, json{{"ok", true}, {"seconds", SecondsSince(t0)}});
               }});
  r.push_back({"POST", "/v1/admin/index/rebuild", "/v1/admin/index/rebuild", Permission::kAdmin,
               0, [&kb](const HttpRequest& req) { return Rebuild(kb, req); }});
  return r;
}

}  // namespace deepkb::server
