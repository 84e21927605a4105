#include "server/http.h"

#include <nlohmann/json.hpp>

#include "server/http_error.h"

namespace deepkb::server {

std::string HttpRequest::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

HttpResponse HttpResponse::Json(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse HttpResponse::Error(const Status& s) {
  HttpResponse r;
  r.status = HttpStatusFor(s);
  r.body = ErrorBody(s);
  if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kResourceExhausted) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

Result<nlohmann::json> ParseJsonObject(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return InvalidArgumentError("request body is not valid JSON");
  }
  if (!j.is_object()) return InvalidArgumentError("request body must be a JSON object");
  return j;
}

}  // namespace deepkb::server
