// The only translation unit that includes cpp-httplib (it is header-only and heavy).
#include "server/kb_server.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

#include "common/hash.h"
#include "kb/kb_json.h"
#include "server/http_error.h"
#include "text/document.h"

namespace deepkb::server {

using nlohmann::json;

namespace {

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, const Status& s) {
  res.status = HttpStatusFor(s);
  if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kResourceExhausted) {
    res.set_header("Retry-After", "1");
  }
  res.set_content(ErrorBody(s), "application/json");
}

Result<json> ParseBody(const httplib::Request& req) {
  auto j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("request body must be a JSON object");
  }
  return j;
}

// Reads an optional field of a given JSON type; InvalidArgument when present with a wrong type.
template <typename T>
Status ReadField(const json& j, const char* name, T& out) {
  if (!j.contains(name) || j[name].is_null()) return Status::Ok();
  try {
    out = j[name].get<T>();
  } catch (const json::exception&) {
    return InvalidArgumentError(std::string("field '") + name + "' has the wrong type");
  }
  return Status::Ok();
}

}  // namespace

struct KbServer::Impl {
  kb::KnowledgeBase& kb;
  auth::ApiKeys& keys;
  ServerOptions opts;
  httplib::Server http;

  Impl(kb::KnowledgeBase& k, auth::ApiKeys& a, ServerOptions o) : kb(k), keys(a), opts(o) {}

  void Routes();
  Status Authenticate(const httplib::Request& req);
};

Status KbServer::Impl::Authenticate(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (h.size() <= prefix.size() || h.compare(0, prefix.size(), prefix) != 0) {
    return UnauthenticatedError(
        "missing API key; send 'Authorization: Bearer <key>' (the first admin key is in "
        "<data-dir>/admin.key)");
  }
  return keys.Verify(h.substr(prefix.size())).status();
}

