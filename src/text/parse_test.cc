#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/utf8.h"
#include "text/document.h"

// LeakSanitizer (DEEPKB_SANITIZE builds): fontconfig, loaded by poppler, keeps a small cache
// allocation for the life of the process. It is not ours; do not fail the test binary on it.
extern "C" const char* __lsan_default_suppressions() { return "leak:libfontconfig.so\n"; }

namespace deepkb::text {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(DEEPKB_SOURCE_DIR) + "/tests/data/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// All block texts joined by newlines, for "is this text anywhere" checks.
std::string AllText(const ParsedDocument& doc) {
  std::string out;
  for (const Block& b : doc.blocks) out += b.text + "\n";
  return out;
}

const Block* FindBlock(const ParsedDocument& doc, std::string_view text) {
  for (const Block& b : doc.blocks) {
    if (b.text == text) return &b;
  }
  return nullptr;
}

std::vector<std::pair<int, std::string>> Headings(const ParsedDocument& doc) {
  std::vector<std::pair<int, std::string>> out;
  for (const Block& b : doc.blocks) {
    if (b.kind == Block::Kind::kHeading) out.emplace_back(b.level, b.text);
  }
  return out;
}

void ExpectWellFormed(const ParsedDocument& doc) {
  EXPECT_TRUE(utf8::IsValid(doc.title));
  for (const Block& b : doc.blocks) {
    EXPECT_TRUE(utf8::IsValid(b.text));
    EXPECT_FALSE(b.text.empty());
    EXPECT_NE(b.text.front(), ' ');
    EXPECT_NE(b.text.back(), ' ');
    EXPECT_EQ(b.text.find("  "), std::string::npos) << b.text;
    EXPECT_EQ(b.text.find('\n'), std::string::npos) << b.text;
    if (b.kind == Block::Kind::kHeading) {
      EXPECT_GE(b.level, 1);
      EXPECT_LE(b.level, 6);
    } else {
      EXPECT_EQ(b.level, 0);
    }
  }
}

// ---- formats ---------------------------------------------------------------------------------

TEST(Format, NamesAndMimeTypes) {
  for (Format f : {Format::kText, Format::kMarkdown, Format::kHtml, Format::kPdf,
                   Format::kDocx}) {
    EXPECT_EQ(FormatFromMimeType(FormatMimeType(f)), f) << FormatName(f);
  }
  EXPECT_EQ(FormatName(Format::kMarkdown), "markdown");
  EXPECT_EQ(FormatMimeType(Format::kPdf), "application/pdf");
  EXPECT_EQ(FormatFromMimeType("text/html; charset=utf-8"), Format::kHtml);
  EXPECT_EQ(FormatFromMimeType(" Text/Plain "), Format::kText);
  EXPECT_EQ(FormatFromMimeType("image/png"), Format::kUnknown);
}

TEST(Format, FromFileName) {
  EXPECT_EQ(FormatFromFileName("a.txt"), Format::kText);
  EXPECT_EQ(FormatFromFileName("dir.v2/server.LOG"), Format::kText);
  EXPECT_EQ(FormatFromFileName("data.csv"), Format::kText);
  EXPECT_EQ(FormatFromFileName("README.md"), Format::kMarkdown);
  EXPECT_EQ(FormatFromFileName("notes.markdown"), Format::kMarkdown);
  EXPECT_EQ(FormatFromFileName("index.HTM"), Format::kHtml);
  EXPECT_EQ(FormatFromFileName("page.xhtml"), Format::kHtml);
  EXPECT_EQ(FormatFromFileName("C:\\docs\\Report.PDF"), Format::kPdf);
  EXPECT_EQ(FormatFromFileName("letter.docx"), Format::kDocx);
  EXPECT_EQ(FormatFromFileName("letter.doc"), Format::kUnknown);
  EXPECT_EQ(FormatFromFileName("Makefile"), Format::kUnknown);
  EXPECT_EQ(FormatFromFileName(".bashrc"), Format::kUnknown);
}

TEST(Format, DetectUsesMagicBytesFirst) {
  EXPECT_EQ(DetectFormat("upload.bin", ReadFixture("multipage.pdf")), Format::kPdf);
  EXPECT_EQ(DetectFormat("wrongname.txt", ReadFixture("multipage.pdf")), Format::kPdf);
  EXPECT_EQ(DetectFormat("upload", ReadFixture("sample.docx")), Format::kDocx);
  EXPECT_EQ(DetectFormat("page", ReadFixture("sample.html")), Format::kHtml);
  EXPECT_EQ(DetectFormat("page.txt", "<!DOCTYPE html><p>x</p>"), Format::kHtml);
  EXPECT_EQ(DetectFormat("README.md", ReadFixture("sample.md")), Format::kMarkdown);
  EXPECT_EQ(DetectFormat("noext", ReadFixture("gbk_chinese.txt")), Format::kText);
  EXPECT_EQ(DetectFormat("noext", ReadFixture("junk.txt")), Format::kUnknown);
  EXPECT_EQ(DetectFormat("archive", ReadFixture("notdocx.zip")), Format::kUnknown);
  EXPECT_EQ(DetectFormat("notes.txt", "The header is %PDF-1.7 in every file."), Format::kText);
  EXPECT_EQ(DetectFormat("notes.txt", "Put scripts before </body> and styles in <head>."),
            Format::kText);
  EXPECT_EQ(DetectFormat("fragment", "<div>x</div>\n<body>\n"), Format::kHtml);
}

// ---- Parse() dispatch and common errors -------------------------------------------------------

TEST(Parse, EmptyFile_IsInvalidArgument) {
  for (Format f : {Format::kText, Format::kMarkdown, Format::kHtml, Format::kPdf,
                   Format::kDocx}) {
    auto r = Parse(ReadFixture("empty.txt"), f);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "file is empty");
  }
  EXPECT_FALSE(ParsePdf("").ok());
}

