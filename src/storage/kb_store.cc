// KbStore: typed reads and writes of the v1 tables (see schema.cc for the DDL).
//
// Notes on representation:
//  - HLC values (documents.version, changes.hlc) are uint64 bit-cast to int64 for storage. For
//    realistic clocks the top bit is never set, but MaxHlc compares as unsigned regardless.
//  - documents.chunk_count is kept equal to the number of chunk rows by InsertChunks and
//    DeleteChunks, so collection statistics can sum it instead of scanning the chunks table.
//  - Timestamps left at 0 by the caller are filled with the current wall clock (unix ms).
#include "storage/kb_store.h"

#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <bit>
#include <chrono>
#include <unordered_set>
#include <optional>
#include <utility>

#include "common/hash.h"

namespace deepkb::storage {
namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t ToStored(uint64_t hlc) { return std::bit_cast<int64_t>(hlc); }
uint64_t FromStored(int64_t v) { return std::bit_cast<uint64_t>(v); }

// Column lists shared by the SELECTs below and the matching row readers.
constexpr char kCollectionColumns[] =
    "c.id, c.name, c.embedder, c.dim, c.chunk_tokens, c.chunk_overlap, c.created_at, "
    "COALESCE(s.documents, 0), COALESCE(s.chunks, 0)";
// Live-document statistics per collection, joined to collections as `s`. The aggregate runs over
// the documents table only (chunk_count is maintained by InsertChunks/DeleteChunks).
constexpr char kCollectionStatsJoin[] =
    " FROM collections c LEFT JOIN ("
    "SELECT collection_id, COUNT(*) AS documents, SUM(chunk_count) AS chunks "
    "FROM documents WHERE deleted = 0 GROUP BY collection_id) s ON s.collection_id = c.id";

constexpr char kDocumentColumns[] =
    "id, collection_id, doc_id, version, origin_node, content_hash, title, source, mime, "
    "metadata, size_bytes, chunk_count, deleted, created_at, updated_at";

constexpr char kChunkColumns[] =
    "id, document_id, ordinal, text, char_start, char_end, page, heading_path, token_count";

constexpr char kChangeColumns[] =
    "seq, collection, doc_id, hlc, node_id, deleted, content_hash, created_at";

CollectionRow ReadCollection(const Statement& s) {
  CollectionRow c;
  c.id = s.ColumnInt(0);
  c.name = s.ColumnText(1);
  c.embedder = s.ColumnText(2);
  c.dim = static_cast<int>(s.ColumnInt(3));
  c.chunk_tokens = static_cast<int>(s.ColumnInt(4));
  c.chunk_overlap = static_cast<int>(s.ColumnInt(5));
  c.created_at = s.ColumnInt(6);
  c.documents = s.ColumnInt(7);
  c.chunks = s.ColumnInt(8);
  return c;
}

DocumentRow ReadDocument(const Statement& s) {
  DocumentRow d;
  d.id = s.ColumnInt(0);
  d.collection_id = s.ColumnInt(1);
  d.doc_id = s.ColumnText(2);
  d.version = FromStored(s.ColumnInt(3));
  d.origin_node = s.ColumnText(4);
  d.content_hash = s.ColumnText(5);
  d.title = s.ColumnText(6);
  d.source = s.ColumnText(7);
  d.mime = s.ColumnText(8);
  d.metadata_json = s.ColumnText(9);
  d.size_bytes = s.ColumnInt(10);
  d.chunk_count = s.ColumnInt(11);
  d.deleted = s.ColumnInt(12) != 0;
  d.created_at = s.ColumnInt(13);
  d.updated_at = s.ColumnInt(14);
  return d;
}

// Every remaining row of a statement selecting kDocumentColumns.
Result<std::vector<DocumentRow>> ReadDocuments(Statement& s) {
  std::vector<DocumentRow> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    out.push_back(ReadDocument(s));
  }
  return out;
}

ChunkRow ReadChunk(const Statement& s) {
  ChunkRow c;
  c.id = s.ColumnInt(0);
  c.document_id = s.ColumnInt(1);
  c.ordinal = static_cast<int>(s.ColumnInt(2));
  c.text = s.ColumnText(3);
  c.char_start = s.ColumnInt(4);
  c.char_end = s.ColumnInt(5);
  c.page = static_cast<int>(s.ColumnInt(6));
  c.heading_path = s.ColumnText(7);
  c.token_count = static_cast<int>(s.ColumnInt(8));
  return c;
}

