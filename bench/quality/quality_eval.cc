// quality_eval: retrieval quality of deepkb's keyword search against SQLite's stock FTS5
// tokenizers on the same chunks and the same labelled queries.
//
//   quality_eval --corpus DIR --queries FILE [--json] [--work-dir DIR] [--report FILE]
//                [--chunk-k N] [--repeat N] [--variants]
//
// (bench/quality/README.md has the method, the corpus, how the labels were made and results.)
//
// Systems (all rank chunks with FTS5 bm25 and the same column weights over the same
// title/headings/body columns; only tokenizer and query construction differ):
//   deepkb     kb::KnowledgeBase::Search, mode keyword, top_k = chunk-k (the product path:
//              "deepkb" tokenizer + BuildMatchQuery).
//   unicode61  FTS5 tokenize='unicode61'. Query: split on every character that is not a
//              unicode61 token character (Unicode L*, N*, Co), each piece quoted, ORed.
//   trigram    FTS5 tokenize='trigram'. Query: split on whitespace and punctuation except the
//              identifier connectors - _ . / @ + # : ' ; a piece containing Han/Kana becomes
//              the OR of its quoted 3-character windows, any other piece of 3+ characters is
//              quoted whole (substring match); pieces under 3 characters are dropped because
//              trigram cannot match them.
// The baseline tables are filled with the chunks read back from the KB (ListDocuments +
// GetDocumentChunks), so every system indexes identical text.
//
// Chunk hits are aggregated to documents by first occurrence; metrics are at document level
// over the first 10 documents: MRR@10 and Recall@10 count grade >= 1 as relevant, nDCG@10 uses
// gain 2^grade - 1 with a log2(rank + 1) discount. Latency: wall time of one query (query
// construction + search; for deepkb also snippets and row hydration, as users see it), mean
// over --repeat timed passes after one untimed pass. --variants adds experimental query-side
// variants that run on deepkb's own index (see "Experimental query-side variants" below).
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utypes.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "common/file_lock.h"
#include "common/status.h"
#include "common/utf8.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/fts_index.h"
#include "index/fulltext/query_builder.h"
#include "kb/ingest.h"
#include "kb/kb.h"
#include "storage/sqlite.h"

