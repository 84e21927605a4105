// Online index rebuild (kb_rebuild.cc): while RebuildIndexes builds the new indexes aside, the
// old ones answer searches and writes go on (the progress callback runs between pages, where the
// KB lock must be free: the work it triggers runs on another thread and must finish); writes,
// updates and deletes made during the rebuild are all in the new indexes; an embedder change
// takes effect at the swap; failures and crashes leave the old indexes and no leftovers.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "common/hash.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/fts_index.h"
#include "kb/kb.h"

namespace deepkb::kb {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kWords[] = {"数据库", "连接池", "配置", "文件", "用户", "命令", "检索", "索引",
                        "node.js", "ppr-9087", "server", "cache", "query", "the", "中",
                        "replica", "東京", "pg_dump", "memory", "选项", "backup", "vacuum"};

std::string Text(uint64_t seed, int words) {
  std::string s;
  for (int i = 0; i < words; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    s += kWords[(seed >> 33) % std::size(kWords)];
    s += " ";
  }
  return s;
}

// A word only document i at version v contains (letters only, so it stays one token).
std::string Word(int i, int v) {
  std::string w = "zq";
  for (int n = i;; n /= 26) {
    w += static_cast<char>('a' + n % 26);
    if (n < 26) break;
  }
  w += "x";
  w += static_cast<char>('a' + v);
  return w;
}

// Runs `fn` on another thread and fails the whole test binary if it does not finish in time:
// a rebuild that held the KB lock across its progress callback would deadlock it.
void MustFinish(const std::function<void()>& fn) {
  std::packaged_task<void()> task(fn);
  auto done = task.get_future();
  std::thread t(std::move(task));
  if (done.wait_for(60s) != std::future_status::ready) {
    std::fprintf(stderr, "work during the rebuild did not finish: the KB lock is held\n");
    std::_Exit(1);
  }
  t.join();
}

class RebuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kb_rebuild_test_" + RandomHex(6));
    Open();
    ASSERT_TRUE(kb_->CreateCollection({.name = "c", .chunk_tokens = 64, .chunk_overlap = 0}).ok());
    cid_ = kb_->GetCollection("c")->id;
  }
  void TearDown() override {
    kb_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    KbOptions o;
    o.rebuild_page_chunks = 16;  // many pages on a small collection
    auto kb = KnowledgeBase::Open(dir_.string(), o);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
  }
  // A document of about three 64-token chunks; `version` changes its text.
  std::string Body(int i, int version) {
    return "# " + Text(i * 7 + version, 3) + "\n\n" + Text(i * 31 + version * 1000, 60) +
           "\n\n" + Word(i, version) + "\n";
  }
  void Put(int i, int version = 0) {
    PutDocumentRequest req;
    req.collection = "c";
    req.doc_id = "d" + std::to_string(i);
    req.format = text::Format::kMarkdown;
    req.bytes = Body(i, version);
    auto r = kb_->PutDocument(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    versions_[i] = version;
  }
  void Delete(int i) {
    ASSERT_TRUE(kb_->DeleteDocument("c", "d" + std::to_string(i)).ok());
    versions_.erase(i);
  }
  // Every live document is found by its unique word (keyword) and by its own text (vector);
  // deleted and replaced versions are not.
  void ExpectContent() {
    for (const auto& [i, v] : versions_) {
      const std::string word = Word(i, v);
      auto k = kb_->Search({.collection = "c", .query = word, .mode = "keyword"});
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      ASSERT_FALSE(k->hits.empty()) << word;
      EXPECT_EQ(k->hits[0].doc_id, "d" + std::to_string(i)) << word;
      // A chunk's own text finds that chunk (cosine distance 0) in vector search.
      auto chunks = kb_->GetDocumentChunks("c", "d" + std::to_string(i));
      ASSERT_TRUE(chunks.ok() && !chunks->empty());
      const auto& probe = chunks->back();
      auto vs = kb_->Search({.collection = "c", .query = probe.text, .mode = "vector"});
      ASSERT_TRUE(vs.ok()) << vs.status().ToString();
      bool found = false;
      for (const auto& h : vs->hits) found = found || h.chunk_id == probe.id;
      EXPECT_TRUE(found) << "vector search misses chunk " << probe.id << " of d" << i;
    }
    for (int i : gone_words_) {
      for (int v = 0; v < 3; ++v) {
        if (versions_.count(i) && versions_[i] == v) continue;
        const std::string word = Word(i, v);
        auto k = kb_->Search({.collection = "c", .query = word, .mode = "keyword"});
        ASSERT_TRUE(k.ok());
        EXPECT_TRUE(k->hits.empty()) << word << " is still indexed (" << k->hits[0].doc_id << ")";
      }
    }
    Status v = kb_->Verify();
    EXPECT_TRUE(v.ok()) << v.ToString();
  }
  // Names of tables a rebuild builds aside.
  std::vector<std::string> LeftoverTables() {
    auto db = storage::Database::Open((dir_ / "kb.db").string());
    EXPECT_TRUE(db.ok());
    std::vector<std::string> names;
    auto s = (*db)->Prepare("SELECT name FROM sqlite_master WHERE name LIKE '%rebuild%' OR "
                            "name LIKE '%retired%'");
    EXPECT_TRUE(s.ok());
    while (*s->Step()) names.push_back(s->ColumnText(0));
    return names;
  }

  fs::path dir_;
  std::unique_ptr<KnowledgeBase> kb_;
  int64_t cid_ = 0;
  std::map<int, int> versions_;  // live documents → version
  std::set<int> gone_words_;     // documents updated or deleted at some point
};

