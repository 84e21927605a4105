// The sync routes (CONTRACT.md "Sync", docs/sync.md). Node-to-node routes need a writer key
// (Permission::kWrite); a key scoped to collections reads and applies only changes of those
// collections (others: 403 on the read side, "rejected" per change on the apply side). Request
// and answer bodies may be gzip-compressed (Content-Encoding / Accept-Encoding; cpp-httplib
// handles both in kb_server.cc).
#include <nlohmann/json.hpp>

#include <charconv>

#include "common/utf8.h"
#include "server/routes.h"
#include "sync/replicator.h"
#include "sync/scheduler.h"
#include "sync/sync_json.h"

namespace deepkb::server {

using nlohmann::json;
using auth::Permission;

namespace {

constexpr size_t kMaxApplyChanges = 10'000;

// Query parameter `name` as an integer in [lo, hi]; `fallback` when absent.
Result<int64_t> QueryNumber(const HttpRequest& req, const char* name, int64_t fallback,
                            int64_t lo, int64_t hi) {
  if (!req.HasQuery(name)) return fallback;
  const std::string v = req.Query(name);
  int64_t x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec == std::errc() && end == v.data() + v.size() && x >= lo && x <= hi) return x;
  return InvalidArgumentError(std::string("query parameter '") + name + "' must be an integer "
                              "from " + std::to_string(lo) + " to " + std::to_string(hi));
}

// The `collection` query parameters, each checked against the key's scope (403 outside it); a
// scoped key that names none gets its own collections, an admin or unscoped key all (empty).
Result<std::vector<std::string>> QueryCollections(const HttpRequest& req) {
  std::vector<std::string> out;
  for (auto [it, end] = req.query.equal_range("collection"); it != end; ++it) {
    if (req.principal) {
      RETURN_IF_ERROR(auth::Authorize(*req.principal, Permission::kWrite, it->second));
    }
    out.push_back(it->second);
  }
  if (out.empty() && req.principal && req.principal->role != auth::Role::kAdmin) {
    out = req.principal->collections;
  }
  return out;
}

HttpResponse Info(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto seq = kb.UpdateSeq();
  auto purged = kb.PurgedThroughSeq();
  auto purged_hlc = kb.PurgedHlc();
  auto colls = kb.ListCollections();
  for (const Status& s : {seq.status(), purged.status(), purged_hlc.status(), colls.status()}) {
    if (!s.ok()) return HttpResponse::Error(s);
  }
  json arr = json::array();
  for (const auto& c : *colls) {
    if (req.principal && !req.principal->CanSee(c.name)) continue;
    arr.push_back({{"name", c.name}, {"embedder", c.embedder}, {"dim", c.dim},
                   {"chunk_tokens", c.chunk_tokens}, {"chunk_overlap", c.chunk_overlap}});
  }
  // purged_hlc: the tombstone horizon (docs/sync.md), a decimal string like every HLC.
  json out{{"node_id", kb.node_id()},       {"update_seq", *seq},
           {"purged_through_seq", *purged}, {"purged_hlc", std::to_string(*purged_hlc)},
           {"protocol", sync::kProtocol},   {"collections", arr}};
  // ?state_hash=true[&collection=C...]: KnowledgeBase::StateHash over those collections (a
  // full scan of the document rows, so only on request).
  if (req.Query("state_hash") == "true") {
    auto only = QueryCollections(req);
    if (!only.ok()) return HttpResponse::Error(only.status());
    auto hash = kb.StateHash(*only);
    if (!hash.ok()) return HttpResponse::Error(hash.status());
    out["state_hash"] = *hash;
  }
  return HttpResponse::Json(200, out);
}

HttpResponse Changes(kb::KnowledgeBase& kb, const HttpRequest& req) {
  kb::ChangesQuery q;
  auto since = QueryNumber(req, "since", 0, 0, INT64_MAX);
  auto limit = QueryNumber(req, "limit", 100, 1, 1000);
  if (!since.ok()) return HttpResponse::Error(since.status());
  if (!limit.ok()) return HttpResponse::Error(limit.status());
  q.after_seq = *since;
  q.limit = static_cast<int>(*limit);
  q.exclude_node = req.Query("exclude_node");
  q.full = req.Query("full") == "true";
  auto only = QueryCollections(req);
  if (!only.ok()) return HttpResponse::Error(only.status());
  q.collections = std::move(only).value();
  auto page = kb.ChangesSince(q);
  if (!page.ok()) return HttpResponse::Error(page.status());
  return HttpResponse::Json(200, sync::PageToJson(*page));
}

HttpResponse Apply(kb::KnowledgeBase& kb, auth::AuditLog* audit, const HttpRequest& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  std::string node;
  for (Status s : {RejectUnknownFields(*body, {"node_id", "changes"}),
                   ReadField(*body, "node_id", node)}) {
    if (!s.ok()) return HttpResponse::Error(s);
  }
  const auto it = body->find("changes");
  if (it == body->end() || !it->is_array()) {
    return HttpResponse::Error(InvalidArgumentError("field 'changes' must be an array of changes"));
  }
  if (it->size() > kMaxApplyChanges) {
    return HttpResponse::Error(TooLargeError("at most " + std::to_string(kMaxApplyChanges) +
                                             " changes per request; send smaller batches"));
  }
  // Malformed or out-of-scope changes are rejected one by one; the rest are applied.
  std::vector<kb::ApplyResult> results(it->size());
  std::vector<std::string> doc_ids(it->size());
  std::vector<kb::SyncChange> valid;
  std::vector<size_t> where;
  for (size_t i = 0; i < it->size(); ++i) {
    auto c = sync::ChangeFromJson((*it)[i]);
    if (!c.ok()) {
      results[i] = {kb::ApplyOutcome::kRejected, c.status().message()};
      continue;
    }
    doc_ids[i] = utf8::Sanitize(c->doc_id);
    if (req.principal) {
      if (Status s = auth::Authorize(*req.principal, Permission::kWrite, c->collection); !s.ok()) {
        results[i] = {kb::ApplyOutcome::kRejected, s.message()};
        continue;
      }
    }
    valid.push_back(std::move(c).value());
    where.push_back(i);
  }
  auto applied = kb.ApplyChanges(valid);
  if (!applied.ok()) return HttpResponse::Error(applied.status());
  for (size_t j = 0; j < where.size(); ++j) results[where[j]] = (*applied)[j];
  json out = sync::ApplyResultsToJson(results, doc_ids);
  if (audit) {
    auto e = AuditEventFor(req, "sync.apply", utf8::Sanitize(node), "ok");
    e.detail = "applied " + out["applied"].dump() + ", ignored " + out["ignored"].dump() +
               ", conflicts " + out["conflicts"].dump() + ", rejected " + out["rejected"].dump();
    audit->Record(std::move(e));
  }
  return HttpResponse::Json(200, out);
}

json CheckpointToJson(const storage::CheckpointRow& c) {
  return json{{"replication_id", c.replication_id}, {"last_seq", c.last_seq}, {"peer", c.peer},
              {"direction", c.direction}, {"updated_at", c.updated_at}};
}

HttpResponse PutCheckpoint(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  storage::CheckpointRow c;
  c.replication_id = req.params[0];
  c.last_seq = -1;
  for (Status s : {RejectUnknownFields(*body, {"last_seq", "peer", "direction"}),
                   ReadField(*body, "last_seq", c.last_seq), ReadField(*body, "peer", c.peer),
                   ReadField(*body, "direction", c.direction)}) {
    if (!s.ok()) return HttpResponse::Error(s);
  }
  if (c.last_seq < 0) {
    return HttpResponse::Error(InvalidArgumentError("field 'last_seq' must be a non-negative integer"));
  }
  if (Status s = kb.PutCheckpoint(c); !s.ok()) return HttpResponse::Error(s);
  return HttpResponse::Json(200, CheckpointToJson(c));
}

HttpResponse Conflicts(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto limit = QueryNumber(req, "limit", 100, 1, 1000);
  auto before = QueryNumber(req, "before", 0, 0, INT64_MAX);
  if (!limit.ok()) return HttpResponse::Error(limit.status());
  if (!before.ok()) return HttpResponse::Error(before.status());
  auto rows = kb.ListConflicts(*before, static_cast<int>(*limit));
  if (!rows.ok()) return HttpResponse::Error(rows.status());
  json arr = json::array();
  for (const auto& c : *rows) {
    arr.push_back({{"id", c.id}, {"collection", c.collection}, {"doc_id", c.doc_id},
                   {"loser", {{"hlc", std::to_string(c.loser_hlc)}, {"node_id", c.loser_node},
                              {"content_hash", c.loser_hash}, {"deleted", c.loser_deleted}}},
                   {"winner", {{"hlc", std::to_string(c.winner_hlc)}, {"node_id", c.winner_node},
                               {"content_hash", c.winner_hash}}},
                   {"recorded_at", c.recorded_at}});
  }
  return HttpResponse::Json(200, json{{"conflicts", arr}});
}

HttpResponse Run(kb::KnowledgeBase& kb, auth::AuditLog* audit, const HttpRequest& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  sync::SyncOptions o;
  std::string direction = "both";
  for (Status s : {RejectUnknownFields(*body, {"peer", "peer_key", "ca_file", "client_cert",
                                               "client_key", "direction", "collections", "full"}),
                   ReadField(*body, "peer", o.peer.url), ReadField(*body, "peer_key", o.peer.api_key),
                   ReadField(*body, "ca_file", o.peer.ca_file),
                   ReadField(*body, "client_cert", o.peer.client_cert_file),
                   ReadField(*body, "client_key", o.peer.client_key_file),
                   ReadField(*body, "direction", direction), ReadField(*body, "full", o.full)}) {
    if (!s.ok()) return HttpResponse::Error(s);
  }
  if (auto c = body->find("collections"); c != body->end()) {
    if (!c->is_array()) return HttpResponse::Error(InvalidArgumentError("field 'collections' must be an array of names"));
    for (const auto& n : *c) {
      if (!n.is_string()) return HttpResponse::Error(InvalidArgumentError("field 'collections' must be an array of names"));
      o.collections.push_back(n.get<std::string>());
    }
  }
  auto dir = sync::ParseDirection(direction);
  if (!dir.ok()) return HttpResponse::Error(dir.status());
  o.direction = *dir;
  auto report = sync::SyncOnce(kb, o);
  if (audit) {
    auto e = AuditEventFor(req, "sync.run", utf8::Sanitize(o.peer.url), report.ok() ? "ok" : "error");
    e.detail = report.ok() ? sync::ReportToJson(*report).dump() : report.status().message();
    audit->Record(std::move(e));
  }
  if (!report.ok()) return HttpResponse::Error(report.status());
  return HttpResponse::Json(200, sync::ReportToJson(*report));
}

json PeerStatusToJson(const sync::PeerStatus& p) {
  // Times as unix seconds (0 = never).
  return json{{"peer", p.peer},
              {"url", p.url},
              {"peer_node", p.peer_node},
              {"direction", p.direction},
              {"collections", p.collections},
              {"interval_seconds", p.interval_seconds},
              {"running", p.running},
              {"last_attempt", p.last_attempt},
              {"last_success", p.last_success},
              {"last_caught_up_start", p.last_complete_start},
              {"next_attempt", p.next_attempt},
              {"lag_seconds", p.lag_seconds},
              {"last_error", p.last_error.empty() ? json(nullptr) : json(p.last_error)},
              {"consecutive_failures", p.consecutive_failures},
              {"sessions", p.sessions},
              {"failures", p.failures},
              {"applied", p.applied},
              {"sent", p.sent},
              {"conflicts", p.conflicts},
              {"rejected", p.rejected},
              {"pruned", p.pruned},
              {"bytes", {{"pull", p.bytes_pulled}, {"push", p.bytes_pushed}}}};
}

}  // namespace

