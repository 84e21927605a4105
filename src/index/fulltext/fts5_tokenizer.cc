// The "deepkb" FTS5 tokenizer and the deepkb_snippet() auxiliary function.
//
// deepkb_snippet(fts, column, open, close, ellipsis, max_tokens [, prefix_mask]) works like
// FTS5's snippet(), but copes with tokens whose byte ranges overlap: our CJK bigrams at
// positions i and i+1 share a character, and SQLite's built-in highlighter (3.40) then computes
// a negative length and copies the rest of the document into the output again. Here matched
// positions are turned into byte ranges, merged, and marked once.
// prefix_mask: optional text with one character per query phrase, '1' for a prefix phrase
// ("x" *). A prefix phrase that matched a CJK bigram marks only the bigram's first character
// (the one the user typed) instead of both.
#include "index/fulltext/fts5_tokenizer.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "index/fulltext/analyzer.h"

namespace deepkb::fulltext {
namespace {

// The tokenizer has no per-instance state; every table shares this object.
struct DeepkbTokenizer {
  int unused = 0;
};
DeepkbTokenizer g_tokenizer;

int TokenizerCreate(void*, const char**, int, Fts5Tokenizer** out) {
  *out = reinterpret_cast<Fts5Tokenizer*>(&g_tokenizer);
  return SQLITE_OK;
}

void TokenizerDelete(Fts5Tokenizer*) {}

using TokenCallback = int (*)(void*, int, const char*, int, int, int);

inline bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int TokenizerTokenize(Fts5Tokenizer*, void* ctx, int flags, const char* text, int n,
                      TokenCallback token) {
  if (text == nullptr || n <= 0) return SQLITE_OK;
  const std::string_view input(text, static_cast<size_t>(n));
  if (flags & FTS5_TOKENIZE_QUERY) {
    // Query strings were produced by BuildMatchQuery: already normalised, space separated.
    size_t i = 0;
    while (i < input.size()) {
      while (i < input.size() && IsAsciiSpace(input[i])) ++i;
      const size_t start = i;
      while (i < input.size() && !IsAsciiSpace(input[i])) ++i;
      if (i > start) {
        const int rc = token(ctx, 0, input.data() + start, static_cast<int>(i - start),
                             static_cast<int>(start), static_cast<int>(i));
        if (rc != SQLITE_OK) return rc;
      }
    }
    return SQLITE_OK;
  }
  int rc = SQLITE_OK;
  AnalyzeDocument(input, [&](const Term& t) {
    rc = token(ctx, t.colocated ? FTS5_TOKEN_COLOCATED : 0, t.text.data(),
               static_cast<int>(t.text.size()), static_cast<int>(t.start), static_cast<int>(t.end));
    return rc == SQLITE_OK;
  });
  return rc;
}

// ---------------------------------------------------------------------------------------------
// deepkb_snippet()

struct TokenOffsets {
  std::vector<std::pair<int, int>> spans;  // byte range of each position's first token
};

int CollectOffsets(void* ctx, int tflags, const char*, int, int start, int end) {
  if (tflags & FTS5_TOKEN_COLOCATED) return SQLITE_OK;
  static_cast<TokenOffsets*>(ctx)->spans.emplace_back(start, end);
  return SQLITE_OK;
}

// Length in bytes of the UTF-8 sequence starting with byte `b` (1 for stray bytes).
int SequenceLength(unsigned char b) {
  if (b >= 0xF0) return 4;
  if (b >= 0xE0) return 3;
  if (b >= 0xC0) return 2;
  return 1;
}

std::string_view ArgText(sqlite3_value* v, std::string_view fallback) {
  if (sqlite3_value_type(v) == SQLITE_NULL) return fallback;
  const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
  if (p == nullptr) return fallback;
  return std::string_view(p, static_cast<size_t>(sqlite3_value_bytes(v)));
}

// Picks the first position of a window of `width` positions (out of `count`) that covers the
// most distinct phrases, then the most matches; earliest wins ties.
int ChooseWindow(const std::vector<SnippetInstance>& inst, int count, int width) {
  if (count <= width || inst.empty()) return 0;
  const int lead = width / 4;  // a little context before the first match
  int best_start = 0;
  long best_score = -1;
  const size_t limit = std::min<size_t>(inst.size(), 256);
  std::vector<int> seen;
  for (size_t i = 0; i < limit; ++i) {
    int start = std::max(0, inst[i].first - lead);
    start = std::min(start, count - width);
    const int end = start + width - 1;
    seen.clear();
    long matches = 0;
    for (size_t j = 0; j < limit; ++j) {
      if (inst[j].first < start || inst[j].last > end) continue;
      ++matches;
      if (std::find(seen.begin(), seen.end(), inst[j].phrase) == seen.end()) {
        seen.push_back(inst[j].phrase);
      }
    }
    const long score = static_cast<long>(seen.size()) * 100000 + matches;
    if (score > best_score) {
      best_score = score;
      best_start = start;
    }
  }
  return best_start;
}

void SnippetFunction(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* out, int argc,
                     sqlite3_value** argv) {
  if (argc != 5 && argc != 6) {
    sqlite3_result_error(out,
                         "deepkb_snippet: expected (table, column, open, close, "
                         "ellipsis, max_tokens [, prefix_mask])",
                         -1);
    return;
  }
  const int column = sqlite3_value_int(argv[0]);
  const std::string_view open = ArgText(argv[1], "<mark>");
  const std::string_view close = ArgText(argv[2], "</mark>");
  const std::string_view ellipsis = ArgText(argv[3], "…");
  const int width = std::clamp(sqlite3_value_int(argv[4]), 1, 1024);
  const std::string_view prefix_mask = argc == 6 ? ArgText(argv[5], "") : "";

  const char* text = nullptr;
  int n = 0;
  int rc = api->xColumnText(fts, column, &text, &n);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(out, rc);
    return;
  }
  if (text == nullptr || n <= 0) {
    sqlite3_result_text(out, "", 0, SQLITE_STATIC);
    return;
  }

