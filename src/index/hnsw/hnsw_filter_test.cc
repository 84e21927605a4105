// Filtered search against brute force at every selectivity, on both the exact path (filters
// with a known cardinality) and the graph walk (predicate filters).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <unordered_set>

#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/test_util.h"

namespace deepkb::hnsw {
namespace {

using testing::Row;

// A filter that does not know its cardinality (forces the graph walk) and counts calls.
class PredicateFilter : public Filter {
 public:
  explicit PredicateFilter(const std::vector<bool>* allowed) : allowed_(allowed) {}
  bool Allows(Label label) const override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    return label < allowed_->size() && (*allowed_)[label];
  }
  size_t calls() const { return calls_.load(); }

 private:
  const std::vector<bool>* allowed_;
  mutable std::atomic<size_t> calls_{0};
};

class CountingSetFilter : public LabelSetFilter {
 public:
  using LabelSetFilter::LabelSetFilter;
  bool Allows(Label label) const override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    return LabelSetFilter::Allows(label);
  }
  size_t calls() const { return calls_.load(); }

 private:
  mutable std::atomic<size_t> calls_{0};
};

class FilterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new std::vector<float>(testing::ClusteredData(kN, kDim, 40, 21));
    queries_ = new std::vector<float>(testing::ClusteredData(kQueries, kDim, 40, 22));
    index_ = testing::Build(testing::Options(kDim, Metric::kL2, 16, 64), *data_).release();
  }
  static void TearDownTestSuite() {
    delete index_;
    delete data_;
    delete queries_;
  }
  static std::vector<bool> Allowed(double selectivity, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<bool> allowed(kN, false);
    size_t want = std::max<size_t>(1, static_cast<size_t>(selectivity * kN));
    std::vector<size_t> ids(kN);
    for (size_t i = 0; i < kN; ++i) ids[i] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    for (size_t i = 0; i < want; ++i) allowed[ids[i]] = true;
    return allowed;
  }
  // Mean recall@10 and whether every hit was allowed.
  static double Run(const Filter& f, const std::vector<bool>& allowed, size_t ef) {
    auto allow = [&](size_t i) { return static_cast<bool>(allowed[i]); };
    double sum = 0;
    for (size_t q = 0; q < kQueries; ++q) {
      auto hits = index_->Search(Row(*queries_, kDim, q), 10, ef, &f);
      EXPECT_TRUE(hits.ok());
      for (const auto& h : *hits) EXPECT_TRUE(allowed[h.label]) << h.label;
      auto truth = BruteForce(*data_, kDim, Metric::kL2, Row(*queries_, kDim, q), 10, allow);
      EXPECT_EQ(hits->size(), truth.size());
      sum += testing::Recall(*hits, truth);
    }
    return sum / kQueries;
  }

  static constexpr size_t kN = 10000;
  static constexpr size_t kDim = 32;
  static constexpr size_t kQueries = 30;
  static std::vector<float>* data_;
  static std::vector<float>* queries_;
  static HnswIndex* index_;
};

std::vector<float>* FilterTest::data_;
std::vector<float>* FilterTest::queries_;
HnswIndex* FilterTest::index_;

const double kSelectivities[] = {0.001, 0.01, 0.1, 0.5, 1.0};

TEST_F(FilterTest, PredicateFilterWalkIsAccurateAtEverySelectivity) {
  for (double s : kSelectivities) {
    auto allowed = Allowed(s, 100 + static_cast<uint64_t>(s * 1000));
    PredicateFilter f(&allowed);
    double r = Run(f, allowed, 64);
    SCOPED_TRACE(s);
    EXPECT_GE(r, 0.95) << "selectivity " << s;
    EXPECT_GT(f.calls(), 0u);  // the walk consults the filter
  }
}

TEST_F(FilterTest, KnownCardinalityUsesExactScanWhenSmall) {
  for (double s : kSelectivities) {
    auto allowed = Allowed(s, 200 + static_cast<uint64_t>(s * 1000));
    std::vector<Label> labels;
    for (size_t i = 0; i < kN; ++i) {
      if (allowed[i]) labels.push_back(i);
    }
    CountingSetFilter f(labels);
    double r = Run(f, allowed, 64);
    SCOPED_TRACE(s);
    // Up to 2,000 allowed (the default exact_search_threshold) or c² <= ef·M·N: exact scan,
    // which never calls Allows and has perfect recall.
    bool exact = labels.size() <= 2000 ||
                 static_cast<double>(labels.size()) * labels.size() <= 0.4 * 64.0 * 16 * kN;
    if (exact) {
      EXPECT_EQ(r, 1.0) << "selectivity " << s;
      EXPECT_EQ(f.calls(), 0u);
    } else {
      EXPECT_GE(r, 0.95) << "selectivity " << s;
      EXPECT_GT(f.calls(), 0u);
    }
  }
}

TEST_F(FilterTest, ExactPathSkipsUnknownAndRemovedLabels) {
  std::vector<Label> labels = {1, 2, 3, 999999};
  LabelSetFilter f(labels);
  auto hits = index_->Search(Row(*data_, kDim, 2), 10, 10, &f);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].label, 2u);
}

TEST_F(FilterTest, EmptyFilterReturnsNothing) {
  LabelSetFilter f({});
  auto hits = index_->Search(Row(*data_, kDim, 0), 10, 10, &f);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  std::vector<bool> none(kN, false);
  PredicateFilter p(&none);
  hits = index_->Search(Row(*data_, kDim, 0), 10, 10, &p);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

TEST(Filter, LabelSetFilterSortsAndDeduplicates) {
  LabelSetFilter f({5, 1, 5, 3});
  EXPECT_EQ(f.Cardinality(), 3u);
  EXPECT_TRUE(f.Allows(3));
  EXPECT_FALSE(f.Allows(4));
  std::vector<Label> seen;
  f.ForEach([&](Label l) { seen.push_back(l); });
  EXPECT_EQ(seen, (std::vector<Label>{1, 3, 5}));
}

// Filters and tombstones together: removed labels never come back even when allowed.
TEST(Filter, RespectsTombstones) {
  size_t dim = 16, n = 2000;
  auto data = testing::ClusteredData(n, dim, 10, 30);
  auto idx = testing::Build(testing::Options(dim), data);
  std::vector<bool> allowed(n, false);
  for (size_t i = 0; i < n; i += 2) allowed[i] = true;
  for (size_t i = 0; i < n; i += 4) ASSERT_TRUE(idx->Remove(i).ok());
  for (size_t i = 0; i < n; i += 4) allowed[i] = false;
  PredicateFilter f(&allowed);
  auto allow = [&](size_t i) { return static_cast<bool>(allowed[i]); };
  auto queries = testing::ClusteredData(20, dim, 10, 31);
  EXPECT_GE(testing::MeanRecall(*idx, data, queries, 10, 64, &f, allow), 0.95);
}

}  // namespace
}  // namespace deepkb::hnsw
