// The only translation unit that includes cpp-httplib: binds, parses requests into
// server/http.h's HttpRequest, authenticates and authorises, and writes HttpResponse back.
#include "server/kb_server.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "common/hash.h"
#include "server/http_error.h"
#include "server/routes.h"

namespace deepkb::server {

namespace {

void Apply(const HttpResponse& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  out.set_content(in.body, in.content_type);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

HttpRequest Convert(const httplib::Request& req) {
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  for (size_t i = 1; i < req.matches.size(); ++i) r.params.push_back(req.matches[i].str());
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) r.headers.emplace(Lower(k), v);
  r.body = req.body;
  for (const auto& [field, f] : req.files) {
    r.files.push_back({f.name, f.filename, f.content_type, f.content});
  }
  r.remote_addr = req.remote_addr;
  return r;
}

}  // namespace

struct KbServer::Impl {
  kb::KnowledgeBase& kb;
  auth::ApiKeys& keys;
  ServerOptions opts;
  std::vector<Route> routes;
  httplib::Server http;

  Impl(kb::KnowledgeBase& k, auth::ApiKeys& a, ServerOptions o) : kb(k), keys(a), opts(o) {}

  void Register();
  Result<auth::Principal> Authenticate(const httplib::Request& req);
  void Dispatch(const Route& route, const httplib::Request& req, httplib::Response& res);
};

Result<auth::Principal> KbServer::Impl::Authenticate(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (h.size() <= prefix.size() || h.compare(0, prefix.size(), prefix) != 0) {
    return UnauthenticatedError(
        "missing API key; send 'Authorization: Bearer <key>' (the first admin key is in "
        "<data-dir>/admin.key)");
  }
  ASSIGN_OR_RETURN(auth::KeyInfo info, keys.Verify(h.substr(prefix.size())));
  auth::Principal p;
  p.key_id = info.id;
  auto role = auth::ParseRole(info.role);
  p.role = role.ok() ? *role : auth::Role::kGuest;  // an unknown stored role gets nothing
  p.collections = info.collections;
  return p;
}

void KbServer::Impl::Dispatch(const Route& route, const httplib::Request& req,
                              httplib::Response& res) {
  HttpRequest hr = Convert(req);
  hr.request_id = res.get_header_value("X-Request-Id");
  if (route.permission != auth::Permission::kPublic) {
    auto p = Authenticate(req);
    if (!p.ok()) return Apply(HttpResponse::Error(p.status()), res);
    const std::string collection =
        route.collection_param > 0 && static_cast<size_t>(route.collection_param) <= hr.params.size()
            ? hr.params[route.collection_param - 1]
            : std::string();
    if (Status s = auth::Authorize(*p, route.permission, collection); !s.ok()) {
      spdlog::info("request_id={} key={} denied {} {}: {}", hr.request_id, p->key_id, req.method,
                   route.name, s.message());
      return Apply(HttpResponse::Error(s), res);
    }
    hr.principal = std::move(*p);
  }
  Apply(route.handler(hr), res);
}

void KbServer::Impl::Register() {
  http.set_payload_max_length(opts.max_body_bytes);

  // Request ids for every request (a client-supplied one is kept when it is short and plain).
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    std::string rid = req.get_header_value("X-Request-Id");
    const bool plain = !rid.empty() && rid.size() <= 64 &&
                       std::all_of(rid.begin(), rid.end(), [](unsigned char c) {
                         return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                       });
    res.set_header("X-Request-Id", plain ? rid : RandomHex(8));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::info("request_id={} {} {} -> {}", res.get_header_value("X-Request-Id"), req.method,
                 req.path, res.status);
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        Apply(HttpResponse::Error(InternalError("unexpected error while handling the request")),
              res);
      });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      res.set_content(ErrorBody(NotFoundError("no route for " + req.method + " " + req.path)),
                      "application/json");
    } else if (res.status == 413) {
      res.set_content(ErrorBody(TooLargeError("request body too large")), "application/json");
    } else if (res.status == 400) {
      res.set_content(ErrorBody(InvalidArgumentError("malformed request")), "application/json");
    }
  });

  for (const Route& route : routes) {
    const Route* rt = &route;
    auto h = [this, rt](const httplib::Request& req, httplib::Response& res) {
      Dispatch(*rt, req, res);
    };
    if (route.method == "GET") {
      http.Get(route.pattern, h);
    } else if (route.method == "POST") {
      http.Post(route.pattern, h);
    } else if (route.method == "PUT") {
      http.Put(route.pattern, h);
    } else if (route.method == "DELETE") {
      http.Delete(route.pattern, h);
    } else if (route.method == "PATCH") {
      http.Patch(route.pattern, h);
    } else {
      spdlog::error("route {} has unsupported method {}; not registered", route.name, route.method);
    }
  }
}

KbServer::KbServer(kb::KnowledgeBase& kb, auth::ApiKeys& keys, ServerOptions opts,
                   std::vector<Route> extra)
    : impl_(std::make_unique<Impl>(kb, keys, opts)) {
  impl_->routes = KbRoutes(kb);
  for (auto& r : extra) impl_->routes.push_back(std::move(r));
  impl_->Register();
}

KbServer::~KbServer() = default;

const std::vector<Route>& KbServer::routes() const { return impl_->routes; }

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
