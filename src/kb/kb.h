// KnowledgeBase: the KB service of one node — collections, document writes (parse → chunk →
// one SQLite transaction with document row, chunks, full-text rows and change-log entry),
// keyword search, reads and verification.
//
// Durability: a write method that returns OK has committed its transaction (WAL,
// synchronous=FULL); one that fails has changed nothing. The full-text index and the stored
// vectors are maintained in the same transaction, so they can never disagree with the documents
// they index; the in-memory indexes (keyword accelerator, HNSW graphs) are derived from them and
// follow after the commit — the graphs through a background queue whose entries searches scan
// exactly (kb/vector_applier.h), so a write is searchable in every mode when it returns.
//
// Thread safety: all methods may be called from any thread. Parsing and chunking run without
// locks (in the caller's thread); database access is serialised by an internal mutex around
// the single connection. (A reader pool comes with the HTTP server.)
//
// Ownership: Open() returns the only owner. The data directory lock (DirLock) must be held by
// the caller for as long as the KnowledgeBase lives.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <atomic>
#include <mutex>
#include <thread>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/hlc.h"
#include "common/status.h"
#include "crypto/aead.h"
#include "index/fulltext/fts_index.h"
#include "kb/keyword_set.h"
#include "kb/vector_applier.h"
#include "kb/vectors.h"
#include "storage/kb_store.h"
#include "storage/sqlite.h"
#include "storage/wal_checkpointer.h"
#include "text/chunker.h"
#include "text/document.h"

