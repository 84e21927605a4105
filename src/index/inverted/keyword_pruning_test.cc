// Dynamic pruning of KeywordIndex::Search on corpora dominated by very frequent terms — the case
// where FTS5 clamps every clause's idf to 1e-6, the clauses' bounds are alike and the k-th score
// approaches them slowly — checked against exhaustive scoring (SearchExhaustive) bit for bit:
// the same chunk ids in the same order and the same doubles, ties included. The SearchStats
// counters show that the pruning paths under test (a lone essential clause, impact tiers, probe
// pruning) actually ran.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "index/fulltext/query_builder.h"
#include "index/inverted/keyword_index.h"

namespace deepkb::inverted {
namespace {

// Words with the share of documents that contain them: the first six match more than half of
// the rows (idf clamped to 1e-6), then mid-frequency and rare ones.
struct Word {
  const char* text;
  double doc_share;
};
constexpr Word kWords[] = {
    {"the", 0.95},  {"如果", 0.85},  {"of", 0.75},     {"文件", 0.7},
    {"命令", 0.62}, {"to", 0.56},    {"option", 0.3},  {"server", 0.2},
    {"数据", 0.12}, {"cache", 0.06}, {"socket", 0.02}, {"zebra", 0.004},
};

class FrequentCorpus {
 public:
  explicit FrequentCorpus(uint64_t seed) : rng_(seed) {}

  int Between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  // Filler that is indexed but never queried: varies the document length widely.
  std::string Filler(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += " f" + std::to_string(Between(0, 4000));
    return s;
  }

  ChunkText Doc(int64_t id) {
    ChunkText c;
    c.chunk_id = id;
    for (const Word& w : kWords) {
      if (!Chance(w.doc_share)) continue;
      // Where the word goes: mostly the body, sometimes title or headings (weights 4 and 2).
      const int where = Between(0, 9);
      std::string& col = where == 0 ? c.title : where <= 2 ? c.headings : c.body;
      int tf = 1;
      while (tf < 12 && Chance(0.55)) ++tf;  // geometric term frequency
      for (int i = 0; i < tf; ++i) col += std::string(" ") + w.text;
    }
    c.body += Filler(Chance(0.1) ? Between(0, 4) : Between(5, 160));
    return c;
  }

  // Queries made of the frequent words only (2-4 clauses, sometimes repeated), a frequent word
  // alone, and frequent words mixed with rarer ones.
  std::string Query() {
    std::string q;
    const int kind = Between(0, 9);
    const int n = kind == 0 ? 1 : Between(2, 4);
    for (int i = 0; i < n; ++i) {
      const int hi = kind >= 7 ? 11 : 5;  // kinds 7-9 mix in rarer words
      q += std::string(q.empty() ? "" : " ") + kWords[Between(0, hi)].text;
    }
    return q;
  }

 private:
  std::mt19937_64 rng_;
};

TierOptions SmallTiers() {
  TierOptions t;
  t.min_postings = 128;  // so a test-sized corpus has tiered lists
  t.df_divisor = 8;
  t.share = 4;
  return t;
}

// Identical, not merely close: the same chunk ids in the same order and the same doubles.
void ExpectIdentical(const std::vector<KeywordHit>& got, const std::vector<KeywordHit>& want,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].chunk_id, want[i].chunk_id) << what << " rank " << i;
    EXPECT_EQ(got[i].score, want[i].score) << what << " rank " << i;
  }
}

// Runs `queries` random queries at several k against exhaustive scoring; returns the summed
// work counters.
SearchStats CheckAgainstExhaustive(const KeywordIndex& ix, FrequentCorpus& gen, int queries,
                                   const AllowedChunks* allowed = nullptr) {
  SearchStats total;
  for (int q = 0; q < queries; ++q) {
    const std::string text = gen.Query();
    const auto mq = fulltext::BuildMatchQuery(text);
    for (int k : {1, 2, 10, 37}) {
      auto got = ix.Search(mq.clauses, k, {}, allowed, &total);
      EXPECT_TRUE(got.ok()) << text << ": " << got.status().ToString();
      auto want = ix.SearchExhaustive(mq.clauses, k, allowed);
      EXPECT_TRUE(want.ok());
      if (!got.ok() || !want.ok()) continue;
      ExpectIdentical(*got, *want, "'" + text + "' k=" + std::to_string(k));
    }
  }
  return total;
}

