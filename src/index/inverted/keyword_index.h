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
// Algorithm (keyword_search.cc): MaxScore (Turtle & Flood 1995) with block-max bounds (as in
// "block-max MaxScore", Chakrabarti et al. 2011 / Mallia et al. 2019). Chosen over (block-max) WAND
// because our queries are long ORs — CJK input becomes one clause per bigram, up to 32 clauses,
// several of them very frequent and clamped to idf 1e-6 — and MaxScore's cost per candidate does
// not grow with re-sorting many cursors the way WAND's pivot selection does; in the published
// comparisons MaxScore variants win on long queries while BMW wins on 2-3 term queries. Clauses are
// ordered so that the first ones are the cheapest to leave out — document frequency per unit of
// upper bound, descending (for clauses whose bounds differ that is the classic ascending-bound
// order; where they are alike, as for the clauses FTS5 clamps to idf 1e-6, it keeps the SHORTEST
// list essential) — and the leading ones whose bounds sum below the current k-th score are
// "non-essential": they are only probed (after a block-max check) for candidates produced by the
// essential ones. Before scoring a candidate, the block bounds of every clause at that doc are
// summed; if that cannot beat the k-th score, all docs up to the nearest block end are skipped.
// When ONE essential clause is left (the common end state of a broad query), its list is walked a
// block at a time: a block whose bound plus the non-essential bounds cannot reach the k-th score is
// skipped undecoded, and a posting whose own contribution plus those bounds cannot is dropped
// before any other list is touched. Bounds come from the block frontiers (postings.h), valid for
// any idf and avgdl, and are inflated by 1e-9 relative so float rounding can never prune a doc that
// belongs; ties with the k-th score are never pruned.
//
// Impact tiers (postings.h, ImpactTier; TierOptions): a list with at least max(4096, N/8)
// postings also keeps a copy of its ~1/4 highest-impact postings (BM25 saturation at the avgdl
// of the moment it was split) and the exact Pareto frontier of the rest, so a doc missing from
// the tier provably contributes at most that frontier's bound to the clause. The search uses it
// twice: a lone essential clause whose rest-bound plus the non-essential bounds falls below the
// k-th score switches to walking its tier (a quarter of the list); and a probe whose doc could
// only qualify with a high-impact posting of that clause looks the doc up in the tier (a shorter
// list to decode) and drops it when absent. This is what makes queries of only the most
// frequent words cheap: with every idf clamped the bounds are alike, the k-th score climbs close
// to their sum, and a qualifying doc needs a high-impact posting in nearly every clause. Tiers
// are derived state: built when the index is loaded or compacted and when a list's length
// reaches a power of two, maintained on Add, never saved; they change the work, not the answer.
// A split costs ≈ 20 ns per posting; the one at a doubling runs inside Add, under the exclusive
// lock (≈ 10 ms for a list of 500k postings). SearchStats reports which paths a search took.
//
// Documents: dense ordinals in insertion order; chunk ids can be any int64 (they only grow in
// the product, but nothing here relies on it). Remove() tombstones; statistics (N, total
// positions, per-term document frequency) are updated immediately to what FTS5 has after the
// same delete, by re-analysing the removed text (as FTS5's external-content 'delete' does); a
// 64-bit fingerprint of the indexed terms catches a caller passing different text (nothing
// changes then). Compact() rewrites the lists without tombstones.
//
// Compaction without stalling writers (Compact()): a posting list is append-only and a new doc
// always gets the next ordinal, so the postings of the first S ordinals (S = slots when the
// compaction starts) never change while it runs; a Remove only flips the doc's flag. Compact()
// records S and turns on a change log (the ordinals removed and the term/character ids whose
// document frequency changed — O(1) per term of the op, kept by Add/Remove), then rewrites the
// lists' postings below S in slices: a shared lock for ≈ 512 blocks at a time, released in
// between, so Add/Remove (and the searches queued behind them) wait at most one slice. The
// impact tiers of the copy are built with no lock held. Install, under the exclusive lock, then
// replays what happened meanwhile onto the copy: docs added since (ordinals >= S, still live)
// get the next new ordinals and their postings are copied from the live lists' tails; removed
// docs that the copy holds become tombstones of the copy; the document frequency of every logged
// term is taken from the live entry (so terms created, emptied or refilled meanwhile come out
// right). N, total tokens and the tainted set are not touched by compaction. The result scores
// every query exactly as the uncompacted index does (bit-identical: same N, avgdl, df, and per
// doc the same frequencies and length). A Load meanwhile makes the compaction give up. The
// replay costs O(ops meanwhile × their terms); the old structures are freed after the lock.
//
// Thread safety: all methods may be called concurrently; Search() and the read-only accessors
// take a shared lock, writers (Add, Remove, Load, and Compact's short start and install steps)
// an exclusive one — Compact's rewrite takes the shared lock only in short slices — so any number of
// searches run in parallel; a waiting writer holds off new searches (writer preference), so
// writes are not starved by a steady search load. Document analysis for Add/Remove runs before
// the lock is taken. Save() takes a shared lock.
//
// Updates at scale (Add/Remove): a chunk has ~150 distinct terms, and at a million chunks each
// one's dictionary slot and list entry is a cache miss. The term dictionary is a flat
// open-addressing table (term_dict.h) whose slots and key records can be prefetched from the
// term's hash, which Analyse computes before the lock; Add/Remove then go over the chunk's terms
// in passes — resolve every id, then update every entry — prefetching several terms ahead, so
// the misses overlap instead of being paid one after another (bench/README.md, Set D: Remove +
// Add of a chunk at 1M, 270 → 125 µs).
//
// Memory (measured at 1M chunks, bench/README.md): ≈ 4.3 bytes per posting overall — about 3
// for the compressed postings and block metadata (48 bytes per block of 128), the rest the term
// dictionary and list headers — plus 28 bytes per chunk; the impact tiers add ≈ 0.3 bytes per
// posting (at 1M: 377 lists, 30M postings copied, ≈ 88 MB) and ≈ 2.5 s of CPU to a load. The
// flat term dictionary took ≈ 25 MB less than the std::unordered_map before it (866k terms).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
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
#include "index/inverted/term_dict.h"

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
  size_t terms = 0;          // term lists (including empty ones until compaction)
  size_t char_lists = 0;     // per-character occurrence lists
  size_t postings = 0;       // in term lists + occurrence lists (tombstoned included)
  size_t tiers = 0;          // lists with an impact tier
  size_t tier_postings = 0;  // postings copied into impact tiers (not counted in `postings`)
  size_t memory_bytes = 0;   // approximate heap use
};

