#include "corpus_gen.h"

#include <gtest/gtest.h>

#include <cmath>

#include "text/chunker.h"
#include "text/document.h"

namespace deepkb::bench {
namespace {

const CorpusGenerator& Generator() {
  static const CorpusGenerator* gen = [] {
    auto vocab = LoadVocabulary(DefaultVocabularyPath());
    EXPECT_TRUE(vocab.ok()) << vocab.status().ToString();
    Vocabulary v = vocab.ok() ? std::move(vocab).value() : Vocabulary{{"字"}, {"a"}, {"a_b"}};
    return new CorpusGenerator(std::move(v), CorpusOptions{});
  }();
  return *gen;
}

TEST(BenchRng, FixedSequence) {
  // SplitMix64 reference values for seed 0 (from the published algorithm).
  Rng r(0);
  EXPECT_EQ(r.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(r.Next(), 0x6e789e6aa1b965f4ULL);
}

TEST(BenchZipf, RankFrequenciesFollowPowerLaw) {
  ZipfSampler z(1000, 1.1);
  Rng rng(7);
  std::vector<int> counts(1000);
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++counts[z.Sample(rng)];
  // P(1)/P(2) = 2^1.1 ≈ 2.14; P(1)/P(10) = 10^1.1 ≈ 12.6.
  EXPECT_NEAR(static_cast<double>(counts[0]) / counts[1], std::pow(2.0, 1.1), 0.15);
  EXPECT_NEAR(static_cast<double>(counts[0]) / counts[9], std::pow(10.0, 1.1), 1.5);
  EXPECT_NEAR(z.Probability(0) / z.Probability(1), std::pow(2.0, 1.1), 1e-9);
}

TEST(BenchCorpus, DeterministicPerIndex) {
  const auto& gen = Generator();
  const GeneratedDocument a = gen.Document(12345);
  const GeneratedDocument b = gen.Document(12345);
  EXPECT_EQ(a.markdown, b.markdown);
  EXPECT_EQ(a.doc_id, "doc-0012345");
  EXPECT_NE(gen.Document(12346).markdown, a.markdown);
}

TEST(BenchCorpus, EachSectionBecomesOneChunkOfTheTargetSize) {
  const auto& gen = Generator();
  for (uint64_t i = 0; i < 20; ++i) {
    const GeneratedDocument doc = gen.Document(i);
    auto parsed = text::Parse(doc.markdown, text::Format::kMarkdown);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    const auto chunks = text::ChunkDocument(*parsed, text::ChunkOptions{});
    ASSERT_EQ(chunks.size(), static_cast<size_t>(gen.options().sections_per_doc)) << doc.doc_id;
    for (const auto& c : chunks) {
      EXPECT_GE(c.token_count, 150u) << doc.doc_id;
      EXPECT_LE(c.token_count, 512u) << doc.doc_id;
    }
  }
}

TEST(BenchCorpus, MixesChineseAndEnglish) {
  const GeneratedDocument doc = Generator().Document(3);
  size_t ascii_letters = 0, multibyte = 0;
  for (unsigned char c : doc.markdown) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ++ascii_letters;
    if (c >= 0x80) ++multibyte;
  }
  EXPECT_GT(ascii_letters, 200u);
  EXPECT_GT(multibyte, 1000u);
}

}  // namespace
}  // namespace deepkb::bench
