// deepkb::tokenize::Tokenizer — a byte-level BPE tokenizer loaded from a Hugging Face
// `tokenizer.json`, reproducing the reference token ids exactly (validated against the
// DeepSeek-V3 and Qwen3 files and their JavaScript reference, tests/tokenizer/; see
// docs/tokenizer.md). Used for exact prompt-budget counts and by `deepkb tokenize`.
//
// What a file may contain (anything else is refused at load with kUnimplemented, naming the
// unsupported part — the tokenizer never silently mis-tokenizes):
//  - model: BPE with byte-level vocabulary (every one of the 256 byte tokens present), merges
//    as "a b" strings or [a, b] pairs, no dropout, no byte_fallback, no ignore_merges, empty or
//    null continuing_subword_prefix / end_of_word_suffix. A merge whose result is not in the
//    vocabulary is an error (kInvalidArgument), as in the Rust `tokenizers`.
//  - normalizer: null, NFC, or a Sequence of those (an empty Sequence is the identity).
//  - pre_tokenizer: a Sequence of Split stages with the regexes listed in pre_tokenizer.h
//    (behavior Isolated, invert false) followed by ByteLevel (add_prefix_space false,
//    use_regex false), or a lone ByteLevel with use_regex false.
//  - added_tokens: special or not, with lstrip/rstrip; `single_word` is refused, and so is
//    `normalized: true` under a non-identity normalizer.
//  - decoder: null or ByteLevel. post_processor: null, ByteLevel, TemplateProcessing or a
//    Sequence of those — Encode() never adds template tokens (BOS/EOS), i.e. it behaves like
//    `add_special_tokens=False`; chat templates are the caller's business.
//
// Encoding: added tokens are found first in the raw text (leftmost, longest), the text between
// them is normalised, split by the pre-tokenizer, mapped to bytes and merged by BPE. Input that
// is not valid UTF-8 is first repaired the way a WHATWG decoder (Node's TextDecoder) does it:
// each maximal ill-formed subsequence becomes U+FFFD.
//
// Thread safety: a loaded Tokenizer is immutable; every method is const and may be called from
// any number of threads at once. Scratch buffers are thread_local (per thread, reused across
// calls, never shared).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace deepkb::tokenize {

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  // Loads `path` (a tokenizer.json). kNotFound when the file cannot be read, kInvalidArgument
  // for malformed JSON or an inconsistent vocabulary, kUnimplemented for unsupported features.
  static Result<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  // The same from the JSON text.
  static Result<std::unique_ptr<Tokenizer>> FromJson(std::string_view json);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text` (any bytes, under 2 GiB; see the UTF-8 note above). Never fails.
  // Temporary memory: about 9 bytes per code point of the largest section between added
  // tokens, kept per thread for reuse up to 1 Mi code points.
  std::vector<uint32_t> Encode(std::string_view text) const;
  // Appends the ids of `text` to *ids.
  void EncodeAppend(std::string_view text, std::vector<uint32_t>* ids) const;
  // Exactly Encode(text).size(), without allocating a result.
  size_t Count(std::string_view text) const;

  // The bytes the ids stand for (added tokens as their content; with skip_special, special
  // added tokens are left out). The result can be ill-formed UTF-8 when the ids cut a character
  // in the middle (callers that need text repair it). kInvalidArgument for an unknown id.
  Result<std::string> Decode(std::span<const uint32_t> ids, bool skip_special = false) const;

  // The id of a token given as it appears in tokenizer.json (a byte-level vocabulary string
  // such as "Ġthe", or an added token's content); nullopt when there is none.
  std::optional<uint32_t> TokenToId(std::string_view token) const;
  // The tokenizer.json string of `id` (added tokens: their content); empty when unknown.
  std::string_view IdToToken(uint32_t id) const;

  // One more than the largest id (vocabulary and added tokens).
  size_t id_limit() const;
  const std::vector<AddedToken>& added_tokens() const;
  // A one-line summary: "BPE: 128000 vocab, 127741 merges, 818 added; normalizer: none; ...".
  std::string Describe() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepkb::tokenize