// Work counters of one Search (diagnostics, benchmarks, and tests that check which pruning paths
// ran). Counts, not timings; a Search adds to the struct it is given.
struct SearchStats {
  uint64_t candidates = 0;       // docs taken from the front of the essential lists
  uint64_t docs_scored = 0;      // docs scored on every clause and offered to the top-k
  uint64_t postings_scored = 0;  // bm25 terms computed (one per clause per doc)
  uint64_t blocks_decoded = 0;   // posting blocks decoded
  uint64_t range_skips = 0;      // block-max checks that skipped a doc range
  uint64_t probe_prunes = 0;     // candidates dropped while probing non-essential clauses
  uint64_t driver_rejects = 0;   // postings of a lone essential clause dropped on their own score
  uint64_t tier_drives = 0;      // lone essential clauses that switched to their impact tier
  uint64_t tier_probes = 0;      // non-essential probes answered from an impact tier
};

// Impact tiers (see the header comment). A list gets one when it holds at least
// max(min_postings, live docs / df_divisor) postings — checked whenever its length reaches a
// power of two, when the index is loaded, and on compaction — and then keeps a copy of about
// 1/share of its postings: those with the highest BM25 saturation at the avgdl of that moment.
struct TierOptions {
  bool enabled = true;
  size_t min_postings = 4096;
  uint32_t df_divisor = 8;
  uint32_t share = 4;
};

// Sorted, duplicate-free chunk ids a search may return (others are skipped).
struct AllowedChunks {
  std::vector<int64_t> sorted_ids;
};

