// Schema of the KB database and its forward migrations.
//
// On-disk format (schema v1). All timestamps are unix milliseconds. HLC values (documents.version,
// changes.hlc) are uint64 stored bit-cast as SQLite's signed INTEGER; KbStore does the cast.
//
//   schema_version(id = 1, version)   exactly one row: the number of migrations applied
//   meta(key, value)                  node_id (created by KbStore::NodeId), created_at, ...
//   collections(id, name UNIQUE, embedder, dim, chunk_tokens, chunk_overlap, created_at)
//   documents(id, collection_id → collections ON DELETE CASCADE, doc_id, version, origin_node,
//             content_hash, title, source, mime, metadata, size_bytes, chunk_count, deleted,
//             created_at, updated_at; UNIQUE(collection_id, doc_id))
//   chunks(id, document_id → documents ON DELETE CASCADE, ordinal, text, char_start, char_end,
//          page, heading_path, token_count; UNIQUE(document_id, ordinal))
//   changes(seq AUTOINCREMENT, collection, doc_id, hlc, node_id, deleted, content_hash,
//           created_at)
//
// Schema v2 adds:
//   api_keys(id PRIMARY KEY, mac = hex HMAC-SHA256 of the key's secret under meta.api_key_secret,
//            role, collections JSON array, created_at, expires_at (0 = never), revoked)
//
// Schema v3 adds:
//   chunk_vectors(chunk_id → chunks ON DELETE CASCADE, vector = dim float32 little-endian)
//   written in the same transaction as the chunk, so the vector index can always be rebuilt.
//
// Schema v4 adds:
//   audit_log(id AUTOINCREMENT, time unix ms, key_id, client, action, resource, result, detail,
//             request_id) — security events (auth/audit.h). Append-only: triggers abort every
//             UPDATE and DELETE, so even code holding a connection cannot rewrite history.
//
// Schema v5 adds (sync, docs/sync.md):
//   conflicts(id AUTOINCREMENT, collection, doc_id, loser_hlc, loser_node, loser_hash,
//             loser_deleted, winner_hlc, winner_node, winner_hash, recorded_at) — versions that
//             lost last-writer-wins against a version from another node
//   sync_checkpoints(replication_id PRIMARY KEY, peer, direction, last_seq, updated_at)
//   meta keys purged_through_seq (highest change seq removed by the tombstone purge) and
//             purged_hlc (highest HLC of a purged tombstone); absent = 0
//
// Ids of collections, documents and chunks are AUTOINCREMENT, so an id is never reused after a
// delete: the in-memory vector index, its snapshots and the per-collection full-text tables
// (fts_<collection id>) refer to these ids, and a reused id could resurrect stale entries.
//
// Other modules depend on these column names (index/fulltext creates views over
// `c.id, c.document_id, d.title, c.heading_path, c.text, d.collection_id, d.deleted`); renaming
// a column needs a migration and a change there.
//
// Adding a migration: append a script to kMigrations and bump kSchemaVersion in schema.h.
// Never edit a script that has shipped.
#include "storage/schema.h"

#include <array>
#include <string>
#include <string_view>

namespace deepkb::storage {
namespace {

constexpr std::string_view kV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE collections (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT NOT NULL UNIQUE,
  embedder      TEXT NOT NULL,
  dim           INTEGER NOT NULL,
  chunk_tokens  INTEGER NOT NULL,
  chunk_overlap INTEGER NOT NULL,
  created_at    INTEGER NOT NULL
);

CREATE TABLE documents (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  doc_id        TEXT NOT NULL,
  version       INTEGER NOT NULL,
  origin_node   TEXT NOT NULL DEFAULT '',
  content_hash  TEXT NOT NULL DEFAULT '',
  title         TEXT NOT NULL DEFAULT '',
  source        TEXT NOT NULL DEFAULT '',
  mime          TEXT NOT NULL DEFAULT '',
  metadata      TEXT NOT NULL DEFAULT '{}',
  size_bytes    INTEGER NOT NULL DEFAULT 0,
  chunk_count   INTEGER NOT NULL DEFAULT 0,
  deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  UNIQUE (collection_id, doc_id)
);

CREATE TABLE chunks (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal      INTEGER NOT NULL,
  text         TEXT NOT NULL,
  char_start   INTEGER NOT NULL DEFAULT 0,
  char_end     INTEGER NOT NULL DEFAULT 0,
  page         INTEGER NOT NULL DEFAULT 0,
  heading_path TEXT NOT NULL DEFAULT '',
  token_count  INTEGER NOT NULL DEFAULT 0
);
-- Serves GetChunks (ordered by ordinal) and the ON DELETE CASCADE lookup from documents.
CREATE UNIQUE INDEX chunks_document_ordinal ON chunks(document_id, ordinal);

CREATE TABLE changes (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  collection   TEXT NOT NULL,
  doc_id       TEXT NOT NULL,
  hlc          INTEGER NOT NULL,
  node_id      TEXT NOT NULL,
  deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  content_hash TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL
);
-- History of one document (sync and conflict resolution look changes up by document).
CREATE INDEX changes_document ON changes(collection, doc_id, seq);

INSERT INTO meta(key, value)
  VALUES ('created_at', CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
)sql";

constexpr std::string_view kV2 = R"sql(
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY NOT NULL,
  mac         TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'writer', 'reader', 'guest')),
  collections TEXT NOT NULL DEFAULT '[]',
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL DEFAULT 0,
  revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) WITHOUT ROWID;
)sql";

