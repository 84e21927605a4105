#include "index/fulltext/analyzer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/utf8.h"

namespace deepkb::fulltext {
namespace {

// Terms as "text" (non-colocated) or "+text" (colocated with the previous one).
std::vector<std::string> Render(std::string_view text) {
  std::vector<std::string> out;
  for (const Term& t : AnalyzeDocument(text)) out.push_back((t.colocated ? "+" : "") + t.text);
  return out;
}

using V = std::vector<std::string>;

std::string Str(const QueryClause& c) {
  std::string s;
  switch (c.kind) {
    case QueryClause::Kind::kTerm:
      s = "T:";
      break;
    case QueryClause::Kind::kPhrase:
      s = "P:";
      break;
    case QueryClause::Kind::kPrefix:
      s = "X:";
      break;
  }
  for (size_t i = 0; i < c.terms.size(); ++i) s += (i ? " " : "") + c.terms[i];
  return s;
}

V Query(std::string_view q) {
  V out;
  for (const QueryClause& c : AnalyzeQuery(q)) out.push_back(Str(c));
  return out;
}

bool Contains(const std::vector<Term>& terms, std::string_view text) {
  for (const Term& t : terms) {
    if (t.text == text) return true;
  }
  return false;
}

TEST(AnalyzerTest, English_LowercasesAndSplits) {
  EXPECT_EQ(Render("The Quick brown-fox, jumps!"),
            (V{"the", "quick", "brown-fox", "+brown", "+fox", "jumps"}));
  EXPECT_EQ(Render(""), V{});
  EXPECT_EQ(Render("  \t\n ,.;!? "), V{});
}

TEST(AnalyzerTest, Identifiers_WholeThenPartsColocated) {
  EXPECT_EQ(Render("PPR-9087"), (V{"ppr-9087", "+ppr", "+9087"}));
  EXPECT_EQ(Render("C++ and C#"), (V{"c++", "+c", "and", "c#", "+c"}));
  EXPECT_EQ(Render("Node.js"), (V{"node.js", "+node", "+js"}));
  EXPECT_EQ(Render("mail john.doe@example.com now"),
            (V{"mail", "john.doe@example.com", "+john", "+doe", "+example", "+com", "now"}));
  EXPECT_EQ(Render("version 3.14."), (V{"version", "3.14", "+3", "+14"}));
  EXPECT_EQ(Render("snake_case"), (V{"snake_case", "+snake", "+case"}));
  EXPECT_EQ(Render("don't"), (V{"don't", "+don", "+t"}));
}

TEST(AnalyzerTest, Identifiers_ConnectorOnlyJoinsBeforeLetterOrDigit) {
  // Sentence punctuation does not stick to words.
  EXPECT_EQ(Render("end. Next"), (V{"end", "next"}));
  EXPECT_EQ(Render("a--b"), (V{"a", "b"}));
  EXPECT_EQ(Render("#tag"), (V{"tag"}));
  EXPECT_EQ(Render("http://example.com/x"), (V{"http", "example.com/x", "+example", "+com", "+x"}));
  // "++" / "#" only after a letter.
  EXPECT_EQ(Render("3++"), (V{"3"}));
  EXPECT_EQ(Render("c++11"), (V{"c++", "+c", "11"}));
}

TEST(AnalyzerTest, FullWidth_NormalisesToAscii) {
  EXPECT_EQ(Render("ＰＰＲ－９０８７"), (V{"ppr-9087", "+ppr", "+9087"}));
  EXPECT_EQ(Render("ＡＢＣ"), (V{"abc"}));
  EXPECT_EQ(Render("Straße"), (V{"strasse"}));
  EXPECT_EQ(NormalizeForSearch("ＡＢＣ Straße"), "abc strasse");
}

TEST(AnalyzerTest, Offsets_PointAtOriginalBytes) {
  const std::string text = "見る ＰＰＲ－９０８７ Hello";
  const auto terms = AnalyzeDocument(text);
  ASSERT_FALSE(terms.empty());
  for (const Term& t : terms) {
    ASSERT_LE(t.start, t.end);
    ASSERT_LE(t.end, text.size());
  }
  for (const Term& t : terms) {
    if (t.text == "ppr-9087") {
      EXPECT_EQ(text.substr(t.start, t.end - t.start), "ＰＰＲ－９０８７");
    }
    if (t.text == "9087") {
      EXPECT_EQ(text.substr(t.start, t.end - t.start), "９０８７");
    }
    if (t.text == "hello") {
      EXPECT_EQ(text.substr(t.start, t.end - t.start), "Hello");
    }
  }
  EXPECT_TRUE(Contains(terms, "hello"));
}

TEST(AnalyzerTest, Chinese_BigramsAndFinalUnigram) {
  EXPECT_EQ(Render("数据库连接池配置说明"),
            (V{"数据", "据库", "库连", "连接", "接池", "池配", "配置", "置说", "说明", "明"}));
  // Offsets: the bigram at position 3 covers 连接 in the original text.
  const std::string text = "数据库连接池配置说明";
  for (const Term& t : AnalyzeDocument(text)) {
    if (t.text == "连接") {
      EXPECT_EQ(text.substr(t.start, t.end - t.start), "连接");
    }
  }
}

TEST(AnalyzerTest, Chinese_OnlyBigramsAndTheLastUnigramAreIndexed) {
  EXPECT_EQ(Render("中华人民共和国"), (V{"中华", "华人", "人民", "民共", "共和", "和国", "国"}));
  for (const Term& t : AnalyzeDocument("这是中华人民共和国的图书馆和自然语言处理技术")) {
    EXPECT_FALSE(t.colocated) << t.text;  // no dictionary words next to the bigrams
  }
}

TEST(AnalyzerTest, Chinese_SingleCharacterAndShortRuns) {
  EXPECT_EQ(Render("中"), (V{"中"}));
  EXPECT_EQ(Render("中文"), (V{"中文", "文"}));
  EXPECT_EQ(Render("中，文"), (V{"中", "文"}));
}

TEST(AnalyzerTest, Japanese_KanaAndMarksAreCjk) {
  EXPECT_EQ(Render("テーブル"), (V{"テー", "ーブ", "ブル", "ル"}));
  // Iteration mark 々 stays in the run.
  const V hito = Render("人々");
  EXPECT_EQ(hito, (V{"人々", "々"}));
  // Half-width katakana is normalised to full width.
  EXPECT_EQ(Render("ｶﾀｶﾅ")[0], "カタ");
  const auto terms = AnalyzeDocument("東京都で会議します");
  EXPECT_TRUE(Contains(terms, "東京"));
  EXPECT_TRUE(Contains(terms, "会議"));
}

TEST(AnalyzerTest, Mixed_ScriptsSplitAtBoundaries) {
  EXPECT_EQ(Render("使用MySQL数据库v8.0版本"),
            (V{"使用", "用", "mysql", "数据", "据库", "库", "v8.0", "+v8", "+0", "版本", "本"}));
  EXPECT_EQ(Render("2023年"), (V{"2023", "年"}));
  EXPECT_EQ(Render("Привет мир"), (V{"привет", "мир"}));
  EXPECT_EQ(Render("café"), (V{"café"}));
  // Decomposed e + combining acute composes and stays one word.
  EXPECT_EQ(Render("cafe\xCC\x81 ok"), (V{"café", "ok"}));
}

TEST(AnalyzerTest, Emoji_AreSeparators) {
  EXPECT_EQ(Render("I ❤️ 数据 🚀rocket👍🏽"), (V{"i", "数据", "据", "rocket"}));
  EXPECT_EQ(Render("👨‍👩‍👧"), V{});
}

TEST(AnalyzerTest, InvalidUtf8_BytesAreSeparators) {
  EXPECT_EQ(Render("abc\xFF"
                   "def"),
            (V{"abc", "def"}));
  EXPECT_EQ(Render("\xE6\x95"
                   "abc"),
            (V{"abc"}));  // truncated 3-byte sequence
  EXPECT_EQ(Render("\xC0\xAF"
                   "x"),
            (V{"x"}));  // overlong
  EXPECT_EQ(Render("\xED\xA0\x80"
                   "y"),
            (V{"y"}));  // surrogate
  EXPECT_EQ(Render("数\xE6"
                   "据"),
            (V{"数", "据"}));
  // Random garbage never crashes and always yields valid UTF-8 terms inside the input.
  std::string junk;
  uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1103515245 + 12345;
    junk.push_back(static_cast<char>(x >> 16));
  }
  for (const Term& t : AnalyzeDocument(junk)) {
    ASSERT_TRUE(utf8::IsValid(t.text));
    ASSERT_LE(t.end, junk.size());
    ASSERT_LE(t.text.size(), kMaxTermBytes);
  }
  EXPECT_EQ(NormalizeForSearch("a\xFF"), "a\xEF\xBF\xBD");
}

TEST(AnalyzerTest, LongTokens_TruncatedAtCodePointBoundary) {
  const std::string ascii(1000, 'a');
  auto terms = AnalyzeDocument(ascii);
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_EQ(terms[0].text, std::string(kMaxTermBytes, 'a'));
  EXPECT_EQ(terms[0].end, 1000u);

  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "xé";  // 3 bytes per pair
  terms = AnalyzeDocument(accented);
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_LE(terms[0].text.size(), kMaxTermBytes);
  EXPECT_TRUE(utf8::IsValid(terms[0].text));

  std::string long_id;
  for (int i = 0; i < 200; ++i) long_id += "ab-";
  long_id += "end";
  terms = AnalyzeDocument(long_id);
  EXPECT_EQ(terms[0].text.size(), kMaxTermBytes);
  EXPECT_EQ(terms.size(), 202u);  // the whole identifier and every part
}

TEST(AnalyzerTest, EarlyStop_WhenEmitReturnsFalse) {
  int calls = 0;
  AnalyzeDocument("one two three four", [&](const Term&) { return ++calls < 2; });
  EXPECT_EQ(calls, 2);
}

TEST(AnalyzerTest, Query_Identifiers) {
  EXPECT_EQ(Query("PPR-9087"), (V{"T:ppr-9087"}));
  EXPECT_EQ(Query("ppr 9087"), (V{"T:ppr", "T:9087"}));
  EXPECT_EQ(Query("ＰＰＲ－９０８７"), (V{"T:ppr-9087"}));
  EXPECT_EQ(Query("what is C++?"), (V{"T:what", "T:is", "T:c++"}));
  EXPECT_EQ(Query("the THE the"), (V{"T:the"}));
}

TEST(AnalyzerTest, Query_ChineseRunsBecomeBigramTerms) {
  // Every bigram of a stretch of kept characters is its own term, across ICU word boundaries.
  EXPECT_EQ(Query("连接池"), (V{"T:连接", "T:接池"}));
  EXPECT_EQ(Query("中华人民共和国"),
            (V{"T:中华", "T:华人", "T:人民", "T:民共", "T:共和", "T:和国"}));
  // 的 (stop character) and 怎么 (question word) split the run into stretches.
  EXPECT_EQ(Query("数据库的连接池怎么配置"),
            (V{"T:数据", "T:据库", "T:连接", "T:接池", "T:配置"}));
  EXPECT_EQ(Query("的"), V{});
  EXPECT_EQ(Query("怎么"), V{});
  // A lone kept character becomes a prefix clause.
  EXPECT_EQ(Query("池"), (V{"X:池"}));
  EXPECT_EQ(Query("的池"), (V{"X:池"}));
  EXPECT_EQ(Query("说明"), (V{"T:说明"}));
}

TEST(AnalyzerTest, Query_PunctuationAndEmptyDropped) {
  EXPECT_EQ(Query(""), V{});
  EXPECT_EQ(Query("\"*()^:-"), V{});
  EXPECT_EQ(Query("。，！？"), V{});
  EXPECT_EQ(Query("\xFF\xFE"), V{});
}

TEST(AnalyzerTest, Query_DisplayIsNormalisedWord) {
  const auto clauses = AnalyzeQuery("Node.JS 连接池");
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[0].display, "node.js");
  EXPECT_EQ(clauses[1].display, "连接");
  EXPECT_EQ(clauses[2].display, "接池");
}

