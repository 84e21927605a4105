// Per-collection FTS5 tables. Schema for collection N (names are built from the integer id only,
// so nothing user-supplied reaches the DDL):
//
//   VIEW fts_src_N(id, document_id, title, headings, body)
//     = chunks JOIN documents, live documents of collection N only.
//   VIRTUAL TABLE fts_N USING fts5(title, headings, body,
//     content='fts_src_N', content_rowid='id', tokenize='deepkb <stamp>', detail=full)
//   <stamp> is AnalyzerStamp() (analyzer.h), e.g. "v2 icu72": the analysis that built the
//   index. The tokenizer ignores its arguments; FtsIndex compares them with the current stamp
//   before writing. Tables made before stamping have tokenize='deepkb' (stamp "").
//
// detail=full (the default) keeps token positions, which CJK phrase clauses (runs of bigrams)
// and highlighting need; columnsize is kept because bm25() reads column lengths from it and
// would otherwise re-tokenize content for every candidate row.
#include "index/fulltext/fts_index.h"

#include <cmath>
#include <string>

#include "index/fulltext/analyzer.h"
#include "index/fulltext/fts5_tokenizer.h"

namespace deepkb::fulltext {
namespace {

std::string TableName(int64_t collection_id) {
  return "fts_" + std::to_string(collection_id);
}
std::string ViewName(int64_t collection_id) {
  return "fts_src_" + std::to_string(collection_id);
}
std::string ShadowName(int64_t collection_id) {
  return "fts_" + std::to_string(collection_id) + "_rebuild";
}
std::string RetiredName(int64_t collection_id) {
  return "fts_" + std::to_string(collection_id) + "_retired";
}

Status CheckId(int64_t collection_id) {
  if (collection_id <= 0) {
    return InvalidArgumentError("full-text index: collection id must be positive, got " +
                                std::to_string(collection_id));
  }
  return Status::Ok();
}

// "no such table" from a missing fts_N becomes NotFound with a hint.
Status MissingTableHint(const Status& s, int64_t collection_id) {
  if (!s.ok() && s.message().find("no such table") != std::string::npos) {
    return NotFoundError("full-text index for collection " + std::to_string(collection_id) +
                         " does not exist (create it with CreateForCollection): " + s.message());
  }
  return s;
}

std::string CreateTableSql(int64_t collection_id, const std::string& name) {
  return "CREATE VIRTUAL TABLE IF NOT EXISTS " + name + " USING fts5(title, headings, body, content='" + ViewName(collection_id) +
         "', content_rowid='id', tokenize='deepkb " + AnalyzerStamp() + "', detail=full)";
}
std::string CreateTableSql(int64_t collection_id) {
  return CreateTableSql(collection_id, TableName(collection_id));
}

std::string StampName(const std::string& stamp) {
  return stamp.empty() ? std::string("none (made before analyzer stamps)") : "'" + stamp + "'";
}

}  // namespace

Result<std::string> FtsIndex::TableAnalyzerStamp(int64_t collection_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  auto stmt = db_.Prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, TableName(collection_id));
  ASSIGN_OR_RETURN(const bool row, stmt->Step());
  if (!row) {
    return NotFoundError("full-text index for collection " + std::to_string(collection_id) +
                         " does not exist (create it with CreateForCollection)");
  }
  // Our own DDL (CreateTableSql): tokenize='deepkb[ <stamp>]'.
  const std::string sql = stmt->ColumnText(0);
  const std::string key = "tokenize='deepkb";
  const size_t at = sql.find(key);
  if (at == std::string::npos) return std::string("unknown tokenizer");
  const size_t begin = at + key.size();
  const size_t end = sql.find('\'', begin);
  if (end == std::string::npos) return std::string("unknown tokenizer");
  std::string stamp = sql.substr(begin, end - begin);
  const size_t first = stamp.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : stamp.substr(first);
}