void KbServer::Impl::Routes() {
  http.set_payload_max_length(opts.max_body_bytes);

  // Request ids, logging and authentication for every route but the health checks.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    std::string rid = req.get_header_value("X-Request-Id");
    if (rid.empty() || rid.size() > 64) rid = RandomHex(8);
    res.set_header("X-Request-Id", rid);
    if (req.path == "/healthz" || req.path == "/readyz") return httplib::Server::HandlerResponse::Unhandled;
    Status s = Authenticate(req);
    if (!s.ok()) {
      spdlog::info("request_id={} {} {} -> 401", rid, req.method, req.path);
      SendError(res, s);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::info("request_id={} {} {} -> {}", res.get_header_value("X-Request-Id"), req.method,
                 req.path, res.status);
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, InternalError("unexpected error while handling the request"));
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      SendError(res, NotFoundError("no route for " + req.method + " " + req.path));
    } else if (res.status == 413) {
      res.set_content(ErrorBody(TooLargeError("request body too large")), "application/json");
    } else if (res.status == 400) {
      res.set_content(ErrorBody(InvalidArgumentError("malformed request")), "application/json");
    }
  });

  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, json{{"status", "ok"}});
  });
  http.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    auto c = kb.ListCollections();
    if (!c.ok()) {
      SendError(res, UnavailableError("storage not ready: " + c.status().message()));
      return;
    }
    SendJson(res, 200, json{{"status", "ready"}, {"collections", c->size()}});
  });

  http.Get("/v1/collections", [this](const httplib::Request&, httplib::Response& res) {
    auto cs = kb.ListCollections();
    if (!cs.ok()) return SendError(res, cs.status());
    json arr = json::array();
    for (const auto& c : *cs) arr.push_back(kb::CollectionToJson(c));
    SendJson(res, 200, json{{"collections", arr}});
  });
  http.Post("/v1/collections", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req);
    if (!body.ok()) return SendError(res, body.status());
    kb::CreateCollectionRequest cr;
    for (Status s : {ReadField(*body, "name", cr.name), ReadField(*body, "embedder", cr.embedder),
                     ReadField(*body, "chunk_tokens", cr.chunk_tokens),
                     ReadField(*body, "chunk_overlap", cr.chunk_overlap)}) {
      if (!s.ok()) return SendError(res, s);
    }
    auto c = kb.CreateCollection(cr);
    if (!c.ok()) return SendError(res, c.status());
    SendJson(res, 201, kb::CollectionToJson(*c));
  });
  http.Get(R"(/v1/collections/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto c = kb.GetCollection(req.matches[1]);
    if (!c.ok()) return SendError(res, c.status());
    SendJson(res, 200, kb::CollectionToJson(*c));
  });
  http.Delete(R"(/v1/collections/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Status s = kb.DeleteCollection(req.matches[1]);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, 200, json{{"deleted", req.matches[1].str()}});
  });

  http.Post(R"(/v1/collections/([^/]+)/search)", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req);
    if (!body.ok()) return SendError(res, body.status());
    kb::SearchRequest sr;
    sr.collection = req.matches[1];
    for (Status s : {ReadField(*body, "query", sr.query), ReadField(*body, "mode", sr.mode),
                     ReadField(*body, "top_k", sr.top_k)}) {
      if (!s.ok()) return SendError(res, s);
    }
    if (body->contains("fusion") && !(*body)["fusion"].is_null()) {
      const json& f = (*body)["fusion"];
      if (!f.is_object()) return SendError(res, InvalidArgumentError("fusion must be a JSON object"));
      for (Status s : {ReadField(f, "method", sr.fusion), ReadField(f, "k", sr.rrf_k),
                       ReadField(f, "keyword_weight", sr.keyword_weight),
                       ReadField(f, "vector_weight", sr.vector_weight)}) {
        if (!s.ok()) return SendError(res, s);
      }
    }
    if (Status s = ReadField(*body, "ef", sr.ef); !s.ok()) return SendError(res, s);
    if (body->contains("filter") && !(*body)["filter"].is_null()) {
      if (!(*body)["filter"].is_object()) {
        return SendError(res, InvalidArgumentError("filter must be a JSON object"));
      }
      sr.filter_json = (*body)["filter"].dump();
    }
    auto r = kb.Search(sr);
    if (!r.ok()) return SendError(res, r.status());
    json hits = json::array();
    for (const auto& h : r->hits) hits.push_back(kb::HitToJson(h));
    SendJson(res, 200, json{{"hits", hits}, {"took_ms", r->took_ms}, {"mode", r->mode}});
  });

  http.Get(R"(/v1/collections/([^/]+)/documents)", [this](const httplib::Request& req, httplib::Response& res) {
    int limit = 100;
    if (req.has_param("limit")) {
      try {
        limit = std::stoi(req.get_param_value("limit"));
      } catch (...) {
        return SendError(res, InvalidArgumentError("limit must be an integer"));
      }
    }
    auto ds = kb.ListDocuments(req.matches[1], req.get_param_value("cursor"), limit);
    if (!ds.ok()) return SendError(res, ds.status());
    json arr = json::array();
    for (const auto& d : *ds) arr.push_back(kb::DocumentToJson(d));
    json out{{"documents", arr}};
    out["next_cursor"] = static_cast<int>(ds->size()) == limit ? json(ds->back().doc_id) : json(nullptr);
    SendJson(res, 200, out);
  });
  http.Get(R"(/v1/collections/([^/]+)/documents/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto d = kb.GetDocument(req.matches[1], req.matches[2]);
    if (!d.ok()) return SendError(res, d.status());
    json j = kb::DocumentToJson(*d);
    if (req.get_param_value("chunks") == "true") {
      auto cs = kb.GetDocumentChunks(req.matches[1], req.matches[2]);
      if (!cs.ok()) return SendError(res, cs.status());
      json arr = json::array();
      for (const auto& c : *cs) arr.push_back(kb::ChunkToJson(c));
      j["chunk_list"] = arr;
    }
    SendJson(res, 200, j);
  });
  http.Delete(R"(/v1/collections/([^/]+)/documents/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto v = kb.DeleteDocument(req.matches[1], req.matches[2]);
    if (!v.ok()) return SendError(res, v.status());
    SendJson(res, 200, json{{"id", req.matches[2].str()}, {"deleted", true}, {"version", *v}});
  });
  http.Put(R"(/v1/collections/([^/]+)/documents/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    kb::PutDocumentRequest pr;
    pr.collection = req.matches[1];
    pr.doc_id = req.matches[2];
    std::string ctype = req.get_header_value("Content-Type");
    const std::string mime = ctype.substr(0, ctype.find(';'));
    if (mime == "application/json") {
      auto body = ParseBody(req);
      if (!body.ok()) return SendError(res, body.status());
      json meta = json::object();
      for (Status s : {ReadField(*body, "text", pr.bytes), ReadField(*body, "title", pr.title),
                       ReadField(*body, "source", pr.source), ReadField(*body, "metadata", meta)}) {
        if (!s.ok()) return SendError(res, s);
      }
      if (!body->contains("text")) return SendError(res, InvalidArgumentError("field 'text' is required"));
      if (!meta.is_object()) return SendError(res, InvalidArgumentError("metadata must be a JSON object"));
      pr.metadata_json = meta.dump();
      pr.format = text::Format::kText;
    } else {
      pr.format = text::FormatFromMimeType(mime);
      if (pr.format == text::Format::kUnknown) {
        return SendError(res, UnsupportedMediaError(
                                  "unsupported Content-Type '" + mime +
                                  "'; use application/json, text/plain, text/markdown, text/html, "
                                  "application/pdf or the DOCX type"));
      }
      pr.bytes = req.body;
      pr.source = req.get_header_value("X-Source");
    }
    auto r = kb.PutDocument(pr);
    if (!r.ok()) return SendError(res, r.status());
    SendJson(res, r->outcome == kb::PutResult::Outcome::kCreated ? 201 : 200,
             json{{"id", r->doc_id}, {"version", r->version}, {"chunks", r->chunks},
                  {"status", std::string(kb::OutcomeName(r->outcome))}});
  });
}

KbServer::KbServer(kb::KnowledgeBase& kb, auth::ApiKeys& keys, ServerOptions opts)
    : impl_(std::make_unique<Impl>(kb, keys, opts)) {
  impl_->Routes();
}

KbServer::~KbServer() = default;

Result<int> KbServer::Bind() {
  if (impl_->opts.port == 0) {
    const int port = impl_->http.bind_to_any_port(impl_->opts.host);
    if (port <= 0) return UnavailableError("cannot bind " + impl_->opts.host);
    return port;
  }
  if (!impl_->http.bind_to_port(impl_->opts.host, impl_->opts.port)) {
    return UnavailableError("cannot listen on " + impl_->opts.host + ":" +
                            std::to_string(impl_->opts.port) +
                            " (in use by another process?); choose another with --listen");
  }
  return impl_->opts.port;
}

Status KbServer::Serve() {
  if (!impl_->http.listen_after_bind()) return InternalError("HTTP server stopped unexpectedly");
  return Status::Ok();
}

Status KbServer::Run() {
  RETURN_IF_ERROR(Bind().status());
  return Serve();
}

void KbServer::Stop() { impl_->http.stop(); }

}  // namespace deepkb::server
