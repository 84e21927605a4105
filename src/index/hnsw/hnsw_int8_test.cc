// int8 mode: recall with float re-ranking, memory, keeping floats out of RAM, snapshots.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/test_util.h"

namespace deepkb::hnsw {
namespace {

using testing::Row;

// Serves float vectors from the test's data array (label = row), like the KB's chunk_vectors.
class ArraySource : public VectorSource {
 public:
  ArraySource(const std::vector<float>* data, size_t dim) : data_(data), dim_(dim) {}
  bool Fetch(Label label, std::span<float> out) const override {
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if ((label + 1) * dim_ > data_->size() || out.size() != dim_) return false;
    std::copy_n(data_->data() + label * dim_, dim_, out.data());
    return true;
  }
  size_t fetches() const { return fetches_.load(); }

 private:
  const std::vector<float>* data_;
  size_t dim_;
  mutable std::atomic<size_t> fetches_{0};
};

// Wide clusters (sigma 0.4) so int8 rounding actually reorders near neighbours.
struct Int8Fixture {
  static constexpr size_t kDim = 32, kN = 2000, kQ = 40;
  std::vector<float> data = testing::ClusteredData(kN, kDim, 20, 80, 0.4f);
  std::vector<float> queries = testing::ClusteredData(kQ, kDim, 20, 81, 0.4f);
};

TEST(HnswInt8, RecallWithFloatRerankIsCloseToFloat) {
  Int8Fixture f;
  HnswOptions o = testing::Options(f.kDim, Metric::kCosine, 16, 48);
  auto flt = testing::Build(o, f.data);
  o.int8 = true;
  auto q8 = testing::Build(o, f.data);
  for (size_t ef : {10, 16, 32}) {
    std::cout << "[ recall@10 ef=" << ef << " ] float "
              << testing::MeanRecall(*flt, f.data, f.queries, 10, ef) << "  int8+rerank "
              << testing::MeanRecall(*q8, f.data, f.queries, 10, ef) << "\n";
  }
  double rf = testing::MeanRecall(*flt, f.data, f.queries, 10, 64);
  double r8 = testing::MeanRecall(*q8, f.data, f.queries, 10, 64);
  std::cout << "[ recall@10 ef=64 ] float " << rf << "  int8+rerank " << r8 << "  loss " << rf - r8
            << "\n";
  EXPECT_GE(r8, 0.95);
  EXPECT_GE(r8, rf - 0.02);
  // Re-ranked distances are the exact float distances.
  auto hits = *q8->Search(Row(f.queries, f.kDim, 0), 3, 64);
  auto truth = BruteForce(f.data, f.kDim, Metric::kCosine, Row(f.queries, f.kDim, 0), 3);
  EXPECT_NEAR(hits[0].distance, truth[0].distance, 1e-5);
}

TEST(HnswInt8, WithoutFloatsInMemoryRerankUsesTheSource) {
  Int8Fixture f;
  ArraySource source(&f.data, f.kDim);
  HnswOptions o = testing::Options(f.kDim, Metric::kL2, 16, 48);
  auto flt = testing::Build(o, f.data);
  o.int8 = true;
  o.keep_float_vectors = false;
  o.rerank_source = &source;
  auto q8 = testing::Build(o, f.data);
  double r8 = testing::MeanRecall(*q8, f.data, f.queries, 10, 64);
  EXPECT_GE(r8, 0.95);
  EXPECT_GT(source.fetches(), 0u);
  // Without a source the answers use int8 distances: still good recall, approximate distances.
  HnswOptions o2 = o;
  o2.rerank_source = nullptr;
  auto q8n = testing::Build(o2, f.data);
  double rn = testing::MeanRecall(*q8n, f.data, f.queries, 10, 64);
  std::cout << "[ recall@10 ef=64 L2 ] int8+source rerank " << r8 << "  int8 no rerank " << rn
            << "\n";
  EXPECT_GE(rn, 0.85);
  size_t mf = flt->Stats().memory_bytes, m8 = q8->Stats().memory_bytes;
  std::cout << "[ memory dim=" << f.kDim << " n=" << f.kN << " ] float " << mf << " int8 " << m8
            << " ratio " << static_cast<double>(m8) / mf << "\n";
  EXPECT_LT(m8, mf);
  // The exact filtered path works too (codes scan + source re-rank).
  LabelSetFilter few({1, 2, 3, 4, 5, 6, 7, 8});
  auto allow = [](size_t i) { return i >= 1 && i <= 8; };
  EXPECT_EQ(testing::MeanRecall(*q8, f.data, f.queries, 5, 16, &few, allow), 1.0);
}

TEST(HnswInt8, MemoryRatioAtEmbeddingSizedDimensions) {
  // 384-d (e.g. bge-small) with codes only in RAM: the ratio the architecture targets.
  size_t dim = 384, n = 1200;
  auto data = testing::RandomData(n, dim, 82);
  HnswOptions o = testing::Options(dim, Metric::kCosine, 16, 16);
  auto flt = testing::Build(o, data);
  o.int8 = true;
  o.keep_float_vectors = false;
  auto q8 = testing::Build(o, data);
  double ratio = static_cast<double>(q8->Stats().memory_bytes) / flt->Stats().memory_bytes;
  std::cout << "[ memory dim=384 n=1200 ] int8/float = " << ratio << "\n";
  EXPECT_LE(ratio, 0.40);
}

TEST(HnswInt8, DriftOutsideTheFittedRangeAsksForCompaction) {
  size_t dim = 8;
  auto first = testing::RandomData(1100, dim, 84);  // fitted on [-1, 1]
  auto later = testing::RandomData(1100, dim, 85);
  for (float& x : later) x = x * 3 + 6;  // [3, 9]: every coordinate clamps
  HnswOptions o = testing::Options(dim, Metric::kL2, 8, 32);
  o.int8 = true;
  auto idx = testing::Build(o, first);
  EXPECT_FALSE(idx->NeedsCompaction());
  for (size_t i = 0; i < 1100; ++i) ASSERT_TRUE(idx->Add(5000 + i, Row(later, dim, i)).ok());
  EXPECT_TRUE(idx->NeedsCompaction());
  ASSERT_TRUE(idx->Compact().ok());
  EXPECT_FALSE(idx->NeedsCompaction());
  auto r = *idx->Search(Row(later, dim, 9), 1, 32);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 5009u);
}

TEST(HnswInt8, SmallIndexWorksOnFloatsBeforeTraining) {
  size_t dim = 12, n = 300;  // below the 1,000 vectors needed to fit the quantiser
  auto data = testing::RandomData(n, dim, 83);
  HnswOptions o = testing::Options(dim);
  o.int8 = true;
  o.keep_float_vectors = false;
  auto idx = testing::Build(o, data);
  auto r = *idx->Search(Row(data, dim, 17), 1, 32);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].label, 17u);
  EXPECT_NEAR(r[0].distance, 0.0f, 1e-6);
}

