#include "index/fulltext/fts_index.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "index/fulltext/analyzer.h"
#include "storage/sqlite.h"
#include "index/fulltext/test_tables.h"

namespace deepkb::fulltext {
namespace {

// "prefix" followed by the number (written this way to dodge a GCC 12 -Wrestrict false
// positive on string literal + std::string&&).
std::string Num(const char* prefix, int64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

using ::deepkb::fulltext::testing::kBaseTables;

struct ChunkSpec {
  std::string headings;
  std::string text;
};

std::string StripMarks(std::string s) {
  for (const char* tag : {"<mark>", "</mark>"}) {
    for (size_t p; (p = s.find(tag)) != std::string::npos;) s.erase(p, std::string(tag).size());
  }
  return s;
}

class FtsIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir();
    if (tmpl.empty() || tmpl.back() != '/') tmpl += '/';
    tmpl += "deepkb_fts_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto db = storage::Database::Open(dir_ + "/kb.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Exec(kBaseTables).ok());
    index_ = std::make_unique<FtsIndex>(*db_);
    ASSERT_TRUE(index_->CreateForCollection(1).ok());
  }

  void TearDown() override {
    index_.reset();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Inserts a document with its chunks and indexes it; returns the document row id.
  int64_t AddDoc(int64_t collection, const std::string& doc_id, const std::string& title,
                 const std::vector<ChunkSpec>& chunks) {
    auto ins = db_->Prepare("INSERT INTO documents(collection_id, doc_id, title) VALUES(?, ?, ?)");
    EXPECT_TRUE(ins.ok());
    ins->Bind(1, collection).Bind(2, doc_id).Bind(3, title);
    EXPECT_TRUE(ins->Run().ok());
    const int64_t id = db_->LastInsertRowId();
    int ordinal = 0;
    for (const ChunkSpec& c : chunks) {
      auto ci = db_->Prepare(
          "INSERT INTO chunks(document_id, ordinal, text, heading_path) VALUES(?, ?, ?, ?)");
      EXPECT_TRUE(ci.ok());
      ci->Bind(1, id).Bind(2, ordinal++).Bind(3, c.text).Bind(4, c.headings);
      EXPECT_TRUE(ci->Run().ok());
    }
    const Status s = index_->IndexDocument(collection, id);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return id;
  }

  std::vector<FtsHit> Find(const std::string& q, int64_t collection = 1, int limit = 10) {
    auto r = index_->Search(collection, BuildMatchQuery(q), limit);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
    return r.ok() ? std::move(r).value() : std::vector<FtsHit>{};
  }

  std::vector<int64_t> FindDocs(const std::string& q, int64_t collection = 1) {
    std::vector<int64_t> docs;
    for (const FtsHit& h : Find(q, collection)) docs.push_back(h.document_row_id);
    return docs;
  }

  std::string StampOf(int64_t collection) {
    auto r = index_->TableAnalyzerStamp(collection);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string("?");
  }

  void ExpectIntact(int64_t collection = 1) {
    const Status s = index_->IntegrityCheck(collection);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  std::string dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<FtsIndex> index_;
};

TEST_F(FtsIndexTest, Chinese_QueryFindsChineseChunk) {
  const int64_t pool = AddDoc(1, "pool", "", {{"", "数据库连接池配置说明"}});
  const int64_t other = AddDoc(1, "weather", "", {{"", "今天天气很好，适合出去散步。"}});
  EXPECT_EQ(FindDocs("连接池"), std::vector<int64_t>{pool});
  const auto docs = FindDocs("数据库的连接池怎么配置");
  ASSERT_FALSE(docs.empty());
  EXPECT_EQ(docs[0], pool);
  EXPECT_EQ(FindDocs("天气"), std::vector<int64_t>{other});
  EXPECT_EQ(FindDocs("散"), std::vector<int64_t>{other});  // single character: prefix
  EXPECT_TRUE(FindDocs("火车站").empty());
}

TEST_F(FtsIndexTest, Japanese_QueryFindsJapaneseChunk) {
  const int64_t jp = AddDoc(1, "jp", "", {{"", "東京都のサーバーで設定を確認してください。"}});
  AddDoc(1, "zh", "", {{"", "数据库连接池配置说明"}});
  EXPECT_EQ(FindDocs("サーバー"), std::vector<int64_t>{jp});
  EXPECT_EQ(FindDocs("設定"), std::vector<int64_t>{jp});
}

TEST_F(FtsIndexTest, English_CaseInsensitive) {
  const int64_t fox = AddDoc(1, "fox", "", {{"", "The quick brown fox jumps over the lazy dog."}});
  AddDoc(1, "other", "", {{"", "Completely unrelated sentence about databases."}});
  EXPECT_EQ(FindDocs("LAZY Dog"), std::vector<int64_t>{fox});
  EXPECT_EQ(FindDocs("brown-fox"), std::vector<int64_t>{});  // identifier not in the text
  EXPECT_EQ(FindDocs("fox"), std::vector<int64_t>{fox});
}

TEST_F(FtsIndexTest, Identifier_FoundByWholeAndParts) {
  const int64_t t = AddDoc(1, "ticket", "", {{"", "Ticket PPR-9087 fixed the crash in C++ code."}});
  AddDoc(1, "other", "", {{"", "Ticket PPR-9088 is still open."}});
  EXPECT_EQ(FindDocs("PPR-9087"), std::vector<int64_t>{t});
  EXPECT_EQ(FindDocs("ＰＰＲ－９０８７"), std::vector<int64_t>{t});
  EXPECT_EQ(FindDocs("9087"), std::vector<int64_t>{t});
  const auto both = FindDocs("ppr 9087");
  ASSERT_EQ(both.size(), 2u);  // "ppr" matches both tickets...
  EXPECT_EQ(both[0], t);       // ...but the one with 9087 ranks first
  EXPECT_EQ(FindDocs("c++"), std::vector<int64_t>{t});
}

TEST_F(FtsIndexTest, TitleOutranksBody) {
  const int64_t body_only = AddDoc(1, "b", "Notes", {{"", "kubernetes is mentioned in passing"}});
  const int64_t in_title =
      AddDoc(1, "a", "Kubernetes deployment", {{"", "a guide to running things in passing"}});
  const auto hits = Find("kubernetes");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].document_row_id, in_title);
  EXPECT_EQ(hits[1].document_row_id, body_only);
  EXPECT_GT(hits[0].score, hits[1].score);
  EXPECT_GT(hits[1].score, 0);
  // With the title weight turned off, the body-only match wins.
  auto r = index_->Search(1, BuildMatchQuery("kubernetes"), 10, FieldWeights{0.0, 0.0, 1.0});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].document_row_id, body_only);
}

