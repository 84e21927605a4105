#include "server/http_error.h"

#include <nlohmann/json.hpp>

namespace deepkb::server {

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted: return 409;
    case StatusCode::kFailedPrecondition: return 412;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnsupportedMedia: return 415;
    case StatusCode::kTooLarge: return 413;
    case StatusCode::kInsufficientStorage: return 507;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

std::string OpenAiErrorType(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnauthenticated: return "authentication_error";
    case StatusCode::kPermissionDenied: return "permission_error";
    case StatusCode::kNotFound: return "not_found_error";
    case StatusCode::kResourceExhausted: return "invalid_request_error";
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kDataLoss:
    case StatusCode::kInternal: return "server_error";
    default: return "invalid_request_error";
  }
}

std::string ErrorBody(const Status& s) {
  nlohmann::json j{{"error",
                    {{"code", std::string(StatusCodeName(s.code()))},
                     {"message", s.message()},
                     {"type", OpenAiErrorType(s)}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace deepkb::server