namespace deepkb::kb {

using storage::ChunkRow;
using storage::CollectionRow;
using storage::DocumentRow;

struct KbOptions {
  text::ParseOptions parse;  // max file size etc.
  VectorOptions vectors;     // HNSW parameters, embedder timeouts
  // Observers for metrics (optional). Called on the calling thread after the operation,
  // possibly while the KB holds its internal lock: they must be cheap, thread-safe and must not
  // call back into the KnowledgeBase. on_search: each successful Search, with
  // the mode actually used ("keyword", "vector", "hybrid") and its wall time. on_index_update:
  // each document write or delete that changed something, with the time from the start of its
  // transaction (document row, chunks, full-text rows, change log) until it is searchable in
  // every mode (its vector changes queued for the graph, see vector_queue).
  std::function<void(std::string_view mode, double seconds)> on_search;
  std::function<void(double seconds)> on_index_update;
  // Encryption at rest: the directory's data key (crypto::UnlockDataDir), or null for an
  // unencrypted directory. With a key, kb.db (and its WAL and journal) is opened through the
  // encrypting SQLite VFS and index snapshots are written encrypted (crypto/encrypted_file.h).
  // Open() refuses an encrypted directory (one with a keyring) when no key is given.
  std::shared_ptr<const crypto::DataKey> data_key;
  // The node's hybrid logical clock: wall clock (null = the system clock; tests inject skew)
  // and how far ahead of it a received timestamp may be before ApplyChanges rejects it.
  HybridClock::WallFn clock_wall;
  uint64_t max_clock_skew_ms = 60'000;
  // Chunks per step of an online index rebuild (RebuildIndexes): the KB lock is held for about
  // the time FTS5 takes to index this many chunks.
  int rebuild_page_chunks = 128;
  // Vector graph updates are applied by a background thread (kb/vector_applier.h); a write
  // returns once committed and visible to every search mode. At most this many vector changes
  // wait (writers block beyond it; searches scan the waiting ones exactly). 0: each write
  // inserts into the graph itself before it returns (slower writes; for comparisons).
  size_t vector_queue = 8192;
  // WAL checkpoints run on a second connection and thread (storage/wal_checkpointer.h) instead
  // of inside the commit that crosses SQLite's 1,000-page threshold. false: SQLite's default.
  bool background_checkpoints = true;
};

struct CreateCollectionRequest {
  std::string name;
  std::string embedder = "ngram-hash";
  int chunk_tokens = 512;
  int chunk_overlap = 64;
};

struct PutDocumentRequest {
  std::string collection;
  std::string doc_id;
  std::string bytes;              // raw file bytes (or UTF-8 text for JSON uploads)
  text::Format format = text::Format::kUnknown;  // kUnknown: detect from file_name + bytes
  std::string file_name;          // used for format detection
  std::string title;              // overrides the parsed title when non-empty
  std::string source;             // path or client-given origin
  std::string metadata_json = "{}";  // must be a JSON object
};

struct PutResult {
  enum class Outcome { kCreated, kUpdated, kUnchanged };
  std::string doc_id;
  uint64_t version = 0;
  int64_t chunks = 0;
  Outcome outcome = Outcome::kCreated;
};
std::string_view OutcomeName(PutResult::Outcome o);  // "created", "updated", "unchanged"

struct SearchRequest {
  std::string collection;
  std::string query;
  // keyword: BM25 only; vector: embedding similarity only; hybrid: both in parallel, fused;
  // auto (default): keyword for lookups (identifiers, codes, quoted text, single terms) and for
  // every query on collections whose embedder carries no meaning (ngram-hash), else hybrid.
  // Measured in bench/quality/README.md.
  std::string mode = "auto";
  int top_k = 10;
  std::string filter_json;  // "" = none; see kb/filter.h for the language
  // Fusion (hybrid): "rrf" (score = sum of 1/(rrf_k + rank)) or "weighted" (min-max normalised
  // scores of each path, weighted sum).
  std::string fusion = "rrf";
  int rrf_k = 60;
  double keyword_weight = 0.5;
  double vector_weight = 0.5;
  int ef = 0;  // HNSW beam width; 0 = the node's default
};

struct SearchHit {
  std::string doc_id;
  int64_t chunk_id = 0;
  double score = 0;
  int keyword_rank = 0;  // 1-based rank in the keyword path (0 = not found by it)
  int vector_rank = 0;   // 1-based rank in the vector path (0 = not found by it)
  std::string text;
  std::string highlight;
  std::string title;
  std::string source;
  int page = 0;
  std::string heading_path;
  std::string metadata_json = "{}";
};

struct SearchResponse {
  std::vector<SearchHit> hits;
  double took_ms = 0;
  std::string mode;  // the mode actually used (auto resolves to keyword or hybrid)
};

// The mode `auto` picks: "keyword" or "hybrid". `semantic_embedder` is false for ngram-hash,
// whose vectors match spelling, not meaning: fused with BM25 they lowered nDCG@10 on the quality
// set (0.607 → 0.522), so auto stays with keywords there.
std::string AutoMode(std::string_view query, bool semantic_embedder = true);
// True for embedders whose vectors represent meaning (remote models), false for ngram-hash.
bool IsSemanticEmbedder(std::string_view spec);

// Validates a collection name: 1-64 letters (any script), digits, _ . -, starting with a letter
// or digit; no whitespace, punctuation or control characters.
Status ValidateCollectionName(const std::string& name);
// Validates a document id: 1-512 bytes of valid UTF-8 without control characters.
Status ValidateDocId(const std::string& doc_id);

// ---- sync (kb_sync.cc; protocol and rules in docs/sync.md) ----

// A live version's content as it crosses the wire: the document row's fields and its chunks;
// `vectors` (one per chunk, or none) were made by `embedder` with dimension `dim`.
struct SyncDocument {
  std::string title, source, mime;
  std::string metadata_json = "{}";
  int64_t size_bytes = 0;
  int64_t created_at = 0, updated_at = 0;
  std::vector<ChunkRow> chunks;  // ordinal, text, offsets, page, heading_path, token_count
  std::string embedder;
  int dim = 0;
  std::vector<std::vector<float>> vectors;
};

// One entry of the change feed: the version (hlc, node_id) of a document; `document` is set for
// live versions (deleted = false) and absent for tombstones.
struct SyncChange {
  int64_t seq = 0;  // in the source's feed (0 on input: unused by ApplyChanges)
  std::string collection;
  std::string doc_id;
  uint64_t hlc = 0;
  std::string node_id;
  bool deleted = false;
  std::string content_hash;  // "" for tombstones
  std::optional<SyncDocument> document;
};

struct ChangesQuery {
  int64_t after_seq = 0;
  int limit = 100;                       // change rows scanned, 1..1000
  std::vector<std::string> collections;  // empty = all
  std::string exclude_node;              // leave out versions stamped by this node ("" = none)
  bool full = false;                     // a full resync: allowed behind the tombstone horizon
};

struct ChangePage {
  std::vector<SyncChange> changes;  // the latest version per document among the rows scanned
  int64_t last_seq = 0;   // resume after this seq (every row up to it has been considered)
  int64_t update_seq = 0; // the feed's newest seq when the page was read
  bool more = false;      // rows after last_seq exist
};

enum class ApplyOutcome { kApplied, kIgnoredOlder, kIgnoredDuplicate, kConflictRecorded, kRejected };
// "applied", "ignored_older", "ignored_duplicate", "conflict_recorded", "rejected"
std::string_view ApplyOutcomeName(ApplyOutcome o);

struct ApplyResult {
  ApplyOutcome outcome = ApplyOutcome::kRejected;
  std::string reason;  // for kRejected (and a note for ignored ones)
  // kRejected only for now, e.g. a timestamp too far ahead of this node's clock: the same change
  // may apply once the clocks agree, so a replicator must not checkpoint past it.
  bool retry = false;
};

// What KnowledgeBase::PruneAbsentFromSource removed.
struct PruneResult {
  int64_t documents = 0;   // document rows removed (live documents and tombstones)
  int64_t tombstones = 0;  // of which tombstones
  std::vector<std::string> examples;  // "collection/doc_id" of the first 10
};

// The last-writer-wins order of versions: higher hlc, then higher node id, then higher content
// hash (a live version beats a tombstone's "" at equal hlc and node). Every node agrees.
bool LwwLess(uint64_t hlc_a, const std::string& node_a, const std::string& hash_a,
             uint64_t hlc_b, const std::string& node_b, const std::string& hash_b);

class KnowledgeBase {
 public:
  // Opens (creating if needed) <data_dir>/kb.db and migrates it.
  static Result<std::unique_ptr<KnowledgeBase>> Open(const std::string& data_dir,
                                                     const KbOptions& opts = {});