TEST_F(FtsIndexTest, HeadingsAreSearchable) {
  const int64_t d = AddDoc(1, "h", "", {{"Installation > Linux", "run the script"}});
  EXPECT_EQ(FindDocs("linux"), std::vector<int64_t>{d});
}

TEST_F(FtsIndexTest, Highlight_MarksMatchesInOriginalText) {
  const std::string body = "数据库连接池配置说明 for PPR-9087";
  AddDoc(1, "pool", "", {{"", body}});
  for (const char* q : {"连接池", "数据库的连接池怎么配置", "ppr-9087", "9087 说明", "明"}) {
    const auto hits = Find(q);
    ASSERT_EQ(hits.size(), 1u) << q;
    EXPECT_NE(hits[0].highlight.find("<mark>"), std::string::npos) << q;
    EXPECT_EQ(StripMarks(hits[0].highlight), body) << q << ": " << hits[0].highlight;
  }
  EXPECT_EQ(Find("连接")[0].highlight, "数据库<mark>连接</mark>池配置说明 for PPR-9087");
  EXPECT_EQ(Find("ppr-9087")[0].highlight, "数据库连接池配置说明 for <mark>PPR-9087</mark>");
  // Adjacent matches (数据 and the prefix 库 on the bigram 库连) merge into one mark instead
  // of corrupting the text; the prefix marks only the character typed.
  EXPECT_EQ(Find("数据库")[0].highlight, "<mark>数据库</mark>连接池配置说明 for PPR-9087");
  EXPECT_EQ(Find("池")[0].highlight, "数据库连接<mark>池</mark>配置说明 for PPR-9087");
}

TEST_F(FtsIndexTest, Highlight_LongBodyGetsWindowAroundMatch) {
  std::string body;
  for (int i = 0; i < 60; ++i) body += Num("filler", i) + " ";
  body += "needle ";
  for (int i = 0; i < 60; ++i) body += Num("tail", i) + " ";
  AddDoc(1, "long", "", {{"", body}});
  const auto hits = Find("needle");
  ASSERT_EQ(hits.size(), 1u);
  const std::string& h = hits[0].highlight;
  EXPECT_NE(h.find("<mark>needle</mark>"), std::string::npos) << h;
  EXPECT_EQ(h.rfind("…", 0), 0u) << h;  // starts with an ellipsis
  EXPECT_LT(h.size(), 300u) << h;
}