  std::vector<SnippetInstance> inst;
  int count = 0;
  rc = api->xInstCount(fts, &count);
  for (int i = 0; rc == SQLITE_OK && i < count; ++i) {
    int phrase = 0, col = 0, off = 0;
    rc = api->xInst(fts, i, &phrase, &col, &off);
    if (rc == SQLITE_OK && col == column) {
      const bool prefix = phrase >= 0 && static_cast<size_t>(phrase) < prefix_mask.size() &&
                          prefix_mask[static_cast<size_t>(phrase)] == '1';
      inst.push_back(
          SnippetInstance{off, off + std::max(1, api->xPhraseSize(fts, phrase)) - 1, phrase, prefix});
    }
  }
  TokenOffsets offsets;
  if (rc == SQLITE_OK) rc = api->xTokenize(fts, text, n, &offsets, &CollectOffsets);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(out, rc);
    return;
  }
  SnippetOptions opts;
  opts.open = open;
  opts.close = close;
  opts.ellipsis = ellipsis;
  opts.max_tokens = width;
  const std::string result = BuildSnippet(std::string_view(text, static_cast<size_t>(n)),
                                          offsets.spans, std::move(inst), opts);
  sqlite3_result_text64(out, result.data(), result.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = "register FTS5 tokenizer: " + std::string(what) + ": " + sqlite3_errstr(rc);
  if (db != nullptr && sqlite3_errcode(db) == rc)
    msg += std::string(" (") + sqlite3_errmsg(db) + ")";
  return InternalError(std::move(msg));
}

}  // namespace

std::string BuildSnippet(std::string_view text_view, const std::vector<std::pair<int, int>>& spans,
                         std::vector<SnippetInstance> inst, const SnippetOptions& opts) {
  const char* text = text_view.data();
  const int n = static_cast<int>(text_view.size());
  const int width = std::clamp(opts.max_tokens, 1, 1024);
  const int positions = static_cast<int>(spans.size());
  if (positions == 0) return std::string(text_view);
  // By position, then phrase: the order FTS5's xInst() reports (fts5CacheInstArray), so the
  // window chooser sees the same first 256 instances on both paths.
  std::stable_sort(inst.begin(), inst.end(), [](const SnippetInstance& a, const SnippetInstance& b) {
    return a.first < b.first || (a.first == b.first && a.phrase < b.phrase);
  });

  const int first = ChooseWindow(inst, positions, width);
  const int last = std::min(positions, first + width) - 1;
  const int from = first == 0 ? 0 : std::clamp(spans[first].first, 0, n);
  const int to = last == positions - 1 ? n : std::clamp(spans[last].second, from, n);

  // Byte ranges to mark, clipped to the window, sorted and merged.
  std::vector<std::pair<int, int>> marks;
  for (const SnippetInstance& m : inst) {
    const int a = std::max(m.first, first);
    const int b = std::min(m.last, last);
    if (a > b || a >= positions) continue;
    const int s = std::clamp(spans[a].first, from, to);
    int e = std::clamp(spans[std::min(b, positions - 1)].second, s, to);
    if (m.prefix && a == b && e > s) {
      // One CJK character typed, a bigram matched: mark that character only.
      const auto lead = static_cast<unsigned char>(text[s]);
      const int len = SequenceLength(lead);
      if (lead >= 0xE2 && len < e - s) e = s + len;
    }
    if (e > s) marks.emplace_back(s, e);
  }
  std::sort(marks.begin(), marks.end());
  std::string result;
  result.reserve(static_cast<size_t>(to - from) + 64);
  if (first > 0) result.append(opts.ellipsis);
  int cursor = from;
  for (size_t i = 0; i < marks.size();) {
    int s = marks[i].first;
    int e = marks[i].second;
    for (++i; i < marks.size() && marks[i].first <= e; ++i) e = std::max(e, marks[i].second);
    s = std::max(s, cursor);
    if (e <= s) continue;
    result.append(text + cursor, static_cast<size_t>(s - cursor));
    result.append(opts.open);
    result.append(text + s, static_cast<size_t>(e - s));
    result.append(opts.close);
    cursor = e;
  }
  result.append(text + cursor, static_cast<size_t>(to - cursor));
  if (last < positions - 1) result.append(opts.ellipsis);
  return result;
}

