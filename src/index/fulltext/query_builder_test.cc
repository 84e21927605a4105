#include "index/fulltext/query_builder.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "index/fulltext/fts5_tokenizer.h"

namespace deepkb::fulltext {
namespace {

// "prefix" followed by the number (written this way to dodge a GCC 12 -Wrestrict false
// positive on string literal + std::string&&).
std::string Num(const char* prefix, int64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

TEST(QueryBuilderTest, QuoteFtsString_DoublesQuotes) {
  EXPECT_EQ(QuoteFtsString("abc"), "\"abc\"");
  EXPECT_EQ(QuoteFtsString(""), "\"\"");
  EXPECT_EQ(QuoteFtsString("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteFtsString("\"\""), "\"\"\"\"\"\"");
}

TEST(QueryBuilderTest, Shapes) {
  EXPECT_EQ(BuildMatchQuery("PPR-9087").expression, "\"ppr-9087\"");
  EXPECT_EQ(BuildMatchQuery("ppr 9087").expression, "\"ppr\" OR \"9087\"");
  EXPECT_EQ(BuildMatchQuery("连接池").expression, "\"连接\" OR \"接池\"");
  EXPECT_EQ(BuildMatchQuery("共和国").expression, "\"共和\" OR \"和国\"");
  EXPECT_EQ(BuildMatchQuery("池").expression, "\"池\" *");
  EXPECT_EQ(BuildMatchQuery("说明").expression, "\"说明\"");
  EXPECT_TRUE(BuildMatchQuery("").empty());
  EXPECT_TRUE(BuildMatchQuery("!!! ... ???").empty());
  EXPECT_TRUE(BuildMatchQuery("的").empty());
}

TEST(QueryBuilderTest, ClauseLimit) {
  std::string q;
  for (int i = 0; i < 100; ++i) q += Num("w", i) + " ";
  const MatchQuery m = BuildMatchQuery(q);
  EXPECT_EQ(m.clauses.size(), kMaxClauses);
  EXPECT_NE(m.expression.find("\"w31\""), std::string::npos);
  EXPECT_EQ(m.expression.find("\"w32\""), std::string::npos);
}

// A real FTS5 table using our tokenizer: every built expression must parse and run.
class QueryBuilderFtsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    ASSERT_TRUE(RegisterFts5Tokenizer(db_).ok());
    Exec("CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='deepkb')");
    Exec(
        "INSERT INTO t(title, body) VALUES ('连接池', '数据库连接池配置说明 PPR-9087'),"
        "('C++ guide', 'NEAR AND OR NOT col:term \"quoted\" ^start'),"
        "('empty', '')");
  }
  void TearDown() override { sqlite3_close(db_); }

  void Exec(const char* sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  }

  // Runs the built query; returns the number of rows or -1 with the error in *error.
  int Run(const std::string& user_query, std::string* error) {
    const MatchQuery m = BuildMatchQuery(user_query);
    if (m.empty()) return 0;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, "SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rank", -1,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) {
      *error = sqlite3_errmsg(db_);
      return -1;
    }
    sqlite3_bind_text(stmt, 1, m.expression.data(), static_cast<int>(m.expression.size()),
                      SQLITE_TRANSIENT);
    int rows = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) ++rows;
    if (rc != SQLITE_DONE) {
      *error = std::string(sqlite3_errmsg(db_)) + " for " + m.expression;
      rows = -1;
    }
    sqlite3_finalize(stmt);
    return rows;
  }

  sqlite3* db_ = nullptr;
};

TEST_F(QueryBuilderFtsTest, HostileQueries_NeverProduceSyntaxErrors) {
  std::string ten_kb;
  while (ten_kb.size() < 10240) ten_kb += "NEAR(\"a* OR b) AND -c:^d 数据库 ";
  std::string all_bytes;
  for (int c = 1; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  const std::vector<std::string> hostile = {"\"",
                                            "\"\"",
                                            "\"\"\"",
                                            "NEAR(",
                                            "NEAR(a b",
                                            "NEAR(a b, 2)",
                                            "*",
                                            "a*",
                                            "*a",
                                            "AND",
                                            "OR",
                                            "NOT",
                                            "a AND",
                                            "OR b",
                                            "NOT NOT",
                                            "(",
                                            ")",
                                            "((a)",
                                            "a)",
                                            "^",
                                            "^a",
                                            ":",
                                            "-",
                                            "-a",
                                            "a-",
                                            "col:term",
                                            "title:c++",
                                            "body : x",
                                            "{title body}: x",
                                            "'",
                                            "a'b'",
                                            "\"unterminated",
                                            "unterminated\"",
                                            "!@#$%^&*()",
                                            "。，、；：？！",
                                            "",
                                            "   ",
                                            "\xFF\xFE\xFD",
                                            "abc\xC0\xAF",
                                            "\xE6\x95",
                                            "数据\xFF库",
                                            "+",
                                            "++",
                                            "c++",
                                            "c#",
                                            "#",
                                            "a\"b",
                                            "\"a\" OR \"b\"",
                                            "NEAR",
                                            "near/3",
                                            "a:b:c",
                                            "::",
                                            "a + b",
                                            "\x01\x02",
                                            "ＮＥＡＲ（ａ）",
                                            "＂",
                                            "的",
                                            "的了是",
                                            ten_kb,
                                            all_bytes,
                                            std::string(5000, '"'),
                                            std::string(5000, 'x'),
                                            "PPR-9087 \"NEAR(\" 连接池 OR *"};
  for (const std::string& q : hostile) {
    std::string error;
    EXPECT_GE(Run(q, &error), 0) << "query [" << q.substr(0, 80) << "]: " << error;
  }
}

TEST_F(QueryBuilderFtsTest, BuiltQueriesFindDocuments) {
  std::string error;
  EXPECT_EQ(Run("连接池", &error), 1) << error;
  EXPECT_EQ(Run("PPR-9087", &error), 1) << error;
  EXPECT_EQ(Run("9087", &error), 1) << error;
  EXPECT_EQ(Run("c++", &error), 1) << error;
  EXPECT_EQ(Run("NEAR", &error), 1) << error;
  EXPECT_EQ(Run("\"quoted\"", &error), 1) << error;
  EXPECT_EQ(Run("库", &error), 1) << error;  // prefix on a bigram
  EXPECT_EQ(Run("明", &error), 1) << error;  // the run's final unigram
  EXPECT_EQ(Run("nothing-here", &error), 0) << error;
}

}  // namespace
}  // namespace deepkb::fulltext
