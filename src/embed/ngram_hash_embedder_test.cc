#include "embed/ngram_hash_embedder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace deepkb::embed {
namespace {

std::unique_ptr<NgramHashEmbedder> Make(size_t dim = kNgramHashDefaultDim) {
  auto e = NgramHashEmbedder::Create("ngram-hash", dim);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

std::vector<float> Vec(const NgramHashEmbedder& e, std::string_view text) {
  std::vector<float> v;
  e.EmbedOne(text, v);
  return v;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

double Norm(const std::vector<float>& a) {
  return std::sqrt(Dot(a, a));
}

// FNV-1a over the raw bytes of the floats: a fingerprint of the exact output.
uint64_t Fingerprint(const std::vector<float>& v) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) {
      h ^= (bits >> (8 * i)) & 0xFF;
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}

TEST(NgramHashTest, Create_RejectsDimensionsOutOfRange) {
  EXPECT_FALSE(NgramHashEmbedder::Create("x", 31).ok());
  EXPECT_FALSE(NgramHashEmbedder::Create("x", 4097).ok());
  EXPECT_TRUE(NgramHashEmbedder::Create("x", 32).ok());
  EXPECT_TRUE(NgramHashEmbedder::Create("x", 4096).ok());
}

TEST(NgramHashTest, Embed_IsDeterministicAndUnitNorm) {
  auto e = Make();
  const std::vector<std::string> texts = {"Connection pool exhausted after 30 s",
                                          "数据库连接池配置说明", "Ünïcödé ﬁle naïve café", "x",
                                          std::string(5000, 'a')};
  auto a = e->Embed(texts);
  auto b = Make()->Embed(texts);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(a->size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ((*a)[i].size(), kNgramHashDefaultDim);
    EXPECT_EQ((*a)[i], (*b)[i]) << texts[i];
    EXPECT_NEAR(Norm((*a)[i]), 1.0, 1e-5) << texts[i];
    for (float f : (*a)[i]) EXPECT_TRUE(std::isfinite(f));
  }
}

// Pins the exact output, so an accidental change of the feature set or hash (which would
// silently invalidate every stored vector) fails here. Update together with kNgramHashVersion.
TEST(NgramHashTest, Embed_OutputIsPinned) {
  auto e = Make();
  EXPECT_EQ(Fingerprint(Vec(*e, "The quick brown fox 跳过了 lazy dogs, 2024!")),
            0xca990c4db61df8a2ULL);
}

TEST(NgramHashTest, Embed_NormalisesWidthAndCase) {
  auto e = Make();
  EXPECT_EQ(Vec(*e, "ＡＢＣ Database"), Vec(*e, "abc DATABASE"));
}

TEST(NgramHashTest, Similarity_EnglishMisspellingCloserThanUnrelated) {
  auto e = Make();
  const auto a = Vec(*e, "database connection pool configuration");
  const auto typo = Vec(*e, "databse conection pool configuraton");
  const auto related = Vec(*e, "configure the connection pool of the database");
  const auto unrelated = Vec(*e, "the weather is sunny and warm today");
  EXPECT_GT(Dot(a, typo), Dot(a, unrelated) + 0.3);
  EXPECT_GT(Dot(a, related), Dot(a, unrelated) + 0.3);
  EXPECT_LT(std::abs(Dot(a, unrelated)), 0.3);
}

TEST(NgramHashTest, Similarity_ChineseSharedWordsCloserThanUnrelated) {
  auto e = Make();
  const auto a = Vec(*e, "数据库连接池的配置方法");
  const auto similar = Vec(*e, "如何配置数据库连接池");
  const auto unrelated = Vec(*e, "今天天气晴朗适合出游");
  EXPECT_GT(Dot(a, similar), Dot(a, unrelated) + 0.3);
  EXPECT_LT(std::abs(Dot(a, unrelated)), 0.3);
}

TEST(NgramHashTest, Dim_OptionChangesLength) {
  for (size_t dim : {32, 384, 4096}) {
    auto e = Make(dim);
    EXPECT_EQ(e->dim(), dim);
    const auto v = Vec(*e, "hello world 你好世界");
    EXPECT_EQ(v.size(), dim);
    EXPECT_NEAR(Norm(v), 1.0, 1e-5);
  }
}

TEST(NgramHashTest, EmptyAndPunctuationOnly_GetTheFixedUnitVector) {
  auto e = Make();
  const auto empty = Vec(*e, "");
  EXPECT_NEAR(Norm(empty), 1.0, 1e-6);
  int nonzero = 0;
  for (float f : empty) nonzero += f != 0.0f;
  EXPECT_EQ(nonzero, 1);
  EXPECT_EQ(Vec(*e, "  ,.;!? \t\n —「」 🙂"), empty);
  EXPECT_LT(std::abs(Dot(Vec(*e, "real text"), empty)), 0.5);
  auto r = e->Embed({});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(NgramHashTest, InvalidUtf8AndMixedScripts_Work) {
  auto e = Make();
  const std::string bad = std::string("abc\xff\xfe") + "déf Привет мир 한국어 テスト";
  const auto v = Vec(*e, bad);
  EXPECT_NEAR(Norm(v), 1.0, 1e-5);
}

TEST(NgramHashTest, ConcurrentCalls_MatchSequentialOutput) {
  auto e = Make();
  const std::vector<std::string> texts = {"alpha beta", "数据库", "gamma delta epsilon"};
  auto expected = e->Embed(texts);
  ASSERT_TRUE(expected.ok());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto got = e->Embed(texts);
        if (!got.ok() || *got != *expected) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace deepkb::embed
