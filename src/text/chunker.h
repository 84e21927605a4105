// Chunker: splits a ParsedDocument into retrieval chunks sized in tokens.
//
// Algorithm (structure first):
//  1. Blocks are grouped into sections: a heading starts a new section; a page change starts a
//     new section (so every chunk has exactly one page). Each section carries its heading path
//     ("H1 > H2 > H3").
//  2. Within a section, paragraphs are packed greedily into chunks of at most max_tokens.
//  3. A paragraph larger than max_tokens is split into sentences (Chinese 。！？；… and English
//     .!? followed by space), packed the same way; a sentence still too large is cut at
//     code-point boundaries.
//  4. Consecutive chunks of the same section overlap by about overlap_tokens (whole sentences
//     where possible, else a code-point-aligned tail).
// Chunk text is always valid UTF-8 and never cut inside a UTF-8 sequence. Offsets are code
// point offsets into ExtractedText(doc) (blocks joined by "\n\n").
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "text/document.h"

namespace deepkb::text {

// Counts tokens for chunk sizing. The default estimator is used until a model tokenizer is
// configured (see EstimateTokens).
using TokenCounter = std::function<size_t(std::string_view)>;

// Model-free estimate close to DeepSeek/Qwen BPE counts: each CJK character ≈ 1 token, each
// run of Latin letters/digits ≈ ceil(len / 4) tokens (at least 1), other non-space symbols 1.
size_t EstimateTokens(std::string_view text);

struct ChunkOptions {
  size_t max_tokens = 512;
  size_t overlap_tokens = 64;
};

struct Chunk {
  std::string text;
  size_t char_start = 0;
  size_t char_end = 0;
  int page = 0;
  std::string heading_path;
  size_t token_count = 0;
};

// The document's plain text: block texts joined by "\n\n". Chunk offsets index into it.
std::string ExtractedText(const ParsedDocument& doc);

// Validation: max_tokens >= 16 and overlap_tokens < max_tokens / 2 (InvalidArgument otherwise).
Status ValidateChunkOptions(const ChunkOptions& opts);

std::vector<Chunk> ChunkDocument(const ParsedDocument& doc, const ChunkOptions& opts,
                                 const TokenCounter& count = EstimateTokens);

// Sentence splitting used by the chunker (exposed for tests): returns consecutive pieces that
// concatenate back to `text`.
std::vector<std::string_view> SplitSentences(std::string_view text);

}  // namespace deepkb::text