ChangeRow ReadChange(const Statement& s) {
  ChangeRow c;
  c.seq = s.ColumnInt(0);
  c.collection = s.ColumnText(1);
  c.doc_id = s.ColumnText(2);
  c.hlc = FromStored(s.ColumnInt(3));
  c.node_id = s.ColumnText(4);
  c.deleted = s.ColumnInt(5) != 0;
  c.content_hash = s.ColumnText(6);
  c.created_at = s.ColumnInt(7);
  return c;
}

// Runs `body` inside SAVEPOINT `name`: released on success, rolled back to on failure. Works both
// inside a caller's Transaction and on its own (then it is a transaction by itself), which makes
// multi-statement methods atomic without nesting BEGIN.
template <typename Fn>
Status WithSavepoint(Database& db, const char* name, Fn&& body) {
  const std::string sp(name);
  RETURN_IF_ERROR(db.Exec("SAVEPOINT " + sp));
  Status st = body();
  if (st.ok()) {
    st = db.Exec("RELEASE " + sp);
    if (st.ok()) return st;
  }
  // Undo this method's writes and drop the savepoint; the caller's transaction (if any) stays.
  (void)db.Exec("ROLLBACK TO " + sp);
  (void)db.Exec("RELEASE " + sp);
  return st;
}

// Unsigned maximum of an HLC column stored bit-cast: values with the top bit set read as
// negative int64 but are the largest as uint64, so they win when present.
Result<uint64_t> MaxStoredHlc(Database& db, const std::string& column, const std::string& table) {
  ASSIGN_OR_RETURN(Statement s, db.Prepare("SELECT MAX(CASE WHEN " + column + " < 0 THEN " +
                                           column + " END), MAX(" + column + ") FROM " + table));
  ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return uint64_t{0};
  if (!s.ColumnIsNull(0)) return FromStored(s.ColumnInt(0));
  if (!s.ColumnIsNull(1)) return FromStored(s.ColumnInt(1));
  return uint64_t{0};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Node identity and clock

Result<std::string> KbStore::NodeId() {
  static constexpr char kSelect[] = "SELECT value FROM meta WHERE key = 'node_id'";
  {
    ASSIGN_OR_RETURN(Statement s, db_.Prepare(kSelect));
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (row) return s.ColumnText(0);
  }
  // First call on this database. DO NOTHING + re-read makes a concurrent first call by another
  // connection harmless: whichever insert lands first is the node id for both.
  ASSIGN_OR_RETURN(Statement ins, db_.Prepare("INSERT INTO meta(key, value) VALUES ('node_id', ?) "
                                              "ON CONFLICT(key) DO NOTHING"));
  ins.Bind(1, RandomHex(16));
  RETURN_IF_ERROR(ins.Run());
  ASSIGN_OR_RETURN(std::string id, db_.QueryText(kSelect));
  return id;
}

Result<uint64_t> KbStore::MaxHlc() {
  ASSIGN_OR_RETURN(const uint64_t docs, MaxStoredHlc(db_, "version", "documents"));
  ASSIGN_OR_RETURN(const uint64_t changes, MaxStoredHlc(db_, "hlc", "changes"));
  return std::max(docs, changes);
}

// ---------------------------------------------------------------------------------------------
// Collections

Result<CollectionRow> KbStore::InsertCollection(const CollectionRow& c) {
  if (c.name.empty()) return InvalidArgumentError("collection name must not be empty");
  CollectionRow out = c;
  if (out.created_at == 0) out.created_at = NowMillis();
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("INSERT INTO collections(name, embedder, dim, "
                                            "chunk_tokens, chunk_overlap, created_at) "
                                            "VALUES (?, ?, ?, ?, ?, ?)"));
  s.Bind(1, out.name)
      .Bind(2, out.embedder)
      .Bind(3, out.dim)
      .Bind(4, out.chunk_tokens)
      .Bind(5, out.chunk_overlap)
      .Bind(6, out.created_at);
  if (Status st = s.Run(); !st.ok()) {
    if (st.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("collection '" + c.name + "' already exists");
    }
    return st.WithContext("insert collection '" + c.name + "'");
  }
  out.id = db_.LastInsertRowId();
  out.documents = 0;
  out.chunks = 0;
  return out;
}

