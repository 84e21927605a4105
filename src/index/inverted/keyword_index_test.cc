#include "index/inverted/keyword_index.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "index/fulltext/query_builder.h"
#include "index/inverted/test_util.h"

namespace deepkb::inverted {
namespace {

using fulltext::QueryClause;

// Independent reference: BM25 as FTS5 defines it, computed from the analyzer's output of each
// live document, without any of the index's data structures.
class Reference {
 public:
  void Add(const ChunkText& c) { docs_[c.chunk_id] = c; }
  void Remove(int64_t id) { docs_.erase(id); }
  const std::map<int64_t, ChunkText>& docs() const { return docs_; }

  struct Analysed {
    uint32_t len = 0;
    std::vector<std::vector<std::pair<uint32_t, std::string>>> cols;  // (position, term)
  };
  static Analysed Analyse(const ChunkText& c) {
    Analysed a;
    for (const std::string* text : {&c.title, &c.headings, &c.body}) {
      std::vector<std::pair<uint32_t, std::string>> toks;
      uint32_t size = 0;
      fulltext::AnalyzeDocument(*text, [&](const fulltext::Term& t) {
        if (!t.colocated || size == 0) ++size;
        toks.emplace_back(size - 1, t.text);
        return true;
      });
      a.len += size;
      a.cols.push_back(std::move(toks));
    }
    return a;
  }
  static double Freq(const Analysed& a, const QueryClause& c) {
    const double w[3] = {4, 2, 1};
    double f = 0;
    for (int col = 0; col < 3; ++col) {
      std::set<uint32_t> prefix_pos;
      for (const auto& [pos, term] : a.cols[col]) {
        if (c.kind == QueryClause::Kind::kPrefix) {
          if (term.rfind(c.terms[0], 0) == 0) prefix_pos.insert(pos);
        } else if (term == c.terms[0]) {
          f += w[col];
        }
      }
      f += w[col] * static_cast<double>(prefix_pos.size());
    }
    return f;
  }

  std::vector<KeywordHit> Search(const std::vector<QueryClause>& clauses, int k) const {
    std::vector<const QueryClause*> cs;
    for (const auto& c : clauses) {
      if (!c.terms.empty()) cs.push_back(&c);
    }
    std::map<int64_t, Analysed> an;
    uint64_t total = 0;
    for (const auto& [id, d] : docs_) {
      an[id] = Analyse(d);
      total += an[id].len;
    }
    const auto n = static_cast<int64_t>(docs_.size());
    const double avgdl = static_cast<double>(total) / static_cast<double>(n);
    std::vector<std::map<int64_t, double>> freqs(cs.size());
    std::vector<double> idf(cs.size());
    for (size_t i = 0; i < cs.size(); ++i) {
      for (const auto& [id, a] : an) {
        const double f = Freq(a, *cs[i]);
        if (f > 0) freqs[i][id] = f;
      }
      double x = std::log((static_cast<double>(n - static_cast<int64_t>(freqs[i].size())) + 0.5) /
                          (static_cast<double>(freqs[i].size()) + 0.5));
      idf[i] = x <= 0 ? 1e-6 : x;
    }
    std::vector<KeywordHit> hits;
    for (const auto& [id, a] : an) {
      double score = 0;
      bool any = false;
      for (size_t i = 0; i < cs.size(); ++i) {
        auto it = freqs[i].find(id);
        if (it == freqs[i].end()) continue;
        any = true;
        const double f = it->second;
        score += idf[i] * ((f * (1.2 + 1.0)) / (f + 1.2 * (1 - 0.75 + 0.75 * a.len / avgdl)));
      }
      if (any) hits.push_back({id, score});
    }
    std::sort(hits.begin(), hits.end(), [](const KeywordHit& a, const KeywordHit& b) {
      return a.score > b.score || (a.score == b.score && a.chunk_id < b.chunk_id);
    });
    if (hits.size() > static_cast<size_t>(k)) hits.resize(static_cast<size_t>(k));
    return hits;
  }

 private:
  std::map<int64_t, ChunkText> docs_;
};

void ExpectSameHits(const std::vector<KeywordHit>& got, const std::vector<KeywordHit>& want,
                    const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].chunk_id, want[i].chunk_id) << what << " rank " << i;
    EXPECT_NEAR(got[i].score, want[i].score, 1e-12 * std::max(1.0, std::fabs(want[i].score)))
        << what << " rank " << i;
  }
}

ChunkText RandomChunk(testing::TextGen& gen, int64_t id) {
  ChunkText c;
  c.chunk_id = id;
  if (gen.Chance(0.8)) c.title = gen.Text(gen.Between(1, 4));
  if (gen.Chance(0.6)) c.headings = gen.Text(gen.Between(1, 5));
  c.body = gen.Text(gen.Between(0, 60));
  return c;
}

