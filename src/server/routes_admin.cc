// Administrative routes (CONTRACT.md "Operations"): API keys and the audit log. All need
// Permission::kAdmin.
//
//   GET    /v1/keys        → {"keys": [{"id", "role", "collections", "created", "expires",
//                                        "revoked", "active"}]}          (never the key itself)
//   POST   /v1/keys        {"role", "collections"?: [NAME...], "expires"?: "90d"}
//                          → 201 {"id", "key", "role", "collections", "expires"}  (key shown once)
//   DELETE /v1/keys/{id}   → {"id", "revoked": true}; 404 unknown id; 412 for the last active
//                          admin key
//   GET    /v1/audit?limit=100&before=ID&since=UNIX_MS&action=NAME
//                          → {"events": [{"id", "time", "time_ms", "key_id", "client", "action",
//                              "resource", "result", "detail", "request_id"}], "next_before"}
//                          newest first; pass next_before as `before` for the next page (null
//                          when there is none).
// Times are RFC 3339 UTC strings ("expires": null = never). Unknown body fields are rejected.
#include <nlohmann/json.hpp>

#include <cstdint>

#include "auth/key_json.h"
#include "kb/kb.h"
#include "server/routes.h"

namespace deepkb::server {

using nlohmann::json;
using auth::Permission;

namespace {

json EventToJson(const auth::AuditEvent& e) {
  return json{{"id", e.id},           {"time", auth::FormatUtc(e.time)}, {"time_ms", e.time},
              {"key_id", e.key_id},   {"client", e.client},              {"action", e.action},
              {"resource", e.resource}, {"result", e.result},            {"detail", e.detail},
              {"request_id", e.request_id}};
}

// A query parameter as an integer in [lo, hi]; `fallback` when absent.
Result<int64_t> QueryInt(const HttpRequest& req, const std::string& name, int64_t fallback,
                         int64_t lo, int64_t hi) {
  if (!req.HasQuery(name)) return fallback;
  const std::string v = req.Query(name);
  const auto bad = [&] {
    return InvalidArgumentError("query parameter '" + name + "' must be an integer from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
  };
  if (v.empty() || v.size() > 19) return bad();
  int64_t x = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return bad();
    x = x * 10 + (c - '0');
  }
  if (x < lo || x > hi) return bad();
  return x;
}

HttpResponse ListKeys(auth::ApiKeys& keys) {
  auto list = keys.List();
  if (!list.ok()) return HttpResponse::Error(list.status());
  const int64_t now = auth::NowUnixMillis();
  json arr = json::array();
  for (const auto& k : *list) arr.push_back(auth::KeyToJson(k, now));
  return HttpResponse::Json(200, json{{"keys", arr}});
}

HttpResponse CreateKey(auth::ApiKeys& keys, const HttpRequest& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  if (Status s = RejectUnknownFields(*body, {"role", "collections", "expires"}); !s.ok()) {
    return HttpResponse::Error(s);
  }
  std::string role, expires;
  std::vector<std::string> collections;
  if (Status s = ReadField(*body, "role", role); !s.ok()) return HttpResponse::Error(s);
  if (Status s = ReadField(*body, "expires", expires); !s.ok()) return HttpResponse::Error(s);
  if (body->contains("collections") && !(*body)["collections"].is_null()) {
    const json& cs = (*body)["collections"];
    if (!cs.is_array()) {
      return HttpResponse::Error(
          InvalidArgumentError("field 'collections' must be an array of collection names"));
    }
    for (const auto& c : cs) {
      if (!c.is_string()) {
        return HttpResponse::Error(
            InvalidArgumentError("field 'collections' must be an array of collection names"));
      }
      if (Status s = kb::ValidateCollectionName(c.get<std::string>()); !s.ok()) {
        return HttpResponse::Error(s);
      }
      collections.push_back(c.get<std::string>());
    }
  }
  if (role.empty()) {
    return HttpResponse::Error(
        InvalidArgumentError("field 'role' is required: admin, writer, reader or guest"));
  }
  int64_t expires_at = 0;
  if (body->contains("expires") && !(*body)["expires"].is_null()) {
    auto d = auth::ParseDuration(expires);
    if (!d.ok()) return HttpResponse::Error(d.status());
    expires_at = auth::NowUnixMillis() + *d;
  }
  auto k = keys.CreateKey(role, collections, expires_at);
  if (!k.ok()) return HttpResponse::Error(k.status());
  auth::AuditEvent e = AuditEventFor(req, "key.create", k->info.id, "ok");
  e.detail = "role=" + role + " collections=" + json(collections).dump() +
             (expires_at ? " expires=" + auth::FormatUtc(expires_at) : "");
  keys.audit().Record(std::move(e));
  return HttpResponse::Json(201, auth::NewKeyToJson(*k));
}

HttpResponse RevokeKey(auth::ApiKeys& keys, const HttpRequest& req) {
  const std::string& id = req.params[0];
  auto r = keys.Revoke(id);
  const bool known = r.ok() || r.status().code() != StatusCode::kInvalidArgument;
  if (known) {  // a malformed id is a client typo, not a security event
    auth::AuditEvent e = AuditEventFor(req, "key.revoke", id, r.ok() ? "ok" : "error");
    if (!r.ok()) e.detail = r.status().message();
    keys.audit().Record(std::move(e));
  }
  if (!r.ok()) return HttpResponse::Error(r.status());
  return HttpResponse::Json(200, json{{"id", id}, {"revoked", true}});
}

HttpResponse ListAudit(auth::ApiKeys& keys, const HttpRequest& req) {
  auth::AuditQuery q;
  auto limit = QueryInt(req, "limit", 100, 1, 1000);
  if (!limit.ok()) return HttpResponse::Error(limit.status());
  auto before = QueryInt(req, "before", 0, 1, INT64_MAX / 10);
  if (!before.ok()) return HttpResponse::Error(before.status());
  auto since = QueryInt(req, "since", 0, 0, INT64_MAX / 10);
  if (!since.ok()) return HttpResponse::Error(since.status());
  q.limit = static_cast<int>(*limit);
  q.before_id = *before;
  q.since_time = *since;
  q.action = req.Query("action");
  if (q.action.size() > 64) {
    return HttpResponse::Error(InvalidArgumentError("query parameter 'action' is too long"));
  }
  auto events = keys.audit().List(q);
  if (!events.ok()) return HttpResponse::Error(events.status());
  json arr = json::array();
  for (const auto& e : *events) arr.push_back(EventToJson(e));
  json out{{"events", arr}};
  out["next_before"] = static_cast<int64_t>(events->size()) == *limit && !events->empty()
                           ? json(events->back().id)
                           : json(nullptr);
  return HttpResponse::Json(200, out);
}

}  // namespace

auth::AuditEvent AuditEventFor(const HttpRequest& req, std::string action, std::string resource,
                               std::string result) {
  auth::AuditEvent e;
  e.key_id = req.principal ? req.principal->key_id : std::string();
  e.client = req.remote_addr;
  e.request_id = req.request_id;
  e.action = std::move(action);
  e.resource = std::move(resource);
  e.result = std::move(result);
  return e;
}

auth::AuditEvent AuthFailureEvent(const HttpRequest& req, const Route& route, const Status& s,
                                  const std::string& key_id) {
  const bool denied = s.code() == StatusCode::kPermissionDenied;
  auth::AuditEvent e = AuditEventFor(req, denied ? "auth.denied" : "auth.failure",
                                     req.method + " " + route.name, denied ? "denied" : "error");
  if (!key_id.empty()) {
    e.key_id = key_id;
  } else {
    std::string h = req.Header("authorization");
    if (h.rfind("Bearer ", 0) == 0) h = h.substr(7);
    e.key_id = auth::ClaimedKeyId(h);
  }
  e.detail = s.message();
  return e;
}

Route WithDenialAudit(Route route, auth::AuditLog* audit) {
  if (audit == nullptr) return route;
  Handler inner = std::move(route.handler);
  const std::string name = route.method + " " + route.name;
  route.handler = [inner = std::move(inner), audit, name](const HttpRequest& req) {
    HttpResponse res = inner(req);
    if (res.status == 403) {
      auth::AuditEvent e = AuditEventFor(req, "auth.denied", name, "denied");
      auto body = nlohmann::json::parse(res.body, nullptr, false);
      if (body.is_object() && body.contains("error") && body["error"].is_object() &&
          body["error"].contains("message") && body["error"]["message"].is_string()) {
        e.detail = body["error"]["message"].get<std::string>();
      }
      audit->Record(std::move(e));
    }
    return res;
  };
  return route;
}

std::vector<Route> AdminRoutes(auth::ApiKeys& keys) {
  auth::ApiKeys* k = &keys;
  std::vector<Route> r;
  r.push_back({"GET", "/v1/keys", "/v1/keys", Permission::kAdmin, 0,
               [k](const HttpRequest&) { return ListKeys(*k); }});
  r.push_back({"POST", "/v1/keys", "/v1/keys", Permission::kAdmin, 0,
               [k](const HttpRequest& q) { return CreateKey(*k, q); }});
  r.push_back({"DELETE", R"(/v1/keys/([^/]+))", "/v1/keys/{id}", Permission::kAdmin, 0,
               [k](const HttpRequest& q) { return RevokeKey(*k, q); }});
  r.push_back({"GET", "/v1/audit", "/v1/audit", Permission::kAdmin, 0,
               [k](const HttpRequest& q) { return ListAudit(*k, q); }});
  return r;
}

}  // namespace deepkb::server
