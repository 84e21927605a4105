// The keyword accelerator inside the KB: searches give what FTS5 gives (ids, scores, highlights)
// through writes, deletes, restarts with current, stale and corrupt snapshots, and filters.
#include <gtest/gtest.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/hash.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/fts_index.h"
#include "kb/filter.h"
#include "kb/kb.h"
#include "kb/keyword_set.h"

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

// Captures the log lines of the default logger while alive.
class CountingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  size_t Count(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (size_t pos = text_.find(needle); pos != std::string::npos;
         pos = text_.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size());
    text_ += '\n';
  }
  void flush_() override {}

 private:
  std::string text_;
};

class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<CountingSink>()) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  size_t Count(const std::string& needle) { return sink_->Count(needle); }

 private:
  std::shared_ptr<CountingSink> sink_;
};

TEST_F(KeywordSetTest, Compaction_ManyReplacementsCompactInTheBackgroundAndStayEqualToFts5) {
  LogCapture log;
  for (int i = 0; i < 80; ++i) Put(i);
  const std::string line = "keyword index of collection " + std::to_string(cid_) + " compacted in";
  // Replace every document again and again: each replacement tombstones its old chunks, and
  // past 1000 tombstones (> 20% of slots) a write starts a background compaction. Compare with
  // FTS5 while compactions may be running and after.
  int round = 1;
  for (; round <= 60 && log.Count(line) < 2; ++round) {
    for (int i = 0; i < 80; ++i) Put(i, static_cast<uint64_t>(round) * 1000);
    if (round % 4 == 0) CheckAll();
  }
  // The last compaction may still be running: writes and searches go on meanwhile.
  for (int i = 0; i < 80; i += 3) Put(i, 999999);
  CheckAll();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (log.Count(line) < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(log.Count(line), 2u) << "after " << round << " rounds of replacements";
  CheckAll();
  for (int i = 0; i < 80; i += 7) ASSERT_TRUE(kb_->DeleteDocument("c", "d" + std::to_string(i)).ok());
  CheckAll();
  EXPECT_GT(compared_, 100);
}

// KeywordSet on its own: a background compaction of an index that is dropped or replaced
// meanwhile is harmless; one that completes leaves an equal, compacted index.
std::vector<inverted::ChunkText> Rows(int64_t first, int n) {
  std::vector<inverted::ChunkText> rows;
  for (int64_t id = first; id < first + n; ++id) {
    rows.push_back({id, Text(static_cast<uint64_t>(id) * 3, 3), Text(static_cast<uint64_t>(id), 2),
                    Text(static_cast<uint64_t>(id) * 11, 30)});
  }
  return rows;
}

TEST(KeywordSetCompactionTest, DropAndReplaceDuringABackgroundCompactionAreHarmless) {
  const fs::path dir = fs::temp_directory_path() / ("kw_set_compact_" + RandomHex(6));
  fs::create_directories(dir);
  const auto rows = Rows(1, 3000);
  const std::vector<inverted::ChunkText> half(rows.begin(), rows.begin() + 1500);
  const std::vector<inverted::ChunkText> rest(rows.begin() + 1500, rows.end());
  for (int scenario = 0; scenario < 3; ++scenario) {
    KeywordSet set(dir.string());
    set.AddEmpty(7);
    set.Apply(7, {}, rows);
    auto ix = set.Get(7);
    ASSERT_NE(ix, nullptr);
    // Hold the compaction in its rewrite until the test has dropped/replaced the index.
    std::atomic<bool> in_rewrite{false}, release{false};
    ix->SetCompactionSliceHookForTesting([&] {
      in_rewrite = true;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!release.load() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
    });
    set.Apply(7, half, {});  // 1500 tombstones of 3000 slots: starts the background compaction
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!in_rewrite.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(in_rewrite.load());
    // The caller was not held: further writes go through while the compaction is in progress.
    const auto more = Rows(10000, 50);
    set.Apply(7, {}, more);
    auto fresh = std::make_shared<inverted::KeywordIndex>();
    if (scenario == 0) {
      set.Drop(7);
    } else if (scenario == 1) {
      for (const auto& r : rest) ASSERT_TRUE(fresh->Add(r).ok());
      set.Install(7, fresh);
    }
    release = true;
    set.WaitForCompaction();
    ix->SetCompactionSliceHookForTesting(nullptr);
    EXPECT_EQ(ix->Stats().tombstones, 0u) << scenario;
    std::vector<int64_t> want;
    for (const auto& r : rest) want.push_back(r.chunk_id);
    for (const auto& r : more) want.push_back(r.chunk_id);
    EXPECT_EQ(ix->LiveChunkIds(), want) << scenario;
    if (scenario == 0) {
      EXPECT_EQ(set.Get(7), nullptr);
    }
    if (scenario == 1) {
      EXPECT_EQ(set.Get(7), fresh);
    }
    if (scenario == 2) {
      EXPECT_EQ(set.Get(7), ix);
      // Equal to an index built from the same rows.
      inverted::KeywordIndex ref;
      for (const auto& r : rest) ASSERT_TRUE(ref.Add(r).ok());
      for (const auto& r : more) ASSERT_TRUE(ref.Add(r).ok());
      for (const char* q : {"数据库 连接池", "中", "node.js 配置", "東京 the", "ppr-9087"}) {
        const auto mq = fulltext::BuildMatchQuery(q);
        auto a = ix->SearchExhaustive(mq.clauses, 20);
        auto b = ref.SearchExhaustive(mq.clauses, 20);
        ASSERT_TRUE(a.ok() && b.ok());
        ASSERT_EQ(a->size(), b->size()) << q;
        for (size_t i = 0; i < a->size(); ++i) {
          EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id) << q;
          EXPECT_EQ((*a)[i].score, (*b)[i].score) << q;
        }
      }
    }
    // A KeywordSet destroyed with a compaction running joins it (scenario 2 starts one more).
    if (scenario == 2) set.Apply(7, rest, {});
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace deepkb::kb