Status FtsIndex::CheckAnalyzer(int64_t collection_id) {
  if (current_analyzer_.count(collection_id)) return Status::Ok();
  ASSIGN_OR_RETURN(const std::string stamp, TableAnalyzerStamp(collection_id));
  if (stamp != AnalyzerStamp()) {
    return FailedPreconditionError(
        "full-text index of collection " + std::to_string(collection_id) +
        " was built by another version of the text analyzer (index: " + StampName(stamp) +
        ", this build: '" + AnalyzerStamp() +
        "'); changing it with this build would corrupt it, so rebuild it first (`deepkb index "
        "rebuild`)");
  }
  current_analyzer_.insert(collection_id);
  return Status::Ok();
}

Status FtsIndex::EnsureTokenizer() {
  if (tokenizer_ready_) return Status::Ok();
  RETURN_IF_ERROR(RegisterFts5Tokenizer(db_.handle()));
  tokenizer_ready_ = true;
  return Status::Ok();
}

Status FtsIndex::CreateForCollection(int64_t collection_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  const std::string n = std::to_string(collection_id);
  const std::string view = ViewName(collection_id);
  RETURN_IF_ERROR(db_.Exec("CREATE VIEW IF NOT EXISTS " + view +
                           " AS SELECT c.id AS id, c.document_id AS document_id, d.title AS title,"
                           " c.heading_path AS headings, c.text AS body"
                           " FROM chunks c JOIN documents d ON d.id = c.document_id"
                           " WHERE d.collection_id = " +
                           n + " AND d.deleted = 0"));
  return db_.Exec(CreateTableSql(collection_id));
}

Status FtsIndex::DropForCollection(int64_t collection_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  // Dropping an FTS5 table connects to it first, which needs the tokenizer.
  RETURN_IF_ERROR(EnsureTokenizer());
  current_analyzer_.erase(collection_id);
  shadows_.erase(collection_id);
  RETURN_IF_ERROR(db_.Exec("DROP TABLE IF EXISTS " + ShadowName(collection_id)));
  RETURN_IF_ERROR(db_.Exec("DROP TABLE IF EXISTS " + RetiredName(collection_id)));
  RETURN_IF_ERROR(db_.Exec("DROP TABLE IF EXISTS " + TableName(collection_id)));
  RETURN_IF_ERROR(db_.Exec("DROP VIEW IF EXISTS " + ViewName(collection_id)));
  return Status::Ok();
}

Status FtsIndex::IndexDocument(int64_t collection_id, int64_t document_row_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  RETURN_IF_ERROR(MissingTableHint(CheckAnalyzer(collection_id), collection_id));
  const std::string table = TableName(collection_id);
  auto stmt = db_.Prepare("INSERT INTO " + table +
                          "(rowid, title, headings, body) SELECT id, title, headings, body FROM " +
                          ViewName(collection_id) + " WHERE document_id = ?1");
  if (!stmt.ok()) return MissingTableHint(stmt.status(), collection_id);
  stmt->Bind(1, document_row_id);
  // (A cached statement on a table dropped since fails here rather than at Prepare.)
  RETURN_IF_ERROR(MissingTableHint(stmt->Run(), collection_id));
  return WriteShadow(collection_id, document_row_id, /*remove=*/false);
}

Status FtsIndex::UnindexDocument(int64_t collection_id, int64_t document_row_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  RETURN_IF_ERROR(MissingTableHint(CheckAnalyzer(collection_id), collection_id));
  const std::string table = TableName(collection_id);
  auto stmt = db_.Prepare("INSERT INTO " + table + "(" + table +
                          ", rowid, title, headings, body) SELECT 'delete', id, title, headings, "
                          "body FROM " +
                          ViewName(collection_id) + " WHERE document_id = ?1");
  if (!stmt.ok()) return MissingTableHint(stmt.status(), collection_id);
  stmt->Bind(1, document_row_id);
  RETURN_IF_ERROR(MissingTableHint(stmt->Run(), collection_id));
  return WriteShadow(collection_id, document_row_id, /*remove=*/true);
}