Result<CollectionRow> KbStore::GetCollection(const std::string& name) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kCollectionColumns +
                                            kCollectionStatsJoin + " WHERE c.name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return NotFoundError("collection '" + name + "' does not exist");
  return ReadCollection(s);
}

Result<CollectionRow> KbStore::FindCollection(const std::string& name) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("SELECT c.id, c.name, c.embedder, c.dim, c.chunk_tokens, "
                               "c.chunk_overlap, c.created_at, 0, 0 FROM collections c "
                               "WHERE c.name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return NotFoundError("collection '" + name + "' does not exist");
  return ReadCollection(s);
}

Result<std::vector<CollectionRow>> KbStore::ListCollections() {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kCollectionColumns +
                                            kCollectionStatsJoin + " ORDER BY c.name"));
  std::vector<CollectionRow> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    out.push_back(ReadCollection(s));
  }
  return out;
}

Status KbStore::DeleteCollection(int64_t collection_id) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("DELETE FROM collections WHERE id = ?"));
  s.Bind(1, collection_id);
  RETURN_IF_ERROR(s.Run());
  if (db_.Changes() == 0) {
    return NotFoundError("collection id " + std::to_string(collection_id) + " does not exist");
  }
  return Status();
}

// ---------------------------------------------------------------------------------------------
// Documents

Result<DocumentRow> KbStore::GetDocument(int64_t collection_id, const std::string& doc_id) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare(std::string("SELECT ") + kDocumentColumns +
                               " FROM documents WHERE collection_id = ? AND doc_id = ?"));
  s.Bind(1, collection_id).Bind(2, doc_id);
  ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return NotFoundError("document '" + doc_id + "' does not exist in this collection");
  return ReadDocument(s);
}

Result<std::vector<DocumentRow>> KbStore::ListDocuments(int64_t collection_id,
                                                        const std::string& after_doc_id,
                                                        int limit) {
  if (limit <= 0) return InvalidArgumentError("list documents: limit must be positive");
  // Walks the UNIQUE(collection_id, doc_id) index in order; tombstones are skipped.
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kDocumentColumns +
                                            " FROM documents WHERE collection_id = ? "
                                            "AND doc_id > ? AND deleted = 0 "
                                            "ORDER BY doc_id LIMIT ?"));
  s.Bind(1, collection_id).Bind(2, after_doc_id).Bind(3, limit);
  return ReadDocuments(s);
}

Result<int64_t> KbStore::UpsertDocument(const DocumentRow& d) {
  if (d.doc_id.empty()) return InvalidArgumentError("document id must not be empty");
  const int64_t now = NowMillis();
  // created_at is kept from the first insert; every other column takes the new value.
  ASSIGN_OR_RETURN(
      Statement s,
      db_.Prepare("INSERT INTO documents(collection_id, doc_id, version, origin_node, "
                  "content_hash, title, source, mime, metadata, size_bytes, chunk_count, "
                  "deleted, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT(collection_id, doc_id) DO UPDATE SET "
                  "version = excluded.version, origin_node = excluded.origin_node, "
                  "content_hash = excluded.content_hash, title = excluded.title, "
                  "source = excluded.source, mime = excluded.mime, "
                  "metadata = excluded.metadata, size_bytes = excluded.size_bytes, "
                  "chunk_count = excluded.chunk_count, deleted = excluded.deleted, "
                  "updated_at = excluded.updated_at "
                  "RETURNING id"));
  s.Bind(1, d.collection_id)
      .Bind(2, d.doc_id)
      .Bind(3, ToStored(d.version))
      .Bind(4, d.origin_node)
      .Bind(5, d.content_hash)
      .Bind(6, d.title)
      .Bind(7, d.source)
      .Bind(8, d.mime)
      .Bind(9, d.metadata_json.empty() ? std::string("{}") : d.metadata_json)
      .Bind(10, d.size_bytes)
      .Bind(11, d.chunk_count)
      .Bind(12, d.deleted ? 1 : 0)
      .Bind(13, d.created_at != 0 ? d.created_at : now)
      .Bind(14, d.updated_at != 0 ? d.updated_at : now);
  auto row = s.Step();
  if (!row.ok()) {
    Status st = row.status();
    if (st.code() == StatusCode::kFailedPrecondition) {
      // The only non-unique constraint a caller can hit here is the foreign key.
      return FailedPreconditionError("upsert document '" + d.doc_id + "': collection id " +
                                     std::to_string(d.collection_id) + " does not exist (" +
                                     st.message() + ")");
    }
    return st.WithContext("upsert document '" + d.doc_id + "'");
  }
  if (!*row) return InternalError("upsert document '" + d.doc_id + "': no row id returned");
  const int64_t id = s.ColumnInt(0);
  RETURN_IF_ERROR(s.Run());  // finish the statement so the write is complete
  return id;
}

