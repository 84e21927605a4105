// Per-collection keyword accelerators of a KB node (index/inverted/keyword_index.h): exact FTS5
// bm25 top-k with dynamic pruning, kept beside the FTS5 index of record.
//
// Source of truth: the collection's FTS5 content view fts_src_<id> (chunks ⋈ live documents) —
// exactly the rows FTS5 indexes. The in-memory index is derived state:
//  - Load(): reads the snapshot <data-dir>/index/<collection id>.kwi if present and valid
//    (SHA-256 checked, encrypted like the vector snapshots when the directory has a data key),
//    then reconciles it with SQLite by chunk-id set difference: live chunks missing from the
//    index are added from the view (chunk ids are never reused and a chunk's indexed text never
//    changes under the same id, so this replays the writes the snapshot does not cover). A
//    chunk in the snapshot that SQLite no longer has cannot be removed exactly (its text, which
//    the BM25 statistics need, is gone): then, and without a usable snapshot, the index is
//    rebuilt from the view.
//  - Writes: the KB reads a document's rows from the view inside its write transaction
//    (ReadDocument: before FTS5's 'delete' for the old rows, after the insert for the new ones)
//    and calls Apply() after the commit, under the KB mutex, like the vector index. If Apply
//    fails the collection's accelerator is dropped (searches use FTS5) and its snapshot deleted,
//    so the next start rebuilds it.
//  - SaveSnapshots(): with the vector snapshots.
//  - Compaction: when an Apply() leaves an index with too many tombstones, its Compact() runs on
//    a background thread (one at a time per KeywordSet; a later Apply re-checks once it is done;
//    joined by the destructor), not under the caller's KB mutex. The thread holds its own
//    shared_ptr, so a collection dropped or an index replaced (Install) meanwhile only means it
//    compacts an index nobody uses any more. KeywordIndex::Compact() lets writes and searches
//    continue (they wait at most one short slice, and for the install step).
//
// Thread safety: the map is guarded by an internal mutex; entries are shared (std::shared_ptr)
// so a search can finish on a collection that is being dropped; KeywordIndex is thread-safe.
// Methods that take a Database must be called with the KnowledgeBase's database mutex held.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "crypto/aead.h"
#include "index/inverted/keyword_index.h"
#include "storage/sqlite.h"

namespace deepkb::kb {

class KeywordSet {
 public:
  explicit KeywordSet(std::string data_dir) : dir_(std::move(data_dir) + "/index") {}
  ~KeywordSet();  // waits for a background compaction
  KeywordSet(const KeywordSet&) = delete;
  KeywordSet& operator=(const KeywordSet&) = delete;

  // Encrypts snapshots with `key` from now on (null: plaintext). Call before Load().
  void SetDataKey(std::shared_ptr<const crypto::DataKey> key) { data_key_ = std::move(key); }

  // Loads (snapshot + reconcile) or builds the accelerator of a collection. DB mutex held.
  // Errors come from SQLite only (an unusable snapshot is logged and rebuilt from).
  Status Load(int64_t collection_id, storage::Database& db);
  // Registers an empty accelerator for a new (empty) collection.
  void AddEmpty(int64_t collection_id);
  // Forgets a collection and deletes its snapshot.
  void Drop(int64_t collection_id);
  std::shared_ptr<inverted::KeywordIndex> Get(int64_t collection_id) const;

  // The rows of a document as FTS5 indexes them (empty when the collection has no
  // accelerator, so writes to such collections pay nothing). DB mutex held.
  Result<std::vector<inverted::ChunkText>> ReadDocument(storage::Database& db,
                                                        int64_t collection_id,
                                                        int64_t document_row_id) const;
  // Applies a committed write (removed rows first). DB mutex held. Never fails: on error the
  // accelerator is dropped and rebuilt at the next start (logged). May start a background
  // compaction of the collection's index (see the header comment).
  void Apply(int64_t collection_id, const std::vector<inverted::ChunkText>& removed,
             const std::vector<inverted::ChunkText>& added);
  // Waits until no background compaction runs (tests, shutdown).
  void WaitForCompaction();

  // Compares the accelerator with SQLite: the same live chunk ids as the content view, and the
  // same row count and total token count as FTS5's own statistics (the bm25 inputs). DataLoss
  // on a mismatch; OK when the collection has no accelerator. DB mutex held.
  Status Verify(int64_t collection_id, storage::Database& db) const;

  Status SaveSnapshots() const;
  std::string SnapshotPath(int64_t collection_id) const;

  // ---- online rebuilds (KnowledgeBase::RebuildIndexes) ---------------------------------------
  // While a capture is active for a collection, ReadDocument() returns rows even when the
  // collection has no accelerator, and Apply() also keeps every removed row whose chunk id is
  // <= the capture's watermark, for the rebuild to remove from the index it is building (those
  // rows are already in it; rows above the watermark are read later from SQLite, if still live).
  void BeginCapture(int64_t collection_id);
  void SetCaptureWatermark(int64_t collection_id, int64_t watermark);
  std::vector<inverted::ChunkText> TakeCaptured(int64_t collection_id);
  void EndCapture(int64_t collection_id);
  // Replaces the collection's accelerator by `ix` and deletes the old snapshot. Returns the old
  // one, so the caller can free it outside its locks.
  std::shared_ptr<inverted::KeywordIndex> Install(int64_t collection_id,
                                                  std::shared_ptr<inverted::KeywordIndex> ix);

 private:
  Status Build(int64_t collection_id, storage::Database& db, inverted::KeywordIndex& ix) const;
  void MaybeCompact(int64_t collection_id, const std::shared_ptr<inverted::KeywordIndex>& ix);

  std::string dir_;
  std::shared_ptr<const crypto::DataKey> data_key_;  // set before use; then read-only
  mutable std::mutex mu_;
  std::map<int64_t, std::shared_ptr<inverted::KeywordIndex>> indexes_;  // guarded by mu_
  struct Capture {
    int64_t watermark = 0;
    std::vector<inverted::ChunkText> removed;
  };
  std::map<int64_t, Capture> captures_;  // guarded by mu_

  std::mutex compact_mu_;   // guards the two below; never held while compacting
  std::thread compactor_;   // the background compaction (joinable until joined)
  bool compacting_ = false;  // compactor_ is still running
};

}  // namespace deepkb::kb
