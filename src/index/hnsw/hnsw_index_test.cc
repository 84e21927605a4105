#include "index/hnsw/hnsw_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "index/hnsw/test_util.h"

namespace deepkb::hnsw {
namespace {

using testing::Build;
using testing::ClusteredData;
using testing::MeanRecall;
using testing::Options;
using testing::RandomData;
using testing::Row;

TEST(HnswIndex, CreateRejectsBadOptions) {
  HnswOptions o = Options(0);
  EXPECT_EQ(HnswIndex::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8);
  o.M = 1;
  EXPECT_EQ(HnswIndex::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8);
  o.ef_construction = 0;
  EXPECT_EQ(HnswIndex::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8);
  o.compaction_threshold = 0;
  EXPECT_EQ(HnswIndex::Create(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(HnswIndex::Create(Options(8)).ok());
}

TEST(HnswIndex, MetricNames) {
  EXPECT_EQ(MetricName(Metric::kL2), "l2");
  EXPECT_EQ(MetricName(Metric::kInnerProduct), "ip");
  EXPECT_EQ(MetricName(Metric::kCosine), "cosine");
}

TEST(HnswIndex, EmptyIndexReturnsNothing) {
  auto idx = std::move(HnswIndex::Create(Options(4))).value();
  std::vector<float> q = {1, 2, 3, 4};
  auto r = idx->Search(q, 5, 10);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(idx->size(), 0u);
  EXPECT_FALSE(idx->Contains(1));
  EXPECT_EQ(idx->Remove(1).code(), StatusCode::kNotFound);
}

TEST(HnswIndex, InvalidInputLeavesIndexUnchanged) {
  auto idx = std::move(HnswIndex::Create(Options(3, Metric::kCosine))).value();
  std::vector<float> good = {1, 0, 0};
  ASSERT_TRUE(idx->Add(1, good).ok());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> bad = {{1, 0}, {1, 0, 0, 0}, {nan, 0, 0}, {0, inf, 0}, {0, 0, 0}};
  for (const auto& v : bad) {
    EXPECT_EQ(idx->Add(2, v).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(idx->Add(1, v).code(), StatusCode::kInvalidArgument);  // no half-update either
    EXPECT_EQ(idx->Search(v, 1, 10).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(idx->size(), 1u);
  EXPECT_FALSE(idx->Contains(2));
  auto r = idx->Search(good, 1, 10);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].label, 1u);
  EXPECT_NEAR((*r)[0].distance, 0.0f, 1e-6);
  EXPECT_EQ(idx->Stats().tombstones, 0u);
  // A zero vector is fine under L2 and inner product.
  auto l2 = std::move(HnswIndex::Create(Options(3, Metric::kL2))).value();
  EXPECT_TRUE(l2->Add(1, std::vector<float>{0, 0, 0}).ok());
}

TEST(HnswIndex, RecallOnRandomData) {
  size_t dim = 32, n = 3000;
  auto data = RandomData(n, dim, 1);
  auto queries = RandomData(50, dim, 2);
  auto idx = Build(Options(dim, Metric::kL2, 16, 64), data);
  EXPECT_EQ(idx->size(), n);
  EXPECT_GE(MeanRecall(*idx, data, queries, 10, 128), 0.95);
}

TEST(HnswIndex, RecallOnClusteredData) {
  size_t dim = 64, n = 5000;
  auto data = ClusteredData(n, dim, 30, 3);
  auto queries = ClusteredData(50, dim, 30, 4);
  auto idx = Build(Options(dim, Metric::kL2, 16, 64), data);
  double r = MeanRecall(*idx, data, queries, 10, 64);
  EXPECT_GE(r, 0.95);
  // Results are sorted and carry brute-force distances.
  auto hits = *idx->Search(Row(queries, dim, 0), 10, 64);
  auto truth = BruteForce(data, dim, Metric::kL2, Row(queries, dim, 0), 10);
  for (size_t i = 1; i < hits.size(); ++i) EXPECT_LE(hits[i - 1].distance, hits[i].distance);
  EXPECT_NEAR(hits[0].distance, truth[0].distance, 1e-3 * (1 + truth[0].distance));
  IndexStats s = idx->Stats();
  EXPECT_EQ(s.live, n);
  EXPECT_GE(s.capacity, n);
  EXPECT_GT(s.memory_bytes, n * dim * sizeof(float));
}

class MetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(MetricTest, MatchesBruteForce) {
  Metric m = GetParam();
  size_t dim = 24, n = 2000;
  auto data = ClusteredData(n, dim, 10, 5);
  auto queries = ClusteredData(30, dim, 10, 6);
  auto idx = Build(Options(dim, m, 12, 80), data);
  EXPECT_GE(MeanRecall(*idx, data, queries, 10, 64), 0.95);
  for (size_t q = 0; q < 5; ++q) {
    auto hits = *idx->Search(Row(queries, dim, q), 5, 64);
    auto truth = BruteForce(data, dim, m, Row(queries, dim, q), 5);
    ASSERT_FALSE(hits.empty());
    EXPECT_NEAR(hits[0].distance, truth[0].distance, 1e-4 * (1 + std::fabs(truth[0].distance)));
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, MetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

TEST(HnswIndex, CosineNormalisesInsertAndQuery) {
  auto idx = std::move(HnswIndex::Create(Options(2, Metric::kCosine))).value();
  ASSERT_TRUE(idx->Add(1, std::vector<float>{10, 0}).ok());
  ASSERT_TRUE(idx->Add(2, std::vector<float>{0, 0.1f}).ok());
  auto r = *idx->Search(std::vector<float>{0.5f, 0}, 2, 10);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].label, 1u);
  EXPECT_NEAR(r[0].distance, 0.0f, 1e-6);
  EXPECT_NEAR(r[1].distance, 1.0f, 1e-6);
}

TEST(HnswIndex, UpdateReplacesVector) {
  size_t dim = 8;
  auto data = RandomData(500, dim, 7);
  auto idx = Build(Options(dim), data);
  std::vector<float> far(dim, 50.0f);
  ASSERT_TRUE(idx->Add(3, far).ok());
  EXPECT_EQ(idx->size(), 500u);
  auto r = *idx->Search(far, 1, 32);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 3u);
  EXPECT_NEAR(r[0].distance, 0.0f, 1e-6);
  // The old vector no longer answers for label 3.
  auto old = *idx->Search(Row(data, dim, 3), 3, 64);
  for (const auto& h : old) EXPECT_NE(h.label, 3u);
  EXPECT_EQ(idx->Stats().tombstones, 1u);
}

TEST(HnswIndex, RemoveHidesLabelAndReinsertWorks) {
  size_t dim = 8;
  auto data = RandomData(300, dim, 8);
  auto idx = Build(Options(dim), data);
  ASSERT_TRUE(idx->Remove(5).ok());
  EXPECT_EQ(idx->Remove(5).code(), StatusCode::kNotFound);
  EXPECT_FALSE(idx->Contains(5));
  EXPECT_EQ(idx->size(), 299u);
  auto labels = idx->Labels();
  EXPECT_EQ(labels.size(), 299u);
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels[5], 6u);
  auto r = *idx->Search(Row(data, dim, 5), 10, 64);
  for (const auto& h : r) EXPECT_NE(h.label, 5u);
  ASSERT_TRUE(idx->Add(5, Row(data, dim, 5)).ok());
  r = *idx->Search(Row(data, dim, 5), 1, 64);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 5u);
}

TEST(HnswIndex, KLargerThanIndexAndEfSmallerThanK) {
  size_t dim = 4;
  auto data = RandomData(20, dim, 9);
  auto idx = Build(Options(dim), data);
  auto r = *idx->Search(Row(data, dim, 0), 50, 1);
  EXPECT_EQ(r.size(), 20u);
  EXPECT_TRUE(idx->Search(Row(data, dim, 0), 0, 10)->empty());
}

// Deletes and updates interleaved with inserts: results stay correct against brute force over
// the live set, tombstoned slots get reused, and Compact() clears the rest.
TEST(HnswIndex, DeletesAndUpdatesKeepRecallAndReuseSlots) {
  size_t dim = 32, n = 3000;
  auto data = ClusteredData(n, dim, 20, 10);
  auto extra = ClusteredData(n, dim, 20, 11);
  auto queries = ClusteredData(40, dim, 20, 12);
  HnswOptions o = Options(dim, Metric::kL2, 16, 64);
  auto idx = Build(o, data);
  std::vector<float> live = data;  // label i -> row i
  std::vector<bool> alive(n, true);
  std::mt19937 rng(13);
  size_t capacity_before = idx->Stats().capacity;
  // Remove 30%, update 20%, re-add half of the removed with new vectors.
  std::vector<size_t> removed;
  for (size_t i = 0; i < n; ++i) {
    int r = rng() % 10;
    if (r < 3) {
      ASSERT_TRUE(idx->Remove(i).ok());
      alive[i] = false;
      removed.push_back(i);
    } else if (r < 5) {
      ASSERT_TRUE(idx->Add(i, Row(extra, dim, i)).ok());
      std::copy_n(extra.data() + i * dim, dim, live.data() + i * dim);
    }
  }
  for (size_t j = 0; j < removed.size(); j += 2) {
    size_t i = removed[j];
    ASSERT_TRUE(idx->Add(i, Row(extra, dim, i)).ok());
    std::copy_n(extra.data() + i * dim, dim, live.data() + i * dim);
    alive[i] = true;
  }
  size_t nlive = 0;
  for (bool a : alive) nlive += a;
  EXPECT_EQ(idx->size(), nlive);
  auto allow = [&](size_t i) { return static_cast<bool>(alive[i]); };
  double r = MeanRecall(*idx, live, queries, 10, 96, nullptr, allow);
  EXPECT_GE(r, 0.95);
  IndexStats s = idx->Stats();
  // ~2,000 replaced or removed vectors, but slots were reclaimed rather than all appended.
  EXPECT_LT(s.tombstones, 450u);
  EXPECT_LE(s.capacity, capacity_before * 2);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(idx->Contains(i), alive[i]);

  ASSERT_TRUE(idx->Compact().ok());
  s = idx->Stats();
  EXPECT_EQ(s.tombstones, 0u);
  EXPECT_EQ(s.live, nlive);
  EXPECT_FALSE(idx->NeedsCompaction());
  EXPECT_GE(MeanRecall(*idx, live, queries, 10, 96, nullptr, allow), 0.95);
}

TEST(HnswIndex, NeedsCompactionAfterManyDeletes) {
  size_t dim = 8;
  auto data = RandomData(400, dim, 14);
  HnswOptions o = Options(dim);
  o.compaction_threshold = 0.25;
  auto idx = Build(o, data);
  EXPECT_FALSE(idx->NeedsCompaction());
  for (size_t i = 0; i < 150; ++i) ASSERT_TRUE(idx->Remove(i).ok());
  EXPECT_TRUE(idx->NeedsCompaction());
  ASSERT_TRUE(idx->Compact().ok());
  EXPECT_FALSE(idx->NeedsCompaction());
  EXPECT_EQ(idx->size(), 250u);
  auto r = *idx->Search(Row(data, dim, 200), 1, 32);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 200u);
}

TEST(HnswIndex, RemovingEverythingThenAddingWorks) {
  size_t dim = 6;
  auto data = RandomData(200, dim, 15);
  auto idx = Build(Options(dim), data);
  for (size_t i = 0; i < 200; ++i) ASSERT_TRUE(idx->Remove(i).ok());
  EXPECT_TRUE(idx->Search(Row(data, dim, 0), 5, 10)->empty());
  for (size_t i = 0; i < 200; ++i) ASSERT_TRUE(idx->Add(1000 + i, Row(data, dim, i)).ok());
  auto r = *idx->Search(Row(data, dim, 7), 1, 32);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 1007u);
  ASSERT_TRUE(idx->Compact().ok());
  EXPECT_EQ(idx->Stats().tombstones, 0u);
  r = *idx->Search(Row(data, dim, 7), 1, 32);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 1007u);
}

TEST(HnswIndex, BruteForceHonoursAllow) {
  std::vector<float> data = {0, 0, 1, 1, 2, 2};
  std::vector<float> q = {0, 0};
  auto all = BruteForce(data, 2, Metric::kL2, q, 3);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].label, 0u);
  auto some = BruteForce(data, 2, Metric::kL2, q, 3, [](size_t i) { return i != 0; });
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].label, 1u);
  EXPECT_FLOAT_EQ(some[0].distance, 2.0f);
}

}  // namespace
}  // namespace deepkb::hnsw
