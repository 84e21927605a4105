// Helpers shared by the HNSW unit tests: data generators, recall, index building.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <unordered_set>
#include <vector>

#include "index/hnsw/hnsw_index.h"

namespace deepkb::hnsw::testing {

// n × dim uniform in [-1, 1].
inline std::vector<float> RandomData(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (float& x : v) x = u(rng);
  return v;
}

// n × dim points around `clusters` random centres. Like real embeddings, each cluster spreads
// mostly along a few directions (a random subspace of dim/4, at most 32, dimensions per cluster,
// scale sigma) plus weaker isotropic noise (0.3 sigma): a moderate intrinsic dimension.
inline std::vector<float> ClusteredData(size_t n, size_t dim, size_t clusters, uint64_t seed,
                                        float sigma = 0.15f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const size_t k = std::clamp<size_t>(dim / 4, 2, 32);
  // Centres and bases depend only on (clusters, dim), not on seed, so queries generated with
  // another seed come from the same distribution.
  std::mt19937_64 shape_rng(0x5eed ^ (clusters * 1315423911u) ^ dim);
  std::vector<float> centres(clusters * dim), bases(clusters * dim * k);
  for (float& x : centres) x = u(shape_rng);
  for (float& x : bases) x = g(shape_rng) / std::sqrt(static_cast<float>(k));
  std::vector<float> v(n * dim), z(k);
  for (size_t i = 0; i < n; ++i) {
    size_t c = rng() % clusters;
    for (float& x : z) x = g(rng) * sigma;
    const float* b = &bases[c * dim * k];
    for (size_t d = 0; d < dim; ++d) {
      float x = centres[c * dim + d] + g(rng) * sigma * 0.3f;
      for (size_t j = 0; j < k; ++j) x += b[d * k + j] * z[j];
      v[i * dim + d] = x;
    }
  }
  return v;
}

inline std::span<const float> Row(const std::vector<float>& data, size_t dim, size_t i) {
  return std::span<const float>(data.data() + i * dim, dim);
}

// Share of `truth` labels found in `got`.
inline double Recall(const std::vector<SearchHit>& got, const std::vector<SearchHit>& truth) {
  if (truth.empty()) return got.empty() ? 1.0 : 0.0;
  std::unordered_set<Label> t;
  for (const auto& h : truth) t.insert(h.label);
  size_t hit = 0;
  for (const auto& h : got) hit += t.count(h.label);
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

inline HnswOptions Options(size_t dim, Metric metric = Metric::kL2, size_t M = 16,
                           size_t efc = 100) {
  HnswOptions o;
  o.dim = dim;
  o.metric = metric;
  o.M = M;
  o.ef_construction = efc;
  o.initial_capacity = 256;
  return o;
}

inline std::unique_ptr<HnswIndex> Build(const HnswOptions& opts, const std::vector<float>& data) {
  auto idx = HnswIndex::Create(opts);
  EXPECT_TRUE(idx.ok()) << idx.status().ToString();
  size_t n = data.size() / opts.dim;
  for (size_t i = 0; i < n; ++i) {
    Status st = (*idx)->Add(i, Row(data, opts.dim, i));
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return std::move(idx).value();
}

// Mean recall@k of `idx` against brute force over `data` for `nq` queries.
inline double MeanRecall(const HnswIndex& idx, const std::vector<float>& data,
                         const std::vector<float>& queries, size_t k, size_t ef,
                         const Filter* filter = nullptr,
                         const std::function<bool(size_t)>& allow = nullptr) {
  size_t dim = idx.options().dim;
  size_t nq = queries.size() / dim;
  double sum = 0;
  for (size_t q = 0; q < nq; ++q) {
    auto got = idx.Search(Row(queries, dim, q), k, ef, filter);
    EXPECT_TRUE(got.ok());
    auto truth = BruteForce(data, dim, idx.options().metric, Row(queries, dim, q), k, allow);
    sum += Recall(*got, truth);
  }
  return sum / static_cast<double>(nq);
}

}  // namespace deepkb::hnsw::testing