TEST(HnswInt8, CompactRefitsAndSnapshotsRoundTrip) {
  Int8Fixture f;
  for (bool keep : {true, false}) {
    SCOPED_TRACE(keep);
    ArraySource source(&f.data, f.kDim);
    HnswOptions o = testing::Options(f.kDim, Metric::kCosine, 12, 40);
    o.int8 = true;
    o.keep_float_vectors = keep;
    o.rerank_source = keep ? nullptr : &source;
    auto idx = testing::Build(o, f.data);
    for (size_t i = 0; i < f.kN; i += 5) ASSERT_TRUE(idx->Remove(i).ok());
    ASSERT_TRUE(idx->Compact().ok());
    auto allow = [](size_t i) { return i % 5 != 0; };
    EXPECT_GE(testing::MeanRecall(*idx, f.data, f.queries, 10, 64, nullptr, allow), 0.95);
    std::string p = (std::filesystem::temp_directory_path() /
                     ("hnsw_int8_snap_" + std::to_string(::getpid()) + (keep ? "k" : "n")))
                        .string();
    ASSERT_TRUE(idx->SaveSnapshot(p, 5).ok());
    auto loaded = LoadSnapshot(p, keep ? nullptr : &source);
    std::filesystem::remove(p);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_TRUE(loaded->index->options().int8);
    EXPECT_EQ(loaded->index->options().keep_float_vectors, keep);
    for (size_t q = 0; q < 10; ++q) {
      auto a = *idx->Search(Row(f.queries, f.kDim, q), 10, 48);
      auto b = *loaded->index->Search(Row(f.queries, f.kDim, q), 10, 48);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].label, b[i].label);
        EXPECT_NEAR(a[i].distance, b[i].distance, 1e-6);
      }
    }
  }
}

}  // namespace
}  // namespace deepkb::hnsw
