#include "index/hnsw/distance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/test_util.h"

namespace deepkb::hnsw {
namespace {

const size_t kDims[] = {1, 7, 17, 128, 769};

std::vector<SimdLevel> SupportedLevels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (KernelsFor(l)) out.push_back(l);
  }
  return out;
}

// Reference computed in double precision.
double RefL2(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += (static_cast<double>(a[i]) - b[i]) * (a[i] - b[i]);
  return s;
}
double RefDot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}
double RefDotU8(const float* w, const uint8_t* c, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * c[i];
  return s;
}
double AbsSum(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += std::fabs(static_cast<double>(a[i]) * b[i]) + a[i] * a[i] + b[i] * b[i];
  return s;
}

TEST(Distance, ScalarIsAlwaysAvailableAndDetectionIsConsistent) {
  ASSERT_NE(KernelsFor(SimdLevel::kScalar), nullptr);
  EXPECT_NE(KernelsFor(DetectedSimdLevel()), nullptr);
  EXPECT_EQ(ActiveKernels().level, ActiveSimdLevel());
}

TEST(Distance, EveryKernelMatchesScalarOnOddDimensions) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  const Kernels& scalar = *KernelsFor(SimdLevel::kScalar);
  for (SimdLevel level : SupportedLevels()) {
    const Kernels& k = *KernelsFor(level);
    EXPECT_EQ(k.level, level);
    for (size_t n : kDims) {
      for (int rep = 0; rep < 20; ++rep) {
        // Offset by one float so SIMD loads are unaligned, and surround with guard values.
        std::vector<float> a(n + 2), b(n + 2), w(n + 2);
        std::vector<uint8_t> c(n + 2);
        for (size_t i = 0; i < n + 2; ++i) {
          a[i] = u(rng);
          b[i] = u(rng);
          w[i] = u(rng);
          c[i] = static_cast<uint8_t>(byte(rng));
        }
        const float *pa = a.data() + 1, *pb = b.data() + 1, *pw = w.data() + 1;
        const uint8_t* pc = c.data() + 1;
        double tol = 1e-5 * AbsSum(pa, pb, n) + 1e-6;
        SCOPED_TRACE(::testing::Message() << SimdLevelName(level) << " n=" << n);
        EXPECT_NEAR(k.l2_sqr(pa, pb, n), RefL2(pa, pb, n), tol);
        EXPECT_NEAR(k.l2_sqr(pa, pb, n), scalar.l2_sqr(pa, pb, n), tol);
        EXPECT_NEAR(k.dot(pa, pb, n), RefDot(pa, pb, n), tol);
        EXPECT_NEAR(k.dot(pa, pb, n), scalar.dot(pa, pb, n), tol);
        double tol8 = 1e-5 * 255.0 * n * 2.0 + 1e-4;
        EXPECT_NEAR(k.dot_u8(pw, pc, n), RefDotU8(pw, pc, n), tol8);
        EXPECT_NEAR(k.dot_u8(pw, pc, n), scalar.dot_u8(pw, pc, n), tol8);
      }
    }
  }
}

TEST(Distance, IdenticalVectorsHaveZeroL2) {
  for (SimdLevel level : SupportedLevels()) {
    for (size_t n : kDims) {
      std::vector<float> a(n, 0.5f);
      EXPECT_EQ(KernelsFor(level)->l2_sqr(a.data(), a.data(), n), 0.0f);
    }
  }
}

TEST(Distance, ForcedLevelIsClampedAndReset) {
  EXPECT_EQ(ForceSimdLevelForTesting(SimdLevel::kScalar), SimdLevel::kScalar);
  EXPECT_EQ(ActiveSimdLevel(), SimdLevel::kScalar);
  EXPECT_EQ(ActiveKernels().level, SimdLevel::kScalar);
  SimdLevel got = ForceSimdLevelForTesting(SimdLevel::kAvx2);
  EXPECT_LE(static_cast<int>(got), static_cast<int>(SimdLevel::kAvx2));
  EXPECT_EQ(ActiveKernels().level, got);
  SimdLevel top = ForceSimdLevelForTesting(SimdLevel::kAvx512);
  EXPECT_EQ(top, DetectedSimdLevel());
  ResetSimdLevelForTesting();
  EXPECT_EQ(ActiveSimdLevel(), DetectedSimdLevel());
}

// An index built while a level is forced gives the same answers as one built at the detected
// level (same graph: the RNG is seeded and distances agree to rounding).
TEST(Distance, IndexWorksAtEveryForcedLevel) {
  size_t dim = 17, n = 600;
  auto data = testing::ClusteredData(n, dim, 8, 3);
  auto queries = testing::ClusteredData(20, dim, 8, 4);
  for (SimdLevel level : SupportedLevels()) {
    ASSERT_EQ(ForceSimdLevelForTesting(level), level);
    auto idx = testing::Build(testing::Options(dim, Metric::kCosine, 8, 64), data);
    ResetSimdLevelForTesting();
    SCOPED_TRACE(SimdLevelName(level));
    EXPECT_GE(testing::MeanRecall(*idx, data, queries, 10, 64), 0.97);
  }
  ResetSimdLevelForTesting();
}

TEST(Distance, NormalizeInPlace) {
  std::vector<float> v = {3, 4};
  EXPECT_FLOAT_EQ(NormalizeInPlace(v.data(), 2), 5.0f);
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  std::vector<float> z = {0, 0};
  EXPECT_EQ(NormalizeInPlace(z.data(), 2), 0.0f);
  EXPECT_EQ(z[0], 0.0f);
}

}  // namespace
}  // namespace deepkb::hnsw