TEST_F(FtsIndexTest, Unindex_ThenDelete_NotFound) {
  const int64_t d = AddDoc(1, "gone", "Old title", {{"", "ephemeral content 临时内容"}});
  const int64_t keep = AddDoc(1, "keep", "", {{"", "ephemeral but kept"}});
  ASSERT_EQ(FindDocs("ephemeral").size(), 2u);
  ASSERT_TRUE(index_->UnindexDocument(1, d).ok());
  ASSERT_TRUE(db_->Exec(Num("DELETE FROM documents WHERE id = ", d)).ok());
  EXPECT_EQ(FindDocs("ephemeral"), std::vector<int64_t>{keep});
  EXPECT_TRUE(FindDocs("临时").empty());
  ExpectIntact();
}

TEST_F(FtsIndexTest, Tombstone_UnindexThenMarkDeleted) {
  const int64_t d = AddDoc(1, "t", "", {{"", "tombstoned text"}});
  ASSERT_TRUE(index_->UnindexDocument(1, d).ok());
  ASSERT_TRUE(db_->Exec(Num("UPDATE documents SET deleted = 1 WHERE id = ", d)).ok());
  EXPECT_TRUE(FindDocs("tombstoned").empty());
  // A deleted document is not in the content view, so indexing it adds nothing.
  ASSERT_TRUE(index_->IndexDocument(1, d).ok());
  EXPECT_TRUE(FindDocs("tombstoned").empty());
  ExpectIntact();
}

TEST_F(FtsIndexTest, IntegrityCheck_PassesAfterInsertsUpdatesDeletes) {
  std::vector<int64_t> docs;
  for (int i = 0; i < 20; ++i) {
    docs.push_back(AddDoc(1, Num("d", i), Num("标题 ", i),
                          {{"h1 > h2", Num("第", i) + "段 content PPR-" + std::to_string(i)},
                           {"", "更多的文字 more words"}}));
  }
  ExpectIntact();
  // Update: unindex, change title and chunk text, index again.
  for (int i = 0; i < 20; i += 3) {
    const std::string id = std::to_string(docs[i]);
    ASSERT_TRUE(index_->UnindexDocument(1, docs[i]).ok());
    ASSERT_TRUE(db_->Exec("UPDATE documents SET title = '新标题' WHERE id = " + id).ok());
    ASSERT_TRUE(
        db_->Exec("UPDATE chunks SET text = text || ' 修改过 revised' WHERE document_id = " + id)
            .ok());
    ASSERT_TRUE(index_->IndexDocument(1, docs[i]).ok());
  }
  ExpectIntact();
  // Delete some.
  for (int i = 1; i < 20; i += 4) {
    ASSERT_TRUE(index_->UnindexDocument(1, docs[i]).ok());
    ASSERT_TRUE(db_->Exec(Num("DELETE FROM documents WHERE id = ", docs[i])).ok());
  }
  ExpectIntact();
  // 7 documents were revised (2 chunks each); one of them (docs[9]) was deleted.
  EXPECT_EQ(Find("revised", 1, 100).size(), 12u);
  EXPECT_EQ(Find("修改过", 1, 100).size(), 12u);
  EXPECT_EQ(FindDocs("ppr-5"), std::vector<int64_t>{});  // docs[5] was deleted
  EXPECT_EQ(FindDocs("ppr-6"), std::vector<int64_t>{docs[6]});
}

TEST_F(FtsIndexTest, IntegrityCheck_DetectsMismatchAndRebuildRepairs) {
  const int64_t d = AddDoc(1, "x", "", {{"", "original words"}});
  // Changing content behind the index's back (no UnindexDocument first).
  ASSERT_TRUE(db_->Exec("UPDATE chunks SET text = 'replaced words' WHERE document_id = " +
                        std::to_string(d))
                  .ok());
  const Status s = index_->IntegrityCheck(1);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  ASSERT_TRUE(index_->Rebuild(1).ok());
  ExpectIntact();
  EXPECT_EQ(FindDocs("replaced"), std::vector<int64_t>{d});
  EXPECT_TRUE(FindDocs("original").empty());
}