void CheckQueries(const KeywordIndex& ix, const Reference& ref, testing::TextGen& gen, int n) {
  for (int q = 0; q < n; ++q) {
    const std::string text = gen.Query();
    const auto mq = fulltext::BuildMatchQuery(text);
    for (int k : {1, 3, 10, 40}) {
      auto got = ix.Search(mq.clauses, k);
      ASSERT_TRUE(got.ok()) << text << ": " << got.status().ToString();
      ExpectSameHits(*got, ref.Search(mq.clauses, k), "query '" + text + "' k=" + std::to_string(k));
      auto ex = ix.SearchExhaustive(mq.clauses, k);
      ASSERT_TRUE(ex.ok());
      ExpectSameHits(*got, *ex, "exhaustive '" + text + "'");
    }
  }
}

TEST(KeywordIndexTest, Search_MatchesBruteForceThroughAddsRemovesAndCompaction) {
  testing::TextGen gen(42);
  KeywordIndex ix;
  Reference ref;
  int64_t next_id = 100;
  std::vector<int64_t> live;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 150; ++i) {
      ChunkText c = RandomChunk(gen, next_id);
      next_id += gen.Between(1, 3);  // ids grow with gaps, like AUTOINCREMENT across collections
      ASSERT_TRUE(ix.Add(c).ok());
      ref.Add(c);
      live.push_back(c.chunk_id);
    }
    for (int i = 0; i < 60 && !live.empty(); ++i) {
      const size_t j = static_cast<size_t>(gen.Between(0, static_cast<int>(live.size()) - 1));
      const int64_t id = live[j];
      ASSERT_TRUE(ix.Remove(ref.docs().at(id)).ok());
      ref.Remove(id);
      live.erase(live.begin() + static_cast<long>(j));
    }
    if (round % 2 == 1) ix.Compact();
    const KeywordStats s = ix.Stats();
    ASSERT_EQ(s.live_docs, ref.docs().size());
    CheckQueries(ix, ref, gen, 40);
  }
}