TEST_F(RebuildTest, WritesDuringTheRebuildAreAllInTheNewIndexes) {
  for (int i = 0; i < 60; ++i) Put(i);
  const int64_t chunks_before = kb_->GetCollection("c")->chunks;
  ASSERT_GT(chunks_before, 100);  // several pages of 16
  int calls = 0;
  size_t last_total = 0;
  Status s = kb_->RebuildIndexes("c", "", [&](size_t done, size_t total) {
    last_total = total;
    ++calls;
    if (calls == 3 || calls == 6) {
      // Mid-rebuild: the old indexes answer, and every kind of write is accepted — on documents
      // the rebuild has already read (low ids), not yet read, and new ones.
      const int round = calls;
      MustFinish([&] {
        auto k = kb_->Search({.collection = "c", .query = Word(5, 0), .mode = "keyword"});
        ASSERT_TRUE(k.ok());
        ASSERT_FALSE(k->hits.empty());
        auto v = kb_->Search({.collection = "c", .query = Body(5, 0), .mode = "hybrid"});
        ASSERT_TRUE(v.ok());
        EXPECT_FALSE(v->hits.empty());
        const int base = round * 5;
        Put(base + 1, 1);  // update (rows on both sides of the watermark)
        gone_words_.insert(base + 1);
        Delete(base + 2);
        gone_words_.insert(base + 2);
        Put(100 + round);  // new
        Put(base + 3, 2);
        gone_words_.insert(base + 3);
      });
    }
    EXPECT_LE(done, total);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(calls, 6);
  EXPECT_GE(last_total, static_cast<size_t>(chunks_before));
  ExpectContent();
  EXPECT_TRUE(LeftoverTables().empty());
  // Writes after the swap go to the new indexes; a restart loads them.
  Put(7, 2);
  gone_words_.insert(7);
  Delete(8);
  gone_words_.insert(8);
  ExpectContent();
  kb_.reset();
  Open();
  ExpectContent();
}

TEST_F(RebuildTest, EmbedderChangeTakesEffectAtTheSwap) {
  for (int i = 0; i < 30; ++i) Put(i);
  ASSERT_EQ(kb_->GetCollection("c")->dim, 256);
  int calls = 0;
  Status s = kb_->RebuildIndexes("c", "ngram-hash:384", [&](size_t, size_t) {
    if (++calls != 2) return;
    MustFinish([&] {
      // Still the old embedder: the collection says so and vector search works with it.
      auto c = kb_->GetCollection("c");
      ASSERT_TRUE(c.ok());
      EXPECT_EQ(c->embedder, "ngram-hash");
      auto v = kb_->Search({.collection = "c", .query = Body(3, 0), .mode = "vector"});
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_FALSE(v->hits.empty());
      Put(40);  // embedded with the old embedder now, re-embedded by the rebuild
      Put(2, 1);
      gone_words_.insert(2);
    });
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto c = kb_->GetCollection("c");
  EXPECT_EQ(c->embedder, "ngram-hash:384");
  EXPECT_EQ(c->dim, 384);
  ExpectContent();
  // Every stored vector has the new dimension.
  auto db = storage::Database::Open((dir_ / "kb.db").string());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM chunk_vectors WHERE length(vector) != 384 * 4"),
            0);
  EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM chunk_vectors"), c->chunks);
  db->reset();
  // A write after the swap uses the new embedder.
  Put(41);
  kb_.reset();
  Open();
  ExpectContent();
}

TEST_F(RebuildTest, DeletedCollectionOrSecondRebuildFailCleanly) {
  for (int i = 0; i < 20; ++i) Put(i);
  // A second rebuild of the same collection while one runs: refused at once.
  int calls = 0;
  Status s = kb_->RebuildIndexes("c", "", [&](size_t, size_t) {
    if (++calls != 2) return;
    MustFinish([&] {
      Status second = kb_->RebuildIndexes("c", "");
      EXPECT_EQ(second.code(), StatusCode::kFailedPrecondition) << second.ToString();
      EXPECT_NE(second.message().find("already running"), std::string::npos);
    });
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectContent();

  // The collection deleted mid-rebuild: NotFound, nothing left behind.
  calls = 0;
  s = kb_->RebuildIndexes("c", "", [&](size_t, size_t) {
    if (++calls == 2) MustFinish([&] { ASSERT_TRUE(kb_->DeleteCollection("c").ok()); });
  });
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_TRUE(LeftoverTables().empty());
  EXPECT_TRUE(kb_->Verify().ok());
}

TEST_F(RebuildTest, KilledMidRebuildLeavesTheOldIndexesAndOpenCleansUp) {
  for (int i = 0; i < 30; ++i) Put(i);
  kb_.reset();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    KbOptions o;
    o.rebuild_page_chunks = 16;
    auto kb = KnowledgeBase::Open(dir_.string(), o);
    if (!kb.ok()) std::_Exit(2);
    int calls = 0;
    (void)(*kb)->RebuildIndexes("c", "ngram-hash:384", [&](size_t, size_t) {
      if (++calls == 3) raise(SIGKILL);
    });
    std::_Exit(3);  // not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_FALSE(LeftoverTables().empty());  // the shadow and staging tables of the dead rebuild
  {
    // As if it had died after the swap, before the old table was removed.
    auto db = storage::Database::Open((dir_ / "kb.db").string());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(fulltext::RegisterFts5Tokenizer((*db)->handle()).ok());
    ASSERT_TRUE((*db)->Exec("CREATE VIRTUAL TABLE fts_" + std::to_string(cid_) +
                            "_retired USING fts5(body, tokenize='deepkb')").ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO fts_" + std::to_string(cid_) +
                            "_retired(body) VALUES('old')").ok());
  }
  Open();
  EXPECT_TRUE(LeftoverTables().empty());
  EXPECT_EQ(kb_->GetCollection("c")->embedder, "ngram-hash");  // unchanged
  ExpectContent();
  ASSERT_TRUE(kb_->RebuildIndexes("c", "").ok());
  ExpectContent();
}

}  // namespace
}  // namespace deepkb::kb
