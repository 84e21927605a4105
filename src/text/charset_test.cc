#include "text/charset.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "common/utf8.h"

namespace deepkb::text {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(DEEPKB_SOURCE_DIR) + "/tests/data/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The UTF-8 source of tests/data/gbk_chinese.txt and big5_chinese.txt (see make_fixtures.sh).
const std::string kGbkText =
    "知识库简介\n\n"
    "数据库是按照数据结构来组织、存储和管理数据的仓库。知识库在数据库之上增加了文档解析、分段和检索功能。\n\n"
    "用户可以把文档导入知识库，系统会自动识别文件的字符编码，\n"
    "并把文本切分成段落，方便后续的全文检索和向量检索。\n";
const std::string kBig5Text =
    "知識庫簡介\n\n"
    "資料庫是按照資料結構來組織、儲存和管理資料的倉庫。知識庫在資料庫之上增加了文件解析、分段和檢索功能。\n\n"
    "使用者可以把文件匯入知識庫，系統會自動識別檔案的字元編碼。\n";

// Longest prefix of a double-byte encoded text no longer than n bytes that ends on a character
// boundary (ASCII bytes are single, bytes >= 0x81 lead a pair).
std::string DoubleBytePrefix(const std::string& s, size_t n) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = static_cast<unsigned char>(s[i]) >= 0x81 ? 2 : 1;
    if (i + len > n) break;
    i += len;
  }
  return s.substr(0, i);
}

TEST(Charset, Empty_IsUtf8) {
  auto r = DecodeToUtf8("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->utf8, "");
  EXPECT_EQ(r->charset, "UTF-8");
}

TEST(Charset, ValidUtf8_PassesThrough) {
  const std::string s = "plain ASCII\nand 中文 and café";
  auto r = DecodeToUtf8(s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->utf8, s);
  EXPECT_EQ(r->charset, "UTF-8");
}

TEST(Charset, Utf8Bom_IsStripped) {
  auto r = DecodeToUtf8("\xEF\xBB\xBFhello 你好");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->utf8, "hello 你好");
  EXPECT_EQ(r->charset, "UTF-8");
}

TEST(Charset, GbkFixture_DecodesToExactChinese) {
  auto r = DecodeToUtf8(ReadFixture("gbk_chinese.txt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "GB18030");
  EXPECT_EQ(r->utf8, kGbkText);
}

TEST(Charset, ShortGbk_IsDetected) {
  // uchardet alone calls the first of these KOI8-R and gives no answer for the second.
  auto a = DecodeToUtf8("\xD6\xD0\xCE\xC4\xB2\xE2\xCA\xD4");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->utf8, "中文测试");
  EXPECT_EQ(a->charset, "GB18030");

  auto b = DecodeToUtf8("\xC4\xE3\xBA\xC3\xA3\xAC\xCA\xC0\xBD\xE7\xA3\xA1");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->utf8, "你好，世界！");
  EXPECT_EQ(b->charset, "GB18030");
}

TEST(Charset, GbkPrefixes_AreDetected) {
  const std::string gbk = ReadFixture("gbk_chinese.txt");
  for (size_t n : {10u, 24u, 50u, 100u, 150u}) {
    const std::string prefix = DoubleBytePrefix(gbk, n);
    auto r = DecodeToUtf8(prefix);
    ASSERT_TRUE(r.ok()) << n << ": " << r.status().ToString();
    EXPECT_EQ(r->charset, "GB18030") << n;
    EXPECT_TRUE(kGbkText.starts_with(r->utf8)) << n << ": " << r->utf8;
    EXPECT_GE(r->utf8.size(), prefix.size()) << n;  // 2 GBK bytes -> 3 UTF-8 bytes
  }
}