// Ad-hoc throughput check on mixed text (prints MB/s; the assertion is a loose floor so that
// slow debug/sanitizer builds still pass).
// FTS5 indexes are maintained by re-analysing rows (fts_index.h): an index must only be changed
// by the analysis that built it. If this expectation has to change, the document-side analysis
// changed: bump kAnalyzerVersion too (existing indexes then ask for `deepkb index rebuild`).
TEST(AnalyzerTest, DocumentTerms_PinnedToAnalyzerVersion) {
  EXPECT_EQ(kAnalyzerVersion, 2);
  std::string out;
  for (const Term& t : AnalyzeDocument(
           "用词不当的例子：数据库连接池 PPR-9087 C++ Node.js ＡＢＣ café 東京タワー 用")) {
    out += (t.colocated ? "+" : "") + t.text + "@" + std::to_string(t.start) + "-" +
           std::to_string(t.end) + " ";
  }
  EXPECT_EQ(out,
            "用词@0-6 词不@3-9 不当@6-12 当的@9-15 的例@12-18 例子@15-21 子@18-21 数据@24-30 "
            "据库@27-33 库连@30-36 连接@33-39 接池@36-42 池@39-42 ppr-9087@43-51 +ppr@43-46 "
            "+9087@47-51 c++@52-55 +c@52-53 node.js@56-63 +node@56-60 +js@61-63 abc@64-73 "
            "café@74-79 東京@80-86 京タ@83-89 タワ@86-92 ワー@89-95 ー@92-95 用@96-99 ");
}

TEST(AnalyzerTest, Throughput_MixedText) {
  const std::string para =
      "数据库连接池配置说明：在生产环境中，建议将最大连接数设置为 CPU 核数的两倍。"
      "The connection pool (HikariCP 5.0.1) exposes metrics via JMX; see PPR-9087 and "
      "docs/pool.md for details. 東京都のサーバーで設定を確認してください。"
      "Contact ops@example.com if max_connections > 200. Version 3.14.2 fixes C++ builds.\n";
  std::string text;
  while (text.size() < (4u << 20)) text += para;
  size_t terms = 0;
  AnalyzeDocument(text.substr(0, 4096), [&](const Term&) { return true; });  // warm up
  const auto t0 = std::chrono::steady_clock::now();
  AnalyzeDocument(text, [&](const Term&) {
    ++terms;
    return true;
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double mbps = static_cast<double>(text.size()) / (1 << 20) / secs;
  std::printf("analyzer throughput: %.1f MB/s (%zu terms, %.1f MB)\n", mbps, terms,
              static_cast<double>(text.size()) / (1 << 20));
  EXPECT_GT(mbps, 0.5);
}

}  // namespace
}  // namespace deepkb::fulltext
