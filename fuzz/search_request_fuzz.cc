// Fuzz target: any body of POST /v1/collections/{c}/search → ParseSearchRequest (the route's own
// parser) → filter compilation → MATCH expression → FTS5 search with the filter. Invariants: bad
// bodies are InvalidArgument; what parses runs without SQL errors.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_env.h"
#include "index/fulltext/query_builder.h"
#include "kb/filter.h"
#include "server/request_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace deepkb;
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto req = server::ParseSearchRequest("c", body);
  if (!req.ok()) {
    if (req.status().code() != StatusCode::kInvalidArgument) {
      fuzz::Check(req.status(), "ParseSearchRequest must fail only with InvalidArgument");
    }
    return 0;
  }
  storage::SqlFilter filter;
  if (!req->filter_json.empty()) {
    auto j = nlohmann::json::parse(req->filter_json, nullptr, false);
    if (j.is_discarded()) fuzz::Check(InternalError("filter re-parse failed"), "filter_json");
    auto f = kb::CompileFilter(j);
    if (!f.ok()) return 0;
    filter = std::move(*f);
  }
  const fulltext::MatchQuery q = fulltext::BuildMatchQuery(req->query);
  if (q.empty()) return 0;
  auto& env = fuzz::GetEnv();
  const int limit = std::clamp(req->top_k, 1, 50);
  auto hits = env.fts->Search(env.collection_id, q, limit, {}, &filter);
  fuzz::Check(hits.status(), "fts search with filter");
  return 0;
}