Status FtsIndex::WriteShadow(int64_t collection_id, int64_t document_row_id, bool remove) {
  auto it = shadows_.find(collection_id);
  if (it == shadows_.end() || it->second == 0) return Status::Ok();
  const std::string shadow = ShadowName(collection_id);
  ASSIGN_OR_RETURN(auto stmt,
                   db_.Prepare("INSERT INTO " + shadow + "(" +
                               (remove ? shadow + ", rowid" : std::string("rowid")) +
                               ", title, headings, body) SELECT " +
                               (remove ? "'delete', " : "") + "id, title, headings, body FROM " +
                               ViewName(collection_id) + " WHERE document_id = ?1 AND id <= ?2"));
  stmt.Bind(1, document_row_id).Bind(2, it->second);
  return stmt.Run().WithContext("maintaining the full-text index being rebuilt");
}

Status FtsIndex::BeginShadow(int64_t collection_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  shadows_.erase(collection_id);
  const std::string shadow = ShadowName(collection_id);
  RETURN_IF_ERROR(db_.Exec("DROP TABLE IF EXISTS " + shadow));
  RETURN_IF_ERROR(db_.Exec(CreateTableSql(collection_id, shadow)));
  shadows_[collection_id] = 0;
  return Status::Ok();
}

Result<std::vector<ContentRow>> FtsIndex::ShadowAdvance(int64_t collection_id, int limit) {
  auto it = shadows_.find(collection_id);
  if (it == shadows_.end()) {
    return FailedPreconditionError("no full-text rebuild is in progress for collection " +
                                   std::to_string(collection_id));
  }
  RETURN_IF_ERROR(EnsureTokenizer());
  // Chunks drive the scan in id order (CROSS JOIN keeps that order): each page costs its own
  // rows, not a scan of the collection.
  ASSIGN_OR_RETURN(
      auto scan,
      db_.Prepare("SELECT c.id, d.title, c.heading_path, c.text FROM chunks c CROSS JOIN "
                  "documents d ON d.id = c.document_id WHERE c.id > ?1 AND d.collection_id = " +
                  std::to_string(collection_id) + " AND d.deleted = 0 ORDER BY c.id LIMIT ?2"));
  scan.Bind(1, it->second).Bind(2, static_cast<int64_t>(limit));
  std::vector<ContentRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, scan.Step());
    if (!row) break;
    rows.push_back(ContentRow{scan.ColumnInt(0), scan.ColumnText(1), scan.ColumnText(2),
                              scan.ColumnText(3)});
  }
  const std::string shadow = ShadowName(collection_id);
  ASSIGN_OR_RETURN(auto insert, db_.Prepare("INSERT INTO " + shadow +
                                            "(rowid, title, headings, body) VALUES(?1, ?2, ?3, ?4)"));
  for (const ContentRow& r : rows) {
    insert.Reset();
    insert.Bind(1, r.id).Bind(2, r.title).Bind(3, r.headings).Bind(4, r.body);
    RETURN_IF_ERROR(insert.Run());
  }
  return rows;
}

void FtsIndex::SetShadowWatermark(int64_t collection_id, int64_t watermark) {
  auto it = shadows_.find(collection_id);
  if (it != shadows_.end()) it->second = watermark;
}

Status FtsIndex::SwapShadow(int64_t collection_id) {
  if (!shadows_.count(collection_id)) {
    return FailedPreconditionError("no full-text rebuild is in progress for collection " +
                                   std::to_string(collection_id));
  }
  RETURN_IF_ERROR(EnsureTokenizer());
  const std::string table = TableName(collection_id);
  const std::string retired = RetiredName(collection_id);
  RETURN_IF_ERROR(db_.Exec("DROP TABLE IF EXISTS " + retired));  // an earlier one not yet gone
  RETURN_IF_ERROR(db_.Exec("ALTER TABLE " + table + " RENAME TO " + retired));
  RETURN_IF_ERROR(db_.Exec("ALTER TABLE " + ShadowName(collection_id) + " RENAME TO " + table));
  shadows_.erase(collection_id);
  current_analyzer_.erase(collection_id);
  return Status::Ok();
}

