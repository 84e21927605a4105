// Registers the "deepkb" tokenizer with SQLite's FTS5 through the fts5_api C interface.
//
// DOCUMENT and AUX modes run AnalyzeDocument() (analyzer.h). QUERY mode does no analysis: the
// query builder has already produced normalised terms, so each whitespace-separated piece of a
// quoted MATCH string is emitted verbatim. This is what makes it impossible for user input to
// reach FTS5's query parser: users never write MATCH syntax, we do.
//
// Also registers the auxiliary function deepkb_snippet(fts, column, open, close, ellipsis,
// max_tokens): snippet() with correct highlighting of overlapping CJK bigrams (SQLite's own
// snippet()/highlight() mis-handle tokens whose byte ranges overlap).
//
// The highlighter itself is exposed below (BuildSnippet, SnippetForClauses).
//
// Must be called on every connection before it touches an fts_* table. Idempotent: calling it
// again on a connection that already has the tokenizer does nothing. FailedPrecondition when
// SQLite was built without FTS5.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "index/fulltext/analyzer.h"

namespace deepkb::fulltext {

Status RegisterFts5Tokenizer(sqlite3* db);

// The highlighter behind deepkb_snippet(), usable without FTS5 (the in-memory keyword index,
// index/inverted/, computes highlights for its hits with SnippetForClauses).

// One matched phrase instance in token positions of the text (FTS5's xInst for one column).
struct SnippetInstance {
  int first;    // first token position
  int last;     // last token position (inclusive)
  int phrase;   // phrase (clause) index
  bool prefix;  // a prefix phrase ("x" *): marks only the typed character of a CJK bigram
};

struct SnippetOptions {
  std::string_view open = "<mark>";
  std::string_view close = "</mark>";
  std::string_view ellipsis = "…";
  int max_tokens = 24;  // window width in positions (clamped to 1..1024)
};

// Chooses the window of max_tokens positions covering the most distinct phrases (then the most
// instances; earliest wins), and marks the instances in it. `spans` is the byte range of each
// position's first token. Text without positions is returned whole. Reentrant.
std::string BuildSnippet(std::string_view text, const std::vector<std::pair<int, int>>& spans,
                         std::vector<SnippetInstance> inst, const SnippetOptions& opts = {});

// The snippet deepkb_snippet() makes for `text` (the body column) when FTS5 matched the query of
// these clauses (BuildMatchQuery): instances are found by analysing `text` — a kTerm clause at
// every token equal to its term, a kPrefix clause once per position holding a token that starts
// with it. Multi-term phrase clauses are not marked. Reentrant.
std::string SnippetForClauses(std::string_view text, const std::vector<QueryClause>& clauses,
                              const SnippetOptions& opts = {});

}  // namespace deepkb::fulltext
