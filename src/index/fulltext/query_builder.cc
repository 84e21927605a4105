#include "index/fulltext/query_builder.h"

namespace deepkb::fulltext {

std::string QuoteFtsString(std::string_view term) {
  std::string out;
  out.reserve(term.size() + 2);
  out.push_back('"');
  for (const char ch : term) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

MatchQuery BuildMatchQuery(std::string_view user_query) {
  MatchQuery q;
  q.clauses = AnalyzeQuery(user_query);
  if (q.clauses.size() > kMaxClauses) q.clauses.resize(kMaxClauses);
  std::string joined;
  for (const QueryClause& clause : q.clauses) {
    if (clause.terms.empty()) continue;
    // The analyzer never produces whitespace inside a term, so joining with a space makes
    // the query tokenizer see exactly these terms: one term, or a phrase of several.
    joined.clear();
    for (size_t i = 0; i < clause.terms.size(); ++i) {
      if (i > 0) joined.push_back(' ');
      joined += clause.terms[i];
    }
    if (!q.expression.empty()) q.expression += " OR ";
    q.expression += QuoteFtsString(joined);
    if (clause.kind == QueryClause::Kind::kPrefix) q.expression += " *";
  }
  return q;
}

}  // namespace deepkb::fulltext
