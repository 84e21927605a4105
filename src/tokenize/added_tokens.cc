#include "tokenize/added_tokens.h"

#include <algorithm>

namespace deepkb::tokenize::internal {

void AddedTokenMatcher::Add(std::string_view content, uint32_t index) {
  if (content.empty()) return;
  first_[static_cast<unsigned char>(content[0])] = true;
  uint32_t node = 0;
  for (char ch : content) {
    const auto b = static_cast<uint8_t>(ch);
    auto& kids = nodes_[node].kids;
    auto it = std::lower_bound(kids.begin(), kids.end(), b,
                               [](const auto& kv, uint8_t v) { return kv.first < v; });
    if (it != kids.end() && it->first == b) {
      node = it->second;
    } else {
      const auto child = static_cast<uint32_t>(nodes_.size());
      kids.insert(it, {b, child});
      nodes_.emplace_back();
      node = child;
    }
  }
  nodes_[node].index = index;
}

size_t AddedTokenMatcher::LongestAt(std::string_view text, size_t i, uint32_t* index) const {
  uint32_t node = 0;
  size_t best = 0;
  for (size_t j = i; j < text.size(); ++j) {
    const auto b = static_cast<uint8_t>(text[j]);
    const auto& kids = nodes_[node].kids;
    auto it = std::lower_bound(kids.begin(), kids.end(), b,
                               [](const auto& kv, uint8_t v) { return kv.first < v; });
    if (it == kids.end() || it->first != b) break;
    node = it->second;
    if (nodes_[node].index >= 0) {
      best = j + 1 - i;
      *index = static_cast<uint32_t>(nodes_[node].index);
    }
  }
  return best;
}

bool AddedTokenMatcher::Find(std::string_view text, size_t from, size_t* pos, size_t* len,
                             uint32_t* index) const {
  if (empty()) return false;
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_[static_cast<unsigned char>(text[i])]) continue;
    const size_t l = LongestAt(text, i, index);
    if (l > 0) {
      *pos = i;
      *len = l;
      return true;
    }
  }
  return false;
}

}  // namespace deepkb::tokenize::internal
