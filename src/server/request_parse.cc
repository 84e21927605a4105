#include "server/request_parse.h"

#include <nlohmann/json.hpp>

#include "server/http.h"

namespace deepkb::server {

using nlohmann::json;

Result<kb::SearchRequest> ParseSearchRequest(const std::string& collection,
                                             const std::string& body_text) {
  ASSIGN_OR_RETURN(json body, ParseJsonObject(body_text));
  kb::SearchRequest sr;
  sr.collection = collection;
  for (Status s : {RejectUnknownFields(body, {"query", "mode", "top_k", "ef", "filter", "fusion"}),
                   ReadField(body, "query", sr.query), ReadField(body, "mode", sr.mode),
                   ReadField(body, "top_k", sr.top_k), ReadField(body, "ef", sr.ef)}) {
    RETURN_IF_ERROR(s);
  }
  if (body.contains("fusion") && !body["fusion"].is_null()) {
    const json& f = body["fusion"];
    if (!f.is_object()) return InvalidArgumentError("fusion must be a JSON object");
    for (Status s : {RejectUnknownFields(f, {"method", "k", "keyword_weight", "vector_weight"}),
                     ReadField(f, "method", sr.fusion), ReadField(f, "k", sr.rrf_k),
                     ReadField(f, "keyword_weight", sr.keyword_weight),
                     ReadField(f, "vector_weight", sr.vector_weight)}) {
      RETURN_IF_ERROR(s);
    }
  }
  if (body.contains("filter") && !body["filter"].is_null()) {
    if (!body["filter"].is_object()) return InvalidArgumentError("filter must be a JSON object");
    sr.filter_json = body["filter"].dump();
  }
  return sr;
}

}  // namespace deepkb::server
