// Builds FTS5 MATCH expressions from user queries. User text is never passed to MATCH: it is
// analysed (analyzer.h) and every term is emitted as a double-quoted string with embedded
// quotes doubled, so no input — operators, quotes, NEAR(, *, parentheses, invalid UTF-8 — can
// produce an FTS5 syntax error.
//
// Shape: clause1 OR clause2 OR ...  where a clause is "term", "b1 b2 b3" (phrase) or "x" *
// (prefix). BM25 then ranks documents that match more and rarer clauses higher.
// Thread safety: reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "index/fulltext/analyzer.h"

namespace deepkb::fulltext {

struct MatchQuery {
  std::string expression;  // "" when the query has no searchable terms
  std::vector<QueryClause> clauses;
  bool empty() const { return expression.empty(); }
};

// At most kMaxClauses clauses are kept (the first ones), to bound query cost.
inline constexpr size_t kMaxClauses = 32;

MatchQuery BuildMatchQuery(std::string_view user_query);

// Quotes one term for FTS5: wraps in " and doubles embedded ".
std::string QuoteFtsString(std::string_view term);

}  // namespace deepkb::fulltext