  Result<CollectionRow> CreateCollection(const CreateCollectionRequest& req);
  Result<std::vector<CollectionRow>> ListCollections();
  Result<CollectionRow> GetCollection(const std::string& name);
  // Deletes the collection with all its documents, chunks and index (one transaction).
  Status DeleteCollection(const std::string& name);

  // Parses, chunks and writes one document. Unchanged content (same hash, title, source and
  // metadata) is a no-op that returns kUnchanged. A re-created tombstone gets a new version.
  Result<PutResult> PutDocument(const PutDocumentRequest& req);
  // Tombstones a live document (NotFound if absent or already deleted).
  Result<uint64_t> DeleteDocument(const std::string& collection, const std::string& doc_id);

  Result<DocumentRow> GetDocument(const std::string& collection, const std::string& doc_id);
  Result<std::vector<ChunkRow>> GetDocumentChunks(const std::string& collection,
                                                  const std::string& doc_id);
  // Live documents ordered by id, after `cursor` (a doc id; "" for the first page).
  Result<std::vector<DocumentRow>> ListDocuments(const std::string& collection,
                                                 const std::string& cursor, int limit);

  Result<SearchResponse> Search(const SearchRequest& req);

  // Embeds `texts` with the collection's embedder (the vectors its index holds); `spec` receives
  // the embedder spec. NotFound for an unknown collection; embedder errors as embed/embedder.h.
  Result<std::vector<std::vector<float>>> EmbedTexts(const std::string& collection,
                                                     const std::vector<std::string>& texts,
                                                     std::string* spec = nullptr);

  // SQLite integrity_check plus FTS5 integrity-check of every collection, plus the vector index
  // against SQLite (every live chunk indexed, nothing else); DataLoss on failure.
  Status Verify();

  // Rebuilds a collection's indexes from SQLite, online (kb_rebuild.cc): the full-text index,
  // the keyword accelerator, and the vector index with every live chunk re-embedded by
  // `embedder_spec` (or the collection's current embedder when empty). The new indexes are
  // built aside while the old ones keep serving searches and writes continue (the KB lock is
  // taken per page of KbOptions::rebuild_page_chunks); then one short transaction swaps them in
  // (FTS5 table; stored vectors, embedder and dimension when the embedder changes) and the
  // in-memory indexes are replaced. A failure (embedding server down, collection deleted)
  // leaves the old indexes serving; with the collection's own embedder, vectors already
  // re-embedded stay stored (they are equally valid). FailedPrecondition when a rebuild of the
  // collection is already running. `progress(done, total)` is called per page, unlocked.
  Status RebuildIndexes(const std::string& collection, const std::string& embedder_spec,
                        const std::function<void(size_t, size_t)>& progress = nullptr);

