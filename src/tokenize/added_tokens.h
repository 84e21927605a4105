// Added-token matcher: finds added tokens (special or not) in raw text before normalisation and
// pre-tokenisation, scanning left to right and taking the longest token at each position — the
// transformers.js DictionarySplitter (a trie) and the Rust `tokenizers` (leftmost-longest
// Aho-Corasick) agree on this for the supported files. Internal to deepkb::tokenize.
// Thread safety: immutable after construction; Find() is const and reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deepkb::tokenize::internal {

class AddedTokenMatcher {
 public:
  // Adds a token's content (non-empty bytes) with a caller-chosen index.
  void Add(std::string_view content, uint32_t index);

  // The first match at or after `from`: sets *pos, *len, *index and returns true; false if none.
  bool Find(std::string_view text, size_t from, size_t* pos, size_t* len, uint32_t* index) const;

  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    int64_t index = -1;                              // token ending here, or -1
    std::vector<std::pair<uint8_t, uint32_t>> kids;  // sorted by byte
  };
  // Longest token starting at text[i]; 0 when none.
  size_t LongestAt(std::string_view text, size_t i, uint32_t* index) const;

  std::vector<Node> nodes_{1};
  bool first_[256] = {};
};

}  // namespace deepkb::tokenize::internal