// A "deepkb" tokenizer that stands in for another version of the analysis: the current terms
// plus, colocated with every CJK bigram, a longer CJK "word" (version 1 also indexed ICU
// dictionary words of 3+ characters). Only a prefix query ("用" *) reaches those words.
int OldAnalyzerCreate(void*, const char**, int, Fts5Tokenizer** out) {
  static int instance = 0;
  *out = reinterpret_cast<Fts5Tokenizer*>(&instance);
  return SQLITE_OK;
}
void OldAnalyzerDelete(Fts5Tokenizer*) {}
int OldAnalyzerTokenize(Fts5Tokenizer*, void* ctx, int, const char* text, int n,
                        int (*token)(void*, int, const char*, int, int, int)) {
  int rc = SQLITE_OK;
  AnalyzeDocument(std::string_view(text, static_cast<size_t>(n)), [&](const Term& t) {
    rc = token(ctx, t.colocated ? FTS5_TOKEN_COLOCATED : 0, t.text.data(),
               static_cast<int>(t.text.size()), static_cast<int>(t.start), static_cast<int>(t.end));
    if (rc == SQLITE_OK && !t.colocated && t.text.size() == 6 &&
        static_cast<unsigned char>(t.text[0]) >= 0xE0) {
      const std::string word = t.text + "甲";
      rc = token(ctx, FTS5_TOKEN_COLOCATED, word.data(), static_cast<int>(word.size()),
                 static_cast<int>(t.start), static_cast<int>(t.end));
    }
    return rc == SQLITE_OK;
  });
  return rc;
}

void RegisterOldAnalyzer(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr), SQLITE_OK);
  fts5_api* api = nullptr;
  sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  ASSERT_NE(api, nullptr);
  fts5_tokenizer tok{&OldAnalyzerCreate, &OldAnalyzerDelete, &OldAnalyzerTokenize};
  ASSERT_EQ(api->xCreateTokenizer(api, "deepkb", nullptr, &tok, nullptr), SQLITE_OK);
}

// The 1M-chunk benchmark database: built by a build whose analysis also emitted 3+ character
// ICU words, then documents were replaced by a newer build. The 'delete' re-tokenised the old
// rows without those words, so their entries stayed behind for chunk ids that no longer
// exist, and bm25() over a query matching them failed with "database disk image is malformed".
TEST_F(FtsIndexTest, AnalyzerChange_WritesRefusedUntilRebuild) {
  const std::string text = "这是用词不当的例子";
  int64_t doc = 0;
  {
    // The older build: its own analysis, a table without an analyzer stamp.
    auto old = storage::Database::Open(dir_ + "/kb.db");
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    storage::Database& o = **old;
    RegisterOldAnalyzer(o.handle());
    ASSERT_TRUE(o.Exec("CREATE VIEW fts_src_2 AS SELECT c.id AS id, c.document_id AS document_id,"
                       " d.title AS title, c.heading_path AS headings, c.text AS body FROM chunks"
                       " c JOIN documents d ON d.id = c.document_id WHERE d.collection_id = 2"
                       " AND d.deleted = 0")
                    .ok());
    ASSERT_TRUE(o.Exec("CREATE VIRTUAL TABLE fts_2 USING fts5(title, headings, body,"
                       " content='fts_src_2', content_rowid='id', tokenize='deepkb',"
                       " detail=full)")
                    .ok());
    ASSERT_TRUE(o.Exec("INSERT INTO documents(collection_id, doc_id) VALUES(2, 'd')").ok());
    doc = o.LastInsertRowId();
    ASSERT_TRUE(o.Exec(Num("INSERT INTO chunks(document_id, ordinal, text) VALUES(", doc) +
                       ", 0, '" + text + "')")
                    .ok());
    ASSERT_TRUE(o.Exec("INSERT INTO fts_2(rowid, title, headings, body)"
                       " SELECT id, title, headings, body FROM fts_src_2")
                    .ok());
  }
  auto stamp = index_->TableAnalyzerStamp(2);
  ASSERT_TRUE(stamp.ok()) << stamp.status().ToString();
  EXPECT_EQ(*stamp, "");
  EXPECT_EQ(StampOf(1), AnalyzerStamp());
  EXPECT_EQ(FindDocs("用", 2), std::vector<int64_t>{doc});

  // This build refuses to change the old index (it would leave entries behind) ...
  Status s = index_->UnindexDocument(2, doc);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("deepkb index rebuild"), std::string::npos) << s.ToString();
  s = index_->IndexDocument(2, doc);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  s = index_->IntegrityCheck(2);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  ExpectIntact(1);  // other collections are not affected

  // ... and this is what writing anyway does (PutDocument's replace, as the previous code did
  // it): unindex through the current analysis, new chunk rows, index them.
  ASSERT_TRUE(db_->Exec(Num("INSERT INTO fts_2(fts_2, rowid, title, headings, body) SELECT"
                            " 'delete', id, title, headings, body FROM fts_src_2"
                            " WHERE document_id = ",
                            doc))
                  .ok());
  ASSERT_TRUE(db_->Exec(Num("DELETE FROM chunks WHERE document_id = ", doc)).ok());
  ASSERT_TRUE(db_->Exec(Num("INSERT INTO chunks(document_id, ordinal, text) VALUES(", doc) +
                        ", 0, '" + text + "')")
                  .ok());
  ASSERT_TRUE(db_->Exec(Num("INSERT INTO fts_2(rowid, title, headings, body) SELECT id, title,"
                            " headings, body FROM fts_src_2 WHERE document_id = ",
                            doc))
                  .ok());
  auto broken = index_->Search(2, BuildMatchQuery("用"), 10);
  EXPECT_EQ(broken.status().code(), StatusCode::kDataLoss) << broken.status().ToString();
  EXPECT_NE(broken.status().message().find("deepkb index rebuild"), std::string::npos);
  EXPECT_EQ(FindDocs("例子", 2), std::vector<int64_t>{doc});  // bigram queries still work

  // Rebuild recreates the table with the current analysis: searches and writes work again.
  ASSERT_TRUE(index_->Rebuild(2).ok());
  EXPECT_EQ(StampOf(2), AnalyzerStamp());
  ExpectIntact(2);
  EXPECT_EQ(FindDocs("用", 2), std::vector<int64_t>{doc});
  ASSERT_TRUE(index_->UnindexDocument(2, doc).ok());
  ASSERT_TRUE(db_->Exec(Num("UPDATE chunks SET text = '换了内容' WHERE document_id = ", doc)).ok());
  ASSERT_TRUE(index_->IndexDocument(2, doc).ok());
  ExpectIntact(2);
  EXPECT_TRUE(FindDocs("用", 2).empty());
  EXPECT_EQ(FindDocs("内容", 2), std::vector<int64_t>{doc});
}