Result<bool> FtsIndex::DropRetiredStep(int64_t collection_id, int rows) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  const std::string retired = RetiredName(collection_id);
  ASSIGN_OR_RETURN(const int64_t exists,
                   db_.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name = '" + retired + "'"));
  if (exists == 0) return false;
  // FTS5's own tables: the index blocks (_data) hold nearly all of it, then the per-row sizes
  // (_docsize) and the segment index (_idx).
  int64_t deleted = 0;
  for (const char* part : {"_data", "_docsize", "_idx"}) {
    const std::string t = retired + part;
    // _idx is WITHOUT ROWID, keyed by (segid, term).
    const char* key = std::string_view(part) == "_idx" ? "(segid, term)" : "id";
    const std::string cols = std::string(key) == "id" ? "id" : "segid, term";
    // _data keeps its first rows (the averages record, id 1, and the structure record, id 10):
    // FTS5 reads them to open the table, which DROP TABLE does.
    const std::string keep = std::string(part) == "_data" ? " WHERE id > 10" : "";
    RETURN_IF_ERROR(db_.Exec("DELETE FROM " + t + " WHERE " + key + " IN (SELECT " + cols +
                             " FROM " + t + keep + " LIMIT " + std::to_string(rows) + ")"));
    ASSIGN_OR_RETURN(const int64_t changed, db_.QueryInt("SELECT changes()"));
    deleted += changed;
    if (deleted >= rows) return true;
  }
  if (deleted > 0) return true;
  RETURN_IF_ERROR(db_.Exec("DROP TABLE " + retired));
  return false;
}

Status FtsIndex::AbortShadow(int64_t collection_id) {
  shadows_.erase(collection_id);
  RETURN_IF_ERROR(EnsureTokenizer());
  return db_.Exec("DROP TABLE IF EXISTS " + ShadowName(collection_id));
}

Result<int> FtsIndex::DropLeftoverShadows() {
  RETURN_IF_ERROR(EnsureTokenizer());
  std::vector<std::string> names;
  {
    ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND (name GLOB 'fts_[0-9]*_rebuild' OR name GLOB "
                                            "'fts_[0-9]*_retired') AND sql LIKE "
                                            "'CREATE VIRTUAL TABLE%'"));
    while (true) {
      ASSIGN_OR_RETURN(const bool row, stmt.Step());
      if (!row) break;
      names.push_back(stmt.ColumnText(0));
    }
  }
  for (const std::string& n : names) {
    // Only names we make (digits between the fixed parts) reach the DDL.
    const std::string digits = n.substr(4, n.size() - 4 - 8);  // "_rebuild", "_retired": 8
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    RETURN_IF_ERROR(db_.Exec("DROP TABLE " + n));
  }
  return static_cast<int>(names.size());
}

