// KeywordIndex: an in-memory inverted index that answers the keyword queries of one collection
// with EXACTLY the top-k that SQLite FTS5's bm25() ranking gives (same chunks, same scores up to
// floating-point rounding), but with dynamic pruning, so a broad query does not score every
// matching row. FTS5 (index/fulltext/fts_index.h) stays the durable index of record; this is
// derived state, rebuilt or reconciled from SQLite at start (kb/keyword_set.h).
//
// What "exact" covers (verified against real FTS5 in keyword_index_fts5_test.cc):
//  - Documents are analysed per column (title, headings, body) with fulltext::AnalyzeDocument,
//    as the "deepkb" FTS5 tokenizer does. A token starts a new position unless it is colocated
//    (and the column already has a position); the row's length D is the number of positions over
//    all columns (FTS5's xColumnSize(-1)); avgdl = total positions / rows.
//  - kTerm clause: the term's instances, INCLUDING colocated duplicates at one position (the
//    identifier "a-a" gives "a" twice at position 0, and FTS5 stores and counts both).
//  - kPrefix clause (one code point c, e.g. a lone CJK character): FTS5 merges the doclists of
//    every term starting with c; where two such terms meet at one position the merge counts the
//    position once, but a row in which only ONE such term occurs keeps that term's duplicates.
//    Each non-colocated token has its own position, so for characters that never start a
//    colocated token (every CJK character: CJK runs produce bigrams + the final unigram, never
//    colocated) the prefix instances are exactly "positions holding a token that starts with c",
//    which the index keeps as a per-character occurrence list. A character that has started a
//    colocated token (e.g. a Hangul identifier part) is marked and its prefix clauses are
//    refused (FailedPrecondition → the caller uses FTS5). Only code points >= U+2E80 have
//    occurrence lists.
//  - bm25 exactly as SQLite 3.40's fts5Bm25Function: per clause freq = sum of the column weight
//    over its instances; idf = log((N - nHit + 0.5) / (nHit + 0.5)), 1e-6 when <= 0; score =
//    sum over clauses in query order of idf * (freq * (k1 + 1)) / (freq + k1 * (1 - b + b * D /
//    avgdl)), k1 = 1.2, b = 0.75. Returned as FTS5's -bm25 (higher is better), like FtsHit.
//  - Ties are broken by the smaller chunk id (FTS5's own order among equal scores is whatever
//    its sorter gives).
//  - kPhrase clauses (several terms that must be adjacent) are not supported: no positions are
//    kept. Search returns FailedPrecondition for them, and for weights other than the index's.
//
// Algorithm: MaxScore (Turtle & Flood 1995) with block-max bounds (as in "block-max MaxScore",
// Chakrabarti et al. 2011 / Mallia et al. 2019). Chosen over (block-max) WAND because our
// queries are long ORs — CJK input becomes one clause per bigram, up to 32 clauses, several of
// them very frequent and clamped to idf 1e-6 — and MaxScore's cost per candidate does not grow
// with re-sorting many cursors the way WAND's pivot selection does; in the published
// comparisons MaxScore variants win on long queries while BMW wins on 2-3 term queries. Clauses
// are ordered by their upper bound; the lowest ones whose bounds sum below the current k-th score
// are "non-essential": they are only probed (after a block-max check) for candidates produced by
// the essential ones. Before scoring a candidate, the block bounds of every clause at that doc
// are summed; if that cannot beat the k-th score, all docs up to the nearest block end are
// skipped. Bounds come from the block frontiers (postings.h), valid for any idf and avgdl, and
// are inflated by 1e-9 relative so float rounding can never prune a doc that belongs.
//
// Documents: dense ordinals in insertion order; chunk ids can be any int64 (they only grow in
// the product, but nothing here relies on it). Remove() tombstones; statistics (N, total
// positions, per-term document frequency) are updated immediately to what FTS5 has after the
// same delete, by re-analysing the removed text (as FTS5's external-content 'delete' does); a
// 64-bit fingerprint of the indexed terms catches a caller passing different text (nothing
// changes then). Compact() rewrites the lists without tombstones.
//
// Thread safety: all methods may be called concurrently; Search() and the read-only accessors
// take a shared lock, writers (Add, Remove, Compact, Load) an exclusive one, so any number of
// searches run in parallel; a waiting writer holds off new searches (writer preference), so
// writes are not starved by a steady search load. Document analysis for Add/Remove runs before
// the lock is taken. Save() takes a shared lock.
//
// Memory (measured at 1M chunks, bench/README.md): ≈ 4.3 bytes per posting overall — about 3
// for the compressed postings and block metadata (48 bytes per block of 128), the rest the term
// dictionary and list headers — plus 24 bytes per chunk.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "index/fulltext/analyzer.h"
#include "index/fulltext/fts_index.h"
#include "index/inverted/postings.h"

