// NgramHashEmbedder: the default, model-free embedder ("ngram-hash", "ngram-hash:DIM").
//
// What a vector is made of (the feature set is part of the on-disk meaning of stored vectors:
// changing any constant below changes every vector, so bump kNgramHashVersion and re-embed):
//  1. The text is normalised with fulltext::NormalizeForSearch (NFKC + case folding; invalid
//     UTF-8 becomes U+FFFD), so "ＡＢＣ", "abc" and "ABC" embed identically.
//  2. Code points are classed as CJK (Han, Hiragana, Katakana and the marks 々 〆 〇 ー ...),
//     word (any other letter, mark or number: Latin, Cyrillic, Greek, Hangul, Arabic, ...), or
//     separator (whitespace, punctuation, symbols, emoji).
//  3. Features (each one hashed with its own seed, so equal strings of different kinds differ):
//     - word runs: the whole word (weight 1.0) and the character 3-, 4- and 5-grams of the word
//       padded with begin/end markers, "<cat>" → <ca cat at> <cat cat> <cat> (weight 0.5 each);
//     - CJK runs: character unigrams (0.3), bigrams (1.0) and trigrams (0.7) inside the run.
//  4. Feature hashing: a 64-bit hash of the code points (own multiply-rotate mix with a
//     splitmix64 finaliser; no std::hash, so it is the same on every run and platform). The top
//     32 bits pick the bucket (multiply-shift onto [0, dim)), the lowest bit the sign (+/-),
//     which keeps collisions unbiased in expectation.
//  5. Term frequency is sublinear: a feature seen tf times contributes weight * (1 + ln tf)
//     (ln computed with plain IEEE arithmetic, not libm, so results are bit-identical across
//     platforms).
//  6. The vector is L2-normalised (sums in double, in a fixed order, then rounded to float).
// Texts without any letter, digit or CJK character (empty, whitespace, punctuation, emoji only)
// — and, in theory, texts whose features cancel exactly — get the fixed unit vector e_k, where k
// is the bucket of a reserved "no features" hash: such texts are identical to each other and
// unrelated to real text, and the vector is never zero.
//
// It captures spelling and sub-word overlap, not meaning ("car" vs "automobile" are far apart).
// Thread safety: Embed() and EmbedOne() may run concurrently (scratch space is per thread).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "embed/embedder.h"

namespace deepkb::embed {

inline constexpr size_t kNgramHashDefaultDim = 256;
inline constexpr size_t kNgramHashMinDim = 32;
inline constexpr size_t kNgramHashMaxDim = 4096;
// Version of the feature set described above (for callers that store it next to vectors).
inline constexpr int kNgramHashVersion = 1;

class NgramHashEmbedder final : public Embedder {
 public:
  // InvalidArgument unless kNgramHashMinDim <= dim <= kNgramHashMaxDim.
  static Result<std::unique_ptr<NgramHashEmbedder>> Create(std::string spec, size_t dim);

  const std::string& spec() const override { return spec_; }
  size_t dim() const override { return dim_; }
  // Never fails (every text has a vector); an empty input gives an empty result.
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts) override;

  // Embeds one text into `out` (resized to dim()). Never fails.
  void EmbedOne(std::string_view text, std::vector<float>& out) const;

 private:
  NgramHashEmbedder(std::string spec, size_t dim) : spec_(std::move(spec)), dim_(dim) {}

  const std::string spec_;
  const size_t dim_;
};

}  // namespace deepkb::embed
