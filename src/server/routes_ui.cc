// The web UI (docs/ui.md): its embedded files (server/ui_assets.h) and the one API route it
// needs that the contract lacked.
//
//   GET /              → ui/index.html                       Permission::kPublic
//   GET /ui/{file}     → that file of ui/ (404 when unknown)  Permission::kPublic
//   GET /v1/whoami     → {"key_id", "role", "collections"}    Permission::kRead
//
// Only the static files are public; they hold no data, and every API call the UI makes carries
// the user's key like any other client. The files are sent with a Content-Security-Policy that
// allows only this origin's scripts and styles (no inline script, no eval, no framing, no form
// submission: the sign-in form is handled by script, so a key can never end up in a URL),
// nosniff, and an ETag; the browser revalidates each time (no-cache) and gets 304 when nothing
// changed. /v1/whoami lets the UI show only what the key's role allows; a guest key gets 403
// there ("this key has no access").
#include <nlohmann/json.hpp>

#include <algorithm>

#include "server/routes.h"
#include "server/ui_assets.h"

namespace deepkb::server {

using nlohmann::json;

namespace {

constexpr char kCsp[] =
    "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'none'";

// True when an If-None-Match header value names `etag` (a list of entity tags; a weak W/"..."
// one matches too, as RFC 9110's weak comparison for GET says) or is "*".
bool NoneMatchHits(std::string_view header, std::string_view etag) {
  if (header == "*") return true;
  return !header.empty() && header.find(etag) != std::string_view::npos;
}

HttpResponse Serve(const UiAsset& a, const HttpRequest& req) {
  HttpResponse r;
  r.content_type = std::string(a.content_type);
  r.headers = {{"Content-Security-Policy", kCsp},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Frame-Options", "DENY"},
               {"Referrer-Policy", "no-referrer"},
               {"Cache-Control", "no-cache"},
               {"ETag", std::string(a.etag)}};
  if (NoneMatchHits(req.Header("if-none-match"), a.etag)) {
    r.status = 304;
    return r;
  }
  r.body.assign(a.bytes);
  return r;
}

HttpResponse ServePath(std::string_view path, const HttpRequest& req) {
  const UiAsset* a = FindUiAsset(path);
  if (a == nullptr) {
    return HttpResponse::Error(NotFoundError("no UI file '" + std::string(path) + "'"));
  }
  return Serve(*a, req);
}

}  // namespace

const UiAsset* FindUiAsset(std::string_view path) {
  const UiAsset* end = kUiAssets + kUiAssetCount;
  const UiAsset* it = std::lower_bound(kUiAssets, end, path, [](const UiAsset& a, std::string_view p) {
    return a.path < p;
  });
  return it != end && it->path == path ? it : nullptr;
}

std::vector<Route> UiRoutes() {
  std::vector<Route> r;
  r.push_back({"GET", "/", "/", auth::Permission::kPublic, 0,
               [](const HttpRequest& q) { return ServePath("index.html", q); }});
  r.push_back({"GET", R"(/ui/(.+))", "/ui/{file}", auth::Permission::kPublic, 0,
               [](const HttpRequest& q) { return ServePath(q.params[0], q); }});
  r.push_back({"GET", "/v1/whoami", "/v1/whoami", auth::Permission::kRead, 0,
               [](const HttpRequest& q) {
                 const auth::Principal& p = *q.principal;
                 return HttpResponse::Json(200, json{{"key_id", p.key_id},
                                                     {"role", std::string(auth::RoleName(p.role))},
                                                     {"collections", p.collections}});
               }});
  return r;
}

}  // namespace deepkb::server
