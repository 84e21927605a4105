// KbStore: typed access to the KB tables (collections, documents, chunks, change log, meta).
//
// It does not open transactions by itself except where a method says so; the KB service
// (kb/) groups calls into one Transaction so that a document, its chunks, its full-text rows
// and its change-log entry commit together or not at all.
//
// Thread safety: like Database, one thread at a time. Ownership: borrows the Database, which
// must outlive the store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/sql_filter.h"
#include "storage/sqlite.h"

namespace deepkb::storage {

struct CollectionRow {
  int64_t id = 0;
  std::string name;
  std::string embedder = "ngram-hash";
  int dim = 0;
  int chunk_tokens = 512;
  int chunk_overlap = 64;
  int64_t created_at = 0;  // unix ms
  // Filled by ListCollections/GetCollection: live (non-tombstoned) documents and their chunks.
  int64_t documents = 0;
  int64_t chunks = 0;
};

struct DocumentRow {
  int64_t id = 0;  // row id
  int64_t collection_id = 0;
  std::string doc_id;
  uint64_t version = 0;  // HLC of the last write (create, update or delete)
  std::string origin_node;
  std::string content_hash;  // SHA-256 hex of the original bytes ("" for tombstones)
  std::string title;
  std::string source;  // where it came from: a path or a name given by the client
  std::string mime;
  std::string metadata_json = "{}";
  int64_t size_bytes = 0;
  int64_t chunk_count = 0;
  bool deleted = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct ChunkRow {
  int64_t id = 0;
  int64_t document_id = 0;
  int ordinal = 0;
  std::string text;
  int64_t char_start = 0;  // code point offsets into the document's extracted text
  int64_t char_end = 0;
  int page = 0;  // 1-based; 0 when the format has no pages
  std::string heading_path;  // "Chapter 1 > Section 2" ("" when none)
  int token_count = 0;
};

struct ChangeRow {
  int64_t seq = 0;
  std::string collection;
  std::string doc_id;
  uint64_t hlc = 0;
  std::string node_id;
  bool deleted = false;
  std::string content_hash;
  int64_t created_at = 0;
};

// A version that lost last-writer-wins against a version from another node (schema v5).
struct ConflictRow {
  int64_t id = 0;
  std::string collection;
  std::string doc_id;
  uint64_t loser_hlc = 0;
  std::string loser_node;
  std::string loser_hash;
  bool loser_deleted = false;
  uint64_t winner_hlc = 0;
  std::string winner_node;
  std::string winner_hash;
  int64_t recorded_at = 0;  // unix ms
};

// How far one replication (one peer, one direction) has got in its source's change feed.
struct CheckpointRow {
  std::string replication_id;
  std::string peer;
  std::string direction;
  int64_t last_seq = 0;
  int64_t updated_at = 0;  // unix ms
};

struct PurgeResult {
  int64_t documents = 0;       // tombstones removed
  int64_t max_seq = 0;         // highest change seq removed (0: none)
  uint64_t max_hlc = 0;        // highest tombstone HLC removed (0: none)
};

class KbStore {
 public:
  explicit KbStore(Database& db) : db_(db) {}

  // Node identity (random, created on first call and stored in meta).
  Result<std::string> NodeId();
  // Highest HLC stored anywhere (documents/changes), so the clock can resume above it.
  Result<uint64_t> MaxHlc();

  // AlreadyExists if the name is taken. Returns the row with its id.
  Result<CollectionRow> InsertCollection(const CollectionRow& c);
  Result<CollectionRow> GetCollection(const std::string& name);  // NotFound
  // Like GetCollection without the document/chunk counts (left 0): a primary-key lookup, for
  // the write and search paths (the counts cost a scan of the collection's documents).
  Result<CollectionRow> FindCollection(const std::string& name);
  Result<std::vector<CollectionRow>> ListCollections();
  // Removes the collection row and (cascade) its documents and chunks.
  Status DeleteCollection(int64_t collection_id);

  // NotFound when absent. Tombstones are returned (deleted=true).
  Result<DocumentRow> GetDocument(int64_t collection_id, const std::string& doc_id);
  // Live documents ordered by doc_id, starting after `after_doc_id` ("" = from the start).
  Result<std::vector<DocumentRow>> ListDocuments(int64_t collection_id,
                                                 const std::string& after_doc_id, int limit);
  // Inserts or updates by (collection_id, doc_id); returns the row id.
  Result<int64_t> UpsertDocument(const DocumentRow& d);
  // Documents by row id (tombstones included), each distinct existing id once, in the order of
  // its first occurrence in `row_ids`; ids that do not exist are skipped.
  Result<std::vector<DocumentRow>> GetDocumentsByRowIds(const std::vector<int64_t>& row_ids);