class KeywordIndex {
 public:
  explicit KeywordIndex(fulltext::FieldWeights weights = {}, TierOptions tiers = {});
  KeywordIndex(const KeywordIndex&) = delete;
  KeywordIndex& operator=(const KeywordIndex&) = delete;

  // Adds a chunk. AlreadyExists when the chunk id is live in the index; InvalidArgument when the
  // index is full (2^32 - 2 slots; compaction frees tombstoned ones).
  Status Add(const ChunkText& chunk);
  // Removes a chunk, given the text it was added with. NotFound when the id is not live;
  // FailedPrecondition (and no change) when the text does not analyse to what was indexed.
  Status Remove(const ChunkText& chunk);
  // Rewrites all lists without tombstoned docs and drops empty terms (see "Compaction without
  // stalling writers" above): the rewrite takes the shared lock in short slices, so searches and
  // writes continue; writes made meanwhile are replayed onto the copy when it is installed under
  // the exclusive lock. Concurrent Compact() calls run one after the other. Blocks its caller for
  // the whole rewrite (run it on a background thread).
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
                                         const AllowedChunks* allowed = nullptr,
                                         SearchStats* stats = nullptr) const;

  // Brute force: scores every matching doc (tests and verification).
  Result<std::vector<KeywordHit>> SearchExhaustive(
      const std::vector<fulltext::QueryClause>& clauses, int k,
      const AllowedChunks* allowed = nullptr) const;

  // Tests: called (with no lock held) after each slice of a compaction's rewrite, before the
  // install; lets a test hold a compaction in the middle. Set before Compact() runs.
  void SetCompactionSliceHookForTesting(std::function<void()> hook) {
    slice_hook_ = std::move(hook);
  }

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
    uint32_t df = 0;                   // live docs containing it
    std::unique_ptr<ImpactTier> tier;  // long lists only
  };
  struct DocEntry {
    int64_t chunk_id = 0;
    uint32_t len = 0;
    bool deleted = false;
    uint64_t fingerprint = 0;
  };
  // A document analysed into per-term column frequencies. Distinct terms are in the order of
  // their hash (an order Add and Remove need not care about); their bytes live in term_bytes.
  struct Analysed {
    std::string term_bytes;                            // the tokens' bytes, back to back
    std::vector<std::pair<uint32_t, uint32_t>> terms;  // distinct terms: offset, length
    std::vector<uint64_t> term_hashes;  // TermDict::Hash of each term (computed before the lock)
    std::vector<std::array<uint32_t, 3>> term_tfs;  // instances per column of each term
    std::vector<char32_t> chars;                    // distinct prefix characters, ascending
    std::vector<std::array<uint32_t, 3>> char_tfs;
    std::vector<char32_t> colocated_starts;  // code points >= U+2E80 starting colocated tokens
    uint32_t len = 0;
    uint64_t fingerprint = 0;
    std::string_view Term(size_t i) const {
      return std::string_view(term_bytes.data() + terms[i].first, terms[i].second);
    }
  };
  friend class SearchRun;
  friend class SnapshotIo;

  struct Compacted {
    std::vector<DocEntry> docs;
    std::vector<uint32_t> scan_lens;
    std::unordered_map<int64_t, uint32_t> ord_of;
    TermDict term_dict;
    std::vector<TermEntry> terms;
    std::unordered_map<char32_t, uint32_t> char_ids;
    std::vector<char32_t> char_keys;
    std::vector<TermEntry> chars;
  };
  // Compaction steps (keyword_index.cc). RewriteLists fills `kept` from the live entries [0, n)
  // in slices under the shared lock, calling keep(id) (lock held) for each entry kept, in the
  // order kept; false when a Load intervened (generation changed).
  template <typename Keep>
  bool RewriteLists(uint64_t generation, uint32_t snap_docs, const std::vector<uint32_t>& remap,
                    const std::vector<DocEntry>& new_docs, const std::vector<TermEntry>& live,
                    size_t n, Keep keep, std::vector<TermEntry>& kept,
                    std::vector<uint32_t>& id_map) const;
  // Exclusive lock held: applies the ops logged since the snapshot to `c`, then swaps it in;
  // returns the replaced structures (to be freed after the lock).
  Compacted InstallCompacted(Compacted c, uint32_t snap_docs, const std::vector<uint32_t>& remap,
                             const std::vector<uint32_t>& term_map,
                             const std::vector<uint32_t>& char_map);
  // Character keys by id, rebuilt from the map (Load).
  static std::vector<char32_t> CharKeys(const std::unordered_map<char32_t, uint32_t>& ids);

  static Analysed Analyse(const ChunkText& chunk);
  // Impact tiers: whether a list of this length gets one with `live` docs; (re)builds e's tier
  // from its list, given every doc slot's length (scan_lens_ layout) and the avgdl to split at.
  // Tombstoned postings are left out of the tier altogether (they can never be returned).
  bool WantsTier(size_t postings, size_t live) const;
  void BuildTier(TermEntry& e, const uint32_t* scan_lens, double avgdl) const;
  void BuildTiers(std::vector<TermEntry>& entries, const std::vector<uint32_t>& scan_lens,
                  size_t live, uint64_t total_tokens) const;
  void AppendPosting(TermEntry& e, const Posting& p, double freq, uint32_t len);
  // Appends doc `ord` (of length `len`) to entries[ids[i]] with frequencies tfs[i], for
  // every i, prefetching ahead; logs the ids when `log` is given (a compaction is running).
  void AppendAll(std::vector<TermEntry>& entries, const std::vector<uint32_t>& ids,
                 const std::vector<std::array<uint32_t, 3>>& tfs, uint32_t ord, uint32_t len,
                 std::vector<uint32_t>* log);
  static constexpr uint32_t kDeletedLen = 0xFFFFFFFFu;
  static std::vector<uint32_t> ScanLens(const std::vector<DocEntry>& docs);
  // FTS5's weighted frequency: the column weight added once per instance, title first.
  double Freq(const std::array<uint32_t, 3>& tf) const {
    if (integer_weights_) {  // integers: products and FTS5's repeated additions agree exactly
      return weights_.title * tf[0] + weights_.headings * tf[1] + weights_.body * tf[2];
    }
    return SlowFreq(tf);
  }
  double SlowFreq(const std::array<uint32_t, 3>& tf) const;
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
  TierOptions tier_options_;
  bool integer_weights_ = true;

  mutable std::mutex gate_;
  mutable std::shared_mutex mu_;
  // All below guarded by mu_.
  std::vector<DocEntry> docs_;
  // Per doc slot: its length, or kDeletedLen for a tombstone — what a search reads for every
  // posting it scores, kept apart from docs_ (4 bytes a doc instead of 24: fewer cache misses).
  std::vector<uint32_t> scan_lens_;
  std::unordered_map<int64_t, uint32_t> ord_of_;  // live chunk id → ordinal
  TermDict term_dict_;  // term → id (index into terms_), and id → term
  std::vector<TermEntry> terms_;
  std::unordered_map<char32_t, uint32_t> char_ids_;
  std::vector<char32_t> char_keys_;
  std::vector<TermEntry> chars_;
  std::unordered_set<char32_t> tainted_;  // started a colocated token: prefix refused
  std::vector<uint32_t> scratch_ids_;     // Add/Remove's term ids (reused: no allocation)
  size_t live_docs_ = 0;
  uint64_t total_tokens_ = 0;
  size_t tombstones_ = 0;
  uint64_t version_ = 0;     // bumped by every change
  uint64_t generation_ = 0;  // bumped when the content is replaced (Load): compactions give up
  // Change log of the compaction in flight (active between its snapshot and its install).
  struct ChangeLog {
    bool active = false;
    std::vector<uint32_t> removed;  // ordinals removed meanwhile
    std::vector<uint32_t> terms;    // term ids whose df changed (Add or Remove), with repeats
    std::vector<uint32_t> chars;    // the same for character lists
  };
  ChangeLog log_;

  std::mutex compact_mu_;  // serialises Compact() (not held by anything else)
  std::function<void()> slice_hook_;
};

}  // namespace deepkb::inverted