TEST_F(FtsIndexTest, Collections_AreIsolated) {
  ASSERT_TRUE(index_->CreateForCollection(2).ok());
  ASSERT_TRUE(index_->CreateForCollection(2).ok());  // idempotent
  const int64_t a = AddDoc(1, "same", "", {{"", "shared word alpha"}});
  const int64_t b = AddDoc(2, "same", "", {{"", "shared word beta"}});
  EXPECT_EQ(FindDocs("shared", 1), std::vector<int64_t>{a});
  EXPECT_EQ(FindDocs("shared", 2), std::vector<int64_t>{b});
  ExpectIntact(1);
  ExpectIntact(2);
  ASSERT_TRUE(index_->DropForCollection(2).ok());
  auto r = index_->Search(2, BuildMatchQuery("shared"), 10);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_EQ(FindDocs("shared", 1), std::vector<int64_t>{a});
}

TEST_F(FtsIndexTest, Search_EmptyAndHostileQueries) {
  AddDoc(1, "d", "", {{"", "NEAR(\"quoted\") AND OR NOT col:term ^x * 数据"}});
  EXPECT_TRUE(Find("").empty());
  EXPECT_TRUE(Find("!!! ??? ...").empty());
  for (const char* q : {"\"", "NEAR(", "*", "AND", "OR", "NOT", "(", ")", "^", ":", "-", "col:term",
                        "\"quoted\"", "\xFF\xFE", "的"}) {
    auto r = index_->Search(1, BuildMatchQuery(q), 10);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
  }
  EXPECT_EQ(Find("col:term").size(), 1u);
  EXPECT_EQ(Find("NEAR").size(), 1u);
  auto limited = index_->Search(1, BuildMatchQuery("数据"), 0);
  ASSERT_TRUE(limited.ok());
  EXPECT_TRUE(limited->empty());
}

TEST_F(FtsIndexTest, Search_RespectsLimitAndOrder) {
  for (int i = 0; i < 30; ++i) {
    std::string text = "common";
    for (int k = 0; k < i % 5; ++k) text += " rare";
    text += " filler words here";
    AddDoc(1, Num("d", i), "", {{"", text}});
  }
  const auto hits = Find("common rare", 1, 7);
  ASSERT_EQ(hits.size(), 7u);
  for (size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].score, hits[i].score);
}

TEST_F(FtsIndexTest, InvalidCollectionId) {
  EXPECT_EQ(index_->CreateForCollection(0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->IndexDocument(-1, 1).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deepkb::fulltext
