// The hand-written pre-tokenizer matchers against a real regex engine: ICU's RegexMatcher
// running the tokenizer.json regexes, rewritten only where JavaScript's semantics (which the
// reference implementation uses) differ from ICU's — \s/\S become JavaScript's whitespace set and
// (?i:'s|...) becomes transformers.js's ASCII-only expansion — on random strings drawn from a
// pool of tricky characters, and on hand-picked cases.
#include "tokenize/pre_tokenizer.h"

#include <gtest/gtest.h>
#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <random>
#include <string>
#include <vector>

#include "tokenize/unicode_class.h"

namespace deepkb::tokenize::internal {
namespace {

// JavaScript's \s, as the contents of a character class.
constexpr const char* kJsWs = "\\t\\n\\x{0B}\\f\\r\\x{FEFF}\\x{2028}\\x{2029}\\p{Zs}";

std::string ToIcuPattern(std::string_view js) {
  std::string p(js);
  const std::string ci = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
  if (auto at = p.find(ci); at != std::string::npos) {
    p.replace(at, ci.size(), "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))");
  }
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's') {
        out += in_class ? std::string(kJsWs) : "[" + std::string(kJsWs) + "]";
      } else if (n == 'S') {
        EXPECT_FALSE(in_class) << "\\S inside a class";
        out += "[^" + std::string(kJsWs) + "]";
      } else {
        out += p.substr(i, 2);
      }
      ++i;
      continue;
    }
    if (p[i] == '[' && !in_class)
      in_class = true;
    else if (p[i] == ']' && in_class)
      in_class = false;
    out += p[i];
  }
  return out;
}

// "Isolated" split of `text` by an ICU regex: matches and the gaps between them.
std::vector<std::string> IcuIsolated(const icu::RegexPattern& pat, const std::string& text) {
  UErrorCode st = U_ZERO_ERROR;
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
  std::unique_ptr<icu::RegexMatcher> m(pat.matcher(u, st));
  EXPECT_TRUE(U_SUCCESS(st));
  std::vector<std::string> out;
  auto piece = [&](int32_t b, int32_t e) {
    std::string s;
    u.tempSubStringBetween(b, e).toUTF8String(s);
    out.push_back(s);
  };
  int32_t prev = 0;
  while (m->find()) {
    const int32_t b = m->start(st), e = m->end(st);
    if (prev < b) piece(prev, b);
    if (e > b) piece(b, e);
    prev = e;
  }
  if (prev < u.length()) piece(prev, u.length());
  return out;
}

std::vector<std::string> IcuCascade(const std::vector<std::unique_ptr<icu::RegexPattern>>& pats,
                                    const std::string& text) {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.push_back(text);
  for (const auto& p : pats) {
    std::vector<std::string> next;
    for (const auto& s : pieces) {
      for (auto& t : IcuIsolated(*p, s)) next.push_back(std::move(t));
    }
    pieces = std::move(next);
  }
  return pieces;
}

std::vector<std::string> Ours(const PreTokenizer& pre, const std::string& text) {
  std::vector<char32_t> cps;
  std::vector<uint8_t> cls;
  std::vector<uint32_t> off;
  DecodeForSplit(text, &cps, &cls, &off);
  std::vector<std::string> out;
  pre.Split(cps.data(), cls.data(), cps.size(),
            [&](size_t b, size_t e) { out.push_back(text.substr(off[b], off[e] - off[b])); });
  return out;
}

std::vector<std::unique_ptr<icu::RegexPattern>> Compile(const std::vector<SplitKind>& kinds) {
  std::vector<std::unique_ptr<icu::RegexPattern>> pats;
  for (SplitKind k : kinds) {
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    const std::string icu_pattern = ToIcuPattern(RegexForSplitKind(k));
    pats.emplace_back(
        icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(icu_pattern), pe, st));
    EXPECT_TRUE(U_SUCCESS(st)) << icu_pattern << " " << u_errorName(st);
  }
  return pats;
}

