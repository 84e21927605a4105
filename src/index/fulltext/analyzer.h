// Text analysis for keyword search: turns text into index terms. Used by the FTS5 tokenizer
// ("deepkb", see fts5_tokenizer.h) for documents and by the query builder for queries, so both
// sides agree exactly.
//
// Rules (documented in docs/search.md; measured in bench/quality):
//  - Every term is NFKC + case folded (ICU), so full-width/half-width and case differences
//    vanish ("ＡＢＣ" == "abc").
//  - Latin/digit text: maximal identifiers made of letter/digit runs joined by the connectors
//    - _ . / @ + # : and '  (e.g. "ppr-9087", "c++", "node.js", "a@b.com") are kept whole,
//    and their letter/digit parts are emitted too (colocated), so both "PPR-9087" and "9087"
//    match. A trailing "++" or "#" right after letters is part of the identifier ("C++", "C#").
//  - CJK (Han, Hiragana, Katakana) runs: overlapping character bigrams at every position and
//    the run's last character as a unigram (so a single-character query can match via prefix).
//  - Queries (AnalyzeQuery): identifiers and words as one term each; a CJK run is segmented
//    with ICU only to drop stop characters (的 了 是 ...) and question words (怎么 如何 ...);
//    every bigram of each remaining stretch becomes its own term, and a lone character a
//    prefix clause. Measured in bench/quality against phrase-per-ICU-word queries.
//  - Everything else (punctuation, symbols, whitespace, invalid UTF-8) separates terms.
// Terms longer than kMaxTermBytes are truncated at a code point boundary.
//
// Details of the implementation that callers may notice:
//  - A connector joins only when a letter/digit follows it, so "end." is "end" and "a--b" is
//    two words; full-width connectors (－ ＿ ． ／ ＠ ＋ ＃ ： ＇) count as their ASCII forms.
//    The whole identifier is emitted first and each letter/digit part after it, colocated.
//  - Combining marks continue a word ("e" + U+0301 is one term, "é").
//  - 々 〆 ー ゝ ゞ ヽ ヾ and (half-width) voicing marks count as CJK.
//  - ICU's dictionary is fine-grained (数据库 → 数据/库, 连接池 → 连接/池); that is why no
//    query clause depends on ICU word boundaries.
//  - A term never contains ASCII whitespace or control characters (the query side splits on
//    whitespace), even where NFKC would introduce them.
//
// Offsets are byte offsets into the original (un-normalised) input, so FTS5 highlight() and
// snippet() mark the user's own text.
// Thread safety: reentrant (ICU break iterators are per thread).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace deepkb::fulltext {

inline constexpr size_t kMaxTermBytes = 64;

// Version of the document-side analysis (AnalyzeDocument). Bump it whenever AnalyzeDocument()
// can emit different terms, positions or colocation flags for some input. An FTS5 index with
// external content removes a row by analysing the row's text again, so an index must only be
// maintained by the analysis that built it: FtsIndex records AnalyzerStamp() in each table's
// tokenizer arguments and refuses to write to a table built by another one (fts_index.h).
//   1: up to commit ae8d68d, also indexed ICU dictionary words of 3+ characters (colocated);
//      tables of that time and of version 2 before stamping say just tokenize='deepkb'.
//   2: CJK bigrams and the run's last character only.
inline constexpr int kAnalyzerVersion = 2;

// "v<kAnalyzerVersion> icu<ICU major version>": NFKC case folding and the character classes
// come from ICU's Unicode data, so a different ICU major version may analyse some text
// differently too.
std::string AnalyzerStamp();

struct Term {
  std::string text;  // normalised term
  size_t start = 0;  // byte offsets into the analysed input
  size_t end = 0;
  bool colocated = false;  // same position as the previous term (FTS5_TOKEN_COLOCATED)
};

// Document-side analysis: calls `emit` for every term in order. Returning false from emit
// stops the analysis early.
void AnalyzeDocument(std::string_view text, const std::function<bool(const Term&)>& emit);

// Convenience for tests.
std::vector<Term> AnalyzeDocument(std::string_view text);

// Query-side analysis result: one clause per term (see the rules above).
struct QueryClause {
  enum class Kind {
    kTerm,    // one term
    kPhrase,  // CJK bigrams that must appear consecutively
    kPrefix,  // single CJK character: prefix match on bigrams/unigram
  };
  Kind kind = Kind::kTerm;
  std::vector<std::string> terms;
  std::string display;  // the query word as the user wrote it (normalised)
};

// Splits a user query into clauses: identifiers/words → kTerm; CJK runs → bigram kTerms per
// stretch between dropped stop characters / question words, lone characters → kPrefix;
// punctuation dropped; duplicates removed.
std::vector<QueryClause> AnalyzeQuery(std::string_view query);

// NFKC + case folding of arbitrary UTF-8 (invalid sequences become U+FFFD).
std::string NormalizeForSearch(std::string_view text);

}  // namespace deepkb::fulltext
