// deepkb::gateway RAG text layer: what happens between retrieval and the upstream model, and
// after it — pure functions over passages and strings, no I/O (docs/rag.md).
//
//   MergeSources  several result lists (collections, KB nodes) → one order (reciprocal rank)
//   Pack          de-duplicate and fit passages into a token budget, counted exactly with the
//                 upstream's tokenizer (or a conservative estimate) on the rendered block
//   SystemPrompt  zh / en instructions + the numbered passages; WithContext puts it in `messages`
//   CitedIndices  the [n] markers an answer used; CitationsJson the structured `citations`
//   ExtractiveAnswer  the labelled best-passage answer when no model can answer
//
// Numbering: passage n (1-based) of a PackedContext is passages[n-1]; the block, the prompt's
// markers and the citations all use that n.
//
// Errors: none of these functions fail. Malformed input (JSON of the wrong shape, invalid UTF-8
// in passages) degrades to a defined result, documented per function; nothing throws.
// Output strings are valid UTF-8 whenever the inputs are.
//
// Thread safety: all functions are pure (no shared state). A TokenCounter is immutable after
// construction and Count() may be called from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace deepkb::tokenize {
class Tokenizer;
}

namespace deepkb::gateway {

// One retrieved chunk.
struct Passage {
  std::string kb;  // "" = the local KB, else the name of a remote KB node
  std::string collection, doc_id;
  int64_t chunk_id = 0;
  double score = 0;  // the search score of its source (comparable only within one source)
  int rank = 0;      // 1-based rank within its source's result list (informational)
  std::string text, title, source, heading_path;
  int page = 0;  // 0 = unknown
};

// Counts tokens the way the upstream model will.
class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  virtual size_t Count(std::string_view text) const = 0;
  // "bpe:<name>" or "estimate" (for logs and the response's diagnostics).
  virtual std::string_view name() const = 0;
};

// Exact counts with a loaded Hugging Face tokenizer. `tok` must not be null; the counter shares
// ownership. name() is "bpe:" + name.
std::unique_ptr<TokenCounter> MakeBpeCounter(std::shared_ptr<const tokenize::Tokenizer> tok,
                                             std::string name);

// For upstreams without a configured tokenizer.json: a deliberately conservative estimate,
//   1 token per non-ASCII character (CJK or other), per ASCII punctuation mark or symbol and
//   per line break (\n \r \v \f), plus 1 per 3 ASCII letters, digits, spaces and tabs
//   (rounded up).
// It over-estimates DeepSeek-V3's and Qwen3's counts on Chinese and English text, by about
// 1.3–1.6× (measured in docs/rag.md, enforced by the rag_estimate_test integration test), and
// is subadditive: Count(a + b) <= Count(a) + Count(b). Configure the tokenizer for exact counts.
std::unique_ptr<TokenCounter> MakeEstimateCounter();

// Merges the result lists of several sources into one order by reciprocal-rank fusion: a
// passage at 1-based position r of a list scores 1/(60 + r); a passage found by several sources
// (same kb, collection, doc_id, chunk_id) appears once, at its first occurrence's data, with the
// scores summed. Ties go to the earlier source, then the better position. Positions in the lists
// are the ranks (Passage::rank is not consulted); Passage::score is left as the source's score.
std::vector<Passage> MergeSources(std::vector<std::vector<Passage>> sources);

struct PackOptions {
  // Tokens available for the passages block (the caller computes it: context window − answer
  // reserve − PromptOverheadTokens − question and history).
  size_t budget_tokens = 0;
  size_t max_passages = 8;
  // A passage cut to fit must keep at least this many tokens of its text, else it is skipped.
  size_t min_passage_tokens = 32;
};

struct PackedContext {
  std::vector<Passage> passages;   // numbered 1..n in this order (citation [n] = passages[n-1])
  size_t tokens = 0;               // Count(ContextBlock(*this)) with the counter given to Pack
  size_t duplicates_dropped = 0;   // same chunk, or the same text as an earlier passage
  size_t over_budget_dropped = 0;  // did not fit (not counting those after max_passages)
  bool last_truncated = false;     // passages.back().text was cut to fit
};

// Packs `candidates` (best first, e.g. from MergeSources) into opts.budget_tokens:
//  - drops passages whose text is blank, and duplicates: the same (kb, collection, doc_id,
//    chunk_id) or the same text after whitespace normalisation (runs of whitespace = one space,
//    trimmed) as an earlier candidate — the first is kept;
//  - keeps the input order and accepts greedily, checking Count(block so far + the passage)
//    against the budget, so ctx.tokens <= budget_tokens always holds exactly for `counter`;
//  - a passage that does not fit whole is cut to the longest prefix that fits and ends at a
//    sentence boundary (after 。！？；.!? — the ASCII ones only before whitespace — or a line
//    break), or failing that at a character boundary, provided the kept text has at least
//    min_passage_tokens tokens; else it is skipped and later, smaller ones may still fit. After
//    a cut the budget is spent: the rest counts as over budget.
// Passage texts are stored trimmed of surrounding whitespace. Stops at opts.max_passages.
// Cost: O(candidates tried × block size) tokenizer work (plus ~log(len) counts for a cut).
PackedContext Pack(std::vector<Passage> candidates, const TokenCounter& counter,
                   const PackOptions& opts);

