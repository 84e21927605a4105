// Pre-tokenizer: splits a text section into the words that BPE encodes, with hand-written
// matchers equivalent to the exact `Split` regexes of the supported tokenizer.json files.
// Internal to deepkb::tokenize.
//
// Supported `Split` patterns (behavior "Isolated", invert false), recognised by exact text:
//  - kDigits3      \p{N}{1,3}                                   (DeepSeek-V3, stage 1)
//  - kCjkRun       [一-龥぀-ゟ゠-ヿ]+                              (DeepSeek-V3, stage 2)
//  - kDeepSeekV3   [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?
//                  [\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (stage 3)
//  - kQwen2        (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+
//                  [\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+                (Qwen2/2.5/3)
//  - kLlama3       the same with \p{N}{1,3} in place of \p{N}       (Llama 3, cl100k-style)
// "Isolated" split = every match is a piece and so is every run of text between matches; stages
// apply in order, each to the pieces of the previous one (a lookahead sees the piece's end).
// Semantics are the JavaScript reference's (see unicode_class.h for \s and the categories; the
// case-insensitive contractions match ASCII letters only, as transformers.js rewrites them).
// Thread safety: immutable after construction; Split() is const and reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace deepkb::tokenize::internal {

enum class SplitKind { kDigits3, kCjkRun, kDeepSeekV3, kQwen2, kLlama3 };

// The SplitKind whose regex is exactly `regex`, or nullopt.
std::optional<SplitKind> SplitKindForRegex(std::string_view regex);

// The regex text of a kind (as it appears in tokenizer.json).
std::string_view RegexForSplitKind(SplitKind kind);

// Match of `kind` starting exactly at code point i of [.., end): returns the end index (> i), or
// i when there is no match there.
size_t MatchAt(SplitKind kind, const char32_t* cps, const uint8_t* cls, size_t i, size_t end);

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(std::vector<SplitKind> stages) : stages_(std::move(stages)) {}

  // Calls sink(begin, end) with code point index ranges of [0, n) covering it in order, one per
  // piece. With no stages the whole range is one piece. Empty input yields no pieces.
  template <typename Sink>
  void Split(const char32_t* cps, const uint8_t* cls, size_t n, Sink&& sink) const {
    if (n == 0) return;
    Run(0, cps, cls, 0, n, sink);
  }

  const std::vector<SplitKind>& stages() const { return stages_; }

 private:
  template <typename Sink>
  void Run(size_t stage, const char32_t* cps, const uint8_t* cls, size_t b, size_t e,
           Sink& sink) const {
    if (stage == stages_.size()) {
      sink(b, e);
      return;
    }
    const SplitKind kind = stages_[stage];
    size_t pos = b, gap = b;
    while (pos < e) {
      const size_t m = MatchAt(kind, cps, cls, pos, e);
      if (m > pos) {
        if (gap < pos) Run(stage + 1, cps, cls, gap, pos, sink);
        Run(stage + 1, cps, cls, pos, m, sink);
        pos = gap = m;
      } else {
        ++pos;
      }
    }
    if (gap < e) Run(stage + 1, cps, cls, gap, e, sink);
  }

  std::vector<SplitKind> stages_;
};

}  // namespace deepkb::tokenize::internal
