#include "index/fulltext/fts5_tokenizer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "index/fulltext/analyzer.h"

namespace deepkb::fulltext {
namespace {

struct Token {
  int flags;
  std::string text;
  int start;
  int end;
  bool operator==(const Token&) const = default;
};

struct Collector {
  std::vector<Token> tokens;
  int fail_after = -1;  // return an error once this many tokens were seen
};

int Collect(void* ctx, int flags, const char* token, int n, int start, int end) {
  auto* c = static_cast<Collector*>(ctx);
  if (c->fail_after >= 0 && static_cast<int>(c->tokens.size()) >= c->fail_after) {
    return SQLITE_NOMEM;
  }
  c->tokens.push_back(Token{flags, std::string(token, static_cast<size_t>(n)), start, end});
  return SQLITE_OK;
}

class Fts5TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    ASSERT_TRUE(RegisterFts5Tokenizer(db_).ok());
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_, "SELECT fts5(?1)", -1, &stmt, nullptr), SQLITE_OK);
    sqlite3_bind_pointer(stmt, 1, &api_, "fts5_api_ptr", nullptr);
    sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    ASSERT_NE(api_, nullptr);
    void* ctx = nullptr;
    ASSERT_EQ(api_->xFindTokenizer(api_, "deepkb", &ctx, &module_), SQLITE_OK);
    ASSERT_EQ(module_.xCreate(ctx, nullptr, 0, &tok_), SQLITE_OK);
  }
  void TearDown() override {
    if (tok_ != nullptr) module_.xDelete(tok_);
    sqlite3_close(db_);
  }

  int Tokenize(int flags, const std::string& text, Collector* out) {
    return module_.xTokenize(tok_, out, flags, text.data(), static_cast<int>(text.size()),
                             &Collect);
  }

  sqlite3* db_ = nullptr;
  fts5_api* api_ = nullptr;
  fts5_tokenizer module_{};
  Fts5Tokenizer* tok_ = nullptr;
};

TEST_F(Fts5TokenizerTest, Register_IsIdempotent) {
  EXPECT_TRUE(RegisterFts5Tokenizer(db_).ok());
  EXPECT_TRUE(RegisterFts5Tokenizer(db_).ok());
  EXPECT_EQ(RegisterFts5Tokenizer(nullptr).code(), StatusCode::kInvalidArgument);
}

TEST_F(Fts5TokenizerTest, DocumentMode_EmitsAnalyzerTermsWithColocation) {
  Collector c;
  ASSERT_EQ(Tokenize(FTS5_TOKENIZE_DOCUMENT, "See PPR-9087", &c), SQLITE_OK);
  const std::vector<Token> want = {{0, "see", 0, 3},
                                   {0, "ppr-9087", 4, 12},
                                   {FTS5_TOKEN_COLOCATED, "ppr", 4, 7},
                                   {FTS5_TOKEN_COLOCATED, "9087", 8, 12}};
  EXPECT_EQ(c.tokens, want);
  Collector aux;
  ASSERT_EQ(Tokenize(FTS5_TOKENIZE_AUX, "See PPR-9087", &aux), SQLITE_OK);
  EXPECT_EQ(aux.tokens, want);
}

TEST_F(Fts5TokenizerTest, QueryMode_SplitsOnWhitespaceVerbatim) {
  Collector c;
  ASSERT_EQ(Tokenize(FTS5_TOKENIZE_QUERY, " 连接 接池\tABC\n", &c), SQLITE_OK);
  const std::vector<Token> want = {{0, "连接", 1, 7}, {0, "接池", 8, 14}, {0, "ABC", 15, 18}};
  EXPECT_EQ(c.tokens, want);
  Collector p;
  ASSERT_EQ(Tokenize(FTS5_TOKENIZE_QUERY | FTS5_TOKENIZE_PREFIX, "池", &p), SQLITE_OK);
  ASSERT_EQ(p.tokens.size(), 1u);
  EXPECT_EQ(p.tokens[0].text, "池");
}

TEST_F(Fts5TokenizerTest, CallbackErrorsArePropagated) {
  Collector doc;
  doc.fail_after = 2;
  EXPECT_EQ(Tokenize(FTS5_TOKENIZE_DOCUMENT, "one two three four 数据库连接", &doc), SQLITE_NOMEM);
  EXPECT_EQ(doc.tokens.size(), 2u);
  Collector query;
  query.fail_after = 1;
  EXPECT_EQ(Tokenize(FTS5_TOKENIZE_QUERY, "a b c", &query), SQLITE_NOMEM);
  EXPECT_EQ(query.tokens.size(), 1u);
}

TEST_F(Fts5TokenizerTest, EmptyInput) {
  Collector c;
  EXPECT_EQ(module_.xTokenize(tok_, &c, FTS5_TOKENIZE_DOCUMENT, nullptr, 0, &Collect), SQLITE_OK);
  EXPECT_EQ(Tokenize(FTS5_TOKENIZE_QUERY, "   ", &c), SQLITE_OK);
  EXPECT_TRUE(c.tokens.empty());
}

TEST_F(Fts5TokenizerTest, RandomBytes_IndexStaysConsistent) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db_, "CREATE VIRTUAL TABLE t USING fts5(body, tokenize='deepkb')", nullptr,
                         nullptr, &err),
            SQLITE_OK)
      << (err ? err : "");
  sqlite3_stmt* ins = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db_, "INSERT INTO t(body) VALUES(?1)", -1, &ins, nullptr),
            SQLITE_OK);
  uint32_t x = 42;
  const std::string pieces[] = {"数据库",   "PPR-9087", " ",   "\xFF", "\xE6\x95", "ＡＢＣ", "c++",
                                "テーブル", "。",       "a.b", "😀",    "\xCC\x81", "'",      "--"};
  for (int row = 0; row < 300; ++row) {
    std::string text;
    for (int k = 0; k < 40; ++k) {
      x = x * 1664525 + 1013904223;
      if (x % 5 == 0) {
        text.push_back(static_cast<char>(x >> 24));
      } else {
        text += pieces[(x >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
      }
    }
    sqlite3_bind_blob(ins, 1, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(ins), SQLITE_DONE) << sqlite3_errmsg(db_);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  ASSERT_EQ(sqlite3_exec(db_, "INSERT INTO t(t) VALUES('integrity-check')", nullptr, nullptr, &err),
            SQLITE_OK)
      << (err ? err : "");
}

TEST(AnalyzerThreadsTest, ConcurrentAnalysisGivesSameTerms) {
  const std::string text =
      "数据库连接池配置说明，中华人民共和国。PPR-9087 C++ node.js 東京都のサーバー ";
  std::string big;
  for (int i = 0; i < 200; ++i) big += text;
  const std::vector<Term> expected = AnalyzeDocument(big);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        const std::vector<Term> got = AnalyzeDocument(big);
        bool same = got.size() == expected.size();
        for (size_t i = 0; same && i < got.size(); ++i) {
          same = got[i].text == expected[i].text && got[i].start == expected[i].start &&
                 got[i].colocated == expected[i].colocated;
        }
        ok[static_cast<size_t>(t)] += same ? 1 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int v : ok) EXPECT_EQ(v, 5);
}

}  // namespace
}  // namespace deepkb::fulltext
