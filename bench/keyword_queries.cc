#include "keyword_queries.h"

#include <algorithm>
#include <utility>

namespace deepkb::bench {
namespace {

bool IsMultiCharChinese(const std::string& w) { return w.size() >= 6; }  // 2+ CJK characters

// Identical to MakeQuery in keyword_bench.cc.
KeywordQuery MakeQuery(const CorpusGenerator& gen, Rng& rng, int cls) {
  const Vocabulary& v = gen.vocab();
  KeywordQuery q;
  auto tail = [&](const std::vector<std::string>& list) -> const std::string& {
    const int64_t n = static_cast<int64_t>(list.size());
    return list[static_cast<size_t>(rng.Between(n / 2, n - 1))];
  };
  switch (cls) {
    case 0: {  // one rare word: rank in the lower half of its list
      q.cls = "rare_single";
      const int64_t kind = rng.Between(0, 2);
      q.text = kind == 0 ? tail(v.zh) : kind == 1 ? tail(v.en) : tail(v.id);
      break;
    }
    case 1: {  // 2-3 words from the 50 most frequent Chinese/English words
      q.cls = "common_multi";
      const int64_t words = rng.Between(2, 3);
      for (int64_t w = 0; w < words; ++w) {
        const auto& list = rng.Chance(0.5) ? v.zh : v.en;
        const int64_t top = std::min<int64_t>(50, static_cast<int64_t>(list.size()));
        if (!q.text.empty()) q.text.push_back(' ');
        q.text += list[static_cast<size_t>(rng.Between(0, top - 1))];
      }
      break;
    }
    case 2: {  // 2-4 Chinese words of 2+ characters, Zipf-drawn; half typed without spaces
      q.cls = "zh_multi";
      const int64_t words = rng.Between(2, 4);
      const bool spaced = rng.Chance(0.5);
      for (int64_t w = 0; w < words; ++w) {
        std::string word = gen.ZhWord(rng);
        for (int tries = 0; tries < 100 && !IsMultiCharChinese(word); ++tries) {
          word = gen.ZhWord(rng);
        }
        if (spaced && !q.text.empty()) q.text.push_back(' ');
        q.text += word;
      }
      break;
    }
    default: {  // 1-4 Zipf-drawn words: Chinese 55%, English 30%, identifiers 15%
      q.cls = "mixed";
      const int64_t words = rng.Between(1, 4);
      for (int64_t w = 0; w < words; ++w) {
        const double u = rng.Uniform();
        if (!q.text.empty()) q.text.push_back(' ');
        q.text += u < 0.55 ? gen.ZhWord(rng) : u < 0.85 ? gen.EnWord(rng) : gen.Identifier(rng);
      }
      break;
    }
  }
  return q;
}

}  // namespace

std::vector<KeywordQuery> MakeKeywordQueries(const CorpusGenerator& gen, uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<KeywordQuery> qs;
  qs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) qs.push_back(MakeQuery(gen, rng, i % 4));
  for (size_t i = qs.size(); i > 1; --i) {  // Fisher-Yates
    std::swap(qs[i - 1], qs[static_cast<size_t>(rng.Between(0, static_cast<int64_t>(i) - 1))]);
  }
  return qs;
}

}  // namespace deepkb::bench