namespace deepkb::quality {
namespace {

namespace fs = std::filesystem;

constexpr int kCutoff = 10;  // metrics are @10 documents
constexpr const char* kCollection = "quality";

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string corpus;
  std::string queries;
  std::string work_dir;  // "" = a temporary folder, removed at exit
  std::string report;    // per-query Markdown report ("" = none)
  bool json = false;
  int chunk_k = 10;  // chunks fetched per query, for every system
  int repeat = 3;    // timed passes
  bool variants = false;  // also run experimental deepkb query variants (see Variants below)
};

constexpr const char* kUsage =
    "usage: quality_eval --corpus DIR --queries FILE [--json] [--work-dir DIR]\n"
    "                    [--report FILE] [--chunk-k N] [--repeat N] [--variants]\n"
    "  --corpus DIR     folder made by bench/quality/build_corpus.sh (ingested recursively;\n"
    "                   document ids are '<folder name>/<relative path>')\n"
    "  --queries FILE   labelled queries (bench/quality/queries.tsv)\n"
    "  --json           print results as JSON instead of tables\n"
    "  --work-dir DIR   keep the KB and baseline database here (reused: unchanged files are\n"
    "                   not re-ingested); default: a temporary folder removed at exit\n"
    "  --report FILE    write a per-query Markdown breakdown\n"
    "  --chunk-k N      chunks fetched per query for every system (default 10)\n"
    "  --repeat N       timed passes over all queries for latency (default 3)\n"
    "  --variants       also run experimental query-side variants on deepkb's own index\n";

Result<int> ParseCount(std::string_view flag, const std::string& v, int max) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 0 || n > max) {
    return InvalidArgumentError(std::string(flag) + " must be an integer between 0 and " +
                                std::to_string(max) + ", got '" + v + "'");
  }
  return static_cast<int>(n);
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto next = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return InvalidArgumentError(std::string(a) + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--json") {
      o.json = true;
    } else if (a == "--variants") {
      o.variants = true;
    } else if (a == "--corpus") {
      ASSIGN_OR_RETURN(o.corpus, next());
    } else if (a == "--queries") {
      ASSIGN_OR_RETURN(o.queries, next());
    } else if (a == "--work-dir") {
      ASSIGN_OR_RETURN(o.work_dir, next());
    } else if (a == "--report") {
      ASSIGN_OR_RETURN(o.report, next());
    } else if (a == "--chunk-k") {
      ASSIGN_OR_RETURN(std::string v, next());
      ASSIGN_OR_RETURN(o.chunk_k, ParseCount(a, v, 1000));
      if (o.chunk_k < 1) return InvalidArgumentError("--chunk-k must be at least 1");
    } else if (a == "--repeat") {
      ASSIGN_OR_RETURN(std::string v, next());
      ASSIGN_OR_RETURN(o.repeat, ParseCount(a, v, 1000));
    } else if (a == "--help" || a == "-h") {
      return InvalidArgumentError("help");
    } else {
      return InvalidArgumentError("unknown argument '" + std::string(a) + "'");
    }
  }
  if (o.corpus.empty() || o.queries.empty()) {
    return InvalidArgumentError("--corpus and --queries are required");
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Labels

struct LabeledQuery {
  std::string id;
  std::string kind;
  std::string text;
  std::map<std::string, int> grades;  // doc id -> 1 or 2
};

std::vector<std::string> SplitOn(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

Result<std::vector<LabeledQuery>> LoadQueries(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open queries file '" + path + "'");
  std::vector<LabeledQuery> out;
  std::set<std::string> ids;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    if (!utf8::IsValid(line)) return InvalidArgumentError(where + "not valid UTF-8");
    const std::vector<std::string> f = SplitOn(line, '\t');
    if (f.size() != 4) {
      return InvalidArgumentError(where + "expected 4 tab-separated fields (id, kind, query, "
                                          "relevant), got " + std::to_string(f.size()));
    }
    LabeledQuery q{f[0], f[1], f[2], {}};
    if (q.id.empty() || q.kind.empty() || q.text.empty()) {
      return InvalidArgumentError(where + "empty id, kind or query");
    }
    if (!ids.insert(q.id).second) return InvalidArgumentError(where + "duplicate id " + q.id);
    for (const std::string& item : SplitOn(f[3], ' ')) {
      if (item.empty()) continue;
      const size_t colon = item.rfind(':');
      const std::string grade = colon == std::string::npos ? "" : item.substr(colon + 1);
      if (grade != "1" && grade != "2") {
        return InvalidArgumentError(where + "relevant item '" + item +
                                    "' must look like doc_id:1 or doc_id:2");
      }
      if (!q.grades.emplace(item.substr(0, colon), grade[0] - '0').second) {
        return InvalidArgumentError(where + "document listed twice: " + item);
      }
    }
    if (q.grades.empty()) return InvalidArgumentError(where + "no relevant documents");
    out.push_back(std::move(q));
  }
  if (out.empty()) return InvalidArgumentError("no queries in '" + path + "'");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Metrics

struct Metrics {
  double rr = 0;      // reciprocal rank of the first relevant document (0 if none in top 10)
  double recall = 0;  // relevant documents in top 10 / all relevant documents
  double ndcg = 0;
  int first_relevant = 0;  // 1-based rank, 0 = none in top 10
};

double Gain(int grade) { return std::pow(2.0, grade) - 1.0; }

Metrics Score(const LabeledQuery& q, const std::vector<std::string>& ranked_docs) {
  Metrics m;
  double dcg = 0;
  int found = 0;
  const size_t n = std::min<size_t>(ranked_docs.size(), kCutoff);
  for (size_t i = 0; i < n; ++i) {
    const auto it = q.grades.find(ranked_docs[i]);
    if (it == q.grades.end()) continue;
    ++found;
    if (m.first_relevant == 0) m.first_relevant = static_cast<int>(i) + 1;
    dcg += Gain(it->second) / std::log2(static_cast<double>(i) + 2.0);
  }
  std::vector<int> ideal;
  for (const auto& [doc, g] : q.grades) ideal.push_back(g);
  std::sort(ideal.rbegin(), ideal.rend());
  double idcg = 0;
  for (size_t i = 0; i < ideal.size() && i < static_cast<size_t>(kCutoff); ++i) {
    idcg += Gain(ideal[i]) / std::log2(static_cast<double>(i) + 2.0);
  }
  m.rr = m.first_relevant > 0 ? 1.0 / m.first_relevant : 0.0;
  m.recall = static_cast<double>(found) / static_cast<double>(q.grades.size());
  m.ndcg = idcg > 0 ? dcg / idcg : 0.0;
  return m;
}

// Chunk-level doc ids (rank order) -> distinct documents in order of first occurrence.
std::vector<std::string> FirstOccurrence(const std::vector<std::string>& chunk_docs) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const std::string& d : chunk_docs) {
    if (seen.insert(d).second) out.push_back(d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Baseline query construction

std::vector<char32_t> CodePoints(std::string_view s) {
  std::vector<char32_t> out;
  size_t i = 0;
  while (i < s.size()) out.push_back(utf8::Decode(s, i));
  return out;
}

std::string Encode(const std::vector<char32_t>& cps, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) utf8::Append(out, cps[i]);
  return out;
}

// unicode61's default token characters: general categories L*, N* and Co.
bool IsUnicode61TokenChar(char32_t c) {
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & (U_GC_L_MASK | U_GC_N_MASK | U_GC_CO_MASK)) !=
         0;
}

bool IsCjk(char32_t c) {
  UErrorCode err = U_ZERO_ERROR;
  const UScriptCode s = uscript_getScript(static_cast<UChar32>(c), &err);
  return U_SUCCESS(err) &&
         (s == USCRIPT_HAN || s == USCRIPT_HIRAGANA || s == USCRIPT_KATAKANA);
}

bool IsConnector(char32_t c) {
  return c == '-' || c == '_' || c == '.' || c == '/' || c == '@' || c == '+' || c == '#' ||
         c == ':' || c == '\'';
}

// Splits into maximal runs of characters for which keep(c) is true.
std::vector<std::vector<char32_t>> Pieces(std::string_view query,
                                          const std::function<bool(char32_t)>& keep) {
  std::vector<std::vector<char32_t>> out;
  std::vector<char32_t> cur;
  for (const char32_t c : CodePoints(query)) {
    if (keep(c)) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string JoinOr(const std::vector<std::string>& quoted) {
  std::string expr;
  for (const std::string& q : quoted) {
    if (!expr.empty()) expr += " OR ";
    expr += q;
  }
  return expr;
}

void AddUnique(std::vector<std::string>& terms, std::string term) {
  if (std::find(terms.begin(), terms.end(), term) == terms.end()) {
    terms.push_back(std::move(term));
  }
}

std::string Unicode61Match(std::string_view query) {
  std::vector<std::string> terms;
  for (const auto& piece : Pieces(query, IsUnicode61TokenChar)) {
    AddUnique(terms, fulltext::QuoteFtsString(Encode(piece, 0, piece.size())));
  }
  return JoinOr(terms);
}

std::string TrigramMatch(std::string_view query) {
  auto keep = [](char32_t c) { return IsUnicode61TokenChar(c) || IsConnector(c) ||
                                      (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_M_MASK); };
  std::vector<std::string> terms;
  for (const auto& piece : Pieces(query, keep)) {
    if (piece.size() < 3) continue;
    if (std::any_of(piece.begin(), piece.end(), IsCjk)) {
      for (size_t i = 0; i + 3 <= piece.size(); ++i) {
        AddUnique(terms, fulltext::QuoteFtsString(Encode(piece, i, i + 3)));
      }
    } else {
      AddUnique(terms, fulltext::QuoteFtsString(Encode(piece, 0, piece.size())));
    }
  }
  return JoinOr(terms);
}

// ---------------------------------------------------------------------------------------------
// Experimental query-side variants (--variants). They run against deepkb's own FTS index (same
// "deepkb" tokenizer, same documents), only the MATCH expression differs, so the lead can see
// what a query-builder change would buy before touching src/. Built from AnalyzeQuery()'s
// clauses:
//   drop_question_words  drop interrogative/filler words that ICU returns as 2+ char words
//                        (怎么 怎样 如何 什么 哪些 哪个 多少 一个 是否 可以 能否 为什么 请问).
//   merge_singles        adjacent single-character words of a CJK run (ICU: 时区 -> 时/区,
//                        游标 -> 游/标) become one bigram phrase ("时区") instead of several
//                        single-character prefix clauses ("时" * OR "区" *).
//   run_phrase           every stretch of 2+ adjacent kept words of a CJK run also becomes one
//                        phrase clause (its exact character sequence), so pages that contain
//                        the query words next to each other rank above pages that contain them
//                        scattered.

struct VariantFlags {
  bool drop_question_words = false;
  bool merge_singles = false;
  bool run_phrase = false;
  bool bigram_terms = false;  // every bigram of each stretch of adjacent kept words, OR'ed
};

constexpr std::string_view kQuestionWords[] = {"怎么", "怎样", "如何", "什么", "哪些",
                                              "哪个", "多少", "一个", "是否", "可以",
                                              "能否", "为什么", "请问"};

// Bigram phrase clause over code points [b, e) of `cps` (e - b >= 2).
fulltext::QueryClause BigramPhrase(const std::vector<char32_t>& cps, size_t b, size_t e) {
  fulltext::QueryClause c;
  c.kind = fulltext::QueryClause::Kind::kPhrase;
  c.display = Encode(cps, b, e);
  for (size_t k = b; k + 1 < e; ++k) c.terms.push_back(Encode(cps, k, k + 2));
  return c;
}

// Clauses for one CJK run, with the variant rules applied.
void VariantRunClauses(const std::vector<char32_t>& run, const VariantFlags& f,
                       std::vector<fulltext::QueryClause>& out) {
  const std::string text = Encode(run, 0, run.size());
  struct Placed {
    fulltext::QueryClause clause;
    size_t begin = 0, end = 0;  // code point offsets in `run`
  };
  std::vector<Placed> placed;
  size_t cursor = 0;
  for (fulltext::QueryClause& c : fulltext::AnalyzeQuery(text)) {
    const std::vector<char32_t> d = CodePoints(c.display);
    auto it = std::search(run.begin() + static_cast<std::ptrdiff_t>(cursor), run.end(),
                          d.begin(), d.end());
    if (it == run.end() || d.empty()) {  // cannot place it (normalisation changed it): keep
      out.push_back(std::move(c));
      continue;
    }
    const size_t b = static_cast<size_t>(it - run.begin());
    cursor = b + d.size();
    if (f.drop_question_words &&
        std::find(std::begin(kQuestionWords), std::end(kQuestionWords), c.display) !=
            std::end(kQuestionWords)) {
      continue;  // leaves a gap, like a dropped stop character
    }
    placed.push_back({std::move(c), b, cursor});
  }
  if (f.merge_singles) {
    std::vector<Placed> merged;
    for (Placed& p : placed) {
      const bool single = p.clause.kind == fulltext::QueryClause::Kind::kPrefix;
      if (single && !merged.empty() && merged.back().end == p.begin &&
          (merged.back().clause.kind == fulltext::QueryClause::Kind::kPrefix ||
           merged.back().clause.display.empty())) {
        // Extend the previous single (or run of singles) by this character.
        merged.back().end = p.end;
        merged.back().clause.display.clear();  // marks "merged run", rebuilt below
        merged.back().clause.kind = fulltext::QueryClause::Kind::kPhrase;
        continue;
      }
      merged.push_back(std::move(p));
    }
    for (Placed& p : merged) {
      if (p.clause.display.empty()) p.clause = BigramPhrase(run, p.begin, p.end);
    }
    placed = std::move(merged);
  }
  if (f.bigram_terms) {
    std::vector<Placed> kept;
    for (size_t i = 0; i < placed.size();) {
      size_t j = i + 1;
      while (j < placed.size() && placed[j].begin == placed[j - 1].end) ++j;
      const size_t b = placed[i].begin, e = placed[j - 1].end;
      if (e - b >= 2) {
        for (size_t k = b; k + 1 < e; ++k) {
          fulltext::QueryClause c;
          c.kind = fulltext::QueryClause::Kind::kTerm;
          c.display = Encode(run, k, k + 2);
          c.terms.push_back(c.display);
          out.push_back(std::move(c));
        }
      } else {
        kept.push_back(std::move(placed[i]));
      }
      i = j;
    }
    if (f.run_phrase) {
      for (size_t i = 0; i < placed.size();) {
        size_t j = i + 1;
        while (j < placed.size() && placed[j].begin == placed[j - 1].end) ++j;
        if (placed[j - 1].end - placed[i].begin >= 3) {
          out.push_back(BigramPhrase(run, placed[i].begin, placed[j - 1].end));
        }
        i = j;
      }
    }
    for (Placed& p : kept) out.push_back(std::move(p.clause));
    return;
  }
  if (f.run_phrase) {
    for (size_t i = 0; i < placed.size();) {
      size_t j = i + 1;
      while (j < placed.size() && placed[j].begin == placed[j - 1].end) ++j;
      if (j - i >= 2) out.push_back(BigramPhrase(run, placed[i].begin, placed[j - 1].end));
      i = j;
    }
  }
  for (Placed& p : placed) out.push_back(std::move(p.clause));
}

std::string VariantMatch(std::string_view query, const VariantFlags& f) {
  const std::vector<char32_t> cps = CodePoints(fulltext::NormalizeForSearch(query));
  std::vector<fulltext::QueryClause> clauses;
  for (size_t i = 0; i < cps.size();) {
    const bool cjk = IsCjk(cps[i]);
    size_t j = i + 1;
    while (j < cps.size() && IsCjk(cps[j]) == cjk) ++j;
    std::vector<char32_t> seg(cps.begin() + static_cast<std::ptrdiff_t>(i),
                              cps.begin() + static_cast<std::ptrdiff_t>(j));
    if (cjk) {
      VariantRunClauses(seg, f, clauses);
    } else {
      for (auto& c : fulltext::AnalyzeQuery(Encode(seg, 0, seg.size()))) {
        clauses.push_back(std::move(c));
      }
    }
    i = j;
  }
  // Same shape as BuildMatchQuery: deduplicated clauses, OR, first kMaxClauses.
  std::vector<std::string> parts;
  for (const fulltext::QueryClause& c : clauses) {
    if (c.terms.empty()) continue;
    std::string joined;
    for (size_t k = 0; k < c.terms.size(); ++k) joined += (k ? " " : "") + c.terms[k];
    std::string part = fulltext::QuoteFtsString(joined);
    if (c.kind == fulltext::QueryClause::Kind::kPrefix) part += " *";
    if (parts.size() < fulltext::kMaxClauses) AddUnique(parts, std::move(part));
  }
  return JoinOr(parts);
}

// ---------------------------------------------------------------------------------------------
// Systems

struct System {
  std::string name;
  std::function<std::string(const std::string&)> expression;  // for the report only
  // Chunk hits as doc ids, best first.
  std::function<Result<std::vector<std::string>>(const std::string&)> search;
};

struct SystemRun {
  std::string name;
  std::vector<std::string> expressions;         // per query
  std::vector<std::vector<std::string>> docs;   // per query, ranked distinct documents
  std::vector<Metrics> metrics;                 // per query
  std::vector<double> latencies_ms;             // all timed calls
};

// The baselines' FTS5 tables, in their own database file.
class BaselineIndex {
 public:
  static Result<std::unique_ptr<BaselineIndex>> Build(kb::KnowledgeBase& kb,
                                                      const std::string& path, int64_t* chunks) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ec);
    ASSIGN_OR_RETURN(auto db, storage::Database::Open(path));
    auto index = std::unique_ptr<BaselineIndex>(new BaselineIndex(std::move(db)));
    for (const char* tok : {"unicode61", "trigram"}) {
      RETURN_IF_ERROR(index->db_->Exec(std::string("CREATE VIRTUAL TABLE fts_") + tok +
                                       " USING fts5(title, headings, body, doc UNINDEXED,"
                                       " tokenize='" + tok + "')"));
    }
    storage::Transaction tx(*index->db_);
    RETURN_IF_ERROR(tx.Begin());
    ASSIGN_OR_RETURN(auto ins_u, index->db_->Prepare(
                                     "INSERT INTO fts_unicode61(title, headings, body, doc)"
                                     " VALUES (?1, ?2, ?3, ?4)"));
    ASSIGN_OR_RETURN(auto ins_t, index->db_->Prepare(
                                     "INSERT INTO fts_trigram(title, headings, body, doc)"
                                     " VALUES (?1, ?2, ?3, ?4)"));
    *chunks = 0;
    std::string cursor;
    while (true) {
      ASSIGN_OR_RETURN(auto page, kb.ListDocuments(kCollection, cursor, 1000));
      if (page.empty()) break;
      for (const kb::DocumentRow& d : page) {
        ASSIGN_OR_RETURN(auto doc_chunks, kb.GetDocumentChunks(kCollection, d.doc_id));
        for (const kb::ChunkRow& c : doc_chunks) {
          for (storage::Statement* st : {&ins_u, &ins_t}) {
            st->Reset();
            st->Bind(1, d.title).Bind(2, c.heading_path).Bind(3, c.text).Bind(4, d.doc_id);
            RETURN_IF_ERROR(st->Run());
          }
          ++*chunks;
        }
      }
      cursor = page.back().doc_id;
    }
    RETURN_IF_ERROR(tx.Commit());
    return index;
  }

  Result<std::vector<std::string>> Search(const std::string& table, const std::string& expr,
                                          int limit) {
    std::vector<std::string> out;
    if (expr.empty()) return out;
    auto& stmt = statements_[table];
    if (!stmt) {
      // Same columns and the same bm25 column weights as deepkb's own index.
      ASSIGN_OR_RETURN(storage::Statement s,
                       db_->Prepare("SELECT doc FROM " + table + " WHERE " + table +
                                    " MATCH ?1 ORDER BY bm25(" + table +
                                    ", ?2, ?3, ?4, 0.0) LIMIT ?5"));
      stmt = std::make_unique<storage::Statement>(std::move(s));
    }
    const fulltext::FieldWeights w;
    stmt->Reset();
    stmt->Bind(1, expr).Bind(2, w.title).Bind(3, w.headings).Bind(4, w.body).Bind(5, limit);
    while (true) {
      ASSIGN_OR_RETURN(const bool row, stmt->Step());
      if (!row) break;
      out.push_back(stmt->ColumnText(0));
    }
    return out;
  }

 private:
  explicit BaselineIndex(std::unique_ptr<storage::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<storage::Database> db_;
  std::map<std::string, std::unique_ptr<storage::Statement>> statements_;
};

// Direct queries on deepkb's own FTS table through a second connection: the ranking the KB
// uses, without snippets and row hydration (for latency), and with any MATCH expression (for
// the experimental variants).
class DeepkbFts {
 public:
  static Result<std::unique_ptr<DeepkbFts>> Open(const std::string& db_path,
                                                 int64_t collection_id) {
    storage::OpenOptions oo;
    oo.create = false;
    ASSIGN_OR_RETURN(auto db, storage::Database::Open(db_path, oo));
    RETURN_IF_ERROR(fulltext::RegisterFts5Tokenizer(db->handle()));
    const std::string t = "fts_" + std::to_string(collection_id);
    ASSIGN_OR_RETURN(storage::Statement stmt,
                     db->Prepare("SELECT d.doc_id FROM " + t + " JOIN chunks c ON c.id = " + t +
                                 ".rowid JOIN documents d ON d.id = c.document_id WHERE " + t +
                                 " MATCH ?1 ORDER BY bm25(" + t + ", ?2, ?3, ?4) LIMIT ?5"));
    return std::unique_ptr<DeepkbFts>(new DeepkbFts(std::move(db), std::move(stmt)));
  }

  Result<std::vector<std::string>> Search(const std::string& expr, int limit) {
    std::vector<std::string> out;
    if (expr.empty()) return out;
    const fulltext::FieldWeights w;
    stmt_.Reset();
    stmt_.Bind(1, expr).Bind(2, w.title).Bind(3, w.headings).Bind(4, w.body).Bind(5, limit);
    while (true) {
      ASSIGN_OR_RETURN(const bool row, stmt_.Step());
      if (!row) break;
      out.push_back(stmt_.ColumnText(0));
    }
    return out;
  }

 private:
  DeepkbFts(std::unique_ptr<storage::Database> db, storage::Statement stmt)
      : db_(std::move(db)), stmt_(std::move(stmt)) {}
  std::unique_ptr<storage::Database> db_;
  storage::Statement stmt_;  // declared after db_: finalized first
};

Result<SystemRun> RunSystem(const System& sys, const std::vector<LabeledQuery>& queries,
                            int repeat) {
  SystemRun run;
  run.name = sys.name;
  for (int pass = 0; pass <= repeat; ++pass) {
    const bool timed = pass > 0 || repeat == 0;
    for (const LabeledQuery& q : queries) {
      const auto t0 = std::chrono::steady_clock::now();
      auto hits = sys.search(q.text);
      const auto t1 = std::chrono::steady_clock::now();
      if (!hits.ok()) return hits.status().WithContext(sys.name + " query " + q.id);
      if (timed) {
        run.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      if (pass == 0) {
        run.expressions.push_back(sys.expression(q.text));
        run.docs.push_back(FirstOccurrence(*hits));
        run.metrics.push_back(Score(q, run.docs.back()));
      }
    }
  }
  return run;
}

// ---------------------------------------------------------------------------------------------
// Reporting

struct Summary {
  int n = 0;
  double mrr = 0, recall = 0, ndcg = 0;
  int zero_hit = 0;
};

Summary Summarize(const SystemRun& r, const std::vector<LabeledQuery>& qs,
                  const std::string& kind) {
  Summary s;
  for (size_t i = 0; i < qs.size(); ++i) {
    if (!kind.empty() && qs[i].kind != kind) continue;
    ++s.n;
    s.mrr += r.metrics[i].rr;
    s.recall += r.metrics[i].recall;
    s.ndcg += r.metrics[i].ndcg;
    if (r.docs[i].empty()) ++s.zero_hit;
  }
  if (s.n > 0) {
    s.mrr /= s.n;
    s.recall /= s.n;
    s.ndcg /= s.n;
  }
  return s;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t idx = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(idx, v.size() - 1)];
}

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::vector<std::string> Kinds(const std::vector<LabeledQuery>& qs) {
  std::vector<std::string> kinds;
  for (const auto& q : qs) {
    if (std::find(kinds.begin(), kinds.end(), q.kind) == kinds.end()) kinds.push_back(q.kind);
  }
  return kinds;
}

struct CorpusInfo {
  int64_t documents = 0;
  int64_t chunks = 0;
  double ingest_seconds = 0;
};

void PrintTables(std::ostream& out, const std::vector<SystemRun>& runs,
                 const std::vector<LabeledQuery>& qs, const CorpusInfo& corpus,
                 const Options& opts) {
  out << "corpus: " << corpus.documents << " documents, " << corpus.chunks << " chunks; "
      << qs.size() << " queries (";
  const auto kinds = Kinds(qs);
  for (size_t k = 0; k < kinds.size(); ++k) {
    out << (k ? ", " : "") << kinds[k] << " " << Summarize(runs[0], qs, kinds[k]).n;
  }
  out << ")\n";
  out << "top " << opts.chunk_k << " chunks per query, aggregated to documents (first "
      << "occurrence); metrics @" << kCutoff << " documents; latency over " << opts.repeat
      << " timed passes\n\n";
  out << "system         MRR@10  Recall@10  nDCG@10  zero-hit  mean ms   p95 ms\n";
  for (const SystemRun& r : runs) {
    const Summary s = Summarize(r, qs, "");
    char line[160];
    std::snprintf(line, sizeof line, "%-13s %7.3f %10.3f %8.3f %9d %8.2f %8.2f\n",
                  r.name.c_str(), s.mrr, s.recall, s.ndcg, s.zero_hit, Mean(r.latencies_ms),
                  Percentile(r.latencies_ms, 0.95));
    out << line;
  }
  out << "\nby query kind: nDCG@10 / MRR@10 / Recall@10\n";
  char head[160];
  std::snprintf(head, sizeof head, "%-6s %4s", "kind", "n");
  out << head;
  for (const SystemRun& r : runs) {
    std::snprintf(head, sizeof head, "  %-20s", r.name.c_str());
    out << head;
  }
  out << "\n";
  for (const std::string& kind : kinds) {
    std::snprintf(head, sizeof head, "%-6s %4d", kind.c_str(), Summarize(runs[0], qs, kind).n);
    out << head;
    for (const SystemRun& r : runs) {
      const Summary s = Summarize(r, qs, kind);
      std::snprintf(head, sizeof head, "  %.3f/%.3f/%.3f   ", s.ndcg, s.mrr, s.recall);
      out << head;
    }
    out << "\n";
  }
}

nlohmann::json ToJson(const std::vector<SystemRun>& runs, const std::vector<LabeledQuery>& qs,
                      const CorpusInfo& corpus, const Options& opts) {
  nlohmann::json j;
  j["corpus"] = {{"documents", corpus.documents},
                 {"chunks", corpus.chunks},
                 {"ingest_seconds", corpus.ingest_seconds}};
  j["queries"] = qs.size();
  j["chunk_k"] = opts.chunk_k;
  j["cutoff"] = kCutoff;
  j["repeat"] = opts.repeat;
  auto summary_json = [](const Summary& s) {
    return nlohmann::json{{"n", s.n},           {"mrr", s.mrr},       {"recall", s.recall},
                          {"ndcg", s.ndcg},     {"zero_hit", s.zero_hit}};
  };
  for (const SystemRun& r : runs) {
    nlohmann::json sj = summary_json(Summarize(r, qs, ""));
    sj["system"] = r.name;
    sj["mean_ms"] = Mean(r.latencies_ms);
    sj["p50_ms"] = Percentile(r.latencies_ms, 0.5);
    sj["p95_ms"] = Percentile(r.latencies_ms, 0.95);
    for (const std::string& kind : Kinds(qs)) sj["by_kind"][kind] = summary_json(Summarize(r, qs, kind));
    j["systems"].push_back(sj);
  }
  for (size_t i = 0; i < qs.size(); ++i) {
    nlohmann::json qj{{"id", qs[i].id}, {"kind", qs[i].kind}, {"query", qs[i].text}};
    for (const SystemRun& r : runs) {
      const Metrics& m = r.metrics[i];
      qj["systems"][r.name] = {{"expression", r.expressions[i]},
                               {"first_relevant", m.first_relevant},
                               {"rr", m.rr},
                               {"recall", m.recall},
                               {"ndcg", m.ndcg},
                               {"docs", std::vector<std::string>(
                                            r.docs[i].begin(),
                                            r.docs[i].begin() +
                                                std::min<size_t>(r.docs[i].size(), kCutoff))}};
    }
    j["per_query"].push_back(qj);
  }
  return j;
}

// "corpus/man1/ls.1.txt" -> "ls.1" (short names keep the report readable).
std::string ShortDoc(const std::string& doc) {
  std::string s = doc.substr(doc.rfind('/') + 1);
  if (s.size() > 4 && s.compare(s.size() - 4, 4, ".txt") == 0) s.resize(s.size() - 4);
  return s;
}

std::string MdEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '*' || c == '_' || c == '`') out += std::string("\\") + c;
    else out.push_back(c);
  }
  return out;
}

