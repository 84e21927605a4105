// KnowledgeBase: the KB service of one node — collections, document writes (parse → chunk →
// one SQLite transaction with document row, chunks, full-text rows and change-log entry),
// keyword search, reads and verification.
//
// Durability: a write method that returns OK has committed its transaction (WAL,
// synchronous=FULL); one that fails has changed nothing. Indexes are maintained in the same
// transaction, so they can never disagree with the documents they index.
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
#include <string>
#include <string_view>
#include <vector>

#include "common/hlc.h"
#include "common/status.h"
#include "crypto/aead.h"
#include "index/fulltext/fts_index.h"
#include "kb/keyword_set.h"
#include "kb/vectors.h"
#include "storage/kb_store.h"
#include "storage/sqlite.h"
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
  // transaction (document row, chunks, full-text rows, change log) to the vector index applied.
  std::function<void(std::string_view mode, double seconds)> on_search;
  std::function<void(double seconds)> on_index_update;
  // Encryption at rest: the directory's data key (crypto::UnlockDataDir), or null for an
  // unencrypted directory. With a key, kb.db (and its WAL and journal) is opened through the
  // encrypting SQLite VFS and index snapshots are written encrypted (crypto/encrypted_file.h).
  // Open() refuses an encrypted directory (one with a keyring) when no key is given.
  std::shared_ptr<const crypto::DataKey> data_key;
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

  // Rebuilds a collection's indexes from SQLite: the full-text index, and the vector index with
  // every live chunk re-embedded by `embedder_spec` (or the collection's current embedder when
  // empty). All vectors are computed first; then one transaction replaces the stored vectors and
  // records the embedder and dimension, so a failure (embedding server down) changes nothing.
  // `progress(done, total)` is called as chunks are embedded.
  Status RebuildIndexes(const std::string& collection, const std::string& embedder_spec,
                        const std::function<void(size_t, size_t)>& progress = nullptr);

  // Writes the vector index snapshots (also done by the destructor).
  Status SaveIndexes();

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
  std::mutex compact_mu_;
  std::thread compactor_;           // guarded by compact_mu_
  std::atomic<bool> compacting_{false};
};

}  // namespace deepkb::kb
