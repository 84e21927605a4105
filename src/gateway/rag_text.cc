#include "gateway/rag_text.h"

#include "common/utf8.h"

namespace deepkb::gateway::rag_text {
namespace {

bool IsSpace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsCjkTerminator(char32_t c) {
  return c == U'。' || c == U'！' || c == U'？' || c == U'；';
}

bool IsCloser(char32_t c) {
  return c == '"' || c == '\'' || c == ')' || c == U'”' || c == U'’' || c == U'」' || c == U'』' ||
         c == U'）' || c == U'》';
}

}  // namespace

bool IsHan(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F);
}

std::vector<size_t> SentenceEnds(std::string_view s) {
  std::vector<size_t> ends;
  size_t i = 0;
  while (i < s.size()) {
    const char32_t c = utf8::Decode(s, i);
    const bool cjk = IsCjkTerminator(c);
    if (c == '\n') {
      if (i < s.size()) ends.push_back(i);
      continue;
    }
    if (!cjk && c != '.' && c != '!' && c != '?') continue;
    size_t end = i;  // absorb closing quotes and brackets
    while (end < s.size()) {
      size_t next = end;
      if (!IsCloser(utf8::Decode(s, next))) break;
      end = next;
    }
    if (end >= s.size()) break;
    if (!cjk) {
      size_t next = end;
      if (!IsSpace(utf8::Decode(s, next))) continue;
    }
    ends.push_back(end);
    i = end;
  }
  return ends;
}

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return IsSpace(static_cast<unsigned char>(c)); };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string CollapseWhitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool gap = false;
  for (char ch : Trim(s)) {
    if (IsSpace(static_cast<unsigned char>(ch))) {
      gap = true;
      continue;
    }
    if (gap) out.push_back(' ');
    gap = false;
    out.push_back(ch);
  }
  return out;
}

std::string_view CutBytes(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  return s.substr(0, utf8::FloorBoundary(s, max_bytes));
}

}  // namespace deepkb::gateway::rag_text
