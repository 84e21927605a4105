// Fuzz target: any user query text → analyzer → MATCH expression → FTS5 search. Invariants:
// analysis terms stay inside the input, and the built expression never makes SQLite fail.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_env.h"
#include "index/fulltext/analyzer.h"
#include "index/fulltext/query_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace deepkb;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fulltext::AnalyzeDocument(text, [&](const fulltext::Term& t) {
    if (t.start > t.end || t.end > text.size() || t.text.empty() ||
        t.text.size() > fulltext::kMaxTermBytes) {
      fuzz::Check(InternalError("document term out of bounds or empty"), "analyzer");
    }
    return true;
  });
  const fulltext::MatchQuery q = fulltext::BuildMatchQuery(text);
  if (q.clauses.size() > fulltext::kMaxClauses) {
    fuzz::Check(InternalError("too many clauses"), "query builder");
  }
  if (q.empty()) return 0;
  auto& env = fuzz::GetEnv();
  auto hits = env.fts->Search(env.collection_id, q, 10);
  fuzz::Check(hits.status(), "fts search with built expression");
  return 0;
}
