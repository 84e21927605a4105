// Text helpers shared by the rag*.cc files (internal to deepkb_rag; not a public contract).
// Pure functions over UTF-8; invalid bytes are treated as single non-letter characters.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace deepkb::gateway::rag_text {

// Han ideographs: CJK unified (+ extension A, B–F) and compatibility ideographs.
bool IsHan(char32_t c);

// Byte offsets just after each sentence end in `s`, ascending, excluding s.size(): after
// 。！？； and full-width ！？； (plus closing quotes/brackets that follow), after . ! ? when
// followed by whitespace, and after each line break.
std::vector<size_t> SentenceEnds(std::string_view s);

// `s` without leading/trailing ASCII whitespace.
std::string_view Trim(std::string_view s);
// Runs of ASCII whitespace → one space, trimmed.
std::string CollapseWhitespace(std::string_view s);
// The longest prefix of `s` of at most max_bytes bytes that ends on a character boundary.
std::string_view CutBytes(std::string_view s, size_t max_bytes);

}  // namespace deepkb::gateway::rag_text
