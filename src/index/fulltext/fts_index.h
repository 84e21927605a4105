// FtsIndex: the per-collection FTS5 full-text index over chunks.
//
// Layout: for collection id N, a view fts_src_N (chunk id, document row id, document title,
// chunk heading path, chunk text — joined from chunks and documents, live documents of that
// collection only) and an external-content FTS5 table fts_N(title, headings, body) over it,
// tokenised by "deepkb". The text is stored once (in chunks); FTS5 keeps only the index.
// External content means we maintain the index explicitly, in the caller's transaction:
//   - IndexDocument() after the chunks and document row are written;
//   - UnindexDocument() BEFORE the document row or its chunks change (FTS5 needs the old
//     values to remove them).
//
// Ranking: bm25 with column weights (title 4, headings 2, body 1 by default); score returned to
// callers is -bm25 (higher is better).
//
// Notes:
//  - Every method first makes sure the connection has the "deepkb" tokenizer (and the
//    deepkb_snippet() function) registered; registration is idempotent per connection.
//  - Search orders by bm25() with the weights bound per query (ORDER BY ... LIMIT keeps a
//    running top-`limit`, so snippets and document ids are computed for few rows).
//  - Highlights come from deepkb_snippet() (fts5_tokenizer.h), not FTS5's snippet(), which
//    garbles text around overlapping CJK bigrams in SQLite 3.40.
//  - Anything that changes what the content view returns for indexed rows (chunk text or
//    heading path, document title, deleted flag, collection, or deleting rows, including by
//    ON DELETE CASCADE) must be preceded by UnindexDocument(); otherwise the index no longer
//    matches its content and IntegrityCheck() reports DataLoss (Rebuild() repairs it).
//  - Not idempotent (FTS5 external-content semantics): IndexDocument() on a document that is
//    already indexed, or UnindexDocument() on one that is not, also breaks that agreement.
//  - Analyzer version: FTS5 removes a row by tokenising its text again, so a table must be
//    maintained by the same analysis that built it. Tables record AnalyzerStamp() (analyzer.h)
//    as tokenizer arguments (tokenize='deepkb v2 icu72'); IndexDocument()/UnindexDocument()
//    on a table with another stamp (or none: tables made before stamping) fail with
//    FailedPrecondition and write nothing, IntegrityCheck() reports DataLoss, and Rebuild()
//    recreates the table with the current stamp. (Writing anyway leaves index entries for
//    deleted rows behind; FTS5 then fails bm25()/snippets of queries matching them with
//    "database disk image is malformed".)
// Thread safety: like the Database it is given (one thread at a time per connection).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "index/fulltext/query_builder.h"
#include "storage/sql_filter.h"
#include "storage/sqlite.h"

namespace deepkb::fulltext {

struct FieldWeights {
  double title = 4.0;
  double headings = 2.0;
  double body = 1.0;
};

// A row of a collection's content view (fts_src_N), as ShadowAdvance() indexed it.
struct ContentRow {
  int64_t id = 0;  // chunk id (the FTS rowid)
  std::string title;
  std::string headings;
  std::string body;
};

struct FtsHit {
  int64_t chunk_id = 0;
  int64_t document_row_id = 0;
  double score = 0;       // -bm25: higher is better
  std::string highlight;  // snippet of the body with matches wrapped in <mark>…</mark>
};

class FtsIndex {
 public:
  explicit FtsIndex(storage::Database& db) : db_(db) {}

  // Creates the view and FTS table for a collection (idempotent).
  Status CreateForCollection(int64_t collection_id);
  Status DropForCollection(int64_t collection_id);

  // Both fail with FailedPrecondition (writing nothing) when the table was built by another
  // analyzer version (see the notes above).
  Status IndexDocument(int64_t collection_id, int64_t document_row_id);
  Status UnindexDocument(int64_t collection_id, int64_t document_row_id);

  // Top `limit` chunks for the query (empty vector for an empty query).
  // `filter` (optional) restricts hits to chunks of documents d matching filter->where.
  Result<std::vector<FtsHit>> Search(int64_t collection_id, const MatchQuery& query, int limit,
                                     const FieldWeights& weights = {},
                                     const storage::SqlFilter* filter = nullptr);

  // FTS5 'integrity-check' against the content view; DataLoss on mismatch, and (without
  // running the check) when the table was built by another analyzer version.
  Status IntegrityCheck(int64_t collection_id);
  // Rebuilds the index of a collection from its content ('rebuild'); a table built by another
  // analyzer version is dropped and created again with the current one first.
  Status Rebuild(int64_t collection_id);

  // The analyzer stamp recorded in the collection's table ("" for tables made before stamping);
  // NotFound when the table does not exist.
  Result<std::string> TableAnalyzerStamp(int64_t collection_id);

  // ---- build-aside ("shadow") tables for online rebuilds --------------------------------------
  // fts_N_rebuild has fts_N's definition with the current analyzer and is filled in id order by
  // ShadowAdvance(), in short transactions, while fts_N keeps serving. Invariant: the shadow
  // holds exactly the content view's rows with id <= its watermark. Writes keep it: while a
  // shadow exists, IndexDocument()/UnindexDocument() apply the same change to it for rows with
  // id <= the watermark (rows above it are picked up by later ShadowAdvance() calls; chunk ids
  // are never reused, so new chunks always lie above it). SwapShadow() replaces fts_N by it.
  //
  // Creates an empty shadow (dropping a leftover one), watermark 0.
  Status BeginShadow(int64_t collection_id);
  // Indexes the next content rows (id > the watermark, ascending, at most `limit`) into the
  // shadow and returns them; run it inside the caller's transaction and, once that committed,
  // SetShadowWatermark(id of the last row).
  Result<std::vector<ContentRow>> ShadowAdvance(int64_t collection_id, int limit);
  void SetShadowWatermark(int64_t collection_id, int64_t watermark);
  // Retires fts_N (renamed fts_N_retired: dropping a large table at once would hold the write
  // lock for seconds) and renames the shadow to fts_N, inside the caller's transaction; the
  // shadow state is forgotten, so call AbortShadow() if that transaction does not commit.
  Status SwapShadow(int64_t collection_id);
  // One short step of removing a retired table: deletes up to `rows` rows of its shadow tables,
  // and drops it once they are empty. Returns whether more steps are needed (false when there
  // is no retired table).
  Result<bool> DropRetiredStep(int64_t collection_id, int rows);
  // Drops the shadow (if any) and forgets it.
  Status AbortShadow(int64_t collection_id);
  // Drops every shadow or retired table left in the database by a rebuild that did not finish
  // (a crash).
  Result<int> DropLeftoverShadows();

 private:
  Status EnsureTokenizer();
  // Ok when the table's stamp is AnalyzerStamp(); FailedPrecondition otherwise.
  Status CheckAnalyzer(int64_t collection_id);

  storage::Database& db_;
  bool tokenizer_ready_ = false;  // RegisterFts5Tokenizer succeeded on db_
  // Applies a document's index/unindex to the shadow (if any), rows with id <= the watermark.
  Status WriteShadow(int64_t collection_id, int64_t document_row_id, bool remove);

  // Collections whose table carries the current stamp (DDL read once per table).
  std::unordered_set<int64_t> current_analyzer_;
  // Collections with a shadow table → its watermark.
  std::unordered_map<int64_t, int64_t> shadows_;
};

}  // namespace deepkb::fulltext
