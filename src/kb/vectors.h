// Per-collection vector state of a KB node: the collection's Embedder and its in-memory HNSW
// index, with persistence and recovery.
//
// Source of truth: chunk_vectors in SQLite, written in the same transaction as the chunks. The
// HNSW index is derived state:
//  - Load(): reads the snapshot <data-dir>/index/<collection id>.hnsw if present and valid
//    (checksummed; a corrupt or mismatching file is logged and ignored), then reconciles it with
//    SQLite: labels of chunks that no longer exist are removed and live chunks missing from the
//    index are added from chunk_vectors. Chunk ids are never reused, so this set difference is
//    exactly the replay of the changes the snapshot does not cover. Without a usable snapshot the
//    index is rebuilt from chunk_vectors.
//  - Chunks without a vector (written by an older deepkb, or whose embedder was down) are
//    embedded at load when the embedder is local (ngram-hash); otherwise they are counted in
//    Stats() and `deepkb index rebuild` embeds them.
//  - SaveSnapshot(): writes the index with the change-log seq it covers (temp file + rename).
//  - Encrypted directories (SetDataKey): snapshots are stored in the encrypted file format
//    (crypto/encrypted_file.h, context "index/<id>.hnsw"). The HNSW library writes and reads
//    paths, so the plaintext image is staged in a private directory on a RAM-backed file system
//    (tmpfs) and removed at once; without one, snapshots are not written (the index is rebuilt
//    from SQLite at start). A snapshot that does not decrypt is treated like a corrupt one.
//
// Thread safety: the map of collections is guarded by an internal mutex; each entry is shared
// (std::shared_ptr) so a search can finish on a collection that is being deleted. HnswIndex and
// Embedder are themselves thread-safe. Methods that touch SQLite take the caller's Database and
// must be called with the KnowledgeBase's database mutex held (they say so).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "crypto/aead.h"
#include "embed/embedder.h"
#include "index/hnsw/hnsw_index.h"
#include "storage/kb_store.h"

namespace deepkb::kb {

// Vector index changes of one collection that are committed in SQLite but not yet applied to its
// HNSW graph (kb/vector_applier.h applies them on a background thread, in commit order). Vector
// searches read this so that a committed write is visible at once: pending additions are scanned
// exactly (brute force, same distance as the index) and pending removals are filtered out of the
// graph's results. Changes enter with Push (in commit order) and leave with Pop (in the same
// order) after the graph has them, so "in the graph or here" always holds for a committed vector.
// Thread safe (a shared_mutex: searches share it, Push/Pop take it briefly).
class PendingVectors {
 public:
  // Records a committed change. `vectors` are one per `added` label, of the index's dimension.
  void Push(std::span<const int64_t> removed, std::span<const int64_t> added,
            const std::vector<std::vector<float>>& vectors, hnsw::Metric metric);
  // Forgets the oldest change once the graph has it (its removals and `added` additions).
  void Pop(std::span<const int64_t> removed, size_t added);

  // The k nearest pending additions to `query` (distance as the index computes it for `metric`)
  // that `filter` allows (null: all) and that are not pending removal; `removed` receives the
  // labels pending removal, which the caller must filter out of the graph's results. Read the
  // graph *after* this call: a change that leaves here has reached the graph before it left.
  std::vector<hnsw::SearchHit> Search(std::span<const float> query, size_t k,
                                      hnsw::Metric metric, const hnsw::Filter* filter,
                                      std::unordered_set<hnsw::Label>* removed) const;

 private:
  mutable std::shared_mutex mu_;
  std::deque<hnsw::Label> labels_;           // pending additions, oldest first
  std::deque<std::vector<float>> vectors_;   // unit length under kCosine
  std::unordered_map<hnsw::Label, int> removed_;  // label -> pending removals of it
};

struct VectorCollection {
  std::string spec;  // embedder spec as recorded on the collection
  size_t dim = 0;
  std::unique_ptr<embed::Embedder> embedder;
  std::unique_ptr<hnsw::HnswIndex> index;
  size_t missing_vectors = 0;  // live chunks without a vector at load time
  PendingVectors pending;      // committed changes the background applier has not applied yet
};

struct VectorOptions {
  size_t M = 16;
  size_t ef_construction = 200;
  size_t ef_search = 128;
  embed::EmbedderOptions embedder;
};

class VectorSet {
 public:
  VectorSet(std::string data_dir, VectorOptions opts)
      : dir_(std::move(data_dir) + "/index"), opts_(opts) {}

  // Creates the embedder for a spec and learns its dimension (contacts remote servers).
  Result<std::unique_ptr<embed::Embedder>> MakeEmbedder(const std::string& spec);

  // Loads (snapshot + reconcile) or builds the index of a collection. DB mutex held.
  Status Load(const storage::CollectionRow& c, storage::KbStore& store);
  // Registers an empty index for a new collection.
  Status AddEmpty(const storage::CollectionRow& c, std::unique_ptr<embed::Embedder> embedder);
  // Forgets a collection and deletes its snapshot.
  void Drop(int64_t collection_id);

  std::shared_ptr<VectorCollection> Get(int64_t collection_id) const;
  // Replaces a collection's vector state (after an online rebuild) and deletes the old snapshot.
  // Returns the old state, so the caller can free it outside its locks.
  std::shared_ptr<VectorCollection> Install(int64_t collection_id,
                                            std::shared_ptr<VectorCollection> vc);
  // An empty index with this set's options.
  Result<std::unique_ptr<hnsw::HnswIndex>> NewIndex(size_t dim) const;

  // Embeds texts with the collection's embedder and validates every vector (dimension, finite,
  // non-zero). No locks needed.
  Result<std::vector<std::vector<float>>> Embed(const VectorCollection& vc,
                                                const std::vector<std::string>& texts) const;

  // Saves every collection's index with `covered_seq`. DB mutex held (so no write is half
  // applied while the snapshot is taken).
  Status SaveSnapshots(uint64_t covered_seq) const;

  const VectorOptions& options() const { return opts_; }
  std::string SnapshotPath(int64_t collection_id) const;
  // Encrypts snapshots with `key` from now on (null: plaintext). Call before Load().
  void SetDataKey(std::shared_ptr<const crypto::DataKey> key) { data_key_ = std::move(key); }

 private:
  Result<std::unique_ptr<embed::Embedder>> CreateEmbedder(const std::string& spec) const;

  Result<hnsw::LoadedSnapshot> LoadSnapshotFile(int64_t collection_id) const;
  Status SaveSnapshotFile(int64_t collection_id, const hnsw::HnswIndex& index,
                          uint64_t covered_seq) const;

  std::string dir_;
  VectorOptions opts_;
  std::shared_ptr<const crypto::DataKey> data_key_;  // set before use; then read-only
  mutable std::mutex mu_;
  std::map<int64_t, std::shared_ptr<VectorCollection>> collections_;  // guarded by mu_
};

}  // namespace deepkb::kb