constexpr std::string_view kV3 = R"sql(
CREATE TABLE chunk_vectors (
  chunk_id INTEGER PRIMARY KEY NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
  vector   BLOB NOT NULL
);
-- Collections from schema v1/v2 used the default embedder without vectors; record its
-- dimension so the vector index can be built (the missing vectors are embedded at start-up).
UPDATE collections SET dim = 256 WHERE dim = 0 AND embedder = 'ngram-hash';
)sql";

constexpr std::string_view kV4 = R"sql(
CREATE TABLE audit_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  time       INTEGER NOT NULL,
  key_id     TEXT NOT NULL DEFAULT '',
  client     TEXT NOT NULL DEFAULT '',
  action     TEXT NOT NULL,
  resource   TEXT NOT NULL DEFAULT '',
  result     TEXT NOT NULL,
  detail     TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT ''
);
-- GET /v1/audit?action=... pages newest first within one action.
CREATE INDEX audit_log_action ON audit_log(action, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
)sql";

constexpr std::string_view kV5 = R"sql(
CREATE TABLE conflicts (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  collection    TEXT NOT NULL,
  doc_id        TEXT NOT NULL,
  loser_hlc     INTEGER NOT NULL,
  loser_node    TEXT NOT NULL,
  loser_hash    TEXT NOT NULL DEFAULT '',
  loser_deleted INTEGER NOT NULL DEFAULT 0 CHECK (loser_deleted IN (0, 1)),
  winner_hlc    INTEGER NOT NULL,
  winner_node   TEXT NOT NULL,
  winner_hash   TEXT NOT NULL DEFAULT '',
  recorded_at   INTEGER NOT NULL
);
-- A replayed losing change is recognised by this lookup (and not recorded twice).
CREATE INDEX conflicts_loser ON conflicts(collection, doc_id, loser_hlc, loser_node);
CREATE TABLE sync_checkpoints (
  replication_id TEXT PRIMARY KEY NOT NULL,
  peer           TEXT NOT NULL DEFAULT '',
  direction      TEXT NOT NULL DEFAULT '',
  last_seq       INTEGER NOT NULL DEFAULT 0,
  updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// kMigrations[i] brings the schema from version i to version i + 1.
constexpr std::array<std::string_view, 5> kMigrations = {kV1, kV2, kV3, kV4, kV5};
static_assert(kMigrations.size() == kSchemaVersion,
              "every schema version needs exactly one migration script");

// True when the database holds tables of its own but no schema_version: some other
// application's file, which migrating would damage.
Result<bool> HasForeignTables(Database& db) {
  ASSIGN_OR_RETURN(const int64_t n,
                   db.QueryInt("SELECT count(*) FROM sqlite_master "
                               "WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"));
  return n > 0;
}

Status RefuseNewer(int found) {
  return FailedPreconditionError(
      "database schema version " + std::to_string(found) + " is newer than this deepkb supports (" +
      std::to_string(kSchemaVersion) + "); it was written by a newer deepkb — upgrade deepkb");
}

}  // namespace

Result<int> SchemaVersion(Database& db) {
  ASSIGN_OR_RETURN(const int64_t has_table,
                   db.QueryInt("SELECT count(*) FROM sqlite_master "
                               "WHERE type = 'table' AND name = 'schema_version'"));
  if (has_table == 0) return 0;
  ASSIGN_OR_RETURN(Statement stmt, db.Prepare("SELECT version FROM schema_version WHERE id = 1"));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) {
    // The table and its row are written in the same transaction, so this is damage.
    return DataLossError("schema_version table is empty; the database is damaged");
  }
  return static_cast<int>(stmt.ColumnInt(0));
}

Status Migrate(Database& db) { return MigrateTo(db, kSchemaVersion); }

Status MigrateTo(Database& db, int version) {
  if (version < 1 || version > kSchemaVersion) {
    return InvalidArgumentError("no schema version " + std::to_string(version));
  }
  ASSIGN_OR_RETURN(const int start, SchemaVersion(db));
  if (start > kSchemaVersion) return RefuseNewer(start);
  if (start >= version) return Status();  // common case: no write, works read-only too

  for (int target = start + 1; target <= version; ++target) {
    Transaction tx(db);
    RETURN_IF_ERROR(tx.Begin());
    // Re-read under the write lock: another process may have migrated in the meantime.
    ASSIGN_OR_RETURN(const int current, SchemaVersion(db));
    if (current > kSchemaVersion) return RefuseNewer(current);
    if (current >= target) continue;  // already applied; tx rolls back (nothing written)
    if (current == 0) {
      ASSIGN_OR_RETURN(const bool foreign, HasForeignTables(db));
      if (foreign) {
        return FailedPreconditionError(
            "the database file holds tables but no deepkb schema; it was not created by deepkb "
            "(point deepkb at an empty data directory)");
      }
    }
    RETURN_IF_ERROR(
        db.Exec("CREATE TABLE IF NOT EXISTS schema_version ("
                "id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"));
    Status st = db.Exec(kMigrations[static_cast<size_t>(target - 1)]);
    if (!st.ok()) return st.WithContext("schema migration to version " + std::to_string(target));
    ASSIGN_OR_RETURN(Statement set,
                     db.Prepare("INSERT INTO schema_version(id, version) VALUES (1, ?) "
                                "ON CONFLICT(id) DO UPDATE SET version = excluded.version"));
    set.Bind(1, target);
    RETURN_IF_ERROR(set.Run());
    RETURN_IF_ERROR(tx.Commit());
  }
  return Status();
}

}  // namespace deepkb::storage
