#include "tokenize/pre_tokenizer.h"

#include "tokenize/unicode_class.h"

namespace deepkb::tokenize::internal {
namespace {

constexpr std::string_view kDigits3Regex = "\\p{N}{1,3}";
constexpr std::string_view kCjkRunRegex = "[一-龥぀-ゟ゠-ヿ]+";
// Note the literal CR and LF characters inside the first negated class (as in DeepSeek-V3's file).
constexpr std::string_view kDeepSeekV3Regex =
    "[!\"#$%&'()*+,\\-./"
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

inline bool IsCrLf(char32_t c) {
  return c == '\r' || c == '\n';
}
inline char32_t AsciiLower(char32_t c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}
inline bool IsAsciiLetter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]: every ASCII punctuation or symbol character.
inline bool IsAsciiPunct(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

inline size_t RunOf(const uint8_t* cls, size_t j, size_t end, uint8_t mask) {
  while (j < end && (cls[j] & mask)) ++j;
  return j;
}

// The shared whitespace tail: \s*[\r\n]+|\s+(?!\S)|\s+, at a position whose char is \s.
inline size_t WhitespaceTail(const char32_t* cps, const uint8_t* cls, size_t i, size_t end) {
  const size_t j = RunOf(cls, i + 1, end, kWs);
  // \s*[\r\n]+ : \s* backtracks from the end of the run to the last CR/LF in it.
  for (size_t k = j; k > i; --k) {
    if (IsCrLf(cps[k - 1])) return k;
  }
  // \s+(?!\S)
  if (j == end) return j;
  if (j - 1 > i) return j - 1;
  // \s+
  return j;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t MatchQwenFamily(const char32_t* cps, const uint8_t* cls, size_t i, size_t end,
                       size_t max_digits) {
  const char32_t c = cps[i];
  const uint8_t k = cls[i];
  if (c == '\'' && i + 1 < end) {
    const char32_t a = AsciiLower(cps[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < end) {
      const char32_t b = AsciiLower(cps[i + 2]);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  if (!IsCrLf(c) && !(k & (kL | kN)) && i + 1 < end && (cls[i + 1] & kL)) {
    return RunOf(cls, i + 2, end, kL);
  }
  if (k & kL) return RunOf(cls, i + 1, end, kL);
  if (k & kN) {
    size_t j = i + 1;
    while (j < end && j - i < max_digits && (cls[j] & kN)) ++j;
    return j;
  }
  {
    const size_t s = (c == ' ') ? i + 1 : i;
    if (s < end && !(cls[s] & (kWs | kL | kN))) {
      size_t j = s + 1;
      while (j < end && !(cls[j] & (kWs | kL | kN))) ++j;
      while (j < end && IsCrLf(cps[j])) ++j;
      return j;
    }
  }
  if (k & kWs) return WhitespaceTail(cps, cls, i, end);
  return i;  // unreachable: every character is L, N, \s or [^\s\p{L}\p{N}]
}

// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//  ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t MatchDeepSeekV3(const char32_t* cps, const uint8_t* cls, size_t i, size_t end) {
  const char32_t c = cps[i];
  const uint8_t k = cls[i];
  if (IsAsciiPunct(c) && i + 1 < end && IsAsciiLetter(cps[i + 1])) {
    size_t j = i + 2;
    while (j < end && IsAsciiLetter(cps[j])) ++j;
    return j;
  }
  if (!IsCrLf(c) && !(k & (kL | kP | kS)) && i + 1 < end && (cls[i + 1] & (kL | kM))) {
    return RunOf(cls, i + 2, end, kL | kM);
  }
  if (k & (kL | kM)) return RunOf(cls, i + 1, end, kL | kM);
  {
    const size_t s = (c == ' ') ? i + 1 : i;
    if (s < end && (cls[s] & (kP | kS))) {
      size_t j = RunOf(cls, s + 1, end, kP | kS);
      while (j < end && IsCrLf(cps[j])) ++j;
      return j;
    }
  }
  if (k & kWs) return WhitespaceTail(cps, cls, i, end);
  return i;  // N, C* (controls, format characters such as ZWJ, unassigned): no match
}

}  // namespace

std::optional<SplitKind> SplitKindForRegex(std::string_view regex) {
  for (SplitKind k : {SplitKind::kDigits3, SplitKind::kCjkRun, SplitKind::kDeepSeekV3,
                      SplitKind::kQwen2, SplitKind::kLlama3}) {
    if (regex == RegexForSplitKind(k)) return k;
  }
  return std::nullopt;
}

std::string_view RegexForSplitKind(SplitKind kind) {
  switch (kind) {
    case SplitKind::kDigits3:
      return kDigits3Regex;
    case SplitKind::kCjkRun:
      return kCjkRunRegex;
    case SplitKind::kDeepSeekV3:
      return kDeepSeekV3Regex;
    case SplitKind::kQwen2:
      return kQwen2Regex;
    case SplitKind::kLlama3:
      return kLlama3Regex;
  }
  return {};
}

size_t MatchAt(SplitKind kind, const char32_t* cps, const uint8_t* cls, size_t i, size_t end) {
  switch (kind) {
    case SplitKind::kDigits3: {
      if (!(cls[i] & kN)) return i;
      size_t j = i + 1;
      while (j < end && j - i < 3 && (cls[j] & kN)) ++j;
      return j;
    }
    case SplitKind::kCjkRun:
      return (cls[i] & kCjk) ? RunOf(cls, i + 1, end, kCjk) : i;
    case SplitKind::kDeepSeekV3:
      return MatchDeepSeekV3(cps, cls, i, end);
    case SplitKind::kQwen2:
      return MatchQwenFamily(cps, cls, i, end, 1);
    case SplitKind::kLlama3:
      return MatchQwenFamily(cps, cls, i, end, 3);
  }
  return i;
}

}  // namespace deepkb::tokenize::internal