// Characters the regexes treat differently, in every class the matchers distinguish.
const std::vector<std::string>& Pool() {
  static const std::vector<std::string> pool = {"a",
                                                "Z",
                                                "s",
                                                "t",
                                                "e",
                                                "l",
                                                "d",
                                                "m",
                                                "r",
                                                "v",
                                                "S",
                                                "T",
                                                "R",
                                                "E",
                                                "L",
                                                "D",
                                                "'",
                                                "'",
                                                "0",
                                                "7",
                                                "9",
                                                " ",
                                                " ",
                                                " ",
                                                "\t",
                                                "\n",
                                                "\r",
                                                "\v",
                                                "\f",
                                                "\xC2\xA0" /*NBSP*/,
                                                "\xE3\x80\x80" /*ideographic space*/,
                                                "\xEF\xBB\xBF" /*FEFF*/,
                                                "\xC2\x85" /*NEL*/,
                                                "\xE2\x80\xA8",
                                                "\xE2\x80\xA9",
                                                ".",
                                                ",",
                                                "!",
                                                "?",
                                                "-",
                                                "_",
                                                "(",
                                                ")",
                                                "[",
                                                "\\",
                                                "]",
                                                "`",
                                                "~",
                                                "$",
                                                "+",
                                                "<",
                                                ">",
                                                "=",
                                                "|",
                                                "#",
                                                "@",
                                                "\xE4\xB8\xAD" /*中*/,
                                                "\xE6\x96\x87" /*文*/,
                                                "\xE9\xBE\xA5" /*龥*/,
                                                "\xE9\xBE\xA6" /*龦 (after range)*/,
                                                "\xE3\x81\x82" /*あ*/,
                                                "\xE3\x82\x99" /*U+3099 Mn*/,
                                                "\xE3\x82\x9B" /*゛ Sk*/,
                                                "\xE3\x83\xBB" /*・ Po*/,
                                                "\xE3\x83\xBC" /*ー Lm*/,
                                                "\xE3\x82\xA0" /*゠ Pd*/,
                                                "\xE3\x82\xA2" /*ア*/,
                                                "\xE3\x80\x82" /*。*/,
                                                "\xEF\xBC\x8C" /*，*/,
                                                "\xE3\x80\x8C" /*「*/,
                                                "\xEF\xBC\xA1" /*Ａ*/,
                                                "\xEF\xBC\x91" /*１*/,
                                                "\xC2\xB2" /*²*/,
                                                "\xC2\xBD" /*½*/,
                                                "\xE2\x85\xAB" /*Ⅻ Nl*/,
                                                "\xE3\x80\x87" /*〇 Nl*/,
                                                "\xD9\xA3" /*Arabic 3*/,
                                                "\xCC\x81" /*U+0301 Mn*/,
                                                "\xE0\xA4\x95" /*क*/,
                                                "\xE0\xA4\xBF" /*ि Mc*/,
                                                "\xF0\x9F\x98\x80" /*😀 So*/,
                                                "\xE2\x80\x8D" /*ZWJ Cf*/,
                                                "\xEF\xB8\x8F" /*VS16 Mn*/,
                                                "\xF0\x9F\x8F\xBB" /*skin tone Sk*/,
                                                "\xE2\x9D\xA4" /*❤*/,
                                                "\xC5\xBF" /*ſ*/,
                                                "\xEE\x80\x80" /*private use*/,
                                                "\xCD\xB8" /*U+0378 unassigned*/,
                                                "\x01",
                                                "\x7F",
                                                "\xC2\xAD" /*soft hyphen Cf*/,
                                                "\xF0\xA0\x80\x80" /*U+20000 Lo*/,
                                                "\xF0\x9D\x9F\x98" /*𝟘 Nd*/,
                                                "\xF0\x9D\x92\x9C" /*𝒜 Lu*/,
                                                "\xE2\x82\xAC" /*€ Sc*/,
                                                "\xD7\x90" /*Hebrew alef*/,
                                                "\xEA\xB0\x80" /*가*/,
                                                "\xE2\x80\x94" /*— Pd*/,
                                                "\xE2\x80\x9C" /*“ Pi*/,
                                                "\xEF\xBF\xBD" /*U+FFFD So*/};
  return pool;
}