Result<std::vector<DocumentRow>> KbStore::GetDocumentsByRowIds(
    const std::vector<int64_t>& row_ids) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kDocumentColumns +
                                            " FROM documents WHERE id = ?"));
  std::vector<DocumentRow> out;
  std::unordered_set<int64_t> seen;
  for (const int64_t id : row_ids) {
    if (!seen.insert(id).second) continue;
    s.Reset();
    s.Bind(1, id);
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (row) out.push_back(ReadDocument(s));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Chunks

Result<std::vector<ChunkRow>> KbStore::GetChunks(int64_t document_row_id) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kChunkColumns +
                                            " FROM chunks WHERE document_id = ? ORDER BY ordinal"));
  s.Bind(1, document_row_id);
  std::vector<ChunkRow> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    out.push_back(ReadChunk(s));
  }
  return out;
}

Result<std::vector<ChunkRow>> KbStore::GetChunksByIds(const std::vector<int64_t>& chunk_ids) {
  // One primary-key lookup per id with a reused statement: keeps the caller's order (search
  // ranking) without sorting, and needs no limit on the number of bound variables.
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kChunkColumns +
                                            " FROM chunks WHERE id = ?"));
  std::vector<ChunkRow> out;
  out.reserve(chunk_ids.size());
  for (const int64_t id : chunk_ids) {
    s.Reset();
    s.Bind(1, id);
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (row) out.push_back(ReadChunk(s));
  }
  return out;
}

Status KbStore::DeleteChunks(int64_t document_row_id) {
  return WithSavepoint(db_, "delete_chunks", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement del, db_.Prepare("DELETE FROM chunks WHERE document_id = ?"));
    del.Bind(1, document_row_id);
    RETURN_IF_ERROR(del.Run());
    ASSIGN_OR_RETURN(Statement upd,
                     db_.Prepare("UPDATE documents SET chunk_count = 0 WHERE id = ?"));
    upd.Bind(1, document_row_id);
    return upd.Run();
  });
}

Status KbStore::InsertChunks(int64_t document_row_id, std::vector<ChunkRow>& chunks) {
  std::vector<int64_t> ids;
  ids.reserve(chunks.size());
  Status st = WithSavepoint(db_, "insert_chunks", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement ins,
                     db_.Prepare("INSERT INTO chunks(document_id, ordinal, text, char_start, "
                                 "char_end, page, heading_path, token_count) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    for (const ChunkRow& c : chunks) {
      ins.Reset();
      ins.Bind(1, document_row_id)
          .Bind(2, c.ordinal)
          .Bind(3, c.text)
          .Bind(4, c.char_start)
          .Bind(5, c.char_end)
          .Bind(6, c.page)
          .Bind(7, c.heading_path)
          .Bind(8, c.token_count);
      if (Status s = ins.Run(); !s.ok()) {
        if (s.code() == StatusCode::kFailedPrecondition) {
          return FailedPreconditionError("insert chunks: document row " +
                                         std::to_string(document_row_id) + " does not exist (" +
                                         s.message() + ")");
        }
        return s.WithContext("insert chunk " + std::to_string(c.ordinal) + " of document row " +
                             std::to_string(document_row_id));
      }
      ids.push_back(db_.LastInsertRowId());
    }
    ASSIGN_OR_RETURN(Statement upd,
                     db_.Prepare("UPDATE documents SET chunk_count = "
                                 "(SELECT COUNT(*) FROM chunks WHERE document_id = ?1) "
                                 "WHERE id = ?1"));
    upd.Bind(1, document_row_id);
    return upd.Run();
  });
  RETURN_IF_ERROR(st);
  // Write ids back only once everything is in, so a failed call leaves the input untouched.
  for (size_t i = 0; i < chunks.size(); ++i) {
    chunks[i].id = ids[i];
    chunks[i].document_id = document_row_id;
  }
  return Status();
}

