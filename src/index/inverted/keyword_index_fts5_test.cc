// The keyword index against real SQLite FTS5: same statistics, same scores for every matching
// row, same top-k and same highlights, after random adds and removes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/fts_index.h"
#include "index/fulltext/query_builder.h"
#include "index/inverted/keyword_index.h"
#include "index/inverted/test_util.h"
#include "storage/sqlite.h"
#include "index/fulltext/test_tables.h"

namespace deepkb::inverted {
namespace {

using ::deepkb::fulltext::testing::kBaseTables;

class KeywordFts5Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = ::testing::TempDir();
    if (t.empty() || t.back() != '/') t += '/';
    t += "deepkb_kwfts_XXXXXX";
    ASSERT_NE(mkdtemp(t.data()), nullptr);
    dir_ = t;
    auto db = storage::Database::Open(dir_ + "/kb.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Exec(kBaseTables).ok());
    fts_ = std::make_unique<fulltext::FtsIndex>(*db_);
    ASSERT_TRUE(fts_->CreateForCollection(1).ok());
  }
  void TearDown() override {
    fts_.reset();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes a document with `n` chunks to SQLite + FTS5 and returns its chunks as indexed.
  std::vector<ChunkText> AddDocument(testing::TextGen& gen, int n) {
    const std::string title = gen.Chance(0.8) ? gen.Text(gen.Between(1, 4)) : "";
    auto ins = db_->Prepare("INSERT INTO documents(collection_id, doc_id, title) VALUES(1, ?1, ?2)");
    EXPECT_TRUE(ins.ok());
    ins->Bind(1, "doc" + std::to_string(++doc_seq_)).Bind(2, title);
    EXPECT_TRUE(ins->Run().ok());
    const int64_t doc = db_->LastInsertRowId();
    std::vector<ChunkText> out;
    for (int i = 0; i < n; ++i) {
      ChunkText c;
      c.title = title;
      c.headings = gen.Chance(0.6) ? gen.Text(gen.Between(1, 5)) : "";
      c.body = gen.Text(gen.Between(0, 60));
      auto ch = db_->Prepare(
          "INSERT INTO chunks(document_id, ordinal, text, heading_path) VALUES(?1, ?2, ?3, ?4)");
      EXPECT_TRUE(ch.ok());
      ch->Bind(1, doc).Bind(2, i).Bind(3, c.body).Bind(4, c.headings);
      EXPECT_TRUE(ch->Run().ok());
      c.chunk_id = db_->LastInsertRowId();
      out.push_back(c);
    }
    EXPECT_TRUE(fts_->IndexDocument(1, doc).ok());
    docs_[doc] = out;
    return out;
  }

  // Removes a document from FTS5 (before its rows change) and SQLite; returns its chunks.
  std::vector<ChunkText> RemoveDocument(int64_t doc) {
    EXPECT_TRUE(fts_->UnindexDocument(1, doc).ok());
    EXPECT_TRUE(db_->Exec("DELETE FROM chunks WHERE document_id = " + std::to_string(doc)).ok());
    EXPECT_TRUE(db_->Exec("DELETE FROM documents WHERE id = " + std::to_string(doc)).ok());
    auto out = docs_[doc];
    docs_.erase(doc);
    return out;
  }

  // Every matching row: FTS5's scores vs the index's, then the top-k and highlights.
  void Compare(const KeywordIndex& ix, const std::string& query, int k) {
    const auto mq = fulltext::BuildMatchQuery(query);
    auto all_fts = fts_->Search(1, mq, 1000000);
    ASSERT_TRUE(all_fts.ok()) << all_fts.status().ToString();
    auto all_ix = ix.SearchExhaustive(mq.clauses, 1000000);
    if (!all_ix.ok()) {
      // Only a prefix the index declines may fail; FTS5 then answers.
      ASSERT_EQ(all_ix.status().code(), StatusCode::kFailedPrecondition) << query;
      ++declined_;
      return;
    }
    std::map<int64_t, double> want;
    for (const auto& h : *all_fts) want[h.chunk_id] = h.score;
    ASSERT_EQ(all_ix->size(), want.size()) << "query '" << query << "' " << mq.expression;
    for (const auto& h : *all_ix) {
      auto it = want.find(h.chunk_id);
      ASSERT_NE(it, want.end()) << "query '" << query << "' chunk " << h.chunk_id;
      EXPECT_NEAR(h.score, it->second, 1e-12 * std::max(1.0, std::fabs(it->second)))
          << "query '" << query << "' (" << mq.expression << ") chunk " << h.chunk_id;
    }
    // Top-k: identical scores rank by rank; ids equal except inside a tie group.
    auto top_ix = ix.Search(mq.clauses, k);
    ASSERT_TRUE(top_ix.ok());
    auto top_fts = fts_->Search(1, mq, k);
    ASSERT_TRUE(top_fts.ok());
    ASSERT_EQ(top_ix->size(), top_fts->size()) << query;
    for (size_t i = 0; i < top_ix->size(); ++i) {
      const double a = (*top_ix)[i].score, b = (*top_fts)[i].score;
      EXPECT_NEAR(a, b, 1e-12 * std::max(1.0, std::fabs(b))) << query << " rank " << i;
      if ((*top_ix)[i].chunk_id != (*top_fts)[i].chunk_id) {
        // Allowed only for equal scores: the FTS5 id must have the same score in the index.
        EXPECT_NEAR(want[(*top_ix)[i].chunk_id], b, 1e-12 * std::max(1.0, std::fabs(b)))
            << query << " rank " << i;
      } else {
        ++compared_;
        // Same highlight as deepkb_snippet() gives through FTS5.
        const ChunkText* c = Find((*top_ix)[i].chunk_id);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(fulltext::SnippetForClauses(c->body, mq.clauses), (*top_fts)[i].highlight)
            << "query '" << query << "' chunk " << c->chunk_id << " body: " << c->body;
      }
    }
  }

  const ChunkText* Find(int64_t chunk_id) const {
    for (const auto& [doc, chunks] : docs_) {
      for (const auto& c : chunks) {
        if (c.chunk_id == chunk_id) return &c;
      }
    }
    return nullptr;
  }

  std::string dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<fulltext::FtsIndex> fts_;
  std::map<int64_t, std::vector<ChunkText>> docs_;
  int doc_seq_ = 0;
  int compared_ = 0;
  int declined_ = 0;
};

TEST_F(KeywordFts5Test, ScoresTopKAndHighlights_EqualFts5AfterAddsAndRemoves) {
  testing::TextGen gen(2024);
  KeywordIndex ix;
  for (int round = 0; round < 5; ++round) {
    for (int d = 0; d < 80; ++d) {
      for (const auto& c : AddDocument(gen, gen.Between(1, 3))) ASSERT_TRUE(ix.Add(c).ok());
    }
    // Remove a third of the documents (FTS5 external-content delete; the index re-analyses).
    std::vector<int64_t> ids;
    for (const auto& [doc, chunks] : docs_) ids.push_back(doc);
    for (size_t i = 0; i < ids.size(); i += 3) {
      for (const auto& c : RemoveDocument(ids[i])) ASSERT_TRUE(ix.Remove(c).ok());
    }
    if (round == 2) ix.Compact();
    for (int q = 0; q < 60; ++q) Compare(ix, gen.Query(), q % 2 ? 10 : 3);
  }
  EXPECT_GT(compared_, 500);
  EXPECT_EQ(declined_, 0);  // every generated query is answerable
  ASSERT_TRUE(fts_->IntegrityCheck(1).ok());
}

TEST_F(KeywordFts5Test, PrefixEquivalence_KanaMixedRunsAndTrailingLatin) {
  // Hand-made cases around the per-character occurrence lists.
  const char* bodies[] = {"中文中文中", "中", "中x", "x中", "中。文", "カタカナ中文", "ひらがなカ",
                          "東京タワー", "テスト test テ", "中中中", "ＡＢＣ中", "数据库中文检索",
                          "a-a 中 a-a", "ー", "々中"};
  KeywordIndex ix;
  testing::TextGen gen(1);
  for (const char* b : bodies) {
    auto ins = db_->Prepare("INSERT INTO documents(collection_id, doc_id, title) VALUES(1, ?1, '')");
    ASSERT_TRUE(ins.ok());
    ins->Bind(1, std::string("d") + b);
    ASSERT_TRUE(ins->Run().ok());
    const int64_t doc = db_->LastInsertRowId();
    auto ch = db_->Prepare("INSERT INTO chunks(document_id, ordinal, text) VALUES(?1, 0, ?2)");
    ASSERT_TRUE(ch.ok());
    ch->Bind(1, doc).Bind(2, b);
    ASSERT_TRUE(ch->Run().ok());
    ChunkText c{db_->LastInsertRowId(), "", "", b};
    ASSERT_TRUE(fts_->IndexDocument(1, doc).ok());
    docs_[doc] = {c};
    ASSERT_TRUE(ix.Add(c).ok());
  }
  for (const char* q : {"中", "文", "カ", "テ", "東", "ひ", "中x", "x 中", "ー", "々", "中 文 カ",
                        "a-a 中", "京", "检", "数据"}) {
    Compare(ix, q, 5);
  }
  EXPECT_EQ(declined_, 0);
}

}  // namespace
}  // namespace deepkb::inverted
