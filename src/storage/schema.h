// Schema versioning and forward migrations for the KB database.
//
// Migrations are an ordered list of SQL scripts; schema_version holds the number applied.
// Migrate() applies every newer script, each in its own transaction, and refuses (FailedPrecondition)
// to open a database whose version is newer than this binary knows (written by a newer deepkb).
//
// Schema v1 (outline; exact DDL in schema.cc):
//   meta(key PRIMARY KEY, value)            node_id, created_at, ...
//   collections(id, name UNIQUE, embedder, dim, chunk_tokens, chunk_overlap, created_at)
//   documents(id, collection_id, doc_id, version HLC, origin_node, content_hash, title, source,
//             mime, metadata JSON, size_bytes, chunk_count, deleted (tombstone), created_at,
//             updated_at, UNIQUE(collection_id, doc_id))
//   chunks(id, document_id, ordinal, text, char_start, char_end, page, heading_path, token_count)
//   changes(seq AUTOINCREMENT = the change feed, collection, doc_id, hlc, node_id, deleted,
//           content_hash, created_at)
// Schema v2: api_keys(id, mac, role, collections, created_at, expires_at, revoked).
// Schema v3: chunk_vectors(chunk_id, vector BLOB of float32).
// Schema v4: audit_log(id, time, key_id, client, action, resource, result, detail, request_id),
//            append-only (UPDATE/DELETE abort via triggers).
// Schema v5: conflicts (losing versions of last-writer-wins), sync_checkpoints(replication_id,
//            peer, direction, last_seq, updated_at); meta purged_through_seq / purged_hlc.
// Per-collection full-text tables (fts_<collection id>) are created by index/fulltext.
#pragma once

#include "common/status.h"
#include "storage/sqlite.h"

namespace deepkb::storage {

inline constexpr int kSchemaVersion = 5;

// Brings `db` to kSchemaVersion. Idempotent.
Status Migrate(Database& db);

// Applies migrations up to `version` only (tests of upgrades from older schemas).
Status MigrateTo(Database& db, int version);

// Version recorded in the database (0 for a new, empty file).
Result<int> SchemaVersion(Database& db);

}  // namespace deepkb::storage