// ---------------------------------------------------------------------------------------------
// Change feed

Result<int64_t> KbStore::AppendChange(const ChangeRow& c) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("INSERT INTO changes(collection, doc_id, hlc, node_id, deleted, "
                               "content_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, c.collection)
      .Bind(2, c.doc_id)
      .Bind(3, ToStored(c.hlc))
      .Bind(4, c.node_id)
      .Bind(5, c.deleted ? 1 : 0)
      .Bind(6, c.content_hash)
      .Bind(7, c.created_at != 0 ? c.created_at : NowMillis());
  if (Status st = s.Run(); !st.ok()) return st.WithContext("append change");
  return db_.LastInsertRowId();
}

Result<std::vector<ChangeRow>> KbStore::ChangesSince(int64_t seq, int limit) {
  return ChangesSince(seq, limit, {}, "");
}

Result<int64_t> KbStore::LastChangeSeq() {
  // sqlite_sequence remembers the highest seq ever issued even if old changes were pruned; MAX
  // covers a database where the sequence row does not exist yet.
  return db_.QueryInt(
      "SELECT MAX(COALESCE((SELECT MAX(seq) FROM changes), 0), "
      "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0))");
}

Result<std::vector<ChangeRow>> KbStore::ChangesSince(int64_t seq, int limit,
                                                     const std::vector<std::string>& collections,
                                                     const std::string& exclude_node) {
  if (limit <= 0) return InvalidArgumentError("changes since: limit must be positive");
  std::string sql = std::string("SELECT ") + kChangeColumns + " FROM changes WHERE seq > ?";
  if (!collections.empty()) {
    sql += " AND collection IN (";
    for (size_t i = 0; i < collections.size(); ++i) sql += i ? ", ?" : "?";
    sql += ")";
  }
  if (!exclude_node.empty()) sql += " AND node_id <> ?";
  sql += " ORDER BY seq LIMIT ?";
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(sql));
  int idx = 1;
  s.Bind(idx++, seq);
  for (const auto& c : collections) s.Bind(idx++, c);
  if (!exclude_node.empty()) s.Bind(idx++, exclude_node);
  s.Bind(idx, limit);
  std::vector<ChangeRow> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    out.push_back(ReadChange(s));
  }
  return out;
}

Result<bool> KbStore::HasChange(const std::string& collection, const std::string& doc_id,
                                uint64_t hlc, const std::string& node_id) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT 1 FROM changes WHERE collection = ? AND "
                                            "doc_id = ? AND hlc = ? AND node_id = ? LIMIT 1"));
  s.Bind(1, collection).Bind(2, doc_id).Bind(3, ToStored(hlc)).Bind(4, node_id);
  return s.Step();
}

// ---- sync -----------------------------------------------------------------------------------

Result<int64_t> KbStore::MetaInt(const std::string& key) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT value FROM meta WHERE key = ?"));
  s.Bind(1, key);
  ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return int64_t{0};
  const std::string v = s.ColumnText(0);
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') return DataLossError("meta value '" + key + "' is not a number");
  return static_cast<int64_t>(n);
}

Status KbStore::SetMetaInt(const std::string& key, int64_t value) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("INSERT INTO meta(key, value) VALUES (?, ?) "
                                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  s.Bind(1, key).Bind(2, std::to_string(value));
  return s.Run();
}

Status KbStore::InsertConflict(const ConflictRow& c) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("INSERT INTO conflicts(collection, doc_id, loser_hlc, loser_node, "
                               "loser_hash, loser_deleted, winner_hlc, winner_node, winner_hash, "
                               "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(1, c.collection)
      .Bind(2, c.doc_id)
      .Bind(3, ToStored(c.loser_hlc))
      .Bind(4, c.loser_node)
      .Bind(5, c.loser_hash)
      .Bind(6, c.loser_deleted ? 1 : 0)
      .Bind(7, ToStored(c.winner_hlc))
      .Bind(8, c.winner_node)
      .Bind(9, c.winner_hash)
      .Bind(10, c.recorded_at != 0 ? c.recorded_at : NowMillis());
  return s.Run();
}

