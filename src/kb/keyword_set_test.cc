// The keyword accelerator inside the KB: searches give what FTS5 gives (ids, scores, highlights)
// through writes, deletes, restarts with current, stale and corrupt snapshots, and filters.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/hash.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/fts_index.h"
#include "kb/filter.h"
#include "kb/kb.h"

#include <nlohmann/json.hpp>

namespace deepkb::kb {
namespace {

namespace fs = std::filesystem;

const char* kWords[] = {"数据库", "连接池", "配置", "文件", "用户", "命令", "检索", "索引",
                        "node.js", "ppr-9087", "server", "cache", "query", "the", "中",
                        "カタカナ", "東京", "pg_dump", "memory", "选项"};

std::string Text(uint64_t seed, int words) {
  std::string s;
  for (int i = 0; i < words; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const size_t r = (seed >> 33) % 400;
    size_t k = 0;  // Zipf-ish: small indexes more often
    while (k + 1 < std::size(kWords) && r < 400 / (k + 2)) ++k;
    s += kWords[std::size(kWords) - 1 - k];
    s += (seed >> 20) % 3 ? " " : "";
  }
  return s;
}

class KeywordSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kw_set_test_" + RandomHex(6));
    Open();
    ASSERT_TRUE(kb_->CreateCollection({.name = "c"}).ok());
    auto c = kb_->GetCollection("c");
    ASSERT_TRUE(c.ok());
    cid_ = c->id;
  }
  void TearDown() override {
    kb_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    auto kb = KnowledgeBase::Open(dir_.string());
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
  }
  void Put(int i, uint64_t version = 0, const std::string& meta = "{}") {
    PutDocumentRequest req;
    req.collection = "c";
    req.doc_id = "d" + std::to_string(i);
    req.format = text::Format::kMarkdown;
    req.bytes = "# " + Text(i * 7 + version, 3) + "\n\n## " + Text(i * 13 + version, 2) +
                "\n\n" + Text(i * 31 + version, 40) + "\n\n## " + Text(i + version, 2) +
                "\n\n" + Text(i * 97 + version, 30) + "\n";
    req.metadata_json = meta;
    auto r = kb_->PutDocument(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  // KB search (accelerator) vs FtsIndex::Search on a second connection.
  void ExpectSameAsFts5(const std::string& q, const std::string& filter = "") {
    auto db = storage::Database::Open((dir_ / "kb.db").string());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    fulltext::FtsIndex fts(**db);
    const auto mq = fulltext::BuildMatchQuery(q);
    auto want = fts.Search(cid_, mq, 10);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    SearchRequest req{.collection = "c", .query = q, .mode = "keyword", .filter_json = filter};
    auto got = kb_->Search(req);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (!filter.empty()) {
      // Only compare that every hit is allowed and ranked by score.
      for (size_t i = 1; i < got->hits.size(); ++i) {
        EXPECT_GE(got->hits[i - 1].score, got->hits[i].score);
      }
      return;
    }
    ASSERT_EQ(got->hits.size(), want->size()) << q;
    for (size_t i = 0; i < want->size(); ++i) {
      const auto& w = (*want)[i];
      const auto& h = got->hits[i];
      EXPECT_NEAR(h.score, w.score, 1e-9 * std::max(1.0, std::fabs(w.score))) << q << " " << i;
      if (h.chunk_id == w.chunk_id) {
        EXPECT_EQ(h.highlight, w.highlight) << q;
        ++compared_;
      }
    }
  }

  void CheckAll() {
    for (const char* q : {"数据库 连接池", "中", "node.js 配置", "東京", "the server", "检索中",
                          "ppr-9087", "カタカナ 中", "pg_dump memory 选项"}) {
      ExpectSameAsFts5(q);
    }
    EXPECT_TRUE(kb_->Verify().ok()) << kb_->Verify().ToString();
  }

  fs::path dir_;
  std::unique_ptr<KnowledgeBase> kb_;
  int64_t cid_ = 0;
  int compared_ = 0;
};

TEST_F(KeywordSetTest, Search_EqualsFts5ThroughWritesUpdatesAndDeletes) {
  for (int i = 0; i < 60; ++i) Put(i);
  CheckAll();
  for (int i = 0; i < 60; i += 4) Put(i, 1000);  // updates: old rows out, new rows in
  for (int i = 1; i < 60; i += 5) ASSERT_TRUE(kb_->DeleteDocument("c", "d" + std::to_string(i)).ok());
  CheckAll();
  EXPECT_GT(compared_, 50);
}

TEST_F(KeywordSetTest, Restart_ReconcilesStaleSnapshotsAndRebuildsCorruptOnes) {
  for (int i = 0; i < 30; ++i) Put(i);
  ASSERT_TRUE(kb_->SaveIndexes().ok());
  const fs::path snap = dir_ / "index" / (std::to_string(cid_) + ".kwi");
  ASSERT_TRUE(fs::exists(snap));
  const fs::path old = dir_ / "old.kwi";
  fs::copy_file(snap, old);

  // (a) The snapshot misses later additions: reconciled by adding them.
  for (int i = 30; i < 45; ++i) Put(i);
  kb_.reset();
  fs::copy_file(old, snap, fs::copy_options::overwrite_existing);
  Open();
  CheckAll();

  // (b) The snapshot holds chunks deleted since (text gone): rebuilt from SQLite.
  ASSERT_TRUE(kb_->DeleteDocument("c", "d3").ok());
  Put(4, 77);
  kb_.reset();
  fs::copy_file(old, snap, fs::copy_options::overwrite_existing);
  Open();
  CheckAll();

  // (c) A corrupt snapshot: rebuilt.
  kb_.reset();
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  Open();
  CheckAll();

  // Collection deletion removes the snapshot.
  ASSERT_TRUE(kb_->SaveIndexes().ok());
  ASSERT_TRUE(fs::exists(snap));
  ASSERT_TRUE(kb_->DeleteCollection("c").ok());
  EXPECT_FALSE(fs::exists(snap));
}

TEST_F(KeywordSetTest, Search_FilteredAndRebuiltIndexesStayExact) {
  for (int i = 0; i < 40; ++i) Put(i, 0, i % 2 ? R"({"team":"ops"})" : R"({"team":"dev"})");
  auto r = kb_->Search({.collection = "c", .query = "数据库 中", .mode = "keyword",
                        .filter_json = R"({"team":"ops"})"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->hits.empty());
  for (const auto& h : r->hits) EXPECT_EQ(h.metadata_json, R"({"team":"ops"})");
  // The same query through FTS5 with the same filter (second connection).
  auto db = storage::Database::Open((dir_ / "kb.db").string());
  ASSERT_TRUE(db.ok());
  fulltext::FtsIndex fts(**db);
  auto f = CompileFilter(nlohmann::json::parse(R"({"team":"ops"})"));
  ASSERT_TRUE(f.ok());
  auto want = fts.Search(cid_, fulltext::BuildMatchQuery("数据库 中"), 10, {}, &*f);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  ASSERT_EQ(want->size(), r->hits.size());
  for (size_t i = 0; i < want->size(); ++i) {
    EXPECT_NEAR((*want)[i].score, r->hits[i].score, 1e-9 * std::fabs((*want)[i].score));
  }
  ASSERT_TRUE(kb_->RebuildIndexes("c", "").ok());
  CheckAll();
}

}  // namespace
}  // namespace deepkb::kb
