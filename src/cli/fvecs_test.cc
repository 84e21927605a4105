#include "cli/fvecs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace deepkb::cli {
namespace {

namespace fs = std::filesystem;

class FvecsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fvecs_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes raw int32 words (headers and values alike).
  std::string WriteWords(const std::string& name, const std::vector<int32_t>& words) const {
    std::string p = Path(name);
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(words.data()),
              static_cast<std::streamsize>(words.size() * sizeof(int32_t)));
    return p;
  }

  fs::path dir_;
};

TEST_F(FvecsTest, FloatRoundTrip) {
  FloatMatrix m{.n = 3, .dim = 4, .data = {}};
  for (int i = 0; i < 12; ++i) m.data.push_back(static_cast<float>(i) * 0.5f - 2.0f);
  ASSERT_TRUE(WriteFvecs(Path("a.fvecs"), m).ok());
  EXPECT_EQ(fs::file_size(Path("a.fvecs")), 3u * (4 + 4 * 4));
  auto r = ReadFvecs(Path("a.fvecs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n, 3u);
  EXPECT_EQ(r->dim, 4u);
  EXPECT_EQ(r->data, m.data);
  EXPECT_EQ(r->Row(2)[0], m.data[8]);

  auto head = ReadFvecs(Path("a.fvecs"), 2);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->n, 2u);
  EXPECT_EQ(head->data, std::vector<float>(m.data.begin(), m.data.begin() + 8));
}

TEST_F(FvecsTest, IntRoundTrip) {
  IntMatrix m{.n = 2, .dim = 3, .data = {7, 8, 9, -1, 0, 123456}};
  ASSERT_TRUE(WriteIvecs(Path("gt.ivecs"), m).ok());
  auto r = ReadIvecs(Path("gt.ivecs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n, 2u);
  EXPECT_EQ(r->dim, 3u);
  EXPECT_EQ(r->data, m.data);
}

TEST_F(FvecsTest, LayoutMatchesTexmex) {
  // Two 2-d records written by hand: [2, 1.0f, 2.0f] [2, 3.0f, 4.0f].
  auto bits = [](float f) {
    int32_t w;
    std::memcpy(&w, &f, 4);
    return w;
  };
  auto p = WriteWords("h.fvecs", {2, bits(1), bits(2), 2, bits(3), bits(4)});
  auto r = ReadFvecs(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(FvecsTest, MissingFileIsNotFound) {
  auto r = ReadFvecs(Path("nope.fvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(FvecsTest, MalformedFilesAreInvalidArgument) {
  struct Case {
    const char* name;
    std::vector<int32_t> words;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"empty", {}, "empty"},
      {"zero_dim", {0, 1, 2}, "dimension 0"},
      {"negative_dim", {-4, 1, 2, 3, 4}, "dimension -4"},
      {"huge_dim", {1 << 30, 1}, "dimension"},
      {"truncated_last", {2, 1, 2, 2, 3}, "not a multiple"},
      {"header_only_short", {3, 1}, "not a multiple"},
      {"dims_differ", {2, 1, 2, 1, 3, 4}, "record 1 has dimension 1"},
  };
  for (const auto& c : cases) {
    auto p = WriteWords(std::string(c.name) + ".fvecs", c.words);
    auto r = ReadFvecs(p);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(p), std::string::npos) << "names the file";
    EXPECT_FALSE(ReadIvecs(p).ok()) << c.name;
  }
  // Three bytes: shorter than a header.
  {
    std::ofstream out(Path("tiny.fvecs"), std::ios::binary);
    out.write("\x01\x00\x00", 3);
  }
  auto r = ReadFvecs(Path("tiny.fvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FvecsTest, WriteRejectsInconsistentShape) {
  FloatMatrix m{.n = 2, .dim = 3, .data = {1, 2, 3}};
  EXPECT_EQ(WriteFvecs(Path("bad.fvecs"), m).code(), StatusCode::kInvalidArgument);
  FloatMatrix zero{.n = 0, .dim = 0, .data = {}};
  EXPECT_EQ(WriteFvecs(Path("zero.fvecs"), zero).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deepkb::cli
