// Synthetic benchmark corpus: deterministic mixed Chinese/English Markdown documents whose word
// frequencies follow a Zipf law over a vocabulary ranked by real frequency.
//
// Vocabulary (bench/data/vocab.tsv, made by bench/extract_vocab.sh from the Chinese man pages of
// Debian's manpages-zh): three ranked lists — Chinese words (ICU dictionary segmentation), English
// words and identifiers (pthread_create, smb.conf, etc/passwd). Rank 1 is the most frequent word
// in the man pages.
//
// Generation (all randomness from SplitMix64; no std:: distributions, whose output differs
// between standard libraries, so a seed gives the same bytes everywhere):
//  - Document i is generated from its own stream seeded by (seed, i): it does not depend on any
//    other document, so a partially built corpus can be resumed and any document regenerated.
//  - A document has `sections_per_doc` sections: "## heading" + 1-3 paragraphs. The first
//    section is preceded by "# title". Each section's body is filled with sentences until its
//    estimated token count (text::EstimateTokens, the chunker's own estimator) reaches a target
//    drawn uniformly from [min_tokens, max_tokens]; sections stay under the default 512-token
//    chunk size, so the chunker turns each section into exactly one chunk.
//  - A sentence is Chinese with probability zh_sentence_ratio, else English.
//    Chinese sentence: 6-20 words from the Chinese list; each word is replaced, with probability
//    code_switch_ratio, by an English word or identifier written with spaces around it (as in
//    Chinese technical writing); a "，" after 4-8 words, "。" at the end.
//    English sentence: 6-18 English words, each replaced by an identifier with probability
//    en_identifier_ratio; first letter capitalised; ", " after 5-10 words; ". " at the end.
//  - Every word is drawn from its list with P(rank r) ∝ 1 / r^zipf_s.
// Thread safety: a CorpusGenerator is immutable after construction; Document() is reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace deepkb::bench {

// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and fully specified.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Uniform integer in [lo, hi] (hi >= lo).
  int64_t Between(int64_t lo, int64_t hi);
  bool Chance(double p) { return Uniform() < p; }

 private:
  uint64_t state_;
};

// Mixes two values into a seed (for per-document and per-query streams).
uint64_t MixSeed(uint64_t a, uint64_t b);

// Samples ranks 0..n-1 with P(r) ∝ 1 / (r+1)^s (inverse CDF by binary search).
class ZipfSampler {
 public:
  ZipfSampler() = default;
  ZipfSampler(size_t n, double s);
  size_t Sample(Rng& rng) const;
  size_t size() const { return cdf_.size(); }
  // Probability of rank r (0-based).
  double Probability(size_t r) const;

 private:
  std::vector<double> cdf_;
};

struct Vocabulary {
  std::vector<std::string> zh;  // Chinese words, most frequent first
  std::vector<std::string> en;  // English words
  std::vector<std::string> id;  // identifiers
};

// Default vocabulary path (bench/data/vocab.tsv in the source tree).
std::string DefaultVocabularyPath();

// Reads a vocabulary file (kind TAB word TAB count, rank order = line order per kind).
// InvalidArgument on malformed lines or when a list is empty.
Result<Vocabulary> LoadVocabulary(const std::string& path);

struct CorpusOptions {
  uint64_t seed = 20240601;
  double zipf_s = 1.1;
  int sections_per_doc = 10;  // = chunks per document
  int min_tokens = 150;       // per section body, text::EstimateTokens
  int max_tokens = 400;
  double zh_sentence_ratio = 0.7;
  double code_switch_ratio = 0.10;    // English word/identifier inside a Chinese sentence
  double code_switch_id_share = 0.3;  // of those, the share that are identifiers
  double en_identifier_ratio = 0.04;  // identifier inside an English sentence
};

struct GeneratedDocument {
  std::string doc_id;    // "doc-0000042"
  std::string title;
  std::string markdown;  // the file contents
  int sections = 0;
  int64_t body_tokens = 0;  // sum of the section bodies' estimated tokens
};

class CorpusGenerator {
 public:
  // `vocab` is copied; the samplers are built once.
  CorpusGenerator(Vocabulary vocab, CorpusOptions opts);

  GeneratedDocument Document(uint64_t index) const;

  // Word samplers, shared with the query generator so queries follow the corpus statistics.
  const Vocabulary& vocab() const { return vocab_; }
  const CorpusOptions& options() const { return opts_; }
  const std::string& ZhWord(Rng& rng) const { return vocab_.zh[zh_.Sample(rng)]; }
  const std::string& EnWord(Rng& rng) const { return vocab_.en[en_.Sample(rng)]; }
  const std::string& Identifier(Rng& rng) const { return vocab_.id[id_.Sample(rng)]; }
  const ZipfSampler& zh_sampler() const { return zh_; }
  const ZipfSampler& en_sampler() const { return en_; }
  const ZipfSampler& id_sampler() const { return id_; }

 private:
  // Appends one sentence to `out`; returns its estimated tokens.
  size_t AppendSentence(Rng& rng, std::string& out) const;
  std::string Heading(Rng& rng, int min_words, int max_words) const;

  Vocabulary vocab_;
  CorpusOptions opts_;
  ZipfSampler zh_, en_, id_;
};

}  // namespace deepkb::bench