std::string SnippetForClauses(std::string_view text, const std::vector<QueryClause>& clauses,
                              const SnippetOptions& opts) {
  // The phrases BuildMatchQuery makes: one per clause with terms, in order.
  std::vector<const QueryClause*> phrases;
  for (const QueryClause& c : clauses) {
    if (!c.terms.empty()) phrases.push_back(&c);
  }
  std::vector<std::pair<int, int>> spans;
  std::vector<SnippetInstance> inst;
  int pos = -1;
  size_t pos_inst_begin = 0;  // first instance at the current position
  AnalyzeDocument(text, [&](const Term& t) {
    if (!t.colocated || pos < 0) {
      ++pos;
      spans.emplace_back(static_cast<int>(t.start), static_cast<int>(t.end));
      pos_inst_begin = inst.size();
    }
    for (size_t i = 0; i < phrases.size(); ++i) {
      const QueryClause& c = *phrases[i];
      if (c.terms.size() != 1) continue;  // phrases are left unmarked (never on this path)
      const std::string& q = c.terms[0];
      const int phrase = static_cast<int>(i);
      if (c.kind == QueryClause::Kind::kPrefix) {
        if (t.text.compare(0, q.size(), q) != 0) continue;
        // A prefix phrase counts a position once (FTS5 merges the terms' position lists).
        bool seen = false;
        for (size_t j = pos_inst_begin; j < inst.size(); ++j) {
          seen = seen || inst[j].phrase == phrase;
        }
        if (!seen) inst.push_back(SnippetInstance{pos, pos, phrase, true});
      } else if (t.text == q) {
        inst.push_back(SnippetInstance{pos, pos, phrase, false});
      }
    }
    return true;
  });
  return BuildSnippet(text, spans, std::move(inst), opts);
}

Status RegisterFts5Tokenizer(sqlite3* db) {
  if (db == nullptr) return InvalidArgumentError("register FTS5 tokenizer: no database");
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return FailedPreconditionError(
        "this SQLite build has no FTS5 (SELECT fts5(?1) failed); install an SQLite with FTS5");
  }
  fts5_api* api = nullptr;
  sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteError(db, rc, "SELECT fts5(?1)");
  if (api == nullptr || api->iVersion < 2) {
    return FailedPreconditionError("this SQLite build's FTS5 API is missing or too old");
  }

  // Idempotent: a connection that already has our tokenizer is left alone (registering twice
  // would keep both copies alive until the connection closes).
  void* existing_ctx = nullptr;
  fts5_tokenizer existing{};
  if (api->xFindTokenizer(api, "deepkb", &existing_ctx, &existing) == SQLITE_OK &&
      existing.xTokenize == &TokenizerTokenize) {
    return Status::Ok();
  }
  fts5_tokenizer tokenizer{&TokenizerCreate, &TokenizerDelete, &TokenizerTokenize};
  rc = api->xCreateTokenizer(api, "deepkb", nullptr, &tokenizer, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, "xCreateTokenizer");
  rc = api->xCreateFunction(api, "deepkb_snippet", nullptr, &SnippetFunction, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, "xCreateFunction(deepkb_snippet)");
  return Status::Ok();
}

}  // namespace deepkb::fulltext