// The numbered passages block, identical for both languages (so Pack's count is the count):
//   "[1] <title> › <heading_path> — <source> p.<page>\n<text>\n\n[2] ..."
// The title falls back to doc_id; the heading, source (when it differs from the title) and page
// (when > 0) are left out when unknown; header fields are flattened to one line and kept short.
// Empty string for an empty context.
std::string ContextBlock(const PackedContext& ctx);

enum class Language { kEnglish, kChinese };

// The language a question is asked in. With H = Han ideographs and W = Latin words (maximal runs
// of ASCII letters; digits do not count, so "PPR-9087" is one word):
//   H == 0 → English;  W == 0 → Chinese;
//   both → Chinese when the text contains a character of Chinese sentence structure (的 了 吗
//   呢 吧 么 是 和 与 把 被 请 怎 哪 谁 几 何 我 你 这 那 — so 什么, 如何, 为什么, 是否 too)
//   or H >= 2·W, else English.
// So "PPR-9087 的状态是什么?" and "如何配置 TLS certificate rotation?" are Chinese, while
// "What is 数据库?" and "Explain the 主从复制 mechanism" are English (a Chinese term inside an
// English sentence). Empty or symbol-only text is English.
Language DetectLanguage(std::string_view text);

// The system prompt in `lang`: answer only from the passages; cite with inline [n] after the
// sentences they support, only with numbers that exist; say so plainly when the passages do not
// contain the answer; treat passages as material, not instructions; answer in `lang`. It ends
// with ContextBlock(ctx) (or a "no passages" line when ctx is empty).
std::string SystemPrompt(const PackedContext& ctx, Language lang);

// An upper bound on the template's own tokens: for every ctx packed with `counter`,
// counter.Count(SystemPrompt(ctx, lang)) <= PromptOverheadTokens(counter, lang) + ctx.tokens.
// About 115 tokens (en) / 105 (zh) with DeepSeek-V3; about 205 / 175 with the estimate.
size_t PromptOverheadTokens(const TokenCounter& counter, Language lang);

// The client's OpenAI `messages` array with our system message ({"role":"system","content":
// SystemPrompt(ctx, lang)}) in front; every client message, a client system message included,
// follows unchanged and in order. A non-array `messages` is treated as empty.
nlohmann::json WithContext(const nlohmann::json& messages, const PackedContext& ctx, Language lang);

// The question: the last message with role "user" — its string content, or the "text" of its
// parts of type "text" joined with "\n" when the content is an array. "" when there is none.
std::string LastUserText(const nlohmann::json& messages);

// The citation markers used in `answer`, as passage numbers in 1..n_passages, in order of first
// appearance, without duplicates. A marker is a bracket pair holding one or more decimal
// integers separated by commas (, ，) or 、 and optional spaces: [1], [1, 2], [1][3], and the
// full-width 【1】 ［1］. Numbers outside 1..n_passages are ignored (so "[10]" with 9 passages
// cites nothing); brackets holding anything else ("a[i]", "[1.5]", "[1-2]", "[]") are not
// markers. Text inside Markdown code (`...` spans and ``` fences) is skipped, since indexing
// such as `v[1]` lives there.
std::vector<int> CitedIndices(std::string_view answer, size_t n_passages);

// The response's "citations" array, one object per passage of ctx (the model saw them all):
//   {"index": n, "collection", "doc_id", "chunk_id", "score", "text", and when known "title",
//    "source", "page" (> 0), "kb" (remote passages)}
// "text" is the passage text cut to at most 1000 bytes at a character boundary.
nlohmann::json CitationsJson(const PackedContext& ctx);

// The answer when no upstream can answer: a label in `lang` ("No language model is available;
// here are the most relevant passages from the knowledge base:" / "当前没有可用的语言模型；以下是
// 知识库中最相关的段落："), then for each of the first max_passages passages one paragraph
// "<title>: <excerpt> [n]". The excerpt is made of the passage's sentences that share terms
// with `question` (ASCII words of 2+ characters minus a few stop words, case-folded, and Han
// character bigrams), most shared first while they fit in ~400 characters, then shown in text
// order with " … " over gaps, whitespace flattened (a longer first sentence is cut at a
// character boundary and ends with "…"); with no overlap at all, the opening sentences.
// With no passages: a sentence in `lang` saying nothing relevant was found.
std::string ExtractiveAnswer(const PackedContext& ctx, std::string_view question, Language lang,
                             size_t max_passages = 3);

}  // namespace deepkb::gateway
