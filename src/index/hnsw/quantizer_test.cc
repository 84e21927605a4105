#include "index/hnsw/quantizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "index/hnsw/distance.h"

namespace deepkb::hnsw {
namespace {

TEST(Quantizer, RoundTripErrorIsWithinHalfAStep) {
  size_t dim = 33;
  std::mt19937 rng(1);
  std::vector<std::vector<float>> data(200, std::vector<float>(dim));
  QuantizerTrainer t(dim);
  for (auto& v : data) {
    for (size_t d = 0; d < dim; ++d) {
      // Dimensions with very different ranges, one constant.
      v[d] = d == 5 ? 0.25f : std::uniform_real_distribution<float>(-1.0f * (d + 1), 0.5f * d)(rng);
    }
    t.Observe(v.data());
  }
  ScalarQuantizer q = t.Finish();
  ASSERT_EQ(q.dim(), dim);
  std::vector<uint8_t> codes(dim);
  std::vector<float> back(dim);
  for (auto& v : data) {
    EXPECT_EQ(q.Encode(v.data(), codes.data()), 0u);
    q.Decode(codes.data(), back.data());
    for (size_t d = 0; d < dim; ++d) {
      EXPECT_LE(std::fabs(back[d] - v[d]), q.step()[d] * 0.5f + 1e-5f) << d;
    }
  }
  EXPECT_FLOAT_EQ(back[5], 0.25f);
}

TEST(Quantizer, OutOfRangeValuesAreClampedAndCounted) {
  QuantizerTrainer t(2);
  float a[2] = {0, 0}, b[2] = {1, 1};
  t.Observe(a);
  t.Observe(b);
  ScalarQuantizer q = t.Finish();
  float out[2] = {-5, 7};
  uint8_t codes[2];
  EXPECT_EQ(q.Encode(out, codes), 2u);
  EXPECT_EQ(codes[0], 0);
  EXPECT_EQ(codes[1], 255);
}

TEST(Quantizer, AsymmetricDistancesMatchDecodedVectors) {
  size_t dim = 24;
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 0.3f);
  QuantizerTrainer t(dim);
  std::vector<std::vector<float>> data(50, std::vector<float>(dim));
  for (auto& v : data) {
    for (float& x : v) x = g(rng);
    t.Observe(v.data());
  }
  ScalarQuantizer q = t.Finish();
  std::vector<float> query(dim), w(dim), dec(dim);
  for (float& x : query) x = g(rng);
  float offset = q.PrepareQuery(query.data(), w.data());
  const Kernels& k = ActiveKernels();
  std::vector<uint8_t> codes(dim);
  for (auto& v : data) {
    q.Encode(v.data(), codes.data());
    q.Decode(codes.data(), dec.data());
    float ip = offset + k.dot_u8(w.data(), codes.data(), dim);
    EXPECT_NEAR(ip, k.dot(query.data(), dec.data(), dim), 1e-4);
    float l2 = k.dot(query.data(), query.data(), dim) - 2 * ip + q.DecodedNormSq(codes.data());
    EXPECT_NEAR(l2, k.l2_sqr(query.data(), dec.data(), dim), 1e-3);
  }
}

TEST(Quantizer, EmptyTrainerGivesUnitRange) {
  ScalarQuantizer q = QuantizerTrainer(3).Finish();
  EXPECT_FLOAT_EQ(q.lo()[0], -1.0f);
  EXPECT_NEAR(q.step()[0], 2.0f / 255, 1e-7);
}

}  // namespace
}  // namespace deepkb::hnsw