Result<bool> KbStore::HasConflict(const std::string& collection, const std::string& doc_id,
                                  uint64_t loser_hlc, const std::string& loser_node) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT 1 FROM conflicts WHERE collection = ? AND "
                                            "doc_id = ? AND loser_hlc = ? AND loser_node = ? "
                                            "LIMIT 1"));
  s.Bind(1, collection).Bind(2, doc_id).Bind(3, ToStored(loser_hlc)).Bind(4, loser_node);
  return s.Step();
}

Result<std::vector<ConflictRow>> KbStore::ListConflicts(int64_t before_id, int limit) {
  if (limit <= 0) return InvalidArgumentError("list conflicts: limit must be positive");
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("SELECT id, collection, doc_id, loser_hlc, loser_node, loser_hash, "
                               "loser_deleted, winner_hlc, winner_node, winner_hash, recorded_at "
                               "FROM conflicts WHERE (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?"));
  s.Bind(1, before_id).Bind(2, before_id).Bind(3, limit);
  std::vector<ConflictRow> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    ConflictRow c;
    c.id = s.ColumnInt(0);
    c.collection = s.ColumnText(1);
    c.doc_id = s.ColumnText(2);
    c.loser_hlc = FromStored(s.ColumnInt(3));
    c.loser_node = s.ColumnText(4);
    c.loser_hash = s.ColumnText(5);
    c.loser_deleted = s.ColumnInt(6) != 0;
    c.winner_hlc = FromStored(s.ColumnInt(7));
    c.winner_node = s.ColumnText(8);
    c.winner_hash = s.ColumnText(9);
    c.recorded_at = s.ColumnInt(10);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::optional<CheckpointRow>> KbStore::GetCheckpoint(const std::string& replication_id) {
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT replication_id, peer, direction, last_seq, "
                                            "updated_at FROM sync_checkpoints "
                                            "WHERE replication_id = ?"));
  s.Bind(1, replication_id);
  ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return std::optional<CheckpointRow>();
  CheckpointRow c;
  c.replication_id = s.ColumnText(0);
  c.peer = s.ColumnText(1);
  c.direction = s.ColumnText(2);
  c.last_seq = s.ColumnInt(3);
  c.updated_at = s.ColumnInt(4);
  return std::optional<CheckpointRow>(std::move(c));
}

Status KbStore::PutCheckpoint(const CheckpointRow& c) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("INSERT INTO sync_checkpoints(replication_id, peer, direction, "
                               "last_seq, updated_at) VALUES (?, ?, ?, ?, ?) "
                               "ON CONFLICT(replication_id) DO UPDATE SET peer = excluded.peer, "
                               "direction = excluded.direction, last_seq = excluded.last_seq, "
                               "updated_at = excluded.updated_at"));
  s.Bind(1, c.replication_id)
      .Bind(2, c.peer)
      .Bind(3, c.direction)
      .Bind(4, c.last_seq)
      .Bind(5, c.updated_at != 0 ? c.updated_at : NowMillis());
  return s.Run();
}

Result<PurgeResult> KbStore::PurgeTombstones(uint64_t below_hlc) {
  // Tombstones carry no chunks, so removing the row removes everything of the document. Its
  // change rows go too (all of them: the tombstone was the latest version).
  PurgeResult r;
  ASSIGN_OR_RETURN(Statement stats,
                   db_.Prepare("SELECT COUNT(*), MAX(d.version), "
                               "(SELECT MAX(ch.seq) FROM changes ch JOIN documents d2 "
                               "   ON ch.doc_id = d2.doc_id JOIN collections c2 "
                               "   ON c2.id = d2.collection_id AND ch.collection = c2.name "
                               "  WHERE d2.deleted = 1 AND d2.version >= 0 AND d2.version < ?1) "
                               "FROM documents d WHERE d.deleted = 1 AND d.version >= 0 "
                               "AND d.version < ?1"));
  stats.Bind(1, ToStored(below_hlc));
  ASSIGN_OR_RETURN(const bool row, stats.Step());
  if (!row || stats.ColumnInt(0) == 0) return r;
  r.documents = stats.ColumnInt(0);
  r.max_hlc = FromStored(stats.ColumnInt(1));
  r.max_seq = stats.ColumnIsNull(2) ? 0 : stats.ColumnInt(2);
  ASSIGN_OR_RETURN(Statement del_changes,
                   db_.Prepare("DELETE FROM changes WHERE (collection, doc_id) IN ("
                               "SELECT c.name, d.doc_id FROM documents d JOIN collections c "
                               "ON c.id = d.collection_id WHERE d.deleted = 1 AND d.version >= 0 "
                               "AND d.version < ?)"));
  del_changes.Bind(1, ToStored(below_hlc));
  RETURN_IF_ERROR(del_changes.Run());
  ASSIGN_OR_RETURN(Statement del_docs, db_.Prepare("DELETE FROM documents WHERE deleted = 1 AND "
                                                   "version >= 0 AND version < ?"));
  del_docs.Bind(1, ToStored(below_hlc));
  RETURN_IF_ERROR(del_docs.Run());
  return r;
}

