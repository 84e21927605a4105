// The one place where Status codes become HTTP statuses and error bodies (CONTRACT.md):
//   {"error": {"code": "<canonical_code>", "message": "...", "type": "<openai_type>"}}
#pragma once

#include <string>

#include "common/status.h"

namespace deepkb::server {

int HttpStatusFor(const Status& s);
// OpenAI-style error type for the body ("invalid_request_error", "authentication_error", ...).
std::string OpenAiErrorType(const Status& s);
std::string ErrorBody(const Status& s);

}  // namespace deepkb::server
