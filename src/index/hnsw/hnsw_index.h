// HnswIndex: deepkb's in-memory approximate nearest-neighbour index (Hierarchical Navigable Small
// World graphs, Malkov & Yashunin 2016), written here because we need filtered search, deletes,
// int8 quantisation and snapshots together.
//
// Contract:
//  - Labels are caller-chosen 64-bit ids (deepkb uses chunk ids). Add() with an existing label
//    replaces its vector (update: the new vector gets a fresh slot and the old one becomes a
//    tombstone); Remove() tombstones it. Tombstones stay in the graph (searches walk through
//    them but never return them). When an Add finds no free slot and tombstones make up a few
//    per cent of the slots, the index unlinks all tombstones, repairs the lists that pointed at
//    them, and reuses their slots for later inserts. Compact() rebuilds the graph from the live
//    vectors only (and retrains the int8 quantiser); the index never runs it by itself:
//    NeedsCompaction() says when the owner should schedule it.
//  - Distances: smaller is closer. kL2 = squared L2; kInnerProduct = 1 - <a,b>;
//    kCosine = 1 - cos(a,b) (vectors are normalised on insert and query).
//  - Invalid input (wrong dimension, NaN/Inf, a zero vector under kCosine) → InvalidArgument;
//    nothing is changed.
//  - Search with a Filter returns only labels the filter allows (checked when collecting results,
//    not when walking, so the walk widens by itself when the filter rejects most nodes). When the
//    filter knows its cardinality c and the exact scan is cheaper than the walk (c <=
//    options.exact_search_threshold, or c² <= 0.4·ef·M·live, see search.cc), the allowed labels are
//    scanned exactly instead; a walk that ends up visiting most of the graph also finishes with
//    an exact scan, so results stay correct at any selectivity.
//  - With options.int8 the graph walk uses 8-bit per-dimension min/max codes (quantizer.h) and
//    the best ef candidates are re-ranked with float vectors: from memory when
//    keep_float_vectors, else from options.rerank_source; with neither, distances are the int8
//    approximations. The quantiser is fitted on the first 1,000 vectors (until then the index
//    works on floats) and refitted by Compact().
//
// Thread safety: Search(), Contains(), size()/Stats() may run concurrently with each other and
// with Add()/Remove()/Compact()/SaveSnapshot(); searches never block on writers. Add() and
// Remove() may be called from several threads at once (calls for the same label are serialised).
// Compact() lets Add()/Remove() continue while it rebuilds (they are replayed onto the new graph);
// SaveSnapshot() blocks Add()/Remove() while it writes. Locking is documented in hnsw_index.cc.
//
// Persistence: SaveSnapshot() writes a checksummed file recording `covered_seq` (the change-log
// seq the contents reflect); LoadSnapshot() verifies it and returns DataLoss on any mismatch,
// never a half-loaded index. The format is documented at the top of hnsw_snapshot.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace deepkb::hnsw {

using Label = uint64_t;

enum class Metric { kL2, kInnerProduct, kCosine };
std::string_view MetricName(Metric m);  // "l2", "ip", "cosine"

// Supplies float vectors by label for int8 re-ranking (and for Compact's refit) when the index
// does not keep floats in memory (int8 && !keep_float_vectors); the KB can serve it from its
// chunk_vectors table. Called for up to ef labels per search, from the searching thread: must be
// thread-safe, must not call back into the index, and must outlive the index.
class VectorSource {
 public:
  virtual ~VectorSource() = default;
  // Copies the vector of `label` (dim floats, as given to Add) into `out`; false when unknown.
  virtual bool Fetch(Label label, std::span<float> out) const = 0;
};

struct HnswOptions {
  size_t dim = 0;
  Metric metric = Metric::kCosine;
  size_t M = 16;  // links per node on upper layers (2*M on layer 0)
  size_t ef_construction = 200;
  // Slots of the first storage chunk; later chunks double, so this only tunes small indexes.
  size_t initial_capacity = 1024;
  bool int8 = false;  // scalar quantisation with float re-ranking
  // int8 only: keep float vectors in memory for re-ranking (faster walks, more memory). When
  // false only codes stay in RAM and re-ranking asks rerank_source.
  bool keep_float_vectors = true;
  const VectorSource* rerank_source = nullptr;  // not owned; not saved in snapshots
  uint64_t seed = 42;
  double compaction_threshold = 0.2;     // share of tombstoned slots that makes NeedsCompaction()
  size_t exact_search_threshold = 2000;  // filtered searches with <= this many allowed: exact
  size_t compact_threads = 1;            // threads Compact() uses to rebuild (0 = all cores)
};

