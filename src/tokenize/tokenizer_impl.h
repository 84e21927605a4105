// The state of a loaded Tokenizer (shared by tokenizer.cc and tokenizer_load.cc). Internal.
#pragma once

#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenize/added_tokens.h"
#include "tokenize/bpe.h"
#include "tokenize/pre_tokenizer.h"
#include "tokenize/tokenizer.h"

namespace deepkb::tokenize {

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100.. in order.
std::array<char32_t, 256> ByteToUnicode();

struct Tokenizer::Impl {
  enum class Normalizer { kNone, kNfc };

  Normalizer normalizer = Normalizer::kNone;
  internal::PreTokenizer pre_tokenizer;
  internal::BpeMerges bpe;
  internal::AddedTokenMatcher added_matcher;  // index = position in added_tokens
  std::vector<AddedToken> added_tokens;
  bool any_strip = false;  // some added token has lstrip or rstrip

  std::vector<std::string> id_to_token;  // tokenizer.json strings ("" for unused ids)
  std::vector<std::string> id_to_bytes;  // what Decode() emits for each id
  std::vector<int32_t> id_to_added;      // index into added_tokens, or -1
  std::unordered_map<std::string, uint32_t> token_to_id;  // vocabulary, then added contents
  size_t vocab_count = 0;
  size_t merge_count = 0;
  std::string describe;

  void EncodeSection(std::string_view section, std::vector<uint32_t>* out) const;
};

}  // namespace deepkb::tokenize
