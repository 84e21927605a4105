// The keyword benchmarks' query generator (keyword_bench and keyword_accel_bench use this one
// implementation, so the same seeds give both the same queries).
#pragma once

#include <string>
#include <vector>

#include "corpus_gen.h"

namespace deepkb::bench {

struct KeywordQuery {
  std::string cls;  // rare_single, common_multi, zh_multi, mixed
  std::string text;
};

// `n` queries, classes in rotation then shuffled (Fisher-Yates), from Rng(seed). keyword_bench
// uses MixSeed(query_seed, 1) for warm-up and MixSeed(query_seed, 2) for measured queries.
std::vector<KeywordQuery> MakeKeywordQueries(const CorpusGenerator& gen, uint64_t seed, int n);

}  // namespace deepkb::bench