  // ---- sync (kb_sync.cc) ----
  // A page of the change feed after q.after_seq, with full payloads for live versions.
  // FailedPrecondition when q.after_seq is behind the tombstone horizon (unless q.full);
  // InvalidArgument for a bad limit.
  Result<ChangePage> ChangesSince(const ChangesQuery& q);
  // Applies remote versions with last-writer-wins, each change on its own result; rejected
  // changes (malformed, unknown collection, clock too far ahead) change nothing. Winning
  // versions are written with their original (hlc, node_id) and a change row, all in one
  // transaction, then the in-memory indexes follow. Idempotent. Errors: storage failures only
  // (then nothing of the batch was written).
  Result<std::vector<ApplyResult>> ApplyChanges(const std::vector<SyncChange>& changes);
  // Removes tombstones older than `horizon_ms` (by their HLC time) with their change rows and
  // advances purged_through_seq.
  Result<storage::PurgeResult> TombstonePurge(int64_t horizon_ms);
  // The last step of a complete full pull from a source whose tombstone horizon is
  // `source_purged_hlc` (docs/sync.md "Full resync and the horizon"). First adopts that horizon:
  // the clock observes it and purged_hlc becomes max(own, source's), so versions at or below it
  // are refused here from now on as they are on the source. Then removes from `collections`
  // every document row, live or tombstone, whose version's hlc is <= source_purged_hlc and for
  // which `in_feed(collection, doc_id)` is false (the source's full feed did not carry it: the
  // source has no row and would refuse that version). A removal leaves no tombstone and no
  // change row: the document row, its chunks, vectors, full-text and keyword entries, and its
  // change rows go, and purged_through_seq moves past the removed change rows (as
  // TombstonePurge does), so peers whose checkpoint is behind them resync in full. One
  // transaction per `batch` documents; the in-memory indexes follow each commit. Collections
  // this node lacks are skipped. Errors: FailedPrecondition when the horizon is more than the
  // allowed clock skew ahead of this node's clock (then nothing is adopted or removed);
  // InvalidArgument for batch < 1; storage errors (batches committed before stay removed;
  // running it again continues).
  Result<PruneResult> PruneAbsentFromSource(
      const std::vector<std::string>& collections, uint64_t source_purged_hlc,
      const std::function<bool(const std::string& collection, const std::string& doc_id)>& in_feed,
      int batch = 200);
  // SHA-256 hex over the sorted (collection, doc_id, hlc, node_id, deleted, content_hash) of
  // every document row, tombstones included, of the named collections (empty = all).
  Result<std::string> StateHash(const std::vector<std::string>& collections = {});
  Result<int64_t> UpdateSeq();
  Result<int64_t> PurgedThroughSeq();
  // The tombstone horizon: the highest HLC of a tombstone purged here or adopted from a source
  // by PruneAbsentFromSource (0 = none).
  Result<uint64_t> PurgedHlc();
  Result<std::optional<storage::CheckpointRow>> GetCheckpoint(const std::string& replication_id);
  Status PutCheckpoint(const storage::CheckpointRow& c);
  Result<std::vector<storage::ConflictRow>> ListConflicts(int64_t before_id, int limit);

  // Writes the vector index snapshots (also done by the destructor).
  Status SaveIndexes();

  // Blocks until every write committed before the call has reached the in-memory vector graphs.
  // Not needed for correctness (queued changes are already searchable, KbOptions::vector_queue);
  // benchmarks use it to time the whole index update, tests to inspect the graph.
  void WaitForVectorIndex() { applier_.WaitIdle(); }
  // Vector changes committed but not yet in the graphs.
  size_t VectorQueueLength() const { return applier_.pending(); }
  // Tests: stops (true) or resumes the background application of vector changes.
  void PauseVectorApplierForTesting(bool paused) { applier_.PauseForTesting(paused); }

  ~KnowledgeBase();

  const std::string& node_id() const { return node_id_; }
  const std::string& data_dir() const { return data_dir_; }
  // The data key when the directory is encrypted, else null. Files written beside the database
  // (index snapshots) go through crypto::WriteFileAtomic/ReadFile with this key.
  const crypto::DataKey* data_key() const { return opts_.data_key.get(); }

 private:
  KnowledgeBase(std::string data_dir, KbOptions opts, std::unique_ptr<storage::Database> db);
  // GetCollection without counts (cheap): used by every write and search.
  Result<CollectionRow> FindCollection(const std::string& name);
  // Drops the build-aside tables of rebuilds that did not finish (kb_rebuild.cc). At Open.
  Status DropRebuildLeftovers();
  struct RemoteWrite;  // kb_sync.cc
  // Classifies `w` against the stored version and, when it wins, writes it. mu_ held, inside
  // a transaction.
  Status ApplyOneLocked(RemoteWrite& w);

  std::string data_dir_;
  KbOptions opts_;
  std::string node_id_;
  HybridClock clock_;
  std::mutex mu_;                           // serialises all access to db_/store_/fts_
  std::unique_ptr<storage::Database> db_;   // guarded by mu_
  storage::KbStore store_;                  // guarded by mu_
  fulltext::FtsIndex fts_;                  // guarded by mu_
  VectorSet vectors_;                       // thread-safe; its SQLite work runs under mu_
  KeywordSet keywords_;                     // thread-safe; its SQLite work runs under mu_

  // Background compaction of vector indexes whose tombstones passed the threshold: at most one
  // at a time, joined by the destructor. Searches and writes continue during Compact().
  void MaybeCompact(int64_t collection_id, const std::shared_ptr<VectorCollection>& vc);
  std::set<int64_t> rebuilding_;  // collections with a RebuildIndexes running; guarded by mu_
  std::mutex compact_mu_;
  std::thread compactor_;           // guarded by compact_mu_
  std::atomic<bool> compacting_{false};
  // Applies committed vector changes to the graphs off the write path (after the members its
  // callback uses; the destructor stops it first).
  VectorApplier applier_;
  // Checkpoints the WAL off the write path; declared after db_, so it stops before db_ closes.
  storage::WalCheckpointer checkpointer_;
};

}  // namespace deepkb::kb