namespace deepkb::inverted {

struct ChunkText {
  int64_t chunk_id = 0;
  std::string title;
  std::string headings;
  std::string body;
};

struct KeywordHit {
  int64_t chunk_id = 0;
  double score = 0;  // FTS5's -bm25: higher is better
};

struct KeywordStats {
  size_t live_docs = 0;       // FTS5's row count
  uint64_t total_tokens = 0;  // FTS5's total column size over all columns
  size_t doc_slots = 0;       // including tombstones not yet compacted
  size_t tombstones = 0;
  size_t terms = 0;           // term lists (including empty ones until compaction)
  size_t char_lists = 0;      // per-character occurrence lists
  size_t postings = 0;        // in term lists + occurrence lists (tombstoned included)
  size_t memory_bytes = 0;    // approximate heap use
};

// Sorted, duplicate-free chunk ids a search may return (others are skipped).
struct AllowedChunks {
  std::vector<int64_t> sorted_ids;
};

class KeywordIndex {
 public:
  explicit KeywordIndex(fulltext::FieldWeights weights = {});
  KeywordIndex(const KeywordIndex&) = delete;
  KeywordIndex& operator=(const KeywordIndex&) = delete;

  // Adds a chunk. AlreadyExists when the chunk id is live in the index; InvalidArgument when the
  // index is full (2^32 - 2 slots; compaction frees tombstoned ones).
  Status Add(const ChunkText& chunk);
  // Removes a chunk, given the text it was added with. NotFound when the id is not live;
  // FailedPrecondition (and no change) when the text does not analyse to what was indexed.
  Status Remove(const ChunkText& chunk);
  // Rewrites all lists without tombstoned docs and drops empty terms. The rewrite runs under the
  // shared lock, so searches continue (a writer arriving meanwhile waits for it, and new
  // searches queue behind that writer); the result is installed under the exclusive lock, or
  // redone there when a write came in between.
  void Compact();
  bool NeedsCompaction() const;  // tombstones > 20% of slots (and > 1000)
  // Releases spare vector capacity (call after a bulk build; appends regrow it).
  void ShrinkToFit();

  // Top `k` chunks for the clauses of fulltext::BuildMatchQuery (same order, same terms), with
  // `allowed` restricting the hits (nullptr = all). Empty clauses → empty result.
  // FailedPrecondition when the query cannot be answered exactly (kPhrase clause, a prefix that
  // is not one code point >= U+2E80 or whose character started a colocated token, or weights
  // different from the index's); the caller then uses FTS5. InvalidArgument for k < 1.
  Result<std::vector<KeywordHit>> Search(const std::vector<fulltext::QueryClause>& clauses, int k,
                                         const fulltext::FieldWeights& weights = {},
                                         const AllowedChunks* allowed = nullptr) const;

  // Brute force: scores every matching doc (tests and verification).
  Result<std::vector<KeywordHit>> SearchExhaustive(
      const std::vector<fulltext::QueryClause>& clauses, int k,
      const AllowedChunks* allowed = nullptr) const;