Result<std::vector<DocumentRow>> KbStore::VersionsAtOrBelow(int64_t collection_id, uint64_t max_hlc,
                                                            const std::string& after_doc_id,
                                                            int limit) {
  if (limit <= 0) return InvalidArgumentError("versions at or below: limit must be positive");
  // Walks the UNIQUE(collection_id, doc_id) index in order. HLCs are below 2^63, so the stored
  // (bit-cast) values compare like the unsigned ones once negatives are excluded.
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kDocumentColumns +
                                            " FROM documents WHERE collection_id = ? "
                                            "AND doc_id > ? AND version >= 0 AND version <= ? "
                                            "ORDER BY doc_id LIMIT ?"));
  s.Bind(1, collection_id).Bind(2, after_doc_id).Bind(3, ToStored(max_hlc)).Bind(4, limit);
  return ReadDocuments(s);
}

Result<int64_t> KbStore::RemoveDocument(int64_t document_row_id, const std::string& collection,
                                        const std::string& doc_id) {
  ASSIGN_OR_RETURN(Statement max_seq, db_.Prepare("SELECT COALESCE(MAX(seq), 0) FROM changes "
                                                  "WHERE collection = ? AND doc_id = ?"));
  max_seq.Bind(1, collection).Bind(2, doc_id);
  ASSIGN_OR_RETURN(const bool row, max_seq.Step());
  const int64_t seq = row ? max_seq.ColumnInt(0) : 0;
  ASSIGN_OR_RETURN(Statement del_changes,
                   db_.Prepare("DELETE FROM changes WHERE collection = ? AND doc_id = ?"));
  del_changes.Bind(1, collection).Bind(2, doc_id);
  RETURN_IF_ERROR(del_changes.Run());
  ASSIGN_OR_RETURN(Statement del_doc, db_.Prepare("DELETE FROM documents WHERE id = ?"));
  del_doc.Bind(1, document_row_id);
  RETURN_IF_ERROR(del_doc.Run());
  return seq;
}

Status KbStore::ForEachVersion(
    const std::function<void(const std::string&, const DocumentRow&)>& fn) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("SELECT c.name, d.doc_id, d.version, d.origin_node, d.deleted, "
                               "d.content_hash FROM documents d JOIN collections c "
                               "ON c.id = d.collection_id ORDER BY c.name, d.doc_id"));
  DocumentRow d;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return Status::Ok();
    d.doc_id = s.ColumnText(1);
    d.version = FromStored(s.ColumnInt(2));
    d.origin_node = s.ColumnText(3);
    d.deleted = s.ColumnInt(4) != 0;
    d.content_hash = s.ColumnText(5);
    fn(s.ColumnText(0), d);
  }
}

// ---- vectors ----------------------------------------------------------------------------

namespace {

Status VisitVectors(Statement& s, const std::function<Status(int64_t, std::span<const float>)>& fn) {
  std::vector<float> buf;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return Status::Ok();
    const int64_t id = s.ColumnInt(0);
    const std::string_view blob = s.ColumnBlob(1);
    if (blob.size() % sizeof(float) != 0 || blob.empty()) {
      return DataLossError("vector of chunk " + std::to_string(id) + " has " +
                           std::to_string(blob.size()) +
                           " bytes, not a whole number of floats; run `deepkb index rebuild`");
    }
    buf.resize(blob.size() / sizeof(float));
    std::memcpy(buf.data(), blob.data(), blob.size());
    RETURN_IF_ERROR(fn(id, std::span<const float>(buf)));
  }
}

}  // namespace

