// Concurrency stress: searches running while other threads insert, update, remove and compact.
// Meant to be run under ThreadSanitizer as well (build with -fsanitize=thread).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/test_util.h"

namespace deepkb::hnsw {
namespace {

using testing::Row;

struct StressConfig {
  bool int8 = false;
  bool compact = true;
  size_t writers = 2;
  size_t searchers = 2;
  size_t ops_per_writer = 1000;
};

void RunStress(const StressConfig& cfg) {
  const size_t dim = 16, initial = 1100, range = 1000;  // each writer owns `range` labels
  HnswOptions o = testing::Options(dim, Metric::kCosine, 8, 40);
  o.int8 = cfg.int8;
  auto data = testing::ClusteredData(initial + cfg.writers * range * 2, dim, 12, 40);
  auto idx = std::move(HnswIndex::Create(o)).value();
  for (size_t i = 0; i < initial; ++i) ASSERT_TRUE(idx->Add(i, Row(data, dim, i)).ok());

  std::atomic<bool> stop{false};
  std::atomic<size_t> searches{0}, bad{0};
  const Label max_label = initial + cfg.writers * range;
  auto searcher = [&](int seed) {
    std::mt19937 rng(seed);
    std::vector<bool> allowed(max_label, false);
    for (size_t i = 0; i < max_label; i += 3) allowed[i] = true;
    LabelSetFilter small({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    class Pred : public Filter {
     public:
      explicit Pred(const std::vector<bool>* a) : a_(a) {}
      bool Allows(Label l) const override { return l < a_->size() && (*a_)[l]; }
      const std::vector<bool>* a_;
    } pred(&allowed);
    while (!stop.load()) {
      size_t q = rng() % (data.size() / dim);
      const Filter* f = nullptr;
      int mode = rng() % 4;
      if (mode == 1) f = &small;
      if (mode == 2) f = &pred;
      auto r = idx->Search(Row(data, dim, q), 10, 32, f);
      if (!r.ok()) {
        ++bad;
        continue;
      }
      std::unordered_set<Label> seen;
      for (size_t i = 0; i < r->size(); ++i) {
        const SearchHit& h = (*r)[i];
        if (h.label >= max_label || !seen.insert(h.label).second) ++bad;
        if (i > 0 && (*r)[i - 1].distance > h.distance) ++bad;
        if (f && !f->Allows(h.label)) ++bad;
      }
      idx->Contains(q % max_label);
      ++searches;
    }
  };
  // Writer w owns labels [initial + w·range, initial + (w+1)·range) plus updates/removes of the
  // initial labels ≡ w (mod writers); `present` is its model of which of its labels exist.
  std::vector<std::vector<int>> present(cfg.writers);
  auto writer = [&](size_t w) {
    std::mt19937 rng(1000 + w);
    std::vector<int>& have = present[w];
    have.assign(max_label, -1);  // -1 unknown (not owned), 0 absent, 1 present
    for (Label l = w; l < initial; l += cfg.writers) have[l] = 1;
    Label base = initial + w * range;
    for (Label l = base; l < base + range; ++l) have[l] = 0;
    for (size_t op = 0; op < cfg.ops_per_writer; ++op) {
      int kind = rng() % 10;
      Label l =
          (rng() % 2) ? base + rng() % range : (rng() % (initial / cfg.writers)) * cfg.writers + w;
      size_t row = initial + (rng() % (cfg.writers * range * 2 - 1));
      if (kind < 6) {
        ASSERT_TRUE(idx->Add(l, Row(data, dim, row)).ok());
        have[l] = 1;
      } else {
        Status st = idx->Remove(l);
        ASSERT_EQ(st.ok(), have[l] == 1) << st.ToString();
        have[l] = 0;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t s = 0; s < cfg.searchers; ++s) threads.emplace_back(searcher, static_cast<int>(s));
  std::thread compactor;
  std::atomic<bool> writers_done{false};
  if (cfg.compact) {
    compactor = std::thread([&] {
      while (!writers_done.load()) {
        EXPECT_TRUE(idx->Compact().ok());
        idx->Stats();
        idx->NeedsCompaction();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  std::vector<std::thread> writers;
  for (size_t w = 0; w < cfg.writers; ++w) writers.emplace_back(writer, w);
  for (auto& t : writers) t.join();
  writers_done = true;
  if (compactor.joinable()) compactor.join();
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(searches.load(), 0u);
  size_t expect_live = 0;
  for (Label l = 0; l < max_label; ++l) {
    int state = -1;
    for (const auto& p : present) {
      if (p[l] != -1) state = p[l];
    }
    ASSERT_NE(state, -1) << l;
    EXPECT_EQ(idx->Contains(l), state == 1) << l;
    expect_live += state == 1;
  }
  EXPECT_EQ(idx->size(), expect_live);
  // The graph is still navigable after all that.
  ASSERT_TRUE(idx->Compact().ok());
  EXPECT_EQ(idx->Stats().tombstones, 0u);
  EXPECT_EQ(idx->size(), expect_live);
}

TEST(HnswConcurrency, SearchesWhileInsertingUpdatingRemovingAndCompacting) {
  RunStress(StressConfig{});
}

// Without Compact() the removes and updates pile up tombstones, so Adds keep reclaiming them
// (unlink alongside other writers, final sweep, grace period, slot reuse) under the searches.
TEST(HnswConcurrency, SearchesWhileTombstonesAreReclaimed) {
  StressConfig cfg;
  cfg.compact = false;
  cfg.writers = 3;
  RunStress(cfg);
}

TEST(HnswConcurrency, Int8SearchesWhileWritingAndTraining) {
  StressConfig cfg;
  cfg.int8 = true;
  cfg.compact = false;
  RunStress(cfg);
}

TEST(HnswConcurrency, ParallelInsertsBuildAGoodGraph) {
  size_t dim = 24, n = 4000, threads = 4;
  auto data = testing::ClusteredData(n, dim, 20, 50);
  auto queries = testing::ClusteredData(30, dim, 20, 51);
  auto idx = std::move(HnswIndex::Create(testing::Options(dim, Metric::kL2, 12, 60))).value();
  std::vector<std::thread> ts;
  for (size_t t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (size_t i = t; i < n; i += threads) ASSERT_TRUE(idx->Add(i, Row(data, dim, i)).ok());
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(idx->size(), n);
  EXPECT_GE(testing::MeanRecall(*idx, data, queries, 10, 64), 0.95);
}

TEST(HnswConcurrency, ParallelCompaction) {
  size_t dim = 16, n = 2000;
  auto data = testing::ClusteredData(n, dim, 10, 60);
  auto queries = testing::ClusteredData(20, dim, 10, 61);
  HnswOptions o = testing::Options(dim);
  o.compact_threads = 3;
  auto idx = testing::Build(o, data);
  for (size_t i = 0; i < n; i += 3) ASSERT_TRUE(idx->Remove(i).ok());
  ASSERT_TRUE(idx->Compact().ok());
  auto allow = [](size_t i) { return i % 3 != 0; };
  EXPECT_GE(testing::MeanRecall(*idx, data, queries, 10, 64, nullptr, allow), 0.95);
}

}  // namespace
}  // namespace deepkb::hnsw
