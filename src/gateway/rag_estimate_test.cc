// The estimate counter against the real DeepSeek-V3 and Qwen3 tokenizers on this repository's
// docs (English and Chinese prose) and the tokenizer comparison corpus (Chinese manual pages,
// code, generated odd lines). Needs <build>/tokenizer/ from the tokenizer_setup test
// (tests/tokenizer/setup.sh). Asserts the estimate over-counts every Chinese and English paragraph
// of docs/ for DeepSeek-V3, and the totals otherwise, and prints the ratios that docs/rag.md
// quotes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/utf8.h"
#include "gateway/rag.h"
#include "gateway/rag_text.h"
#include "tokenize/tokenizer.h"

namespace deepkb::gateway {
namespace {

enum class Kind { kChinese, kEnglish, kOther };

// Chinese: Han ideographs are at least a quarter of the non-space characters. English: ASCII
// only, letters at least 60% of the non-space characters (prose rather than code or markup).
Kind Classify(std::string_view s) {
  size_t han = 0, letters = 0, visible = 0;
  bool ascii = true;
  for (size_t i = 0; i < s.size();) {
    const char32_t c = utf8::Decode(s, i);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    ++visible;
    ascii = ascii && c < 0x80;
    han += rag_text::IsHan(c);
    letters += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  if (visible == 0) return Kind::kOther;
  if (han * 4 >= visible) return Kind::kChinese;
  if (ascii && letters * 10 >= visible * 6) return Kind::kEnglish;
  return Kind::kOther;
}

struct Sum {
  size_t items = 0, exact = 0, est = 0, under = 0;
  double min_ratio = 1e9;
};

// Counts `texts` with the real tokenizer and the estimate, per Kind. With `every_item`, an
// under-counted Chinese or English item is a failure; otherwise only the totals must hold.
void Compare(const char* model, const char* set, const std::vector<std::string>& texts,
             bool every_item) {
  const std::string path =
      std::string(DEEPKB_BINARY_DIR) + "/tokenizer/" + model + ".tokenizer.json";
  auto tok = tokenize::Tokenizer::FromFile(path);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString()
                        << " (the tokenizer_setup test, tests/tokenizer/setup.sh, makes it)";
  const auto estimate = MakeEstimateCounter();
  Sum sums[3];
  for (const std::string& text : texts) {
    const size_t exact = (*tok)->Count(text), est = estimate->Count(text);
    const Kind kind = Classify(text);
    Sum& s = sums[static_cast<int>(kind)];
    ++s.items;
    s.exact += exact;
    s.est += est;
    if (exact > 0) s.min_ratio = std::min(s.min_ratio, double(est) / double(exact));
    s.under += est < exact;
    if (every_item && est < exact && kind != Kind::kOther) {
      ADD_FAILURE() << model << ": estimate " << est << " < " << exact << " for "
                    << nlohmann::json(text).dump();
    }
  }
  const char* names[] = {"zh", "en", "other"};
  for (int k = 0; k < 3; ++k) {
    const Sum& s = sums[k];
    const double ratio = double(s.est) / double(std::max<size_t>(s.exact, 1));
    std::cout << model << " " << set << " " << names[k] << ": " << s.items << " items, exact "
              << s.exact << ", estimate " << s.est << ", ratio " << ratio << ", lowest item ratio "
              << s.min_ratio << ", under-counted items " << s.under << "\n";
    if (k != static_cast<int>(Kind::kOther)) {
      EXPECT_GT(s.items, 10u) << names[k];
      EXPECT_GE(ratio, 1.1) << names[k];
    }
  }
}

// Paragraphs (blank-line separated) of this repository's documentation, English and Chinese:
// the kind of text a knowledge base holds.
std::vector<std::string> DocParagraphs() {
  std::vector<std::string> out;
  const std::filesystem::path root = std::string(DEEPKB_SOURCE_DIR) + "/docs";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".md") continue;
    std::ifstream in(entry.path());
    std::string line, para;
    while (std::getline(in, line)) {
      if (line.empty()) {
        if (!para.empty()) out.push_back(para);
        para.clear();
      } else {
        para += (para.empty() ? "" : "\n") + line;
      }
    }
    if (!para.empty()) out.push_back(para);
  }
  return out;
}

// The tokenizer comparison corpus: Chinese man pages (troff), code, generated odd lines.
std::vector<std::string> CorpusLines() {
  std::vector<std::string> out;
  std::ifstream in(std::string(DEEPKB_BINARY_DIR) + "/tokenizer/corpus.jsonl");
  EXPECT_TRUE(in) << "corpus.jsonl missing (tests/tokenizer/setup.sh makes it)";
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_string()) out.push_back(j.get<std::string>());
  }
  return out;
}

TEST(RagEstimate, OverCountsDocParagraphs) {
  const auto docs = DocParagraphs();
  Compare("deepseek_v3", "docs", docs, true);
  // Qwen3 spends more tokens on Chinese (its lowest paragraph ratio is about 1.0): totals only.
  Compare("qwen3", "docs", docs, false);
}

// Troff markup and adversarial lines can be under-counted one by one; the totals may not.
TEST(RagEstimate, OverCountsTheCorpusInTotal) {
  const auto corpus = CorpusLines();
  Compare("deepseek_v3", "corpus", corpus, false);
  Compare("qwen3", "corpus", corpus, false);
}

}  // namespace
}  // namespace deepkb::gateway
