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
// Must be called on every connection before it touches an fts_* table. Idempotent: calling it
// again on a connection that already has the tokenizer does nothing. FailedPrecondition when
// SQLite was built without FTS5.
#pragma once

#include <sqlite3.h>

#include "common/status.h"

namespace deepkb::fulltext {

Status RegisterFts5Tokenizer(sqlite3* db);

}  // namespace deepkb::fulltext