  bool Contains(int64_t chunk_id) const;
  std::vector<int64_t> LiveChunkIds() const;  // sorted
  KeywordStats Stats() const;
  // Document frequency of a term / of a prefix character (tests, verification).
  size_t DocFreq(std::string_view term) const;
  const fulltext::FieldWeights& weights() const { return weights_; }

  // Snapshot (format at the top of keyword_snapshot.cc): written to path + ".tmp", fsynced,
  // renamed over `path`. Load replaces this index's content; DataLoss for a corrupt or
  // truncated file, FailedPrecondition for another format/analyzer version or other weights,
  // NotFound when absent. On failure the index is unchanged.
  Status Save(const std::string& path) const;
  Status Load(const std::string& path);
  // The same image in memory (for callers that write files themselves, e.g. encrypted);
  // `name` only labels errors.
  std::string SerializeSnapshot() const;
  Status LoadSnapshotBytes(std::string_view data, const std::string& name);

 private:
  struct TermEntry {
    PostingList list;
    uint32_t df = 0;  // live docs containing it
  };
  struct DocEntry {
    int64_t chunk_id = 0;
    uint32_t len = 0;
    bool deleted = false;
    uint64_t fingerprint = 0;
  };
  // A document analysed into per-term column frequencies.
  struct Analysed {
    std::vector<std::pair<std::string, std::array<uint32_t, 3>>> terms;  // sorted by term
    std::vector<std::pair<char32_t, std::array<uint32_t, 3>>> chars;     // sorted by char
    std::vector<char32_t> colocated_starts;  // code points >= U+2E80 starting colocated tokens
    uint32_t len = 0;
    uint64_t fingerprint = 0;
  };
  friend class SearchRun;
  friend class SnapshotIo;

  struct Compacted {
    std::vector<DocEntry> docs;
    std::unordered_map<int64_t, uint32_t> ord_of;
    std::unordered_map<std::string, uint32_t> term_ids;
    std::vector<TermEntry> terms;
    std::unordered_map<char32_t, uint32_t> char_ids;
    std::vector<TermEntry> chars;
  };
  Compacted BuildCompacted() const;  // shared lock held
  void Install(Compacted c);         // exclusive lock held

  static Analysed Analyse(const ChunkText& chunk);
  double Freq(const std::array<uint32_t, 3>& tf) const;
  Status CheckQuery(const std::vector<fulltext::QueryClause>& clauses,
                    const fulltext::FieldWeights& weights,
                    std::vector<const TermEntry*>& lists) const;
  std::vector<uint8_t> AllowedBitmap(const AllowedChunks& allowed) const;

  // Writer preference: glibc's rwlock lets a stream of readers starve a writer, so every
  // acquisition passes gate_ first and a writer holds gate_ until it has mu_.
  std::shared_lock<std::shared_mutex> ReadLock() const {
    std::lock_guard<std::mutex> gate(gate_);
    return std::shared_lock<std::shared_mutex>(mu_);
  }
  std::unique_lock<std::shared_mutex> WriteLock() const {
    std::lock_guard<std::mutex> gate(gate_);
    return std::unique_lock<std::shared_mutex>(mu_);
  }

  fulltext::FieldWeights weights_;
  bool integer_weights_ = true;

  mutable std::mutex gate_;
  mutable std::shared_mutex mu_;
  // All below guarded by mu_.
  std::vector<DocEntry> docs_;
  std::unordered_map<int64_t, uint32_t> ord_of_;  // live chunk id → ordinal
  std::unordered_map<std::string, uint32_t> term_ids_;
  std::vector<TermEntry> terms_;
  std::unordered_map<char32_t, uint32_t> char_ids_;
  std::vector<TermEntry> chars_;
  std::unordered_set<char32_t> tainted_;  // started a colocated token: prefix refused
  size_t live_docs_ = 0;
  uint64_t total_tokens_ = 0;
  size_t tombstones_ = 0;
  uint64_t version_ = 0;  // bumped by every change
};

}  // namespace deepkb::inverted
