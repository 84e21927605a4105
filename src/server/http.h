// Our thin HTTP interface: routes are plain functions from HttpRequest to HttpResponse and know
// nothing of cpp-httplib, which only kb_server.cc includes. Every route declares the permission
// it needs (auth/policy.h) and which part of the request names its collection, so the
// authorisation check runs in one place, before the handler, and a route cannot be registered
// without a permission (deny by default).
//
// Thread safety: handlers are called concurrently from the server's worker threads.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "auth/policy.h"
#include "common/status.h"

namespace deepkb::server {

// A file part of a multipart/form-data body.
struct UploadedFile {
  std::string field;         // form field name
  std::string filename;      // as sent by the client (not trusted as a path)
  std::string content_type;  // may be empty
  std::string content;
};

struct HttpRequest {
  std::string method;
  std::string path;
  std::vector<std::string> params;                 // the route pattern's capture groups
  std::multimap<std::string, std::string> query;   // decoded query parameters
  std::map<std::string, std::string> headers;      // names lower-cased
  std::string body;
  std::vector<UploadedFile> files;                 // multipart/form-data uploads
  std::string remote_addr;
  std::string request_id;
  std::optional<auth::Principal> principal;        // set for every route but kPublic ones

  std::string Header(std::string_view lower_name) const;
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
  std::string Query(const std::string& name) const;
};

// A body produced while it is being sent (chunked transfer encoding), e.g. Server-Sent Events.
// The server calls the producer once, on the worker thread, after the status line and headers
// are sent; `write` returns false once the client has gone (the producer should then stop and
// return). The producer must own (capture by value) everything it uses.
using BodyWriter = std::function<bool(std::string_view chunk)>;
using BodyProducer = std::function<void(const BodyWriter& write)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  BodyProducer stream;  // when set, `body` is ignored and this produces the body

  static HttpResponse Json(int status, const nlohmann::json& body);
  // The one error shape of CONTRACT.md (status from HttpStatusFor, Retry-After for 429/503).
  static HttpResponse Error(const Status& s);
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

// What a route accepts as a request body (checked by the server before the handler; 415 with a
// clear message otherwise). Only non-empty bodies are checked.
enum class RequestBody {
  kJson,       // Content-Type: application/json (the default)
  kMultipart,  // multipart/form-data (files in HttpRequest::files)
  kAny,        // the handler checks the type itself (e.g. raw document uploads)
};

struct Route {
  std::string method;   // GET, POST, PUT, DELETE
  std::string pattern;  // ECMAScript regex over the path, e.g. R"(/v1/collections/([^/]+))"
  std::string name;     // label for metrics and logs, e.g. "/v1/collections/{name}"
  auth::Permission permission;
  int collection_param = 0;  // 1-based capture group holding the collection name; 0 = none
  Handler handler;
  RequestBody body = RequestBody::kJson;
  // false: the server's handler admission (ServerOptions::max_inflight) is skipped because the
  // handler has its own (the LLM router's queues) and may run for minutes (chat completions).
  bool server_admission = true;
};

// Body helpers shared by the route files.
// A JSON object, or InvalidArgument naming what is wrong.
Result<nlohmann::json> ParseJsonObject(const std::string& body);
// Reads optional field `name` into `out`; InvalidArgument when present with the wrong type or,
// for integers, outside T's range (2^70 or 3.5 for an int field is an error, never truncated).
template <typename T>
Status ReadField(const nlohmann::json& j, const char* name, T& out);
// InvalidArgument naming the first field of object `j` not in `known` (unknown fields are
// rejected, so a typo such as "topk" is reported instead of silently ignored).
Status RejectUnknownFields(const nlohmann::json& j, std::initializer_list<std::string_view> known);

}  // namespace deepkb::server

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <type_traits>

namespace deepkb::server {

template <typename T>
Status ReadField(const nlohmann::json& j, const char* name, T& out) {
  if (!j.contains(name) || j[name].is_null()) return Status::Ok();
  const nlohmann::json& v = j[name];
  const auto wrong = [name](const std::string& want) {
    return InvalidArgumentError(std::string("field '") + name + "' must be " + want);
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return wrong("true or false");
  } else if constexpr (std::is_integral_v<T>) {
    const std::string range = "an integer from " + std::to_string(std::numeric_limits<T>::min()) +
                              " to " + std::to_string(std::numeric_limits<T>::max());
    if (!v.is_number_integer()) return wrong(range);
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return wrong(range);
      }
    } else {
      const int64_t x = v.get<int64_t>();
      if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          (x > 0 && static_cast<uint64_t>(x) > static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
        return wrong(range);
      }
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return wrong("a number");
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return wrong("a string");
  }
  try {
    out = v.get<T>();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgumentError(std::string("field '") + name + "' has the wrong type");
  }
  return Status::Ok();
}

}  // namespace deepkb::server