// Which labels a search may return. Called from the searching thread without index locks held;
// a filter shared between concurrent searches must be thread-safe, and must not call back into
// the index (a search in progress delays tombstone reuse). Allows() runs once per candidate the
// walk considers, so keep it cheap.
class Filter {
 public:
  virtual ~Filter() = default;
  virtual bool Allows(Label label) const = 0;
  // Number of allowed labels when known (enables the exact path), else SIZE_MAX.
  virtual size_t Cardinality() const { return std::numeric_limits<size_t>::max(); }
  // Visits every allowed label; only called when Cardinality() is known.
  virtual void ForEach(const std::function<void(Label)>& fn) const {}
};

// A Filter over an explicit set of labels (sorted, deduplicated on construction).
class LabelSetFilter : public Filter {
 public:
  explicit LabelSetFilter(std::vector<Label> labels);
  bool Allows(Label label) const override;
  size_t Cardinality() const override { return labels_.size(); }
  void ForEach(const std::function<void(Label)>& fn) const override;

 private:
  std::vector<Label> labels_;
};

struct SearchHit {
  Label label = 0;
  float distance = 0;
};

struct IndexStats {
  size_t live = 0;        // labels
  size_t tombstones = 0;  // removed or replaced vectors still in the graph
  size_t capacity = 0;    // slots addressable without allocating
  // RAM the index occupies: the slot pages in use (slot arrays are reserved in large chunks but
  // only touched pages count; with transparent huge pages a touched 2 MiB page counts whole),
  // float store, upper links, label map and pooled visited sets.
  size_t memory_bytes = 0;
  int max_level = 0;
};

class HnswIndex {
 public:
  static Result<std::unique_ptr<HnswIndex>> Create(const HnswOptions& opts);
  virtual ~HnswIndex() = default;

  // Inserts or replaces `label`. InvalidArgument on a bad vector (index unchanged);
  // ResourceExhausted when slot memory cannot be mapped. May reclaim tombstones first (see the
  // contract above), which makes that one call slower.
  virtual Status Add(Label label, std::span<const float> vector) = 0;
  virtual Status Remove(Label label) = 0;  // NotFound when absent
  virtual bool Contains(Label label) const = 0;
  virtual size_t size() const = 0;  // live labels
  // Every live label, in no particular order (a copy taken under the label-map lock; used to
  // reconcile a loaded snapshot with the database).
  virtual std::vector<Label> Labels() const = 0;

  // Up to k hits ordered by distance (closest first), one per label. ef >= k is the search beam
  // width (raised to k when smaller). InvalidArgument on a bad query vector.
  virtual Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k, size_t ef,
                                                const Filter* filter = nullptr) const = 0;

  // Rebuilds the graph from the live vectors (tombstones dropped, int8 quantiser refitted) and
  // swaps it in. Searches keep running on the old graph meanwhile; Add()/Remove() keep working
  // and are replayed onto the new graph before the swap. One Compact() at a time.
  virtual Status Compact() = 0;
  // True when tombstones are at least options.compaction_threshold of the slots, or (int8) the
  // index has grown to 4× the vectors its quantiser was fitted on or over 1% of the coordinates
  // of newly added vectors fall outside the fitted ranges. The owner schedules Compact().
  virtual bool NeedsCompaction() const = 0;
  virtual IndexStats Stats() const = 0;
  virtual const HnswOptions& options() const = 0;

  // Writes the index to `path` (temp file, fsync, rename, directory fsync). Unavailable on I/O
  // errors, leaving any previous file at `path` intact.
  virtual Status SaveSnapshot(const std::string& path, uint64_t covered_seq) const = 0;
};

struct LoadedSnapshot {
  std::unique_ptr<HnswIndex> index;
  uint64_t covered_seq = 0;
};
// DataLoss when the file is truncated, fails its checksum, has an unknown version or any
// out-of-range field; NotFound when it does not exist; Unavailable when it cannot be read.
Result<LoadedSnapshot> LoadSnapshot(const std::string& path);
// Same, for an int8 index saved without float vectors: `source` becomes options.rerank_source.
Result<LoadedSnapshot> LoadSnapshot(const std::string& path, const VectorSource* source);

// Exact k-NN over `data` (n × dim, row-major) for tests and benchmarks; same distances.
std::vector<SearchHit> BruteForce(std::span<const float> data, size_t dim, Metric metric,
                                  std::span<const float> query, size_t k,
                                  const std::function<bool(size_t)>& allow = nullptr);

}  // namespace deepkb::hnsw