TEST(KeywordPruningTest, FrequentTerms_MatchExhaustiveAndUseTheNewPruningPaths) {
  FrequentCorpus gen(11);
  KeywordIndex ix({}, SmallTiers());
  for (int64_t id = 1; id <= 3000; ++id) ASSERT_TRUE(ix.Add(gen.Doc(id * 3)).ok());
  // The premise: the leading words match over half of the rows, so FTS5 clamps their idf.
  EXPECT_GT(ix.DocFreq("如果"), 1500u);
  EXPECT_GT(ix.DocFreq("命令"), 1500u);
  const KeywordStats st = ix.Stats();
  EXPECT_GE(st.tiers, 6u);
  EXPECT_GT(st.tier_postings, 0u);
  EXPECT_LT(st.tier_postings, st.postings / 2);

  const SearchStats s = CheckAgainstExhaustive(ix, gen, 150);
  EXPECT_GT(s.driver_rejects, 0u) << "the lone-essential-clause path never dropped a posting";
  EXPECT_GT(s.tier_drives, 0u) << "no search walked an impact tier";
  EXPECT_GT(s.tier_probes, 0u) << "no probe was answered from an impact tier";
  EXPECT_GT(s.probe_prunes, 0u);
  // And it saves work: far fewer bm25 terms than the postings an exhaustive search scores.
  uint64_t exhaustive_terms = 0;
  FrequentCorpus again(11);
  for (int q = 0; q < 150; ++q) {
    for (const auto& c : fulltext::BuildMatchQuery(again.Query()).clauses) {
      exhaustive_terms += 4 * ix.DocFreq(c.terms[0]);  // four values of k per query
    }
  }
  EXPECT_LT(s.postings_scored * 2, exhaustive_terms);
}

TEST(KeywordPruningTest, ClampedClauses_ShortestListDrivesThenItsImpactTier) {
  FrequentCorpus gen(5);
  KeywordIndex ix({}, SmallTiers());
  for (int64_t id = 1; id <= 3000; ++id) ASSERT_TRUE(ix.Add(gen.Doc(id)).ok());
  const auto mq = fulltext::BuildMatchQuery("如果 命令");
  ASSERT_EQ(mq.clauses.size(), 2u);
  SearchStats s;
  auto got = ix.Search(mq.clauses, 10, {}, nullptr, &s);
  ASSERT_TRUE(got.ok());
  auto want = ix.SearchExhaustive(mq.clauses, 10);
  ASSERT_TRUE(want.ok());
  ExpectIdentical(*got, *want, "如果 命令");
  EXPECT_EQ(s.tier_drives, 1u);
  // Both idfs are clamped, so the bounds are alike: the SHORTER list (命令) is the one walked,
  // and only until its impact tier takes over, so fewer postings are looked at than it holds.
  ASSERT_LT(ix.DocFreq("命令"), ix.DocFreq("如果"));
  EXPECT_LT(s.candidates, ix.DocFreq("命令"));
  EXPECT_GT(s.driver_rejects, 0u);
}

TEST(KeywordPruningTest, Ties_BreakBySmallerChunkIdLikeExhaustive) {
  // Exact duplicates of a few short documents dense in the frequent words (so they rank at the
  // top, with equal scores), inserted with chunk ids in shuffled order, so that the order of
  // ordinals and the order of chunk ids disagree.
  FrequentCorpus gen(3);
  const std::vector<ChunkText> templates = {
      {0, "如果 文件", "", "the of 如果 命令 命令 to the"},
      {0, "", "the of", "如果 文件 命令 to to"},
      {0, "命令", "如果", "the the of 文件"},
      {0, "", "", "of to 如果 文件 命令 the"},
  };
  std::vector<int64_t> ids;
  for (int64_t id = 1; id <= 2400; ++id) ids.push_back(id * 7);
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(99));
  KeywordIndex ix({}, SmallTiers());
  for (size_t i = 0; i < ids.size(); ++i) {
    ChunkText c = gen.Chance(0.04) ? templates[i % templates.size()] : gen.Doc(0);
    c.chunk_id = ids[i];
    ASSERT_TRUE(ix.Add(c).ok());
  }
  SearchStats s = CheckAgainstExhaustive(ix, gen, 80);
  EXPECT_GT(s.probe_prunes + s.driver_rejects, 0u);
  // Some top-k must actually contain a tie that crosses the k boundary, or the test proves
  // nothing about tie-breaking.
  int crossing = 0;
  for (const char* text : {"the of", "如果 文件 命令", "the", "of to 文件", "命令"}) {
    const auto mq = fulltext::BuildMatchQuery(text);
    auto all = ix.SearchExhaustive(mq.clauses, 100000);
    ASSERT_TRUE(all.ok());
    for (int k : {1, 5, 10, 50}) {
      if (static_cast<size_t>(k) < all->size() &&
          (*all)[static_cast<size_t>(k) - 1].score == (*all)[static_cast<size_t>(k)].score) {
        ++crossing;
      }
      auto got = ix.Search(mq.clauses, k);
      ASSERT_TRUE(got.ok());
      std::vector<KeywordHit> want(
          all->begin(), all->begin() + std::min<long>(k, static_cast<long>(all->size())));
      ExpectIdentical(*got, want, std::string(text) + " k=" + std::to_string(k));
    }
  }
  EXPECT_GT(crossing, 0);
}

