#include "corpus_gen.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string_view>

#include "text/chunker.h"

namespace deepkb::bench {

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

int64_t Rng::Between(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  // span is small in this code base (< 2^32), so the modulo bias is below 2^-32.
  return lo + static_cast<int64_t>(Next() % span);
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  Rng r(a ^ (b * 0xd1342543de82ef95ULL));
  r.Next();
  return r.Next();
}

ZipfSampler::ZipfSampler(size_t n, double s) {
  cdf_.resize(n);
  double sum = 0;
  for (size_t r = 0; r < n; ++r) {
    sum += 1.0 / std::pow(static_cast<double>(r + 1), s);
    cdf_[r] = sum;
  }
  for (double& c : cdf_) c /= sum;
  if (!cdf_.empty()) cdf_.back() = 1.0;
}

size_t ZipfSampler::Sample(Rng& rng) const {
  const double u = rng.Uniform();
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return std::min(static_cast<size_t>(it - cdf_.begin()), cdf_.size() - 1);
}

double ZipfSampler::Probability(size_t r) const {
  if (r >= cdf_.size()) return 0;
  return r == 0 ? cdf_[0] : cdf_[r] - cdf_[r - 1];
}

std::string DefaultVocabularyPath() {
#ifdef DEEPKB_BENCH_VOCAB
  return DEEPKB_BENCH_VOCAB;
#else
  return "bench/data/vocab.tsv";
#endif
}

Result<Vocabulary> LoadVocabulary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundError("cannot open vocabulary '" + path +
                         "'; pass --vocab or regenerate it with bench/extract_vocab.sh");
  }
  Vocabulary v;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const size_t t1 = line.find('\t');
    const size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos || t2 == t1 + 1) {
      return InvalidArgumentError("vocabulary '" + path + "' line " + std::to_string(line_no) +
                                  ": expected kind<TAB>word<TAB>count");
    }
    const std::string_view kind(line.data(), t1);
    std::string word = line.substr(t1 + 1, t2 - t1 - 1);
    if (kind == "zh") {
      v.zh.push_back(std::move(word));
    } else if (kind == "en") {
      v.en.push_back(std::move(word));
    } else if (kind == "id") {
      v.id.push_back(std::move(word));
    } else {
      return InvalidArgumentError("vocabulary '" + path + "' line " + std::to_string(line_no) +
                                  ": unknown kind '" + std::string(kind) + "' (zh, en or id)");
    }
  }
  if (v.zh.empty() || v.en.empty() || v.id.empty()) {
    return InvalidArgumentError("vocabulary '" + path + "' needs zh, en and id words");
  }
  return v;
}

CorpusGenerator::CorpusGenerator(Vocabulary vocab, CorpusOptions opts)
    : vocab_(std::move(vocab)),
      opts_(opts),
      zh_(vocab_.zh.size(), opts.zipf_s),
      en_(vocab_.en.size(), opts.zipf_s),
      id_(vocab_.id.size(), opts.zipf_s) {}

size_t CorpusGenerator::AppendSentence(Rng& rng, std::string& out) const {
  std::string s;
  if (rng.Chance(opts_.zh_sentence_ratio)) {
    const int words = static_cast<int>(rng.Between(6, 20));
    int next_comma = static_cast<int>(rng.Between(4, 8));
    bool after_latin = false;  // a space separates Latin words from what follows
    for (int w = 0; w < words; ++w) {
      if (rng.Chance(opts_.code_switch_ratio)) {
        const std::string& latin =
            rng.Chance(opts_.code_switch_id_share) ? Identifier(rng) : EnWord(rng);
        if (!s.empty() && !after_latin) s.push_back(' ');
        s += latin;
        s.push_back(' ');
        after_latin = true;
      } else {
        s += ZhWord(rng);
        after_latin = false;
      }
      if (w + 1 == next_comma && w + 1 < words) {
        if (after_latin) s.pop_back();
        s += "，";
        after_latin = false;
        next_comma += static_cast<int>(rng.Between(4, 8));
      }
    }
    if (after_latin) s.pop_back();
    s += "。";
  } else {
    const int words = static_cast<int>(rng.Between(6, 18));
    int next_comma = static_cast<int>(rng.Between(5, 10));
    for (int w = 0; w < words; ++w) {
      std::string word = rng.Chance(opts_.en_identifier_ratio) ? Identifier(rng) : EnWord(rng);
      if (w == 0 && word[0] >= 'a' && word[0] <= 'z') word[0] = static_cast<char>(word[0] - 32);
      s += word;
      if (w + 1 == next_comma && w + 1 < words) {
        s.push_back(',');
        next_comma += static_cast<int>(rng.Between(5, 10));
      }
      s.push_back(w + 1 < words ? ' ' : '.');
    }
    s.push_back(' ');
  }
  out += s;
  return text::EstimateTokens(s);
}

std::string CorpusGenerator::Heading(Rng& rng, int min_words, int max_words) const {
  const int words = static_cast<int>(rng.Between(min_words, max_words));
  std::string h;
  bool latin_last = false;
  for (int w = 0; w < words; ++w) {
    const bool zh = rng.Chance(opts_.zh_sentence_ratio);
    if (!h.empty() && (!zh || latin_last)) h.push_back(' ');
    h += zh ? ZhWord(rng) : EnWord(rng);
    latin_last = !zh;
  }
  return h;
}

GeneratedDocument CorpusGenerator::Document(uint64_t index) const {
  Rng rng(MixSeed(opts_.seed, index));
  GeneratedDocument doc;
  char id[32];
  std::snprintf(id, sizeof(id), "doc-%07llu", static_cast<unsigned long long>(index));
  doc.doc_id = id;
  doc.title = Heading(rng, 3, 6);
  doc.markdown = "# " + doc.title + "\n\n";
  for (int sec = 0; sec < opts_.sections_per_doc; ++sec) {
    doc.markdown += "## " + Heading(rng, 2, 5) + "\n\n";
    const size_t target = static_cast<size_t>(rng.Between(opts_.min_tokens, opts_.max_tokens));
    std::string body;
    size_t tokens = 0;
    int sentences_in_paragraph = 0;
    while (tokens < target) {
      if (sentences_in_paragraph >= 2 && rng.Chance(0.25)) {
        while (!body.empty() && body.back() == ' ') body.pop_back();
        body += "\n\n";
        sentences_in_paragraph = 0;
      }
      tokens += AppendSentence(rng, body);
      ++sentences_in_paragraph;
    }
    while (!body.empty() && body.back() == ' ') body.pop_back();
    doc.body_tokens += static_cast<int64_t>(text::EstimateTokens(body));
    doc.markdown += body + "\n\n";
    ++doc.sections;
  }
  return doc;
}

}  // namespace deepkb::bench
