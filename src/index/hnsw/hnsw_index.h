// HnswIndex: deepkb's in-memory approximate nearest-neighbour index (Hierarchical Navigable Small
// World graphs, Malkov & Yashunin 2016), written here because we need filtered search, deletes,
// int8 quantisation and snapshots together.
//
// Contract:
//  - Labels are caller-chosen 64-bit ids (deepkb uses chunk ids). Add() with an existing label
//    replaces its vector (update); Remove() tombstones it. Tombstoned slots are reused by later
//    inserts and the graph is repaired around them; Compact() (also run in the background when
//    tombstones exceed options.compaction_threshold of the slots) rebuilds links without them.
//  - Distances: smaller is closer. kL2 = squared L2; kInnerProduct = 1 - <a,b>;
//    kCosine = 1 - cos(a,b) (vectors are normalised on insert and query).
//  - Invalid input (wrong dimension, NaN/Inf, a zero vector under kCosine) → InvalidArgument;
//    nothing is changed.
//  - Search with a Filter returns only labels the filter allows. When the filter says how many
//    labels pass and that number is small (below options.exact_search_threshold or a small share
//    of the index), the allowed labels are scanned exactly instead of walking the graph, so
//    results stay correct at any selectivity.
//  - With options.int8 the graph walk uses int8 scalar-quantised vectors and the best candidates
//    are re-ranked with the float vectors... (see hnsw_index.cc for what is kept in memory).
//
// Thread safety: Search(), Contains(), size() may run concurrently with each other and with
// Add()/Remove() (documented locking in hnsw_index.cc). Compact() and LoadSnapshot() are safe to
// call concurrently with searches as well.
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

struct HnswOptions {
  size_t dim = 0;
  Metric metric = Metric::kCosine;
  size_t M = 16;                  // links per node on upper layers (2*M on layer 0)
  size_t ef_construction = 200;
  size_t initial_capacity = 1024;  // grows as needed
  bool int8 = false;              // scalar quantisation with float re-ranking
  uint64_t seed = 42;
  double compaction_threshold = 0.2;   // share of tombstoned slots that triggers compaction
  size_t exact_search_threshold = 2000;  // filtered searches with <= this many allowed: exact
};

// Which labels a search may return.
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
  size_t live = 0;
  size_t tombstones = 0;
  size_t capacity = 0;
  size_t memory_bytes = 0;  // vectors + graph + label map, as allocated
  int max_level = 0;
};

class HnswIndex {
 public:
  static Result<std::unique_ptr<HnswIndex>> Create(const HnswOptions& opts);
  virtual ~HnswIndex() = default;

  virtual Status Add(Label label, std::span<const float> vector) = 0;
  virtual Status Remove(Label label) = 0;  // NotFound when absent
  virtual bool Contains(Label label) const = 0;

  // Up to k hits ordered by distance (closest first). ef >= k is the search beam width
  // (raised to k when smaller).
  virtual Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k, size_t ef,
                                                const Filter* filter = nullptr) const = 0;

  virtual Status Compact() = 0;
  virtual IndexStats Stats() const = 0;
  virtual const HnswOptions& options() const = 0;

  virtual Status SaveSnapshot(const std::string& path, uint64_t covered_seq) const = 0;
};

struct LoadedSnapshot {
  std::unique_ptr<HnswIndex> index;
  uint64_t covered_seq = 0;
};
// DataLoss when the file is truncated, fails its checksum or has an unknown version;
// NotFound when it does not exist.
Result<LoadedSnapshot> LoadSnapshot(const std::string& path);

// Exact k-NN over `data` (n × dim, row-major) for tests and benchmarks; same distances.
std::vector<SearchHit> BruteForce(std::span<const float> data, size_t dim, Metric metric,
                                  std::span<const float> query, size_t k,
                                  const std::function<bool(size_t)>& allow = nullptr);

}  // namespace deepkb::hnsw