TEST(KeywordPruningTest, TopDocsAtTheBounds_AreNeverPruned) {
  // 40 copies of one document that holds the maximum of every clause (each query word four
  // times in its title, nothing else), so its score equals the sum of the clauses' upper
  // bounds up to rounding: the bounds are tight, every pruning test is taken at its edge, and
  // a test that is off by a rounding error drops copies. Chunk ids are shuffled against
  // insertion order, so the top-k (the smallest ids among the tied copies) is not simply the
  // copies met first.
  FrequentCorpus gen(17);
  const std::string words[] = {"the", "如果", "of", "文件", "命令", "to"};
  ChunkText best;
  for (int r = 0; r < 4; ++r) {
    for (const std::string& w : words) best.title += w + " ";
  }
  std::vector<int64_t> ids;
  for (int64_t id = 1; id <= 3000; ++id) ids.push_back(id);
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(5));
  KeywordIndex ix({}, SmallTiers());
  for (size_t i = 0; i < ids.size(); ++i) {
    ChunkText c;
    if (i % 75 == 0) {
      c = best;
    } else {  // body only, each word at most 3 times, and longer: below the copies everywhere
      for (const std::string& w : words) {
        if (!gen.Chance(0.7)) continue;
        for (int t = gen.Between(1, 3); t > 0; --t) c.body += w + " ";
      }
      c.body += gen.Filler(gen.Between(30, 120));
    }
    c.chunk_id = ids[i];
    ASSERT_TRUE(ix.Add(c).ok());
  }
  SearchStats s;
  for (const char* text :
       {"如果 文件 命令", "the of", "命令", "the 如果 of 文件 命令 to", "of to"}) {
    const auto mq = fulltext::BuildMatchQuery(text);
    for (int k : {1, 10, 39, 40, 41}) {
      auto got = ix.Search(mq.clauses, k, {}, nullptr, &s);
      auto want = ix.SearchExhaustive(mq.clauses, k);
      ASSERT_TRUE(got.ok() && want.ok());
      ExpectIdentical(*got, *want, std::string(text) + " k=" + std::to_string(k));
    }
  }
  EXPECT_GT(s.driver_rejects + s.probe_prunes, 0u);
}

TEST(KeywordPruningTest, TiersFollowAddsRemovesCompactionAndAllowedSets) {
  FrequentCorpus gen(21);
  KeywordIndex ix({}, SmallTiers());
  KeywordIndex plain({}, TierOptions{.enabled = false});
  std::vector<ChunkText> live;
  int64_t next = 1;
  auto add = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ChunkText c = gen.Doc(next++);
      ASSERT_TRUE(ix.Add(c).ok());
      ASSERT_TRUE(plain.Add(c).ok());
      live.push_back(c);
    }
  };
  auto remove = [&](int n) {
    for (int i = 0; i < n && !live.empty(); ++i) {
      const size_t j = static_cast<size_t>(gen.Between(0, static_cast<int>(live.size()) - 1));
      ASSERT_TRUE(ix.Remove(live[j]).ok());
      ASSERT_TRUE(plain.Remove(live[j]).ok());
      live.erase(live.begin() + static_cast<long>(j));
    }
  };
  SearchStats s;
  for (int round = 0; round < 4; ++round) {
    add(900);  // tiers appended to, and rebuilt when a list doubles
    remove(350);
    if (round == 2) {
      ix.Compact();  // rebuilt from the compacted lists
      plain.Compact();
    }
    ASSERT_GT(ix.Stats().tiers, 0u);
    const SearchStats r = CheckAgainstExhaustive(ix, gen, 30);
    s.tier_drives += r.tier_drives;
    s.tier_probes += r.tier_probes;
    // Tiers change the work, never the answer.
    for (int q = 0; q < 20; ++q) {
      const auto mq = fulltext::BuildMatchQuery(gen.Query());
      auto a = ix.Search(mq.clauses, 10);
      auto b = plain.Search(mq.clauses, 10);
      ASSERT_TRUE(a.ok() && b.ok());
      ExpectIdentical(*a, *b, "tiers vs none");
    }
  }
  EXPECT_GT(s.tier_drives + s.tier_probes, 0u);
  // An allowed set: the tier's docs are filtered like the list's.
  AllowedChunks allowed;
  for (const ChunkText& c : live) {
    if (c.chunk_id % 3 != 0) allowed.sorted_ids.push_back(c.chunk_id);
  }
  std::sort(allowed.sorted_ids.begin(), allowed.sorted_ids.end());
  CheckAgainstExhaustive(ix, gen, 40, &allowed);
}

TEST(KeywordPruningTest, SnapshotLoad_RebuildsTiers) {
  std::string dir = ::testing::TempDir();
  if (dir.empty() || dir.back() != '/') dir += '/';
  dir += "deepkb_kwp_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/k.kwi";
  FrequentCorpus gen(8);
  KeywordIndex ix({}, SmallTiers());
  for (int64_t id = 1; id <= 2000; ++id) ASSERT_TRUE(ix.Add(gen.Doc(id)).ok());
  ASSERT_TRUE(ix.Save(path).ok());
  KeywordIndex loaded({}, SmallTiers());
  ASSERT_TRUE(loaded.Load(path).ok());
  // Not necessarily the same lists: Add checks the length at powers of two against the row
  // count of that moment, Load against the final one.
  EXPECT_GT(loaded.Stats().tiers, 0u);
  const SearchStats s = CheckAgainstExhaustive(loaded, gen, 40);
  EXPECT_GT(s.tier_drives + s.tier_probes, 0u);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace deepkb::inverted
