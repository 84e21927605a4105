#include "server/http.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/utf8.h"
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

namespace {

// Deepest nesting of arrays/objects in `text` (strings skipped), stopping early past `limit`.
// Parsing is iterative, but dumping and destroying deeply nested values recurse: a body of
// 100,000 '[' must be refused before it reaches them.
int NestingDepth(const std::string& text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > limit) break;
    } else if (c == ']' || c == '}') --depth;
  }
  return max_depth;
}

constexpr int kMaxJsonDepth = 64;

}  // namespace

Result<nlohmann::json> ParseJsonObject(const std::string& body) {
  if (NestingDepth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    return InvalidArgumentError("request body is nested too deeply (at most " +
                                std::to_string(kMaxJsonDepth) + " levels of arrays and objects)");
  }
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return InvalidArgumentError("request body is not valid JSON");
  }
  if (!j.is_object()) return InvalidArgumentError("request body must be a JSON object");
  return j;
}

Status RejectUnknownFields(const nlohmann::json& j,
                           std::initializer_list<std::string_view> known) {
  if (!j.is_object()) return Status::Ok();
  for (const auto& [key, value] : j.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || k == key;
    if (found) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
    return InvalidArgumentError("unknown field '" + utf8::Sanitize(shown) +
                                "'; known fields: " + list);
  }
  return Status::Ok();
}

}  // namespace deepkb::server
