#include "common/utf8.h"

#include <gtest/gtest.h>

#include "common/hash.h"

namespace deepkb::utf8 {
namespace {

TEST(Utf8, ValidatesWellFormedText) {
  EXPECT_TRUE(IsValid("hello"));
  EXPECT_TRUE(IsValid("数据库 🚀 ü"));
  EXPECT_TRUE(IsValid("\xEF\xBF\xBD"));  // a literal U+FFFD is fine
  EXPECT_FALSE(IsValid("\xC0\xAF"));     // overlong '/'
  EXPECT_FALSE(IsValid("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(IsValid("\xE6\x95"));      // truncated
  EXPECT_FALSE(IsValid("\xFF"));
}

TEST(Utf8, SanitizeReplacesBadBytes) {
  EXPECT_EQ(Sanitize("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_TRUE(IsValid(Sanitize("\xE6\x95\xB0\xE6")));
  EXPECT_EQ(Sanitize("数据"), "数据");
}

TEST(Utf8, CountsAndBoundaries) {
  const std::string s = "a数🚀";
  EXPECT_EQ(CodePointCount(s), 3u);
  EXPECT_EQ(FloorBoundary(s, 2), 1u);  // inside 数
  EXPECT_EQ(FloorBoundary(s, 4), 4u);  // start of 🚀
  EXPECT_EQ(FloorBoundary(s, 6), 4u);
  EXPECT_EQ(FloorBoundary(s, 100), s.size());
}

TEST(Utf8, DecodeAppendRoundTrip) {
  for (char32_t cp : {0x41u, 0x7FFu, 0x6570u, 0x1F680u, 0x10FFFFu}) {
    std::string out;
    Append(out, cp);
    size_t i = 0;
    EXPECT_EQ(Decode(out, i), cp);
    EXPECT_EQ(i, out.size());
  }
}

TEST(Hash, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(RandomHex(16).size(), 32u);
  EXPECT_NE(RandomHex(16), RandomHex(16));
}

}  // namespace
}  // namespace deepkb::utf8