Status WriteReport(const std::string& path, const std::vector<SystemRun>& runs,
                   const std::vector<LabeledQuery>& qs, const CorpusInfo& corpus,
                   const Options& opts) {
  std::ostringstream md;
  md << "# Per-query results (generated by quality_eval --report)\n\n";
  md << "```\n";
  PrintTables(md, runs, qs, corpus, opts);
  md << "```\n\n";
  // Compact view over every system: rank of the first relevant document.
  md << "## First relevant rank per query\n\n"
     << "Rank of the first relevant document among the top " << kCutoff
     << " documents (— = none).\n\n| id | query |";
  for (const SystemRun& r : runs) md << " " << r.name << " |";
  md << "\n|---|---|";
  for (size_t k = 0; k < runs.size(); ++k) md << "---|";
  md << "\n";
  for (size_t i = 0; i < qs.size(); ++i) {
    md << "| " << qs[i].id << " | " << MdEscape(qs[i].text) << " |";
    for (const SystemRun& r : runs) {
      const int rank = r.metrics[i].first_relevant;
      md << " " << (rank ? std::to_string(rank) : "—") << " |";
    }
    md << "\n";
  }
  // Detail for the main systems (the first three): what they returned instead.
  const size_t main_systems = std::min<size_t>(runs.size(), 3);
  md << "\n## Top documents\n\n"
     << "Cells: rank of the first relevant document (— = none in the top " << kCutoff
     << ") / nDCG@10, then the top 3 documents (relevant ones in **bold**, grade in "
        "parentheses).\n\n";
  md << "| id | query | relevant |";
  for (size_t s = 0; s < main_systems; ++s) md << " " << runs[s].name << " |";
  md << "\n|---|---|---|";
  for (size_t k = 0; k < main_systems; ++k) md << "---|";
  md << "\n";
  for (size_t i = 0; i < qs.size(); ++i) {
    const LabeledQuery& q = qs[i];
    md << "| " << q.id << " | " << MdEscape(q.text) << " | ";
    bool first = true;
    for (const auto& [doc, g] : q.grades) {
      md << (first ? "" : ", ") << MdEscape(ShortDoc(doc)) << " (" << g << ")";
      first = false;
    }
    md << " |";
    for (size_t s = 0; s < main_systems; ++s) {
      const SystemRun& r = runs[s];
      const Metrics& m = r.metrics[i];
      md << " " << (m.first_relevant ? std::to_string(m.first_relevant) : "—") << " / "
         << Fmt("%.2f", m.ndcg) << ":";
      const auto& docs = r.docs[i];
      if (docs.empty()) md << " *no hits*";
      for (size_t k = 0; k < docs.size() && k < 3; ++k) {
        const auto g = q.grades.find(docs[k]);
        const std::string name = MdEscape(ShortDoc(docs[k]));
        md << (k ? "," : "") << " "
           << (g != q.grades.end() ? "**" + name + "** (" + std::to_string(g->second) + ")"
                                   : name);
      }
      md << " |";
    }
    md << "\n";
  }
  md << "\n## MATCH expressions\n\n";
  for (size_t i = 0; i < qs.size(); ++i) {
    md << "- **" << qs[i].id << "** " << MdEscape(qs[i].text) << "\n";
    for (const SystemRun& r : runs) {
      md << "  - " << r.name << ": `"
         << (r.expressions[i].empty() ? "(no searchable terms)" : r.expressions[i]) << "`\n";
    }
  }
  std::ofstream f(path, std::ios::trunc);
  if (!f) return PermissionDeniedError("cannot write report '" + path + "'");
  f << md.str();
  f.close();
  if (!f) return InternalError("writing report '" + path + "' failed");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Main flow

// Removes a temporary work folder at scope exit.
class TempDir {
 public:
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  Status Create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/deepkb-quality-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return UnavailableError("cannot create a temporary folder under " + tmpl);
    }
    path_ = tmpl;
    return Status::Ok();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status Run(const Options& opts) {
  ASSIGN_OR_RETURN(const std::vector<LabeledQuery> queries, LoadQueries(opts.queries));
  std::error_code ec;
  if (!fs::is_directory(opts.corpus, ec)) {
    return NotFoundError("corpus folder '" + opts.corpus +
                         "' does not exist; build it with bench/quality/build_corpus.sh");
  }

  TempDir temp;
  std::string work = opts.work_dir;
  if (work.empty()) {
    RETURN_IF_ERROR(temp.Create());
    work = temp.path();
  } else {
    fs::create_directories(work, ec);
    if (ec) return UnavailableError("cannot create work folder '" + work + "': " + ec.message());
  }
  const std::string kb_dir = work + "/kb";
  std::vector<SystemRun> runs;
  CorpusInfo corpus;
  {
    ASSIGN_OR_RETURN(auto lock, DirLock::Acquire(kb_dir, DirLock::Mode::kExclusive));
    ASSIGN_OR_RETURN(auto kb, kb::KnowledgeBase::Open(kb_dir));
    if (!kb->GetCollection(kCollection).ok()) {
      ASSIGN_OR_RETURN(auto created, kb->CreateCollection({.name = kCollection}));
      (void)created;
    }
    kb::IngestOptions io;
    io.collection = kCollection;
    io.recursive = true;
    io.mirror = true;  // a reused work dir follows the corpus exactly
    std::cerr << "quality_eval: ingesting " << opts.corpus << " ...\n";
    ASSIGN_OR_RETURN(const kb::IngestReport report, kb::IngestPaths(*kb, {opts.corpus}, io));
    for (const kb::IngestFailure& f : report.failed) {
      std::cerr << "quality_eval: warning: " << f.path << ": " << f.error << "\n";
    }
    corpus.ingest_seconds = report.seconds;
    std::cerr << "quality_eval: ingest: " << report.added << " added, " << report.updated
              << " updated, " << report.unchanged << " unchanged, " << report.deleted
              << " deleted, " << report.failed.size() << " failed, "
              << Fmt("%.1f", report.seconds) << " s\n";

    // Every labelled document must exist, or the labels and the corpus disagree.
    std::set<std::string> doc_ids;
    std::string cursor;
    while (true) {
      ASSIGN_OR_RETURN(auto page, kb->ListDocuments(kCollection, cursor, 1000));
      if (page.empty()) break;
      for (const auto& d : page) doc_ids.insert(d.doc_id);
      cursor = page.back().doc_id;
    }
    corpus.documents = static_cast<int64_t>(doc_ids.size());
    for (const LabeledQuery& q : queries) {
      for (const auto& [doc, g] : q.grades) {
        if (!doc_ids.count(doc)) {
          return FailedPreconditionError(
              "query " + q.id + " labels document '" + doc +
              "', which is not in the ingested corpus (ids are '<corpus folder name>/<path>'; "
              "build the corpus into a folder named 'corpus')");
        }
      }
    }

    std::cerr << "quality_eval: building baseline FTS5 tables ...\n";
    ASSIGN_OR_RETURN(auto baseline,
                     BaselineIndex::Build(*kb, work + "/baselines.db", &corpus.chunks));
    BaselineIndex* base = baseline.get();
    kb::KnowledgeBase* kbp = kb.get();
    const int k = opts.chunk_k;

    // deepkb through the product's search path, one system per mode.
    auto deepkb_mode = [kbp, k](std::string mode, std::string fusion = "rrf", double kw_weight = 0.5) {
      return [kbp, k, mode, fusion, kw_weight](const std::string& q) -> Result<std::vector<std::string>> {
        kb::SearchRequest req;
        req.collection = kCollection;
        req.query = q;
        req.mode = mode;
        req.top_k = k;
        req.fusion = fusion;
        req.keyword_weight = kw_weight;
        req.vector_weight = 1 - kw_weight;
        ASSIGN_OR_RETURN(kb::SearchResponse resp, kbp->Search(req));
        std::vector<std::string> docs;
        for (const auto& h : resp.hits) docs.push_back(h.doc_id);
        return docs;
      };
    };
    auto keyword_expr = [](const std::string& q) { return fulltext::BuildMatchQuery(q).expression; };
    const std::vector<System> systems = {
        {"deepkb", keyword_expr, deepkb_mode("keyword")},
        {"deepkb-vector", [](const std::string&) { return std::string("(ngram-hash vector)"); },
         deepkb_mode("vector")},
        {"deepkb-hybrid", keyword_expr, deepkb_mode("hybrid")},
        {"hybrid-w.8", keyword_expr, deepkb_mode("hybrid", "weighted", 0.8)},
        {"deepkb-auto", [](const std::string&) { return std::string("auto"); },
         deepkb_mode("auto")},
        // The query-type router alone, as if the embedder were semantic (what `auto` does on
        // collections with a real embedding model).
        {"router", [](const std::string& q) { return kb::AutoMode(q, true); },
         [deepkb_mode](const std::string& q) { return deepkb_mode(kb::AutoMode(q, true))(q); }},
        {"unicode61", [](const std::string& q) { return Unicode61Match(q); },
         [base, k](const std::string& q) {
           return base->Search("fts_unicode61", Unicode61Match(q), k);
         }},
        {"trigram", [](const std::string& q) { return TrigramMatch(q); },
         [base, k](const std::string& q) {
           return base->Search("fts_trigram", TrigramMatch(q), k);
         }},
    };
    // Experimental variants, on deepkb's own index through a second connection.
    std::unique_ptr<DeepkbFts> direct;
    std::vector<System> all = systems;
    if (opts.variants) {
      ASSIGN_OR_RETURN(const kb::CollectionRow coll, kb->GetCollection(kCollection));
      ASSIGN_OR_RETURN(direct, DeepkbFts::Open(kb_dir + "/kb.db", coll.id));
      DeepkbFts* d = direct.get();
      auto variant = [d, k](std::string name, std::function<std::string(const std::string&)> b) {
        return System{std::move(name), b,
                      [d, k, b](const std::string& q) { return d->Search(b(q), k); }};
      };
      all.push_back(variant("deepkb-fts", [](const std::string& q) {
        return fulltext::BuildMatchQuery(q).expression;
      }));
      const std::pair<const char*, VariantFlags> vs[] = {
          {"v-noquestion", {.drop_question_words = true}},
          {"v-merge1", {.merge_singles = true}},
          {"v-runphrase", {.run_phrase = true}},
          {"v-all", {.drop_question_words = true, .merge_singles = true, .run_phrase = true}},
          {"v-bigram", {.drop_question_words = true, .bigram_terms = true}},
          {"v-bigram+phrase", {.drop_question_words = true, .run_phrase = true, .bigram_terms = true}},
      };
      for (const auto& [name, flags] : vs) {
        const VariantFlags f = flags;
        all.push_back(variant(name, [f](const std::string& q) { return VariantMatch(q, f); }));
      }
    }
    for (const System& sys : all) {
      std::cerr << "quality_eval: running " << sys.name << " ...\n";
      ASSIGN_OR_RETURN(SystemRun r, RunSystem(sys, queries, opts.repeat));
      runs.push_back(std::move(r));
    }
    direct.reset();
  }  // KB and baseline closed before the temporary folder goes

  if (opts.json) {
    std::cout << ToJson(runs, queries, corpus, opts).dump(2) << "\n";
  } else {
    PrintTables(std::cout, runs, queries, corpus, opts);
  }
  if (!opts.report.empty()) RETURN_IF_ERROR(WriteReport(opts.report, runs, queries, corpus, opts));
  return Status::Ok();
}

}  // namespace
}  // namespace deepkb::quality

int main(int argc, char** argv) {
  auto opts = deepkb::quality::ParseArgs(argc, argv);
  if (!opts.ok()) {
    if (opts.status().message() == "help") {
      std::cout << deepkb::quality::kUsage;
      return 0;
    }
    std::cerr << "quality_eval: " << opts.status().message() << "\n"
              << deepkb::quality::kUsage;
    return 2;
  }
  const deepkb::Status s = deepkb::quality::Run(*opts);
  if (!s.ok()) {
    std::cerr << "quality_eval: " << s.ToString() << "\n";
    return deepkb::ExitCodeFor(s);
  }
  return 0;
}
