#include "index/inverted/postings.h"

#include <gtest/gtest.h>

#include <random>

#include "index/inverted/bm25.h"

namespace deepkb::inverted {
namespace {

TEST(PostingsTest, Varint_RoundTripsAndRejectsTruncation) {
  std::vector<uint8_t> buf;
  const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 32, ~0ull};
  for (uint64_t v : values) PutVarint(buf, v);
  const uint8_t* p = buf.data();
  for (uint64_t v : values) {
    uint64_t got = 0;
    ASSERT_TRUE(GetVarint(p, buf.data() + buf.size(), got));
    EXPECT_EQ(got, v);
  }
  std::vector<uint8_t> trunc = {0x80, 0x80};
  const uint8_t* q = trunc.data();
  uint64_t v = 0;
  EXPECT_FALSE(GetVarint(q, trunc.data() + trunc.size(), v));
}

TEST(PostingsTest, AppendDecode_RoundTripsAcrossBlocks) {
  std::mt19937 rng(1);
  PostingList list;
  std::vector<Posting> expect;
  uint32_t doc = 0;
  for (int i = 0; i < 1000; ++i) {
    doc += 1 + rng() % 50;
    Posting p{doc, {static_cast<uint32_t>(rng() % 2), static_cast<uint32_t>(rng() % 3),
                    static_cast<uint32_t>(rng() % 40)}};
    list.Append(p, 4.0 * p.tf[0] + 2.0 * p.tf[1] + p.tf[2], 10 + rng() % 500);
    expect.push_back(p);
  }
  ASSERT_EQ(list.size(), 1000u);
  ASSERT_EQ(list.blocks().size(), 8u);  // 7 full + 1 open
  std::vector<Posting> got;
  uint32_t docs[kBlockSize];
  std::array<uint32_t, 3> tfs[kBlockSize];
  for (size_t b = 0; b < list.blocks().size(); ++b) {
    const int n = list.DecodeBlock(b, docs, tfs);
    for (int i = 0; i < n; ++i) got.push_back(Posting{docs[i], tfs[i]});
    EXPECT_EQ(docs[n - 1], list.blocks()[b].last_doc);
  }
  ASSERT_EQ(got.size(), expect.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].doc, expect[i].doc);
    EXPECT_EQ(got[i].tf, expect[i].tf);
  }
  // Restore accepts its own parts and rejects damaged ones.
  PostingList copy;
  EXPECT_TRUE(copy.Restore(list.blocks(), list.bytes(), list.frontier(), list.size()));
  auto bad = list.bytes();
  bad.pop_back();
  PostingList broken;
  EXPECT_FALSE(broken.Restore(list.blocks(), bad, list.frontier(), list.size()));
  EXPECT_FALSE(broken.Restore(list.blocks(), list.bytes(), list.frontier(), list.size() + 1));
}

TEST(PostingsTest, Frontier_DominatesEveryPointAndStaysSmall) {
  std::mt19937 rng(2);
  for (int round = 0; round < 200; ++round) {
    Frontier f;
    std::vector<std::pair<double, uint32_t>> pts;
    for (int i = 0; i < 50; ++i) {
      const double freq = static_cast<double>(rng() % 20) + 0.5 * (rng() % 2);
      const uint32_t len = 1 + rng() % 1000;
      f.Add(freq, len);
      pts.emplace_back(freq, len);
    }
    ASSERT_LE(f.n, kMaxFrontier);
    for (const auto& [freq, len] : pts) {
      bool dominated = false;
      for (int i = 0; i < f.n; ++i) {
        dominated = dominated || (f.pts[i].freq >= freq && f.pts[i].len <= len);
      }
      EXPECT_TRUE(dominated) << freq << " " << len;
    }
  }
}

TEST(PostingsTest, Staircase_IsTheExactParetoFrontierUntilItsCap) {
  std::mt19937 rng(3);
  for (int round = 0; round < 200; ++round) {
    Staircase st;
    std::vector<std::pair<double, uint32_t>> pts;
    const int n = round < 100 ? 40 : 400;  // the second half overflows the cap
    for (int i = 0; i < n; ++i) {
      const double freq = static_cast<double>(rng() % (round < 100 ? 30 : 300));
      const uint32_t len = 1 + rng() % 1000;
      st.Add(freq, len);
      pts.emplace_back(freq, len);
    }
    ASSERT_LE(st.pts.size(), static_cast<size_t>(kMaxStaircase));
    for (size_t i = 0; i + 1 < st.pts.size(); ++i) {  // sorted, and no point dominates another
      EXPECT_LT(st.pts[i].freq, st.pts[i + 1].freq);
      EXPECT_LT(st.pts[i].len, st.pts[i + 1].len);
    }
    for (const auto& [freq, len] : pts) {  // every point added is dominated by one kept
      bool dominated = false;
      for (const FrontierPoint& p : st.pts)
        dominated = dominated || (p.freq >= freq && p.len <= len);
      EXPECT_TRUE(dominated) << freq << " " << len;
    }
    if (round < 100) {  // below the cap: exactly the Pareto-optimal points, nothing looser
      for (const FrontierPoint& p : st.pts) {
        bool is_input = false;
        for (const auto& [freq, len] : pts) is_input = is_input || (p.freq == freq && p.len == len);
        EXPECT_TRUE(is_input) << p.freq << " " << p.len;
      }
    }
  }
}

TEST(PostingsTest, ImpactTier_KeepsTheHighPostingsAndBoundsTheRest) {
  ImpactTier tier;
  tier.ref_avgdl = 100;
  tier.cut = 0.5;  // saturation f / (f + 1.2 * (0.25 + 0.75 * D / 100)) >= 0.5
  std::mt19937 rng(4);
  std::vector<std::pair<Posting, uint32_t>> high, rest;
  for (uint32_t doc = 0; doc < 3000; ++doc) {
    const Posting p{doc, {0, 0, 1 + static_cast<uint32_t>(rng() % 8)}};
    const uint32_t len = 5 + rng() % 400;
    tier.Append(p, p.tf[2], len);
    (tier.Admits(p.tf[2], len) ? high : rest).emplace_back(p, len);
  }
  ASSERT_FALSE(high.empty());
  ASSERT_FALSE(rest.empty());
  ASSERT_EQ(tier.high.size(), high.size());
  uint32_t docs[kBlockSize];
  std::array<uint32_t, 3> tfs[kBlockSize];
  size_t k = 0;
  for (size_t b = 0; b < tier.high.blocks().size(); ++b) {
    const int n = tier.high.DecodeBlock(b, docs, tfs);
    for (int i = 0; i < n; ++i, ++k) {
      EXPECT_EQ(docs[i], high[k].first.doc);
      EXPECT_EQ(tfs[i], high[k].first.tf);
    }
  }
  for (const auto& [p, len] : rest) {
    EXPECT_LT(Bm25Term(1.0, p.tf[2], len, 100), 0.5);
    bool dominated = false;
    for (const FrontierPoint& f : tier.rest.pts)
      dominated = dominated || (f.freq >= p.tf[2] && f.len <= len);
    EXPECT_TRUE(dominated);
  }
}

}  // namespace
}  // namespace deepkb::inverted