  // Chunks of a document ordered by ordinal.
  Result<std::vector<ChunkRow>> GetChunks(int64_t document_row_id);
  // Chunks in the order of `chunk_ids`; ids that do not exist are skipped.
  Result<std::vector<ChunkRow>> GetChunksByIds(const std::vector<int64_t>& chunk_ids);
  // DeleteChunks and InsertChunks are atomic on their own (a savepoint, which nests inside the
  // caller's Transaction) and keep documents.chunk_count equal to the number of chunk rows.
  Status DeleteChunks(int64_t document_row_id);
  // Inserts chunks for a document (ids are assigned and written back). AlreadyExists when an
  // ordinal is already taken for this document; FailedPrecondition when the document is absent.
  Status InsertChunks(int64_t document_row_id, std::vector<ChunkRow>& chunks);

  // ---- vectors (schema v3) ----
  // Stores one float32 vector per chunk id (replacing existing ones).
  Status PutChunkVectors(const std::vector<int64_t>& chunk_ids,
                         const std::vector<std::vector<float>>& vectors);
  // Visits (chunk id, vector) of every live chunk of a collection that has a vector, in id
  // order. Vectors whose byte length is not a multiple of 4 are reported as DataLoss.
  Status ForEachVector(int64_t collection_id,
                       const std::function<Status(int64_t, std::span<const float>)>& fn);
  // Vectors of the given chunk ids that have one, in no particular order.
  Status VectorsByIds(const std::vector<int64_t>& chunk_ids,
                      const std::function<Status(int64_t, std::span<const float>)>& fn);
  // Ids of live chunks of a collection (sorted); with `filter`, only chunks of documents that
  // match it (filter->where over `documents d`).
  Result<std::vector<int64_t>> LiveChunkIds(int64_t collection_id,
                                            const SqlFilter* filter = nullptr);
  // Live chunks of a collection without a vector: (id, text), sorted by id.
  Result<std::vector<std::pair<int64_t, std::string>>> ChunksMissingVectors(int64_t collection_id,
                                                                            int limit);
  Status SetCollectionEmbedder(int64_t collection_id, const std::string& embedder, int dim);
  Status DeleteCollectionVectors(int64_t collection_id);

  // Appends to the change feed; returns the new seq.
  Result<int64_t> AppendChange(const ChangeRow& c);
  Result<std::vector<ChangeRow>> ChangesSince(int64_t seq, int limit);
  Result<int64_t> LastChangeSeq();
  // Changes after `seq` (ordered by seq, at most `limit`) of the named collections (empty = all),
  // leaving out those stamped by `exclude_node` ("" = none).
  Result<std::vector<ChangeRow>> ChangesSince(int64_t seq, int limit,
                                              const std::vector<std::string>& collections,
                                              const std::string& exclude_node);
  // True when the change feed holds (collection, doc_id, hlc, node_id).
  Result<bool> HasChange(const std::string& collection, const std::string& doc_id, uint64_t hlc,
                         const std::string& node_id);

  // ---- sync (schema v5) ----
  // Integer meta value (0 when absent) and its setter.
  Result<int64_t> MetaInt(const std::string& key);
  Status SetMetaInt(const std::string& key, int64_t value);
  Status InsertConflict(const ConflictRow& c);
  Result<bool> HasConflict(const std::string& collection, const std::string& doc_id,
                           uint64_t loser_hlc, const std::string& loser_node);
  // Newest first, ids below `before_id` (0 = from the newest).
  Result<std::vector<ConflictRow>> ListConflicts(int64_t before_id, int limit);
  Result<std::optional<CheckpointRow>> GetCheckpoint(const std::string& replication_id);
  Status PutCheckpoint(const CheckpointRow& c);
  // Deletes tombstoned documents whose version is below `below_hlc`, with every change row of
  // those documents. Call inside a Transaction.
  Result<PurgeResult> PurgeTombstones(uint64_t below_hlc);
  // Document rows of a collection (tombstones included) whose version is at most `max_hlc`,
  // ordered by doc_id, starting after `after_doc_id` ("" = from the start), at most `limit`.
  Result<std::vector<DocumentRow>> VersionsAtOrBelow(int64_t collection_id, uint64_t max_hlc,
                                                     const std::string& after_doc_id, int limit);
  // Removes a document without leaving a tombstone: its row (and, cascading, any chunks and
  // vectors left) and every change row of (collection, doc_id). Returns the highest change seq
  // removed (0: none). The caller unindexes the full-text rows first. Call inside a Transaction.
  Result<int64_t> RemoveDocument(int64_t document_row_id, const std::string& collection,
                                 const std::string& doc_id);
  // Visits (collection name, doc_id, version, origin_node, deleted, content_hash) of every
  // document row (tombstones included) ordered by collection name then doc_id (bytewise).
  Status ForEachVersion(const std::function<void(const std::string&, const DocumentRow&)>& fn);

 private:
  Database& db_;
};

}  // namespace deepkb::storage
