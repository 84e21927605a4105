// Vector and hybrid search through the KnowledgeBase: embedding on write, HNSW search with
// filters, fusion, snapshots and recovery.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/hash.h"
#include "kb/kb.h"

namespace deepkb::kb {
namespace {

namespace fs = std::filesystem;

class VectorSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vector_test_" + RandomHex(6));
    Open();
    ASSERT_TRUE(kb_->CreateCollection({.name = "c"}).ok());
    Put("replication", "Database replication copies every write to a standby server.",
        R"({"team":"ops"})");
    Put("tokenizer", "The tokenizer splits Chinese text into character bigrams.",
        R"({"team":"search"})");
    Put("snapshot", "An index snapshot records the change sequence it covers.",
        R"({"team":"ops"})");
    Put("zh", "知识库支持中文检索和引用原文。", R"({"team":"search"})");
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
  void Put(const std::string& id, const std::string& text, const std::string& meta = "{}") {
    PutDocumentRequest r;
    r.collection = "c";
    r.doc_id = id;
    r.bytes = text;
    r.format = text::Format::kText;
    r.metadata_json = meta;
    auto res = kb_->PutDocument(r);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
  }
  SearchResponse Search(const std::string& q, const std::string& mode,
                        const std::string& filter = "") {
    auto r = kb_->Search({.collection = "c", .query = q, .mode = mode, .top_k = 4,
                          .filter_json = filter});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : SearchResponse{};
  }