TEST(Charset, Big5Fixture_DecodesToExactChinese) {
  auto r = DecodeToUtf8(ReadFixture("big5_chinese.txt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "Big5");
  EXPECT_EQ(r->utf8, kBig5Text);
}

TEST(Charset, ShortBig5_IsDetected) {
  auto r = DecodeToUtf8("\xC1\x63\xC5\xE9\xA4\xA4\xA4\xE5");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->utf8, "繁體中文");
  EXPECT_EQ(r->charset, "Big5");

  const std::string big5 = ReadFixture("big5_chinese.txt");
  for (size_t n : {10u, 30u, 60u, 100u}) {
    auto p = DecodeToUtf8(DoubleBytePrefix(big5, n));
    ASSERT_TRUE(p.ok()) << n << ": " << p.status().ToString();
    EXPECT_EQ(p->charset, "Big5") << n;
    EXPECT_TRUE(kBig5Text.starts_with(p->utf8)) << n << ": " << p->utf8;
  }
}

TEST(Charset, Utf16LeBomFixture_Decodes) {
  auto r = DecodeToUtf8(ReadFixture("utf16le_bom.txt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "UTF-16LE");
  EXPECT_EQ(r->utf8, "UTF-16 Sample\n\nHello 你好, this file is UTF-16LE with a BOM.\n");
}

TEST(Charset, Utf16BeBomAndUtf32_Decode) {
  // "A中" in UTF-16BE with BOM, and in UTF-32LE with BOM.
  auto be = DecodeToUtf8(std::string("\xFE\xFF\x00\x41\x4E\x2D", 6));
  ASSERT_TRUE(be.ok()) << be.status().ToString();
  EXPECT_EQ(be->utf8, "A中");
  EXPECT_EQ(be->charset, "UTF-16BE");

  auto le32 = DecodeToUtf8(std::string("\xFF\xFE\0\0\x41\0\0\0\x2D\x4E\0\0", 12));
  ASSERT_TRUE(le32.ok()) << le32.status().ToString();
  EXPECT_EQ(le32->utf8, "A中");
  EXPECT_EQ(le32->charset, "UTF-32LE");
}

TEST(Charset, BomlessUtf16Le_IsRecognised) {
  std::string bytes;
  for (char c : std::string("Hello world, no byte order mark here.\n")) {
    bytes.push_back(c);
    bytes.push_back('\0');
  }
  auto r = DecodeToUtf8(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "UTF-16LE");
  EXPECT_EQ(r->utf8, "Hello world, no byte order mark here.\n");
}

TEST(Charset, Latin1_DecodesAsWindows1252) {
  auto r = DecodeToUtf8("Caf\xE9 cr\xE8me br\xFBl\xE9" "e and a na\xEFve fa\xE7" "ade.");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->utf8, "Café crème brûlée and a naïve façade.");
  EXPECT_EQ(r->charset, "windows-1252");
}

TEST(Charset, Utf8WithOneBrokenByte_StaysUtf8) {
  std::string s;
  for (int i = 0; i < 10; ++i) s += "知识库 ";
  s += "\xFF";
  s += "end";
  auto r = DecodeToUtf8(s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->charset, "UTF-8");
  EXPECT_TRUE(utf8::IsValid(r->utf8));
  EXPECT_NE(r->utf8.find("\xEF\xBF\xBD" "end"), std::string::npos);
}

TEST(Charset, JunkFixture_IsNotText) {
  auto r = DecodeToUtf8(ReadFixture("junk.txt"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a text file"), std::string::npos);
}

TEST(Charset, ControlCharacters_AreNotText) {
  std::string s;
  for (int i = 0; i < 200; ++i) s += (i % 3 == 0) ? '\x01' : 'a';
  auto r = DecodeToUtf8(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  // A NUL byte alone is enough.
  EXPECT_FALSE(DecodeToUtf8(std::string("text\0more text", 14)).ok());
}

TEST(Charset, RandomBytes_NeverCrashAndYieldValidUtf8) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) {
      // Mostly high bytes and ASCII letters, few controls, so some inputs decode.
      const unsigned v = rng() % 256;
      c = static_cast<char>(v < 0x20 ? 'a' + v % 26 : v);
    }
    auto r = DecodeToUtf8(s);
    if (r.ok()) {
      EXPECT_TRUE(utf8::IsValid(r->utf8)) << iter;
    }
  }
}

TEST(Charset, ConvertToUtf8_NamedCharsets) {
  auto gbk = ConvertToUtf8("\xD6\xD0\xCE\xC4", "GBK");
  ASSERT_TRUE(gbk.ok()) << gbk.status().ToString();
  EXPECT_EQ(*gbk, "中文");
  auto gb2312 = ConvertToUtf8("\xD6\xD0\xCE\xC4", "gb2312");
  ASSERT_TRUE(gb2312.ok());
  EXPECT_EQ(*gb2312, "中文");
  auto big5 = ConvertToUtf8("\xA4\xA4\xA4\xE5", "Big5");
  ASSERT_TRUE(big5.ok());
  EXPECT_EQ(*big5, "中文");
  auto latin1 = ConvertToUtf8("caf\xE9", "ISO-8859-1");
  ASSERT_TRUE(latin1.ok());
  EXPECT_EQ(*latin1, "café");
}

TEST(Charset, ConvertToUtf8_RejectsBadBytesAndUnknownNames) {
  auto bad = ConvertToUtf8("ok \xFF\xFF bad", "GB18030");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto truncated = ConvertToUtf8("\xD6\xD0\xCE", "GBK");
  EXPECT_FALSE(truncated.ok());
  auto unknown = ConvertToUtf8("abc", "no-such-charset-xyz");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ConvertToUtf8("\xC3\x28", "UTF-8").ok());
}

}  // namespace
}  // namespace deepkb::text