Status KbStore::PutChunkVectors(const std::vector<int64_t>& chunk_ids,
                                const std::vector<std::vector<float>>& vectors) {
  if (chunk_ids.size() != vectors.size()) {
    return InvalidArgumentError("PutChunkVectors: " + std::to_string(chunk_ids.size()) +
                                " ids but " + std::to_string(vectors.size()) + " vectors");
  }
  ASSIGN_OR_RETURN(Statement ins, db_.Prepare("INSERT OR REPLACE INTO chunk_vectors(chunk_id, "
                                              "vector) VALUES (?, ?)"));
  for (size_t i = 0; i < chunk_ids.size(); ++i) {
    ins.Reset();
    ins.Bind(1, chunk_ids[i]);
    ins.BindBlob(2, std::string_view(reinterpret_cast<const char*>(vectors[i].data()),
                                     vectors[i].size() * sizeof(float)));
    RETURN_IF_ERROR(ins.Run());
  }
  return Status::Ok();
}

Status KbStore::ForEachVector(int64_t collection_id,
                              const std::function<Status(int64_t, std::span<const float>)>& fn) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("SELECT v.chunk_id, v.vector FROM chunk_vectors v "
                               "JOIN chunks c ON c.id = v.chunk_id "
                               "JOIN documents d ON d.id = c.document_id "
                               "WHERE d.collection_id = ? AND d.deleted = 0 ORDER BY v.chunk_id"));
  s.Bind(1, collection_id);
  return VisitVectors(s, fn);
}

Status KbStore::VectorsByIds(const std::vector<int64_t>& chunk_ids,
                             const std::function<Status(int64_t, std::span<const float>)>& fn) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("SELECT chunk_id, vector FROM chunk_vectors WHERE chunk_id = ?"));
  for (const int64_t id : chunk_ids) {
    s.Reset();
    s.Bind(1, id);
    RETURN_IF_ERROR(VisitVectors(s, fn));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> KbStore::LiveChunkIds(int64_t collection_id,
                                                   const SqlFilter* filter) {
  std::string sql =
      "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
      "WHERE d.collection_id = ?1 AND d.deleted = 0";
  if (filter && !filter->empty()) sql += " AND " + NumberedWhere(*filter, 2);
  sql += " ORDER BY c.id";
  ASSIGN_OR_RETURN(Statement s, db_.Prepare(sql));
  s.Bind(1, collection_id);
  if (filter && !filter->empty()) BindFilter(s, 2, *filter);
  std::vector<int64_t> ids;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    ids.push_back(s.ColumnInt(0));
  }
  return ids;
}

Result<std::vector<std::pair<int64_t, std::string>>> KbStore::ChunksMissingVectors(
    int64_t collection_id, int limit) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("SELECT c.id, c.text FROM chunks c "
                               "JOIN documents d ON d.id = c.document_id "
                               "LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
                               "WHERE d.collection_id = ? AND d.deleted = 0 AND v.chunk_id IS NULL "
                               "ORDER BY c.id LIMIT ?"));
  s.Bind(1, collection_id).Bind(2, static_cast<int64_t>(limit));
  std::vector<std::pair<int64_t, std::string>> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    out.emplace_back(s.ColumnInt(0), s.ColumnText(1));
  }
  return out;
}

Status KbStore::SetCollectionEmbedder(int64_t collection_id, const std::string& embedder,
                                      int dim) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("UPDATE collections SET embedder = ?, dim = ? WHERE id = ?"));
  s.Bind(1, embedder).Bind(2, dim).Bind(3, collection_id);
  RETURN_IF_ERROR(s.Run());
  if (db_.Changes() == 0) return NotFoundError("collection id " + std::to_string(collection_id));
  return Status::Ok();
}

Status KbStore::DeleteCollectionVectors(int64_t collection_id) {
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("DELETE FROM chunk_vectors WHERE chunk_id IN (SELECT c.id FROM "
                               "chunks c JOIN documents d ON d.id = c.document_id "
                               "WHERE d.collection_id = ?)"));
  s.Bind(1, collection_id);
  return s.Run();
}

}  // namespace deepkb::storage