  fs::path dir_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(VectorSearchTest, VectorModeMatchesMisspellingsThatKeywordMisses) {
  // "replicaton" and "snapshots" are not index terms; character n-grams still match.
  auto kw = Search("replicaton", "keyword");
  EXPECT_TRUE(kw.hits.empty());
  auto vec = Search("replicaton", "vector");
  ASSERT_FALSE(vec.hits.empty());
  EXPECT_EQ(vec.hits[0].doc_id, "replication");
  EXPECT_EQ(vec.hits[0].vector_rank, 1);
  EXPECT_EQ(vec.hits[0].keyword_rank, 0);
  EXPECT_GT(vec.hits[0].score, vec.hits.back().score);
  EXPECT_EQ(vec.mode, "vector");
}

TEST_F(VectorSearchTest, HybridReportsBothRanksAndFusionOptionsWork) {
  auto h = Search("index snapshot sequence", "hybrid");
  ASSERT_FALSE(h.hits.empty());
  EXPECT_EQ(h.hits[0].doc_id, "snapshot");
  EXPECT_EQ(h.hits[0].keyword_rank, 1);
  EXPECT_EQ(h.hits[0].vector_rank, 1);
  auto w = kb_->Search({.collection = "c", .query = "index snapshot sequence", .mode = "hybrid",
                        .fusion = "weighted", .keyword_weight = 0.2, .vector_weight = 0.8});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->hits[0].doc_id, "snapshot");
  EXPECT_LE(w->hits[0].score, 1.0 + 1e-9);
  EXPECT_EQ(kb_->Search({.collection = "c", .query = "x", .fusion = "max"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(kb_->Search({.collection = "c", .query = "x", .keyword_weight = -1}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(VectorSearchTest, FiltersApplyToTheVectorPath) {
  auto all = Search("text", "vector");
  EXPECT_EQ(all.hits.size(), 4u);
  auto ops = Search("text", "vector", R"({"team":"ops"})");
  ASSERT_EQ(ops.hits.size(), 2u);
  for (const auto& h : ops.hits) EXPECT_TRUE(h.doc_id == "replication" || h.doc_id == "snapshot");
  auto none = Search("text", "hybrid", R"({"team":"nobody"})");
  EXPECT_TRUE(none.hits.empty());
}

TEST_F(VectorSearchTest, AutoRoutesLookupsToKeyword) {
  EXPECT_EQ(AutoMode("PPR-9087"), "keyword");
  EXPECT_EQ(AutoMode("\"exact phrase here\""), "keyword");
  EXPECT_EQ(AutoMode("replication"), "keyword");
  EXPECT_EQ(AutoMode("how does replication handle a failed standby"), "hybrid");
  EXPECT_EQ(AutoMode("知识库怎么引用原文"), "hybrid");
  EXPECT_EQ(Search("PPR-9087 runbook", "auto").mode, "keyword");
  // ngram-hash vectors carry no meaning: auto keeps to keywords on such collections.
  EXPECT_EQ(AutoMode("how does replication handle a failed standby", false), "keyword");
  EXPECT_EQ(Search("how does replication handle a failed standby", "auto").mode, "keyword");
  EXPECT_FALSE(IsSemanticEmbedder("ngram-hash:128"));
  EXPECT_TRUE(IsSemanticEmbedder("openai:bge-m3@http://127.0.0.1:8000"));
}

TEST_F(VectorSearchTest, UpdatesAndDeletesReachTheIndex) {
  Put("replication", "Completely different words about gardening tomatoes.");
  auto r = Search("replicaton standby", "vector");
  for (const auto& h : r.hits) {
    if (h.doc_id == "replication") {
      EXPECT_NE(h.text.find("tomatoes"), std::string::npos);
    }
  }
  ASSERT_TRUE(kb_->DeleteDocument("c", "zh").ok());
  for (const auto& h : Search("知识库中文检索", "vector").hits) EXPECT_NE(h.doc_id, "zh");
  EXPECT_TRUE(kb_->Verify().ok()) << kb_->Verify().ToString();
}

TEST_F(VectorSearchTest, ManyUpdatesTriggerCompactionAndStayConsistent) {
  // Each update tombstones the old chunk's vector; past 20% tombstones a background
  // compaction runs while writes and searches continue.
  for (int i = 0; i < 60; ++i) {
    Put("churn", "version " + std::to_string(i) + " of a document that keeps changing");
    auto r = Search("keeps changing", "vector");
    ASSERT_FALSE(r.hits.empty());
  }
  kb_.reset();  // joins a running compaction
  Open();
  EXPECT_TRUE(kb_->Verify().ok()) << kb_->Verify().ToString();
  auto r = Search("version 59 keeps changing", "hybrid");
  ASSERT_FALSE(r.hits.empty());
  EXPECT_EQ(r.hits[0].doc_id, "churn");
  EXPECT_NE(r.hits[0].text.find("version 59"), std::string::npos);
}

TEST_F(VectorSearchTest, SnapshotIsReusedAndReconciledAfterRestart) {
  kb_.reset();  // writes the snapshot
  const fs::path snap = dir_ / "index" / "1.hnsw";
  ASSERT_TRUE(fs::exists(snap));
  Open();
  // A change the snapshot does not cover: delete and add after reopening, then crash-like
  // reopen without saving (remove the snapshot written at close by restoring the old copy).
  fs::copy_file(snap, dir_ / "old.hnsw");
  ASSERT_TRUE(kb_->DeleteDocument("c", "tokenizer").ok());
  Put("new", "A fresh document about vector quantisation.");
  kb_.reset();
  fs::copy_file(dir_ / "old.hnsw", snap, fs::copy_options::overwrite_existing);
  Open();
  EXPECT_TRUE(kb_->Verify().ok()) << kb_->Verify().ToString();
  auto r = Search("quantisation", "vector");
  ASSERT_FALSE(r.hits.empty());
  EXPECT_EQ(r.hits[0].doc_id, "new");
  for (const auto& h : Search("tokenizer bigrams", "vector").hits) EXPECT_NE(h.doc_id, "tokenizer");
}

TEST_F(VectorSearchTest, CorruptSnapshotIsRebuiltFromTheDatabase) {
  kb_.reset();
  const fs::path snap = dir_ / "index" / "1.hnsw";
  ASSERT_TRUE(fs::exists(snap));
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(snap) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(snap) / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  Open();
  EXPECT_TRUE(kb_->Verify().ok());
  auto r = Search("replicaton", "vector");
  ASSERT_FALSE(r.hits.empty());
  EXPECT_EQ(r.hits[0].doc_id, "replication");
}

TEST_F(VectorSearchTest, UnknownEmbedderAndDownServerAreClearErrors) {
  EXPECT_EQ(kb_->CreateCollection({.name = "bad", .embedder = "magic"}).status().code(),
            StatusCode::kInvalidArgument);
  // Nothing listens on port 9 (discard) on loopback: the collection is not created.
  auto down = kb_->CreateCollection({.name = "remote", .embedder = "openai:m@http://127.0.0.1:9"});
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();
  EXPECT_EQ(kb_->GetCollection("remote").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace deepkb::kb
