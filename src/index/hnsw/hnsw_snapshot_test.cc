#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/test_util.h"

namespace deepkb::hnsw {
namespace {

using testing::Row;
namespace fs = std::filesystem;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hnsw_snapshot_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string ReadAll(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteAll(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  fs::path dir_;
};

void ExpectSameResults(const HnswIndex& a, const HnswIndex& b, const std::vector<float>& queries) {
  size_t dim = a.options().dim;
  for (size_t q = 0; q < queries.size() / dim; ++q) {
    auto ra = a.Search(Row(queries, dim, q), 10, 48);
    auto rb = b.Search(Row(queries, dim, q), 10, 48);
    ASSERT_TRUE(ra.ok());
    ASSERT_TRUE(rb.ok());
    ASSERT_EQ(ra->size(), rb->size());
    for (size_t i = 0; i < ra->size(); ++i) {
      EXPECT_EQ((*ra)[i].label, (*rb)[i].label);
      EXPECT_FLOAT_EQ((*ra)[i].distance, (*rb)[i].distance);
    }
  }
}

TEST_F(SnapshotTest, RoundTripGivesEqualResults) {
  size_t dim = 20, n = 2000;
  auto data = testing::ClusteredData(n, dim, 15, 70);
  auto queries = testing::ClusteredData(30, dim, 15, 71);
  HnswOptions o = testing::Options(dim, Metric::kCosine, 10, 60);
  o.exact_search_threshold = 123;
  auto idx = testing::Build(o, data);
  for (size_t i = 0; i < n; i += 7) ASSERT_TRUE(idx->Remove(i).ok());  // tombstones survive
  std::string p = Path("snap");
  ASSERT_TRUE(idx->SaveSnapshot(p, 4242).ok());
  auto loaded = LoadSnapshot(p);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->covered_seq, 4242u);
  const HnswIndex& b = *loaded->index;
  EXPECT_EQ(b.options().dim, dim);
  EXPECT_EQ(b.options().metric, Metric::kCosine);
  EXPECT_EQ(b.options().M, 10u);
  EXPECT_EQ(b.options().exact_search_threshold, 123u);
  EXPECT_EQ(b.size(), idx->size());
  EXPECT_EQ(b.Stats().tombstones, idx->Stats().tombstones);
  EXPECT_EQ(b.Stats().max_level, idx->Stats().max_level);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(b.Contains(i), idx->Contains(i));
  ExpectSameResults(*idx, b, queries);
  // The loaded index keeps working.
  ASSERT_TRUE(loaded->index->Add(0, Row(data, dim, 0)).ok());
  EXPECT_TRUE(loaded->index->Contains(0));
  ASSERT_TRUE(loaded->index->Compact().ok());
  // No temp files left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(SnapshotTest, EmptyIndexRoundTrips) {
  auto idx = std::move(HnswIndex::Create(testing::Options(5))).value();
  ASSERT_TRUE(idx->SaveSnapshot(Path("empty"), 0).ok());
  auto loaded = LoadSnapshot(Path("empty"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->index->size(), 0u);
  std::vector<float> v(5, 1.0f);
  ASSERT_TRUE(loaded->index->Add(9, v).ok());
  EXPECT_EQ((*loaded->index->Search(v, 1, 10))[0].label, 9u);
}

TEST_F(SnapshotTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadSnapshot(Path("nope")).status().code(), StatusCode::kNotFound);
}

TEST_F(SnapshotTest, OverwritesAtomically) {
  size_t dim = 4;
  auto data = testing::RandomData(50, dim, 72);
  auto idx = testing::Build(testing::Options(dim), data);
  ASSERT_TRUE(idx->SaveSnapshot(Path("s"), 1).ok());
  ASSERT_TRUE(idx->Remove(3).ok());
  ASSERT_TRUE(idx->SaveSnapshot(Path("s"), 2).ok());
  auto loaded = LoadSnapshot(Path("s"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->covered_seq, 2u);
  EXPECT_FALSE(loaded->index->Contains(3));
}

// Flipping any single byte anywhere must give DataLoss, never a crash or a bad index.
TEST_F(SnapshotTest, EveryRandomByteFlipIsDataLoss) {
  size_t dim = 8, n = 400;
  auto data = testing::ClusteredData(n, dim, 5, 73);
  auto idx = testing::Build(testing::Options(dim, Metric::kL2, 6, 30), data);
  for (size_t i = 0; i < n; i += 9) ASSERT_TRUE(idx->Remove(i).ok());
  std::string p = Path("good");
  ASSERT_TRUE(idx->SaveSnapshot(p, 7).ok());
  std::string good = ReadAll(p);
  ASSERT_GT(good.size(), 1000u);
  std::mt19937_64 rng(74);
  std::string bad_path = Path("bad");
  for (int trial = 0; trial < 100; ++trial) {
    std::string bytes = good;
    // Cover the header densely: a third of the flips land in the first 128 bytes.
    size_t pos = trial % 3 == 0 ? rng() % 128 : rng() % bytes.size();
    uint8_t mask = static_cast<uint8_t>(1 + rng() % 255);
    bytes[pos] = static_cast<char>(bytes[pos] ^ mask);
    WriteAll(bad_path, bytes);
    auto r = LoadSnapshot(bad_path);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << "byte " << pos << " mask " << int(mask);
  }
}

TEST_F(SnapshotTest, TruncatedOrExtendedFileIsDataLoss) {
  size_t dim = 8, n = 300;
  auto data = testing::RandomData(n, dim, 75);
  auto idx = testing::Build(testing::Options(dim), data);
  std::string p = Path("good");
  ASSERT_TRUE(idx->SaveSnapshot(p, 1).ok());
  std::string good = ReadAll(p);
  std::mt19937_64 rng(76);
  std::vector<size_t> cuts = {
      0, 1, 7, 8, 40, 79, 80, 81, good.size() - 33, good.size() - 32, good.size() - 1};
  for (int i = 0; i < 20; ++i) cuts.push_back(rng() % good.size());
  for (size_t cut : cuts) {
    WriteAll(Path("cut"), good.substr(0, cut));
    EXPECT_EQ(LoadSnapshot(Path("cut")).status().code(), StatusCode::kDataLoss) << cut;
  }
  WriteAll(Path("long"), good + "x");
  EXPECT_EQ(LoadSnapshot(Path("long")).status().code(), StatusCode::kDataLoss);
}

TEST_F(SnapshotTest, SaveToMissingDirectoryFails) {
  auto idx = std::move(HnswIndex::Create(testing::Options(4))).value();
  Status st = idx->SaveSnapshot(Path("no/such/dir/snap"), 1);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace deepkb::hnsw