void CompareRandom(const std::vector<SplitKind>& kinds, int iterations, uint32_t seed) {
  const auto pats = Compile(kinds);
  const PreTokenizer pre(kinds);
  std::mt19937 rng(seed);
  const auto& pool = Pool();
  int failures = 0;
  for (int it = 0; it < iterations && failures < 5; ++it) {
    std::string s;
    const int len = static_cast<int>(rng() % 24);
    for (int k = 0; k < len; ++k) {
      // Runs of one character exercise the quantifiers ({1,3}, +, \s*).
      const std::string& c = pool[rng() % pool.size()];
      const int rep = (rng() % 4 == 0) ? 1 + static_cast<int>(rng() % 5) : 1;
      for (int r = 0; r < rep; ++r) s += c;
    }
    const auto want = IcuCascade(pats, s);
    const auto got = Ours(pre, s);
    if (want != got) {
      ++failures;
      std::string w, g;
      for (auto& x : want) w += "[" + x + "]";
      for (auto& x : got) g += "[" + x + "]";
      ADD_FAILURE() << "input [" << s << "]\n icu:  " << w << "\n ours: " << g;
    }
  }
}

TEST(PreTokenizer, DeepSeekV3CascadeMatchesIcuRegex) {
  CompareRandom({SplitKind::kDigits3, SplitKind::kCjkRun, SplitKind::kDeepSeekV3}, 30000, 1);
}

TEST(PreTokenizer, EachDeepSeekStageAloneMatchesIcuRegex) {
  CompareRandom({SplitKind::kDigits3}, 5000, 2);
  CompareRandom({SplitKind::kCjkRun}, 5000, 3);
  CompareRandom({SplitKind::kDeepSeekV3}, 20000, 4);
}

TEST(PreTokenizer, Qwen2MatchesIcuRegex) {
  CompareRandom({SplitKind::kQwen2}, 30000, 5);
}

TEST(PreTokenizer, Llama3MatchesIcuRegex) {
  CompareRandom({SplitKind::kLlama3}, 20000, 6);
}

TEST(PreTokenizer, HandPickedCases) {
  const PreTokenizer qwen({SplitKind::kQwen2});
  using V = std::vector<std::string>;
  EXPECT_EQ(Ours(qwen, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(Ours(qwen, "I'm here   now\n\n  x"),
            (V{"I", "'m", " here", "  ", " now", "\n\n", " ", " x"}));
  EXPECT_EQ(Ours(qwen, "12345"), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Ours(qwen, "a  "), (V{"a", "  "}));
  const PreTokenizer ds({SplitKind::kDigits3, SplitKind::kCjkRun, SplitKind::kDeepSeekV3});
  EXPECT_EQ(Ours(ds, "1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(Ours(ds, "中文abc"), (V{"中文", "abc"}));
  EXPECT_EQ(Ours(ds, ".Hello"), (V{".Hello"}));
  EXPECT_EQ(Ours(ds, "\xE2\x80\x8D\xE2\x80\x8D"),
            (V{"\xE2\x80\x8D\xE2\x80\x8D"}));  // ZWJ: no match
  EXPECT_TRUE(Ours(ds, "").empty());
}

TEST(PreTokenizer, RecognisesExactRegexesOnly) {
  EXPECT_EQ(SplitKindForRegex("\\p{N}{1,3}"), SplitKind::kDigits3);
  EXPECT_FALSE(SplitKindForRegex("\\p{N}{1,4}").has_value());
  EXPECT_FALSE(SplitKindForRegex("").has_value());
}

TEST(Utf8, RepairMatchesWhatwgDecoder) {
  // Expected outputs from Node's TextDecoder.
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(RepairUtf8("\xF0\x9F\x98"), r);
  EXPECT_EQ(RepairUtf8("\xED\xA0\x80"), r + r + r);
  EXPECT_EQ(RepairUtf8("\xC0\xAF"), r + r);
  EXPECT_EQ(RepairUtf8("\xE2\x82\x41"), r + "A");
  EXPECT_EQ(RepairUtf8("\xF4\x90\x80\x80"), r + r + r + r);
  EXPECT_EQ(RepairUtf8("\xE2"), r);
  EXPECT_EQ(RepairUtf8("a\xE2\x82"), "a" + r);
  EXPECT_EQ(RepairUtf8("\xF0\xF0\x9F\x98\x80"), r + "\xF0\x9F\x98\x80");
  EXPECT_EQ(RepairUtf8("\xFE"), r);
  EXPECT_EQ(RepairUtf8("\x80\xBF"), r + r);
  EXPECT_TRUE(IsValidUtf8("a\xE4\xB8\xAD\xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
}

}  // namespace
}  // namespace deepkb::tokenize::internal
