// Parsing of JSON request bodies into KB requests, kept apart from the route handlers so the
// fuzz targets (fuzz/) can drive exactly the code that parses untrusted bodies.
// Thread safety: pure functions.
#pragma once

#include <string>

#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::server {

// Body of POST /v1/collections/{c}/search. InvalidArgument for a body that is not a JSON
// object, fields of the wrong type, or a non-object filter/fusion. Value ranges (top_k, mode,
// fusion weights) and the filter language are checked by KnowledgeBase::Search.
Result<kb::SearchRequest> ParseSearchRequest(const std::string& collection,
                                             const std::string& body);

}  // namespace deepkb::server
