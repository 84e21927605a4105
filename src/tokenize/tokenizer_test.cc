// Tokenizer: loading, refusal of unsupported features, encode/decode on a small synthetic
// tokenizer.json, thread safety, and golden ids of the real DeepSeek-V3 / Qwen3 files when the
// test setup has extracted them (tests/tokenizer/setup.sh; the full comparison against the
// JavaScript reference is the `tokenizer_reference` integration test).
#include "tokenize/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tokenize/tokenizer_impl.h"

namespace deepkb::tokenize {
namespace {

using json = nlohmann::json;

std::string ByteLevel(std::string_view bytes) {
  static const auto map = ByteToUnicode();
  std::string out;
  for (unsigned char b : bytes) {
    const char32_t cp = map[b];
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// 256 byte tokens (ids 0..255 = byte value) + merges for "he", "ll", "hell", "hello", " w",
// " wo"; added tokens <|s|> (special, id 1000) and <x> (lstrip+rstrip, id 1001).
json SmallTokenizerJson() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteLevel(std::string(1, static_cast<char>(b)))] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {" w", "o"}};
  json jm = json::array();
  uint32_t id = 256;
  for (const auto& [l, r] : merges) {
    vocab[ByteLevel(l + r)] = id++;
    jm.push_back(ByteLevel(l) + " " + ByteLevel(r));
  }
  json j;
  j["version"] = "1.0";
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern",
                            {{"Regex",
                              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                              "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", false},
                           {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["post_processor"] = nullptr;
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"vocab", vocab},
                {"merges", jm}};
  j["added_tokens"] = json::array({{{"id", 1000},
                                    {"content", "<|s|>"},
                                    {"special", true},
                                    {"normalized", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"single_word", false}},
                                   {{"id", 1001},
                                    {"content", "<x>"},
                                    {"special", false},
                                    {"normalized", false},
                                    {"lstrip", true},
                                    {"rstrip", true},
                                    {"single_word", false}}});
  return j;
}

std::unique_ptr<Tokenizer> Load(const json& j) {
  auto r = Tokenizer::FromJson(j.dump());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

using Ids = std::vector<uint32_t>;

TEST(Tokenizer, EncodesWithMergesAndAddedTokens) {
  auto t = Load(SmallTokenizerJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Encode("hello world"), (Ids{259, 261, 'r', 'l', 'd'}));
  EXPECT_EQ(t->Encode("<|s|>hello"), (Ids{1000, 259}));
  EXPECT_EQ(t->Encode("hello<|s|>"), (Ids{259, 1000}));
  // lstrip/rstrip: the whitespace around <x> disappears.
  EXPECT_EQ(t->Encode("he \t<x>  he"), (Ids{256, 1001, 256}));
  EXPECT_EQ(t->Encode(""), Ids{});
  EXPECT_EQ(t->Count("hello world"), 5u);
  EXPECT_EQ(t->TokenToId("<|s|>"), 1000u);
  EXPECT_EQ(t->TokenToId("\xC4\xA0w"), 260u);  // "Ġw"
  EXPECT_EQ(t->IdToToken(260), "\xC4\xA0w");
  EXPECT_EQ(t->id_limit(), 1002u);
}

TEST(Tokenizer, NormalizesNfcOutsideAddedTokens) {
  auto t = Load(SmallTokenizerJson());
  ASSERT_TRUE(t);
  // "e" + U+0301 composes to U+00E9 (bytes C3 A9).
  EXPECT_EQ(t->Encode("e\xCC\x81"), (Ids{0xC3, 0xA9}));
}

TEST(Tokenizer, RepairsInvalidUtf8LikeAWhatwgDecoder) {
  auto t = Load(SmallTokenizerJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Encode("\xE2\x82"), (Ids{0xEF, 0xBF, 0xBD}));
}

TEST(Tokenizer, DecodeRoundTripsRandomText) {
  auto t = Load(SmallTokenizerJson());
  ASSERT_TRUE(t);
  const std::vector<std::string> pool = {"hello", " ",     "world", "\n", "中",
                                         "😀",     "<|s|>", "ll",    "'s", "1"};
  std::mt19937 rng(3);
  for (int i = 0; i < 500; ++i) {
    std::string s;
    for (int k = 0, n = static_cast<int>(rng() % 12); k < n; ++k) s += pool[rng() % pool.size()];
    const auto ids = t->Encode(s);
    auto back = t->Decode(ids);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  auto skipped = t->Decode(Ids{1000, 259});
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(*t->Decode(Ids{1000, 259}, /*skip_special=*/true), "hello");
  EXPECT_FALSE(t->Decode(Ids{5000}).ok());
}

TEST(Tokenizer, ConcurrentEncodeIsConsistent) {
  auto t = Load(SmallTokenizerJson());
  ASSERT_TRUE(t);
  const std::string text = "hello world, 'tis a test <|s|> of 1234 threads\n\n";
  std::string big;
  for (int i = 0; i < 200; ++i) big += text;
  const Ids want = t->Encode(big);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (t->Encode(big) != want || t->Count(big) != want.size()) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Tokenizer, RefusesWhatItDoesNotSupport) {
  auto expect_code = [](const json& j, StatusCode code, const char* what) {
    auto r = Tokenizer::FromJson(j.dump());
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), code) << what << ": " << r.status().ToString();
  };
  {
    json j = SmallTokenizerJson();
    j["normalizer"] = {{"type", "Lowercase"}};
    expect_code(j, StatusCode::kUnimplemented, "Lowercase normalizer");
  }
  {
    json j = SmallTokenizerJson();
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
    expect_code(j, StatusCode::kUnimplemented, "unknown regex");
  }
  {
    json j = SmallTokenizerJson();
    j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "MergedWithPrevious";
    expect_code(j, StatusCode::kUnimplemented, "split behaviour");
  }
  {
    json j = SmallTokenizerJson();
    j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
    expect_code(j, StatusCode::kUnimplemented, "add_prefix_space");
  }
  {
    json j = SmallTokenizerJson();
    j["added_tokens"][0]["single_word"] = true;
    expect_code(j, StatusCode::kUnimplemented, "single_word");
  }
  {
    json j = SmallTokenizerJson();
    j["added_tokens"][0]["normalized"] = true;
    expect_code(j, StatusCode::kUnimplemented, "normalized added token under NFC");
  }
  {
    json j = SmallTokenizerJson();
    j["model"]["type"] = "WordPiece";
    expect_code(j, StatusCode::kUnimplemented, "WordPiece");
  }
  {
    json j = SmallTokenizerJson();
    j["model"]["byte_fallback"] = true;
    expect_code(j, StatusCode::kUnimplemented, "byte_fallback");
  }
  {
    json j = SmallTokenizerJson();
    j["model"]["merges"].push_back("x y");  // "xy" is not in the vocabulary
    expect_code(j, StatusCode::kInvalidArgument, "merge out of vocabulary");
  }
  {
    json j = SmallTokenizerJson();
    j["decoder"] = {{"type", "Metaspace"}};
    expect_code(j, StatusCode::kUnimplemented, "Metaspace decoder");
  }
  EXPECT_EQ(Tokenizer::FromJson("{not json").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Tokenizer::FromFile("/nonexistent/tokenizer.json").status().code(),
            StatusCode::kNotFound);
}

TEST(Tokenizer, AcceptsPairMergesAndEmptySequenceNormalizer) {
  json j = SmallTokenizerJson();
  json pairs = json::array();
  for (const auto& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    pairs.push_back(json::array({s.substr(0, sp), s.substr(sp + 1)}));
  }
  j["model"]["merges"] = pairs;
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
  auto t = Load(j);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Encode("hello world"), (Ids{259, 261, 'r', 'l', 'd'}));
  EXPECT_EQ(t->Encode("e\xCC\x81"), (Ids{'e', 0xCC, 0x81}));  // no normalizer now
}

}  // namespace
}  // namespace deepkb::tokenize