TEST(Parse, OverSize_IsTooLargeNamingSizeAndLimit) {
  ParseOptions opts;
  opts.max_bytes = 100;
  auto r = Parse(std::string(101, 'a'), Format::kText, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
  EXPECT_TRUE(Contains(r.status().message(), "101")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "100 bytes")) << r.status().message();
  EXPECT_TRUE(Parse(std::string(100, 'a'), Format::kText, opts).ok());
}

TEST(Parse, UnknownFormat_IsUnsupportedMedia) {
  auto r = Parse("data", Format::kUnknown);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupportedMedia);
  EXPECT_TRUE(Contains(r.status().message(), "docx"));
}

TEST(Parse, EveryFixtureThroughDetection) {
  for (const char* name : {"sample.txt", "gbk_chinese.txt", "big5_chinese.txt",
                           "utf16le_bom.txt", "sample.md", "sample.html", "multipage.pdf",
                           "sample.docx"}) {
    const std::string bytes = ReadFixture(name);
    const Format f = DetectFormat(name, bytes);
    auto r = Parse(bytes, f);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    EXPECT_EQ(r->format, f) << name;
    EXPECT_FALSE(r->blocks.empty()) << name;
    ExpectWellFormed(*r);
  }
}

// Truncated and bit-flipped copies of every fixture must come back as a result or a Status.
TEST(Parse, DamagedFixtures_NeverCrash) {
  for (const char* name : {"sample.txt", "gbk_chinese.txt", "utf16le_bom.txt", "sample.md",
                           "sample.html", "multipage.pdf", "encrypted.pdf", "sample.docx"}) {
    const std::string bytes = ReadFixture(name);
    const Format f = DetectFormat(name, bytes);
    for (size_t cut : {size_t{1}, size_t{7}, bytes.size() / 3, bytes.size() / 2,
                       bytes.size() - 1}) {
      auto r = Parse(bytes.substr(0, cut), f);
      if (r.ok()) ExpectWellFormed(*r);
    }
    std::string flipped = bytes;
    for (size_t i = 0; i < flipped.size(); i += 37) flipped[i] = static_cast<char>(~flipped[i]);
    auto r = Parse(flipped, f);
    if (r.ok()) ExpectWellFormed(*r);
  }
}

// ---- plain text -----------------------------------------------------------------------------