TEST(KeywordIndexTest, Remove_RejectsDifferentTextAndUnknownIds) {
  KeywordIndex ix;
  ASSERT_TRUE(ix.Add({1, "title", "", "数据库 连接池 node.js"}).ok());
  EXPECT_EQ(ix.Add({1, "x", "", "y"}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ix.Remove({1, "title", "", "数据库 连接池"}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ix.Remove({2, "title", "", "数据库"}).code(), StatusCode::kNotFound);
  EXPECT_EQ(ix.Stats().live_docs, 1u);
  EXPECT_EQ(ix.DocFreq("数据"), 1u);
  ASSERT_TRUE(ix.Remove({1, "title", "", "数据库 连接池 node.js"}).ok());
  EXPECT_EQ(ix.Stats().live_docs, 0u);
  EXPECT_EQ(ix.DocFreq("数据"), 0u);
  EXPECT_EQ(ix.Stats().total_tokens, 0u);
}

TEST(KeywordIndexTest, Search_RefusesWhatItCannotAnswerExactly) {
  KeywordIndex ix;
  ASSERT_TRUE(ix.Add({1, "", "", "한국-어 中文"}).ok());
  QueryClause phrase{QueryClause::Kind::kPhrase, {"中文", "文件"}, "中文件"};
  EXPECT_EQ(ix.Search({phrase}, 10).status().code(), StatusCode::kFailedPrecondition);
  QueryClause hangul{QueryClause::Kind::kPrefix, {"어"}, "어"};  // starts a colocated token
  EXPECT_EQ(ix.Search({hangul}, 10).status().code(), StatusCode::kFailedPrecondition);
  QueryClause latin{QueryClause::Kind::kPrefix, {"a"}, "a"};
  EXPECT_EQ(ix.Search({latin}, 10).status().code(), StatusCode::kFailedPrecondition);
  QueryClause zh{QueryClause::Kind::kPrefix, {"中"}, "中"};
  auto ok = ix.Search({zh}, 10);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 1u);
  fulltext::FieldWeights other;
  other.title = 5;
  EXPECT_EQ(ix.Search({zh}, 10, other).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ix.Search({zh}, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ix.Search({}, 10)->empty());
}

TEST(KeywordIndexTest, Search_AllowedSetFiltersExactly) {
  testing::TextGen gen(7);
  KeywordIndex ix;
  Reference ref;
  for (int64_t id = 1; id <= 400; ++id) {
    ChunkText c = RandomChunk(gen, id);
    ASSERT_TRUE(ix.Add(c).ok());
    ref.Add(c);
  }
  AllowedChunks allowed;
  for (int64_t id = 1; id <= 400; id += 3) allowed.sorted_ids.push_back(id);
  for (int q = 0; q < 60; ++q) {
    const auto mq = fulltext::BuildMatchQuery(gen.Query());
    auto got = ix.Search(mq.clauses, 10, {}, &allowed);
    ASSERT_TRUE(got.ok());
    // Reference: all hits, then keep the allowed ones (statistics stay global, as in FTS5).
    auto all = ref.Search(mq.clauses, 1000);
    std::vector<KeywordHit> want;
    for (const auto& h : all) {
      if ((h.chunk_id - 1) % 3 == 0 && want.size() < 10) want.push_back(h);
    }
    ExpectSameHits(*got, want, "filtered");
  }
}

class TempDir {
 public:
  TempDir() {
    std::string t = ::testing::TempDir();
    if (t.empty() || t.back() != '/') t += '/';
    t += "deepkb_kwi_XXXXXX";
    if (mkdtemp(t.data()) != nullptr) path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

TEST(KeywordIndexTest, Snapshot_RoundTripsAndDetectsCorruption) {
  TempDir dir;
  testing::TextGen gen(9);
  KeywordIndex ix;
  Reference ref;
  for (int64_t id = 1; id <= 600; ++id) {
    ChunkText c = RandomChunk(gen, id * 2);
    ASSERT_TRUE(ix.Add(c).ok());
    ref.Add(c);
  }
  for (int64_t id = 2; id <= 1200; id += 10) {
    ASSERT_TRUE(ix.Remove(ref.docs().at(id)).ok());
    ref.Remove(id);
  }
  const std::string path = dir.File("1.kwi");
  ASSERT_TRUE(ix.Save(path).ok());
  KeywordIndex loaded;
  ASSERT_TRUE(loaded.Load(path).ok());
  EXPECT_EQ(loaded.Stats().live_docs, ix.Stats().live_docs);
  EXPECT_EQ(loaded.Stats().total_tokens, ix.Stats().total_tokens);
  EXPECT_EQ(loaded.LiveChunkIds(), ix.LiveChunkIds());
  CheckQueries(loaded, ref, gen, 30);
  // Removal still works after loading (fingerprints survived), and so does adding.
  ASSERT_TRUE(loaded.Remove(ref.docs().at(4)).ok());
  ref.Remove(4);
  ASSERT_TRUE(loaded.Add(RandomChunk(gen, 5000)).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  // Corruption anywhere is DataLoss, and the target index is left unchanged.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::string bad = bytes;
    const size_t at = rng() % bad.size();
    bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
    std::ofstream(dir.File("bad.kwi"), std::ios::binary | std::ios::trunc) << bad;
    KeywordIndex target;
    ASSERT_TRUE(target.Add({1, "", "", "keep me"}).ok());
    const Status s = target.Load(dir.File("bad.kwi"));
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "flip at " << at << ": " << s.ToString();
    EXPECT_EQ(target.Stats().live_docs, 1u);
  }
  std::ofstream(dir.File("short.kwi"), std::ios::binary | std::ios::trunc)
      << bytes.substr(0, bytes.size() / 2);
  KeywordIndex target;
  EXPECT_EQ(target.Load(dir.File("short.kwi")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(target.Load(dir.File("missing.kwi")).code(), StatusCode::kNotFound);
  fulltext::FieldWeights other;
  other.body = 3;
  KeywordIndex other_weights(other);
  EXPECT_EQ(other_weights.Load(path).code(), StatusCode::kFailedPrecondition);
}

TEST(KeywordIndexTest, Concurrency_SearchesDuringWritesSeeConsistentState) {
  KeywordIndex ix;
  testing::TextGen gen(11);
  std::vector<ChunkText> chunks;
  for (int64_t id = 1; id <= 3000; ++id) chunks.push_back(RandomChunk(gen, id));
  for (size_t i = 0; i < 1000; ++i) ASSERT_TRUE(ix.Add(chunks[i]).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      testing::TextGen qgen(100 + static_cast<uint64_t>(t));
      while (!stop.load()) {
        const auto mq = fulltext::BuildMatchQuery(qgen.Query());
        auto fast = ix.Search(mq.clauses, 10);
        if (!fast.ok()) {
          ++failures;
          continue;
        }
        for (size_t i = 1; i < fast->size(); ++i) {
          if ((*fast)[i].score > (*fast)[i - 1].score) ++failures;
        }
        ++searches;
      }
    });
  }
  // One writer: adds, removes and compactions while the readers run.
  for (size_t i = 1000; i < 3000; ++i) {
    ASSERT_TRUE(ix.Add(chunks[i]).ok());
    if (i % 3 == 0) {
      ASSERT_TRUE(ix.Remove(chunks[i - 900]).ok());
    }
    if (i % 500 == 0) ix.Compact();
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(searches.load(), 0);
  // After the writer is done, the fast path equals the exhaustive one.
  testing::TextGen qgen(5);
  for (int q = 0; q < 50; ++q) {
    const auto mq = fulltext::BuildMatchQuery(qgen.Query());
    ExpectSameHits(*ix.Search(mq.clauses, 10), *ix.SearchExhaustive(mq.clauses, 10), "after");
  }
}

}  // namespace
}  // namespace deepkb::inverted
