#include "kb/kb.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/hash.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "storage/sqlite.h"

namespace deepkb::kb {
namespace {

class KbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kb_test_" + RandomHex(6));
    auto kb = KnowledgeBase::Open(dir_.string());
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    ASSERT_TRUE(kb_->CreateCollection({.name = "c"}).ok());
  }
  void TearDown() override {
    kb_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result<PutResult> Put(const std::string& id, const std::string& text,
                        const std::string& meta = "{}") {
    PutDocumentRequest req;
    req.collection = "c";
    req.doc_id = id;
    req.bytes = text;
    req.format = text::Format::kText;
    req.metadata_json = meta;
    return kb_->PutDocument(req);
  }

  std::vector<std::string> SearchIds(const std::string& q) {
    auto r = kb_->Search({.collection = "c", .query = q, .mode = "keyword"});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const auto& h : r->hits) ids.push_back(h.doc_id);
    }
    return ids;
  }

  std::filesystem::path dir_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(KbTest, CreateListDeleteCollections) {
  EXPECT_EQ(kb_->CreateCollection({.name = "c"}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(kb_->CreateCollection({.name = "bad name"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(kb_->CreateCollection({.name = "x", .chunk_tokens = 4}).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(kb_->CreateCollection({.name = "d"}).ok());
  ASSERT_TRUE(kb_->CreateCollection({.name = "运维手册"}).ok());
  for (const char* bad : {"a b", "a/b", "-a", "手册。", "a\n", "\xFF"}) {
    EXPECT_EQ(kb_->CreateCollection({.name = bad}).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  auto list = kb_->ListCollections();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
  ASSERT_TRUE(kb_->DeleteCollection("d").ok());
  EXPECT_EQ(kb_->GetCollection("d").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(kb_->DeleteCollection("d").code(), StatusCode::kNotFound);
}

TEST_F(KbTest, PutIsIdempotentByContentHash) {
  auto a = Put("a", "The quick brown fox jumps over the lazy dog.");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->outcome, PutResult::Outcome::kCreated);
  auto b = Put("a", "The quick brown fox jumps over the lazy dog.");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->outcome, PutResult::Outcome::kUnchanged);
  EXPECT_EQ(b->version, a->version);
  auto c = Put("a", "A different text about databases.");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->outcome, PutResult::Outcome::kUpdated);
  EXPECT_GT(c->version, a->version);
  EXPECT_TRUE(SearchIds("fox").empty());
  EXPECT_EQ(SearchIds("databases"), std::vector<std::string>{"a"});
  // Metadata change alone is an update.
  auto d = Put("a", "A different text about databases.", R"({"team":"ops"})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->outcome, PutResult::Outcome::kUpdated);
}

TEST_F(KbTest, DeleteTombstonesAndRecreateGetsNewVersion) {
  auto a = Put("a", "知识库的数据库连接池配置说明。");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(SearchIds("连接池"), std::vector<std::string>{"a"});
  auto v = kb_->DeleteDocument("c", "a");
  ASSERT_TRUE(v.ok());
  EXPECT_GT(*v, a->version);
  EXPECT_TRUE(SearchIds("连接池").empty());
  EXPECT_EQ(kb_->GetDocument("c", "a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(kb_->DeleteDocument("c", "a").status().code(), StatusCode::kNotFound);
  auto again = Put("a", "知识库的数据库连接池配置说明。");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, PutResult::Outcome::kCreated);
  EXPECT_GT(again->version, *v);
  EXPECT_EQ(SearchIds("数据库连接池怎么配置"), std::vector<std::string>{"a"});
  ASSERT_TRUE(kb_->Verify().ok());
}

TEST_F(KbTest, SearchReturnsHitFields) {
  PutDocumentRequest req;
  req.collection = "c";
  req.doc_id = "guide.md";
  req.bytes = "# Operations Guide\n\n## Backups\n\nRun the PPR-9087 procedure nightly.\n";
  req.file_name = "guide.md";
  req.source = "/srv/guide.md";
  req.metadata_json = R"({"team":"ops"})";
  ASSERT_TRUE(kb_->PutDocument(req).ok());
  auto r = kb_->Search({.collection = "c", .query = "PPR-9087", .mode = "keyword"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->hits.size(), 1u);
  const auto& h = r->hits[0];
  EXPECT_EQ(h.doc_id, "guide.md");
  EXPECT_EQ(h.title, "Operations Guide");
  EXPECT_EQ(h.source, "/srv/guide.md");
  EXPECT_EQ(h.keyword_rank, 1);
  EXPECT_GT(h.score, 0);
  EXPECT_NE(h.text.find("PPR-9087"), std::string::npos);
  EXPECT_NE(h.highlight.find("<mark>"), std::string::npos);
  EXPECT_NE(h.heading_path.find("Backups"), std::string::npos);
  EXPECT_EQ(h.metadata_json, R"({"team":"ops"})");
}

TEST_F(KbTest, RejectsBadInput) {
  EXPECT_EQ(Put("", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Put("a", "text", "[1,2]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Put("a", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kb_->Search({.collection = "nope", .query = "x"}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(kb_->Search({.collection = "c", .query = "x", .mode = "semantic"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(kb_->Search({.collection = "c", .query = "x", .top_k = 0}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(KbTest, HostileQueriesNeverError) {
  ASSERT_TRUE(Put("a", "alpha beta gamma").ok());
  for (const char* q : {"\"", "NEAR(", "*", "AND", "OR NOT", "(((", "alpha\"", "-", ":", "^",
                        "col:alpha", "\xFF\xFE", "。。！", "", "   "}) {
    auto r = kb_->Search({.collection = "c", .query = q, .mode = "keyword"});
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
  }
}

TEST_F(KbTest, ListDocumentsPaginates) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put("doc" + std::to_string(i), "text " + std::to_string(i)).ok());
  auto p1 = kb_->ListDocuments("c", "", 2);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->size(), 2u);
  auto p2 = kb_->ListDocuments("c", p1->back().doc_id, 10);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->size(), 3u);
  EXPECT_EQ(p2->front().doc_id, "doc2");
}

TEST_F(KbTest, ReopenKeepsDataAndClockMonotonic) {
  auto a = Put("a", "persistent words here");
  ASSERT_TRUE(a.ok());
  kb_.reset();
  auto kb = KnowledgeBase::Open(dir_.string());
  ASSERT_TRUE(kb.ok());
  kb_ = std::move(kb).value();
  EXPECT_EQ(SearchIds("persistent"), std::vector<std::string>{"a"});
  auto b = Put("a", "changed words");
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->version, a->version);
  ASSERT_TRUE(kb_->Verify().ok());
}


// A full-text table made by another analyzer version (here: an unstamped one, as every build
// before the stamps made) is rebuilt when the KB opens, instead of refusing writes.
TEST_F(KbTest, OpenRebuildsFullTextIndexMadeByAnotherAnalyzer) {
  ASSERT_TRUE(Put("a", "数据库连接池的配置").ok());
  kb_.reset();
  {
    auto db = storage::Database::Open((dir_ / "kb.db").string());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(fulltext::RegisterFts5Tokenizer((*db)->handle()).ok());
    auto ddl = (*db)->QueryText("SELECT sql FROM sqlite_master WHERE name = 'fts_1'");
    ASSERT_TRUE(ddl.ok()) << ddl.status().ToString();
    const size_t at = ddl->find("tokenize=");
    ASSERT_NE(at, std::string::npos) << *ddl;
    const size_t end = ddl->find('\'', ddl->find('\'', at) + 1);
    const std::string old_ddl = ddl->substr(0, at) + "tokenize='deepkb'" + ddl->substr(end + 1);
    ASSERT_TRUE((*db)->Exec("DROP TABLE fts_1").ok());
    ASSERT_TRUE((*db)->Exec(old_ddl).ok()) << old_ddl;
    ASSERT_TRUE((*db)->Exec("INSERT INTO fts_1(fts_1) VALUES('rebuild')").ok());
  }
  auto kb = KnowledgeBase::Open(dir_.string());
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  kb_ = std::move(kb).value();
  EXPECT_TRUE(kb_->Verify().ok());
  ASSERT_TRUE(Put("b", "连接池的超时设置").ok());  // writes work again
  ASSERT_TRUE(Put("a", "文件系统的权限").ok());    // and so do updates of old rows
  EXPECT_EQ(SearchIds("连接池"), std::vector<std::string>{"b"});
  EXPECT_TRUE(kb_->Verify().ok());
}

}  // namespace
}  // namespace deepkb::kb
