// Integration: ingest the real fixture files of every supported format (tests/data, see
// make_fixtures.sh) through the same path as `deepkb ingest`, then find each by searching.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/hash.h"
#include "common/utf8.h"
#include "kb/ingest.h"

#include <map>

namespace deepkb::kb {
namespace {

namespace fs = std::filesystem;

class FormatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("formats_test_" + RandomHex(6));
    auto kb = KnowledgeBase::Open(dir_.string());
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value().release();
    ASSERT_TRUE(kb_->CreateCollection({.name = "fx", .chunk_tokens = 128, .chunk_overlap = 16}).ok());
    IngestOptions o;
    o.collection = "fx";
    auto r = IngestPaths(*kb_, {std::string(DEEPKB_SOURCE_DIR) + "/tests/data"}, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    report_ = new IngestReport(*r);
  }
  static void TearDownTestSuite() {
    delete kb_;
    delete report_;
    fs::remove_all(dir_);
  }

  // Doc ids of the hits for `q`, best first.
  static std::vector<SearchHit> Hits(const std::string& q) {
    auto r = kb_->Search({.collection = "fx", .query = q, .mode = "keyword", .top_k = 5});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->hits : std::vector<SearchHit>{};
  }

  static inline fs::path dir_;
  static inline KnowledgeBase* kb_ = nullptr;
  static inline IngestReport* report_ = nullptr;
};

TEST_F(FormatsTest, GoodFilesAreAddedAndBadOnesFailWithReasons) {
  // Good: sample.txt/.md/.html/.docx, gbk, big5, utf16, multipage.pdf = 8.
  EXPECT_EQ(report_->added, 8);
  std::map<std::string, std::string> failed;
  for (const auto& f : report_->failed) failed[fs::path(f.path).filename().string()] = f.error;
  ASSERT_EQ(failed.size(), 5u) << [&] {
    std::string s;
    for (const auto& [k, v] : failed) s += k + ": " + v + "\n";
    return s;
  }();
  EXPECT_NE(failed["empty.txt"].find("empty"), std::string::npos) << failed["empty.txt"];
  EXPECT_NE(failed["junk.txt"].find("not a text file"), std::string::npos) << failed["junk.txt"];
  EXPECT_NE(failed["encrypted.pdf"].find("password"), std::string::npos) << failed["encrypted.pdf"];
  EXPECT_NE(failed["notext.pdf"].find("no extractable text"), std::string::npos) << failed["notext.pdf"];
  EXPECT_TRUE(failed.count("zipbomb.docx")) << "zip bomb must be refused";
  EXPECT_EQ(report_->skipped, 2);  // make_fixtures.sh, notdocx.zip
}

TEST_F(FormatsTest, GbkChineseTextIsFoundByAChineseQuery) {
  auto hits = Hits("文档解析和检索功能");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].doc_id, "data/gbk_chinese.txt");
  EXPECT_NE(hits[0].text.find("知识库"), std::string::npos);  // decoded to UTF-8
}

TEST_F(FormatsTest, Big5TraditionalChineseIsFound) {
  auto hits = Hits("資料庫");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].doc_id, "data/big5_chinese.txt");
}

TEST_F(FormatsTest, PdfHitsCarryTheirPageNumber) {
  auto two = Hits("Bravo HNSW");
  ASSERT_FALSE(two.empty());
  EXPECT_EQ(two[0].doc_id, "data/multipage.pdf");
  EXPECT_EQ(two[0].page, 2);
  auto three = Hits("synchronisation");
  ASSERT_FALSE(three.empty());
  EXPECT_EQ(three[0].page, 3);
  auto one = Hits("single source of truth");
  ASSERT_FALSE(one.empty());
  EXPECT_EQ(one[0].page, 1);
}

TEST_F(FormatsTest, HtmlDropsScriptsAndNavigationButKeepsContent) {
  EXPECT_TRUE(Hits("SCRIPT_TEXT").empty());
  EXPECT_TRUE(Hits("NAV_TEXT").empty());
  auto hits = Hits("Nested paragraph");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].doc_id, "data/sample.html");
}

TEST_F(FormatsTest, DocxAndMarkdownKeepHeadingPaths) {
  auto docx = Hits("Outline Level Heading");
  ASSERT_FALSE(docx.empty());
  EXPECT_EQ(docx[0].doc_id, "data/sample.docx");
  auto md = Hits("知识库支持中文检索");
  ASSERT_FALSE(md.empty());
  EXPECT_EQ(md[0].doc_id, "data/sample.md");
  EXPECT_NE(md[0].heading_path.find("中文段落"), std::string::npos) << md[0].heading_path;
}

TEST_F(FormatsTest, Utf16TextIsDecoded) {
  auto doc = kb_->GetDocumentChunks("fx", "data/utf16le_bom.txt");
  ASSERT_TRUE(doc.ok());
  ASSERT_FALSE(doc->empty());
  EXPECT_TRUE(utf8::IsValid((*doc)[0].text));
}

TEST_F(FormatsTest, IndexesAreConsistent) { EXPECT_TRUE(kb_->Verify().ok()); }

}  // namespace
}  // namespace deepkb::kb
