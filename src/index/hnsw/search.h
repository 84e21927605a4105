// Graph walks (internal). Every function here reads the graph without locks and must run inside
// an RCU read section of the owning index (or while the caller otherwise keeps the graph from
// being reclaimed, as inserts do by holding the writer gate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "index/hnsw/graph.h"

namespace deepkb::hnsw::internal {

// Greedy descent (beam 1) from `entry` through levels top..stop_level+1, in the representation
// inserts use (floats when present, else codes). Returns the closest slot found.
uint32_t GreedyForInsert(const Graph& g, const float* q, uint32_t entry, int top, int stop_level);

// Beam search of width ef on `level` from `ep`, for linking a new node. Returns up to ef kLive
// slots (never `exclude`) sorted by distance, closest first. kDeleted nodes are walked through.
std::vector<Candidate> SearchLayerForInsert(const Graph& g, const float* q, uint32_t ep, int level,
                                            size_t ef, uint32_t exclude);

struct KnnRequest {
  const float* query = nullptr;  // normalised for cosine
  size_t k = 0;
  size_t ef = 0;
  const Filter* filter = nullptr;
  const VectorSource* source = nullptr;  // int8 re-ranking when floats are not in memory
};

// k nearest live (and allowed) labels, closest first. Picks the exact scan for small known
// filter cardinalities, otherwise the graph walk, falling back to a full scan when a very
// selective filter makes the walk visit most of the graph.
std::vector<SearchHit> SearchKnn(const Graph& g, const KnnRequest& req);

// Whether a filter with `cardinality` allowed labels is answered by the exact scan.
bool UseExactPath(const Graph& g, size_t cardinality, size_t ef);

}  // namespace deepkb::hnsw::internal