TEST(PlainText, ParagraphsTitleAndWhitespace) {
  auto r = ParsePlainText(ReadFixture("sample.txt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, Format::kText);
  EXPECT_EQ(r->charset, "UTF-8");
  EXPECT_EQ(r->title, "Getting Started with deepkb");
  ASSERT_EQ(r->blocks.size(), 4u);
  EXPECT_EQ(r->blocks[0].text, "Getting Started with deepkb");
  EXPECT_EQ(r->blocks[1].text,
            "deepkb keeps your documents on your own machines. It parses each file, splits the "
            "text into chunks and indexes them for keyword and vector search.");
  EXPECT_EQ(r->blocks[2].text,
            "Plain text files are split into paragraphs at blank lines. Lines inside a paragraph "
            "are joined with single spaces.");
  EXPECT_EQ(r->blocks[3].text, "The last paragraph ends the file.");
  for (const Block& b : r->blocks) {
    EXPECT_EQ(b.kind, Block::Kind::kParagraph);
    EXPECT_EQ(b.page, 0);
  }
}

TEST(PlainText, GbkChinese_DecodedAndJoinedWithoutSpaces) {
  auto r = ParsePlainText(ReadFixture("gbk_chinese.txt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "GB18030");
  EXPECT_EQ(r->title, "知识库简介");
  ASSERT_EQ(r->blocks.size(), 3u);
  EXPECT_EQ(r->blocks[1].text,
            "数据库是按照数据结构来组织、存储和管理数据的仓库。知识库在数据库之上增加了文档解析、分段和检索功能。");
  // The line break between "，" and "并" disappears instead of becoming a space.
  EXPECT_EQ(r->blocks[2].text,
            "用户可以把文档导入知识库，系统会自动识别文件的字符编码，并把文本切分成段落，方便后续的全文检索和向量检索。");
}

TEST(PlainText, Big5AndUtf16) {
  auto big5 = ParsePlainText(ReadFixture("big5_chinese.txt"));
  ASSERT_TRUE(big5.ok()) << big5.status().ToString();
  EXPECT_EQ(big5->charset, "Big5");
  EXPECT_EQ(big5->title, "知識庫簡介");
  ASSERT_EQ(big5->blocks.size(), 3u);
  EXPECT_EQ(big5->blocks[2].text, "使用者可以把文件匯入知識庫，系統會自動識別檔案的字元編碼。");

  auto u16 = ParsePlainText(ReadFixture("utf16le_bom.txt"));
  ASSERT_TRUE(u16.ok()) << u16.status().ToString();
  EXPECT_EQ(u16->charset, "UTF-16LE");
  EXPECT_EQ(u16->title, "UTF-16 Sample");
  ASSERT_EQ(u16->blocks.size(), 2u);
  EXPECT_EQ(u16->blocks[1].text, "Hello 你好, this file is UTF-16LE with a BOM.");
}

TEST(PlainText, Junk_IsNotText) {
  auto r = ParsePlainText(ReadFixture("junk.txt"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "not a text file"));
}

TEST(PlainText, InvalidUtf8_DoesNotCrash) {
  const std::string inputs[] = {
      "abc \xC3\x28 def \xE2\x82 ghi \xF0\x9F\x98",  // truncated and bad continuations
      "\xED\xA0\x80 surrogate \xC0\xAF overlong \xF8\x88\x80\x80\x80",
      "\xFF\xFE\xFD",
      "\x80\x80\x80\x80 text",
      "\r\r\n\n \t\x0B\x0C",
  };
  for (const std::string& in : inputs) {
    auto r = ParsePlainText(in);
    if (r.ok()) ExpectWellFormed(*r);
  }
}

TEST(PlainText, LongFirstLine_IsNoTitle) {
  auto r = ParsePlainText(std::string(200, 'x') + "\n\nsecond");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->title, "");
  auto ws = ParsePlainText(" \n\t\n");
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().code(), StatusCode::kInvalidArgument);
}

TEST(PlainText, CrlfAndOldMacLineEnds) {
  auto r = ParsePlainText("Title\r\n\r\nline one\r\nline two\r\n\r\nlast\rpara");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->blocks.size(), 3u);
  EXPECT_EQ(r->blocks[1].text, "line one line two");
  EXPECT_EQ(r->blocks[2].text, "last para");
}

// ---- markdown -------------------------------------------------------------------------------

TEST(Markdown, HeadingsLevelsAndParagraphs) {
  auto r = ParseMarkdown(ReadFixture("sample.md"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, Format::kMarkdown);
  EXPECT_EQ(r->title, "知识库指南");
  const std::vector<std::pair<int, std::string>> expected = {
      {1, "知识库指南"}, {2, "Installation"}, {3, "中文段落"}, {2, "Setext Heading"}};
  EXPECT_EQ(Headings(*r), expected);
  EXPECT_NE(FindBlock(*r, "deepkb turns your documents into a searchable knowledge base."),
            nullptr);
  EXPECT_NE(FindBlock(*r, "Install the package"), nullptr);
  EXPECT_NE(FindBlock(*r, "Run deepkb serve"), nullptr);
  EXPECT_NE(FindBlock(*r, "Quoted advice: back up the data folder."), nullptr);
  EXPECT_NE(FindBlock(*r, "deepkb ingest ./docs"), nullptr);
  EXPECT_NE(FindBlock(*r, "数据库是按照数据结构来组织、存储和管理数据的仓库。知识库支持中文检索。"),
            nullptr)
      << AllText(*r);
  EXPECT_NE(FindBlock(*r, "Final paragraph with a link."), nullptr);
  EXPECT_FALSE(Contains(AllText(*r), "https://example.com"));
  ExpectWellFormed(*r);
}

TEST(Markdown, GbkEncoded) {
  auto r = ParseMarkdown("# " + ReadFixture("gbk_chinese.txt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "GB18030");
  EXPECT_EQ(r->title, "知识库简介");
  ASSERT_FALSE(r->blocks.empty());
  EXPECT_EQ(r->blocks[0].kind, Block::Kind::kHeading);
}

TEST(Markdown, FrontMatterTitle) {
  auto r = ParseMarkdown("---\ntitle: \"Front Title\"\ntags: [a]\n---\n# Heading\n\nBody.\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->title, "Front Title");
  EXPECT_FALSE(Contains(AllText(*r), "tags"));
  EXPECT_EQ(Headings(*r).size(), 1u);
}

TEST(Markdown, DeepNesting_DoesNotCrash) {
  std::string quotes(50000, '>');
  auto r = ParseMarkdown(quotes + " deep quote\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Contains(AllText(*r), "deep quote"));
}

// ---- html -----------------------------------------------------------------------------------

TEST(Html, TitleHeadingsParagraphsAndDroppedChrome) {
  auto r = ParseHtml(ReadFixture("sample.html"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, Format::kHtml);
  EXPECT_EQ(r->charset, "UTF-8");
  EXPECT_EQ(r->title, "Sample Page & Title");
  const std::vector<std::pair<int, std::string>> expected = {{1, "Main Heading"},
                                                             {2, "Second Section"}};
  EXPECT_EQ(Headings(*r), expected);
  for (const char* p : {"First paragraph with bold and an entity: café & more.", "Loose div text",
                        "Nested paragraph.", "Tail text", "Item one", "Item two",
                        "中文内容：知识库。", "Cell A", "Cell B", "Line one Line two"}) {
    EXPECT_NE(FindBlock(*r, p), nullptr) << p << "\n" << AllText(*r);
  }
  const std::string all = AllText(*r);
  for (const char* dropped : {"SCRIPT_TEXT", "STYLE_TEXT", "NAV_TEXT", "HEADER_TEXT",
                              "ASIDE_TEXT", "FOOTER_TEXT", "NOSCRIPT_TEXT", "TEMPLATE_TEXT",
                              "SVG_TEXT", "HIDDEN_TEXT", "BUTTON_TEXT", "color: red"}) {
    EXPECT_FALSE(Contains(all, dropped)) << dropped;
  }
  ExpectWellFormed(*r);
}

TEST(Html, HeaderWithH1IsKeptAndTitleFallsBackToH1) {
  auto r = ParseHtml("<html><body><header><h1>Site Title</h1><p>Tagline</p></header>"
                     "<p>Body text.</p></body></html>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->title, "Site Title");
  EXPECT_NE(FindBlock(*r, "Tagline"), nullptr);
}

TEST(Html, FormWrappingThePageIsKept) {
  auto r = ParseHtml("<html><body><form id=aspnetForm><h1>Page</h1><p>Content kept.</p>"
                     "<input name=x></form></body></html>");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(FindBlock(*r, "Content kept."), nullptr);
}

TEST(Html, MetaCharsetGbk) {
  const std::string gbk = ReadFixture("gbk_chinese.txt");
  const std::string first_line = gbk.substr(0, gbk.find('\n'));
  const std::string html = "<html><head><meta charset=\"gbk\"><title>" + first_line +
                           "</title></head><body><p>" + gbk + "</p></body></html>";
  auto r = ParseHtml(html);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "GB18030");
  EXPECT_EQ(r->title, "知识库简介");
  EXPECT_TRUE(Contains(AllText(*r), "知识库在数据库之上增加了文档解析"));

  // http-equiv form, and a page that lies (says UTF-8, is GBK): detection takes over.
  const std::string lying = "<html><head><meta http-equiv=\"Content-Type\" "
                            "content=\"text/html; charset=utf-8\"></head><body><p>" + gbk +
                            "</p></body></html>";
  auto l = ParseHtml(lying);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->charset, "GB18030");
  EXPECT_TRUE(Contains(AllText(*l), "知识库在数据库之上增加了文档解析"));
}

TEST(Html, HundredThousandNestedDivs_YieldInnerText) {
  constexpr int kDepth = 100000;
  std::string html = "<html><body>";
  for (int i = 0; i < kDepth; ++i) html += "<div>";
  html += "inner text";
  for (int i = 0; i < kDepth; ++i) html += "</div>";
  html += "<p>after</p></body></html>";
  const auto start = std::chrono::steady_clock::now();
  auto r = ParseHtml(html);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(FindBlock(*r, "inner text"), nullptr) << AllText(*r).substr(0, 200);
  EXPECT_NE(FindBlock(*r, "after"), nullptr);
  EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), 10);
}

TEST(Html, DeepInlineAndSelfClosingNesting_DoNotCrash) {
  // "<b><div></b>" nests in the HTML tree (the adoption agency keeps the div open) even though
  // every <b> is closed; it used to take gumbo ~9 s at this size.
  for (const char* open : {"<span>", "<div/>", "<b>", "<table><tr><td>", "<b><div></b>",
                           "<font><p></font>"}) {
    std::string html = "<body>";
    for (int i = 0; i < 50000; ++i) html += open;
    html += "deep words";
    const auto start = std::chrono::steady_clock::now();
    auto r = ParseHtml(html);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(r.ok()) << open << ": " << r.status().ToString();
    EXPECT_TRUE(Contains(AllText(*r), "deep words")) << open;
    EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), 5) << open;
  }
}

TEST(Html, UnclosedParagraphsAreNotTreatedAsNesting) {
  std::string html = "<body>";
  for (int i = 0; i < 2000; ++i) html += "<p>para " + std::to_string(i) + "\n";
  html += "<h2>End</h2><p>last</body>";
  auto r = ParseHtml(html);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->blocks.size(), 2002u);
  EXPECT_NE(FindBlock(*r, "para 1999"), nullptr);
  const auto headings = Headings(*r);
  ASSERT_EQ(headings.size(), 1u);
  EXPECT_EQ(headings[0].second, "End");
}

TEST(Html, OnlyScript_IsNoText) {
  auto r = ParseHtml("<html><head><script>var x = 1;</script></head><body></body></html>");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// ---- pdf ------------------------------------------------------------------------------------

TEST(Pdf, PagesParagraphsHeadingsAndTitle) {
  auto r = ParsePdf(ReadFixture("multipage.pdf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, Format::kPdf);
  EXPECT_EQ(r->pages, 3);
  EXPECT_EQ(r->title, "Multipage Sample");
  ExpectWellFormed(*r);

  const Block* heading = FindBlock(*r, "Chapter One: Storage");
  ASSERT_NE(heading, nullptr) << AllText(*r);
  EXPECT_EQ(heading->kind, Block::Kind::kHeading);
  EXPECT_EQ(heading->page, 1);

  struct Expect {
    const char* text;
    int page;
  };
  for (const Expect& e : {
           Expect{"The knowledge base keeps every document in SQLite, which is the single "
                  "source of truth for all collections.", 1},
           Expect{"Alpha paragraph two sits on the first page.", 1},
           Expect{"Page two explains vector search with HNSW graphs and filtered queries over "
                  "the collection.", 2},
           Expect{"Bravo paragraph closes the second page.", 2},
           Expect{"The third page covers synchronisation between nodes.", 3}}) {
    const Block* b = FindBlock(*r, e.text);
    ASSERT_NE(b, nullptr) << e.text << "\n" << AllText(*r);
    EXPECT_EQ(b->kind, Block::Kind::kParagraph);
    EXPECT_EQ(b->page, e.page) << e.text;
  }
  for (const Block& b : r->blocks) {
    EXPECT_GE(b.page, 1);
    EXPECT_LE(b.page, 3);
  }
  // The running header and the page-number footers are page furniture, not text.
  EXPECT_FALSE(Contains(AllText(*r), "deepkb manual")) << AllText(*r);
  for (const char* footer : {"1", "2", "Page 3"}) EXPECT_EQ(FindBlock(*r, footer), nullptr);
  EXPECT_EQ(r->blocks.size(), 6u) << AllText(*r);
}

TEST(Pdf, Encrypted_IsPermissionDenied) {
  auto r = ParsePdf(ReadFixture("encrypted.pdf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "PDF is password-protected; remove the password and retry");
}

TEST(Pdf, NoText_AsksForOcr) {
  auto r = ParsePdf(ReadFixture("notext.pdf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "OCR")) << r.status().message();
}

TEST(Pdf, TruncatedOrGarbage_IsInvalidArgument) {
  const std::string pdf = ReadFixture("multipage.pdf");
  for (const std::string& bad : {pdf.substr(0, 100), std::string("%PDF-1.4\ngarbage"),
                                 std::string("not a pdf at all")}) {
    auto r = ParsePdf(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
}

// ---- docx -----------------------------------------------------------------------------------

TEST(Docx, HeadingsParagraphsAndTitle) {
  auto r = ParseDocx(ReadFixture("sample.docx"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, Format::kDocx);
  EXPECT_EQ(r->title, "Sample DOCX 文档");
  const std::vector<std::pair<int, std::string>> expected = {
      {1, "Document Title Paragraph"}, {1, "Introduction"}, {2, "中文章节"},
      {3, "Localized Heading"}, {4, "Outline Level Heading"}};
  EXPECT_EQ(Headings(*r), expected);
  for (const char* p : {"The first paragraph has bold text.",
                        "Before tab after tab after break",
                        "数据库是按照数据结构来组织、存储和管理数据的仓库。", "Cell one", "Cell two",
                        "Kept after deletion."}) {
    EXPECT_NE(FindBlock(*r, p), nullptr) << p << "\n" << AllText(*r);
  }
  EXPECT_FALSE(Contains(AllText(*r), "DELETED_TEXT"));
  ExpectWellFormed(*r);
}

TEST(Docx, NotAZip_IsInvalidArgument) {
  for (const std::string& bad : {std::string("this is not a zip file"), ReadFixture("junk.txt"),
                                 ReadFixture("notdocx.zip"),
                                 ReadFixture("sample.docx").substr(0, 300)}) {
    auto r = ParseDocx(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "not a valid DOCX")) << r.status().message();
  }
}

TEST(Docx, ZipBomb_IsTooLarge) {
  auto r = ParseDocx(ReadFixture("zipbomb.docx"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge) << r.status().ToString();
}

TEST(Docx, LegacyDocAndEncryptedPackage) {
  std::string ole("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
  ole += std::string(512, '\0');
  auto doc = ParseDocx(ole);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);

  std::string encrypted = ole;
  for (char c : std::string("EncryptedPackage")) {
    encrypted.push_back(c);
    encrypted.push_back('\0');
  }
  auto enc = ParseDocx(encrypted);
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace deepkb::text
