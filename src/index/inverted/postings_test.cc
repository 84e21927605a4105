#include "index/inverted/postings.h"

#include <gtest/gtest.h>

#include <random>

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

}  // namespace
}  // namespace deepkb::inverted