std::vector<Route> SyncStatusRoutes(const sync::SyncScheduler* scheduler) {
  std::vector<Route> r;
  r.push_back({"GET", "/v1/sync/status", "/v1/sync/status", Permission::kAdmin, 0,
               [scheduler](const HttpRequest&) {
                 json peers = json::array();
                 if (scheduler) {
                   for (const auto& p : scheduler->Status()) peers.push_back(PeerStatusToJson(p));
                 }
                 return HttpResponse::Json(200, json{{"peers", peers}});
               }});
  return r;
}

std::vector<Route> SyncRoutes(kb::KnowledgeBase& kb, auth::AuditLog* audit) {
  kb::KnowledgeBase* k = &kb;
  std::vector<Route> r;
  r.push_back({"GET", "/v1/sync/info", "/v1/sync/info", Permission::kWrite, 0,
               [k](const HttpRequest& q) { return Info(*k, q); }});
  r.push_back({"GET", "/v1/sync/changes", "/v1/sync/changes", Permission::kWrite, 0,
               [k](const HttpRequest& q) { return Changes(*k, q); }});
  r.push_back({"POST", "/v1/sync/apply", "/v1/sync/apply", Permission::kWrite, 0,
               [k, audit](const HttpRequest& q) { return Apply(*k, audit, q); }});
  r.push_back({"GET", "/v1/sync/checkpoints/(.+)", "/v1/sync/checkpoints/{id}",
               Permission::kWrite, 0, [k](const HttpRequest& q) {
                 auto c = k->GetCheckpoint(q.params[0]);
                 if (!c.ok()) return HttpResponse::Error(c.status());
                 if (!*c) {
                   return HttpResponse::Error(NotFoundError(
                       "no checkpoint '" + utf8::Sanitize(q.params[0]) + "' on this node"));
                 }
                 return HttpResponse::Json(200, CheckpointToJson(**c));
               }});
  r.push_back({"PUT", "/v1/sync/checkpoints/(.+)", "/v1/sync/checkpoints/{id}",
               Permission::kWrite, 0, [k](const HttpRequest& q) { return PutCheckpoint(*k, q); }});
  r.push_back({"GET", "/v1/sync/conflicts", "/v1/sync/conflicts", Permission::kAdmin, 0,
               [k](const HttpRequest& q) { return Conflicts(*k, q); }});
  r.push_back({"POST", "/v1/sync/run", "/v1/sync/run", Permission::kAdmin, 0,
               [k, audit](const HttpRequest& q) { return Run(*k, audit, q); }});
  return r;
}

}  // namespace deepkb::server