Result<std::vector<FtsHit>> FtsIndex::Search(int64_t collection_id, const MatchQuery& query,
                                             int limit, const FieldWeights& weights,
                                             const storage::SqlFilter* filter) {
  RETURN_IF_ERROR(CheckId(collection_id));
  std::vector<FtsHit> hits;
  if (query.empty() || limit <= 0) return hits;
  if (!std::isfinite(weights.title) || !std::isfinite(weights.headings) ||
      !std::isfinite(weights.body)) {
    return InvalidArgumentError("full-text search: field weights must be finite numbers");
  }
  RETURN_IF_ERROR(EnsureTokenizer());
  const std::string table = TableName(collection_id);
  // Explicit bm25() with ORDER BY ... LIMIT: SQLite keeps only the best `limit` rows while
  // scanning and evaluates the other result columns (snippet, document lookup) only for rows
  // that enter that top-N set. Measured on 100k chunks this is 1.3-1.5x faster than
  // `ORDER BY rank` with `rank MATCH 'bm25(...)'`, where FTS5 fully sorts every match first.
  auto stmt = db_.Prepare("SELECT rowid, bm25(" + table +
                          ", ?2, ?3, ?4) AS score,"
                          " deepkb_snippet(" +
                          table +
                          ", 2, '<mark>', '</mark>', '…', 24, ?5),"
                          " (SELECT c.document_id FROM chunks c WHERE c.id = " +
                          table +
                          ".rowid)"
                          " FROM " +
                          table + " WHERE " + table + " MATCH ?1" +
                          (filter && !filter->empty()
                               ? " AND rowid IN (SELECT c.id FROM chunks c JOIN documents d ON "
                                 "d.id = c.document_id WHERE d.collection_id = " +
                                     std::to_string(collection_id) + " AND d.deleted = 0 AND " +
                                     storage::NumberedWhere(*filter, 7) + ")"
                               : std::string()) +
                          " ORDER BY score LIMIT ?6");
  if (!stmt.ok()) return MissingTableHint(stmt.status(), collection_id);
  // One character per phrase of the expression (BuildMatchQuery makes one phrase per clause
  // with terms): '1' marks prefix phrases for the highlighter.
  std::string prefix_mask;
  for (const QueryClause& c : query.clauses) {
    if (!c.terms.empty()) prefix_mask.push_back(c.kind == QueryClause::Kind::kPrefix ? '1' : '0');
  }
  stmt->Bind(1, query.expression)
      .Bind(2, weights.title)
      .Bind(3, weights.headings)
      .Bind(4, weights.body)
      .Bind(5, prefix_mask)
      .Bind(6, static_cast<int64_t>(limit));
  if (filter && !filter->empty()) storage::BindFilter(*stmt, 7, *filter);
  while (true) {
    auto step = stmt->Step();
    if (!step.ok() && step.status().code() == StatusCode::kDataLoss) {
      // Usually the FTS index, not the database: FTS5 reports index entries whose row has no
      // column sizes any more (left behind by writes through a different analysis, see the
      // header) as SQLITE_CORRUPT. The chunks themselves are intact.
      return DataLossError("full-text search in collection " + std::to_string(collection_id) +
                           " failed: " + step.status().message() +
                           "; if `deepkb index verify` blames only the full-text index, "
                           "`deepkb index rebuild` repairs it");
    }
    if (!step.ok()) return MissingTableHint(step.status(), collection_id);
    if (!*step) break;
    FtsHit hit;
    hit.chunk_id = stmt->ColumnInt(0);
    hit.score = -stmt->ColumnDouble(1);
    hit.highlight = stmt->ColumnText(2);
    hit.document_row_id = stmt->ColumnInt(3);
    hits.push_back(std::move(hit));
  }
  return hits;
}

Status FtsIndex::IntegrityCheck(int64_t collection_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  {
    const Status current = CheckAnalyzer(collection_id);
    if (current.code() == StatusCode::kFailedPrecondition) return DataLossError(current.message());
    RETURN_IF_ERROR(current);
  }
  const std::string table = TableName(collection_id);
  // rank = 1 makes FTS5 re-tokenise the external content and compare it with the index. The
  // plain 'integrity-check' only checks the index's internal structure: in SQLite 3.40.1 it
  // passes on an index holding entries of deleted rows (which make bm25() fail with "database
  // disk image is malformed"); rank = 1 reports them (27 s for 1M chunks on 2 cores).
  Status s =
      db_.Exec("INSERT INTO " + table + "(" + table + ", rank) VALUES('integrity-check', 1)");
  if (s.code() == StatusCode::kDataLoss) {
    return DataLossError(
        "full-text index of collection " + std::to_string(collection_id) +
        " does not match its content (FTS5 integrity-check: " + sqlite3_errmsg(db_.handle()) +
        "); rebuild the collection's full-text index to repair it");
  }
  return MissingTableHint(s, collection_id);
}

Status FtsIndex::Rebuild(int64_t collection_id) {
  RETURN_IF_ERROR(CheckId(collection_id));
  RETURN_IF_ERROR(EnsureTokenizer());
  const std::string table = TableName(collection_id);
  ASSIGN_OR_RETURN(const std::string stamp, TableAnalyzerStamp(collection_id));
  if (stamp != AnalyzerStamp()) {
    // Built by another analysis: start from an empty table that records the current one.
    current_analyzer_.erase(collection_id);
    RETURN_IF_ERROR(db_.Exec("DROP TABLE " + table));
    RETURN_IF_ERROR(db_.Exec(CreateTableSql(collection_id)));
  }
  return MissingTableHint(db_.Exec("INSERT INTO " + table + "(" + table + ") VALUES('rebuild')"),
                          collection_id);
}

}  // namespace deepkb::fulltext
