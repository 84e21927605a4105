// The two BPE merge paths (stack scan, heap) against a naive reference on random merge tables.
#include "tokenize/bpe.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace deepkb::tokenize::internal {
namespace {

// Naive BPE: repeatedly merge the leftmost pair of lowest rank.
std::vector<uint32_t> Naive(
    const std::map<std::pair<uint32_t, uint32_t>, std::pair<uint32_t, uint32_t>>& merges,
    const std::string& word) {
  std::vector<uint32_t> s;
  for (unsigned char c : word) s.push_back(c);
  while (s.size() > 1) {
    size_t best = 0;
    uint32_t best_rank = UINT32_MAX;
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      auto it = merges.find({s[k], s[k + 1]});
      if (it != merges.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best = k;
      }
    }
    if (best_rank == UINT32_MAX) break;
    s[best] = merges.at({s[best], s[best + 1]}).second;
    s.erase(s.begin() + static_cast<long>(best) + 1);
  }
  return s;
}

TEST(Bpe, ScanAndHeapMatchNaiveReference) {
  std::mt19937 rng(7);
  for (int table = 0; table < 20; ++table) {
    BpeMerges bpe;
    uint32_t byte_ids[256];
    for (uint32_t b = 0; b < 256; ++b) byte_ids[b] = b;
    bpe.SetByteIds(byte_ids);
    std::map<std::pair<uint32_t, uint32_t>, std::pair<uint32_t, uint32_t>> ref;
    std::vector<uint32_t> tokens = {'a', 'b', 'c', 'd'};
    uint32_t next_id = 256, rank = 0;
    for (int m = 0; m < 60; ++m) {
      const uint32_t l = tokens[rng() % tokens.size()], r = tokens[rng() % tokens.size()];
      if (ref.count({l, r})) continue;
      ref[{l, r}] = {rank++, next_id};
      bpe.AddMerge(l, r, next_id);
      tokens.push_back(next_id++);
    }
    for (int w = 0; w < 400; ++w) {
      std::string word;
      const int len = 1 + static_cast<int>(rng() % 70);
      for (int k = 0; k < len; ++k) word.push_back(static_cast<char>('a' + rng() % 4));
      const auto want = Naive(ref, word);
      std::vector<uint32_t> scan, heap, any, again;
      bpe.EncodeWordScan(word, &scan);
      bpe.EncodeWordHeap(word, &heap);
      bpe.EncodeWord(word, &any);
      bpe.EncodeWord(word, &again);  // from the per-thread cache (tables share words)
      ASSERT_EQ(heap, want) << word;
      ASSERT_EQ(scan, want) << word;
      ASSERT_EQ(any, want) << word;
      ASSERT_EQ(again, want) << word;
    }
  }
}

TEST(Bpe, RepeatedPairKeepsLastRank) {
  BpeMerges bpe;
  uint32_t byte_ids[256];
  for (uint32_t b = 0; b < 256; ++b) byte_ids[b] = b;
  bpe.SetByteIds(byte_ids);
  bpe.AddMerge('b', 'c', 300);  // rank 0, overwritten below by rank 2
  bpe.AddMerge('a', 'b', 301);  // rank 1
  bpe.AddMerge('b', 'c', 300);  // rank 2
  std::vector<uint32_t> out;
  bpe.EncodeWord("abc", &out);
  EXPECT_EQ(out, (std::vector<uint32_t>{301, 'c'}));
}

}  // namespace
}  // namespace deepkb::tokenize::internal
