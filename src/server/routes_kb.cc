// The knowledge-base routes (CONTRACT.md "Knowledge base") and the health checks.
//
// Input rules at this boundary (each breach is a 400 with a message naming the field): unknown
// JSON fields are rejected; query ≤ 16 KiB, title and source ≤ 4 KiB, metadata ≤ 64 KiB as JSON;
// document ids in URLs must not hold "." or ".." path segments or backslashes (ids are never file
// paths here, but exports and other tools may treat them as such).
#include <nlohmann/json.hpp>

#include "kb/kb_json.h"
#include "server/request_parse.h"
#include "server/routes.h"
#include "text/document.h"

namespace deepkb::server {

using nlohmann::json;
using auth::Permission;

namespace {

constexpr size_t kMaxQueryBytes = 16 * 1024;
constexpr size_t kMaxTitleBytes = 4096;
constexpr size_t kMaxMetadataBytes = 64 * 1024;

Status TooLong(const char* field, size_t size, size_t max) {
  return InvalidArgumentError("field '" + std::string(field) + "' is too long (" +
                              std::to_string(size) + " bytes; at most " + std::to_string(max) +
                              ")");
}

// Rejects "." and ".." segments and backslashes in a document id taken from the URL.
Status CheckDocIdParam(const std::string& id) {
  const auto bad = [] {
    return InvalidArgumentError(
        "invalid document id: '.' and '..' path segments and backslashes are not allowed");
  };
  if (id.find('\\') != std::string::npos) return bad();
  size_t start = 0;
  while (true) {
    const size_t end = id.find('/', start);
    const std::string seg = id.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (seg == "." || seg == "..") return bad();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return kb::ValidateDocId(id);
}

HttpResponse ListCollections(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto cs = kb.ListCollections();
  if (!cs.ok()) return HttpResponse::Error(cs.status());
  json arr = json::array();
  for (const auto& c : *cs) {
    if (req.principal && !req.principal->CanSee(c.name)) continue;  // outside the key's scope
    arr.push_back(kb::CollectionToJson(c));
  }
  return HttpResponse::Json(200, json{{"collections", arr}});
}

HttpResponse CreateCollection(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  kb::CreateCollectionRequest cr;
  for (Status s : {RejectUnknownFields(*body, {"name", "embedder", "chunk_tokens", "chunk_overlap"}),
                   ReadField(*body, "name", cr.name), ReadField(*body, "embedder", cr.embedder),
                   ReadField(*body, "chunk_tokens", cr.chunk_tokens),
                   ReadField(*body, "chunk_overlap", cr.chunk_overlap)}) {
    if (!s.ok()) return HttpResponse::Error(s);
  }
  // The collection is named in the body, so its scope is checked here.
  if (req.principal) {
    if (Status s = auth::Authorize(*req.principal, Permission::kWrite, cr.name); !s.ok()) {
      return HttpResponse::Error(s);
    }
  }
  auto c = kb.CreateCollection(cr);
  if (!c.ok()) return HttpResponse::Error(c.status());
  return HttpResponse::Json(201, kb::CollectionToJson(*c));
}

HttpResponse Search(kb::KnowledgeBase& kb, const HttpRequest& req) {
  auto sr = ParseSearchRequest(req.params[0], req.body);
  if (!sr.ok()) return HttpResponse::Error(sr.status());
  if (sr->query.size() > kMaxQueryBytes) {
    return HttpResponse::Error(TooLong("query", sr->query.size(), kMaxQueryBytes));
  }
  auto r = kb.Search(*sr);
  if (!r.ok()) return HttpResponse::Error(r.status());
  json hits = json::array();
  for (const auto& h : r->hits) hits.push_back(kb::HitToJson(h));
  return HttpResponse::Json(200, json{{"hits", hits}, {"took_ms", r->took_ms}, {"mode", r->mode}});
}

HttpResponse ListDocuments(kb::KnowledgeBase& kb, const HttpRequest& req) {
  int limit = 100;
  if (req.HasQuery("limit")) {
    const std::string v = req.Query("limit");
    size_t used = 0;
    try {
      limit = std::stoi(v, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v.size() || limit < 1 || limit > 1000) {
      return HttpResponse::Error(InvalidArgumentError("limit must be an integer from 1 to 1000"));
    }
  }
  auto ds = kb.ListDocuments(req.params[0], req.Query("cursor"), limit);
  if (!ds.ok()) return HttpResponse::Error(ds.status());
  json arr = json::array();
  for (const auto& d : *ds) arr.push_back(kb::DocumentToJson(d));
  json out{{"documents", arr}};
  out["next_cursor"] =
      static_cast<int>(ds->size()) == limit ? json(ds->back().doc_id) : json(nullptr);
  return HttpResponse::Json(200, out);
}

HttpResponse GetDocument(kb::KnowledgeBase& kb, const HttpRequest& req) {
  if (Status s = CheckDocIdParam(req.params[1]); !s.ok()) return HttpResponse::Error(s);
  auto d = kb.GetDocument(req.params[0], req.params[1]);
  if (!d.ok()) return HttpResponse::Error(d.status());
  json j = kb::DocumentToJson(*d);
  if (req.Query("chunks") == "true") {
    auto cs = kb.GetDocumentChunks(req.params[0], req.params[1]);
    if (!cs.ok()) return HttpResponse::Error(cs.status());
    json arr = json::array();
    for (const auto& c : *cs) arr.push_back(kb::ChunkToJson(c));
    j["chunk_list"] = arr;
  }
  return HttpResponse::Json(200, j);
}

HttpResponse PutDocument(kb::KnowledgeBase& kb, const HttpRequest& req) {
  kb::PutDocumentRequest pr;
  pr.collection = req.params[0];
  pr.doc_id = req.params[1];
  if (Status s = CheckDocIdParam(pr.doc_id); !s.ok()) return HttpResponse::Error(s);
  const std::string ctype = req.Header("content-type");
  const std::string mime = ctype.substr(0, ctype.find(';'));
  if (mime == "application/json") {
    auto body = ParseJsonObject(req.body);
    if (!body.ok()) return HttpResponse::Error(body.status());
    json meta = json::object();
    for (Status s : {RejectUnknownFields(*body, {"text", "title", "metadata", "source"}),
                     ReadField(*body, "text", pr.bytes), ReadField(*body, "title", pr.title),
                     ReadField(*body, "source", pr.source), ReadField(*body, "metadata", meta)}) {
      if (!s.ok()) return HttpResponse::Error(s);
    }
    if (!body->contains("text")) {
      return HttpResponse::Error(InvalidArgumentError("field 'text' is required"));
    }
    if (!meta.is_object()) {
      return HttpResponse::Error(InvalidArgumentError("metadata must be a JSON object"));
    }
    pr.metadata_json = meta.dump();
    if (pr.metadata_json.size() > kMaxMetadataBytes) {
      return HttpResponse::Error(TooLong("metadata", pr.metadata_json.size(), kMaxMetadataBytes));
    }
    pr.format = text::Format::kText;
  } else {
    pr.format = text::FormatFromMimeType(mime);
    if (pr.format == text::Format::kUnknown) {
      return HttpResponse::Error(UnsupportedMediaError(
          "unsupported Content-Type '" + mime +
          "'; use application/json, text/plain, text/markdown, text/html, application/pdf or "
          "the DOCX type"));
    }
    pr.bytes = req.body;
    pr.source = req.Header("x-source");
  }
  if (pr.title.size() > kMaxTitleBytes) {
    return HttpResponse::Error(TooLong("title", pr.title.size(), kMaxTitleBytes));
  }
  if (pr.source.size() > kMaxTitleBytes) {
    return HttpResponse::Error(TooLong("source", pr.source.size(), kMaxTitleBytes));
  }
  auto r = kb.PutDocument(pr);
  if (!r.ok()) return HttpResponse::Error(r.status());
  return HttpResponse::Json(r->outcome == kb::PutResult::Outcome::kCreated ? 201 : 200,
                            json{{"id", r->doc_id},
                                 {"version", r->version},
                                 {"chunks", r->chunks},
                                 {"status", std::string(kb::OutcomeName(r->outcome))}});
}

}  // namespace

std::vector<Route> KbRoutes(kb::KnowledgeBase& kb, auth::AuditLog* audit) {
  kb::KnowledgeBase* k = &kb;
  const std::string coll = R"(/v1/collections/([^/]+))";
  const std::string doc = coll + R"(/documents/(.+))";
  std::vector<Route> r;
  r.push_back({"GET", "/healthz", "/healthz", Permission::kPublic, 0,
               [](const HttpRequest&) { return HttpResponse::Json(200, json{{"status", "ok"}}); }});
  r.push_back({"GET", "/readyz", "/readyz", Permission::kPublic, 0, [k](const HttpRequest&) {
                 auto c = k->ListCollections();
                 if (!c.ok()) {
                   return HttpResponse::Error(
                       UnavailableError("storage not ready: " + c.status().message()));
                 }
                 // No counts: this route is public and must not describe the data.
                 return HttpResponse::Json(200, json{{"status", "ready"}});
               }});
  r.push_back({"GET", "/v1/collections", "/v1/collections", Permission::kRead, 0,
               [k](const HttpRequest& q) { return ListCollections(*k, q); }});
  r.push_back({"POST", "/v1/collections", "/v1/collections", Permission::kWrite, 0,
               [k](const HttpRequest& q) { return CreateCollection(*k, q); }});
  r.push_back({"GET", coll, "/v1/collections/{c}", Permission::kRead, 1,
               [k](const HttpRequest& q) {
                 auto c = k->GetCollection(q.params[0]);
                 if (!c.ok()) return HttpResponse::Error(c.status());
                 return HttpResponse::Json(200, kb::CollectionToJson(*c));
               }});
  r.push_back({"DELETE", coll, "/v1/collections/{c}", Permission::kWrite, 1,
               [k, audit](const HttpRequest& q) {
                 Status s = k->DeleteCollection(q.params[0]);
                 if (audit && s.code() != StatusCode::kNotFound) {
                   auto e = AuditEventFor(q, "collection.delete", q.params[0], s.ok() ? "ok" : "error");
                   e.detail = s.message();
                   audit->Record(std::move(e));
                 }
                 if (!s.ok()) return HttpResponse::Error(s);
                 return HttpResponse::Json(200, json{{"deleted", q.params[0]}});
               }});
  r.push_back({"POST", coll + "/search", "/v1/collections/{c}/search", Permission::kRead, 1,
               [k](const HttpRequest& q) { return Search(*k, q); }});
  r.push_back({"GET", coll + "/documents", "/v1/collections/{c}/documents", Permission::kRead, 1,
               [k](const HttpRequest& q) { return ListDocuments(*k, q); }});
  r.push_back({"GET", doc, "/v1/collections/{c}/documents/{id}", Permission::kRead, 1,
               [k](const HttpRequest& q) { return GetDocument(*k, q); }});
  r.push_back({"PUT", doc, "/v1/collections/{c}/documents/{id}", Permission::kWrite, 1,
               [k](const HttpRequest& q) { return PutDocument(*k, q); }, RequestBody::kAny});
  r.push_back({"DELETE", doc, "/v1/collections/{c}/documents/{id}", Permission::kWrite, 1,
               [k, audit](const HttpRequest& q) {
                 if (Status s = CheckDocIdParam(q.params[1]); !s.ok()) return HttpResponse::Error(s);
                 auto v = k->DeleteDocument(q.params[0], q.params[1]);
                 if (audit && v.status().code() != StatusCode::kNotFound) {
                   auto e = AuditEventFor(q, "document.delete", q.params[0] + "/" + q.params[1],
                                          v.ok() ? "ok" : "error");
                   e.detail = v.status().message();
                   audit->Record(std::move(e));
                 }
                 if (!v.ok()) return HttpResponse::Error(v.status());
                 return HttpResponse::Json(
                     200, json{{"id", q.params[1]}, {"deleted", true}, {"version", *v}});
               }});
  for (Route& route : r) route = WithDenialAudit(std::move(route), audit);
  return r;
}

}  // namespace deepkb::server
