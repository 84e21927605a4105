// Citation markers, the citations array, and the extractive answer (rag.h).
#include <algorithm>
#include <set>
#include <string_view>

#include "common/utf8.h"
#include "gateway/rag.h"
#include "gateway/rag_text.h"

namespace deepkb::gateway {
namespace {

using json = nlohmann::json;

constexpr size_t kCitationTextBytes = 1000;
constexpr size_t kExcerptChars = 400;

bool IsOpener(char32_t c) {
  return c == '[' || c == U'【' || c == U'［';
}
bool IsCloser(char32_t c) {
  return c == ']' || c == U'】' || c == U'］';
}
bool IsSeparator(char32_t c) {
  return c == ',' || c == U'，' || c == U'、';
}

// Parses a marker body after its opener at s[i]: integers separated by IsSeparator, spaces
// allowed, then a closer. On success appends the numbers, advances i past the closer.
bool ParseMarker(std::string_view s, size_t& i, std::vector<size_t>* numbers) {
  size_t pos = i;
  bool want_number = true;
  while (pos < s.size()) {
    const char32_t c = utf8::Decode(s, pos);
    if (c == ' ') continue;
    if (want_number) {
      if (c < '0' || c > '9') return false;
      size_t value = c - '0', digits = 1;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        value = digits++ < 9 ? value * 10 + static_cast<size_t>(s[pos] - '0') : 0;
        ++pos;
      }
      numbers->push_back(value);
      want_number = false;
    } else if (IsSeparator(c)) {
      want_number = true;
    } else if (IsCloser(c)) {
      i = pos;
      return true;
    } else {
      return false;
    }
  }
  return false;
}

// Skips a Markdown code span or fence starting with the backtick run at s[i] (length n);
// an unmatched inline run is literal text.
size_t SkipCode(std::string_view s, size_t i) {
  size_t n = 0;
  while (i + n < s.size() && s[i + n] == '`') ++n;
  if (n >= 3) {  // fence: to the next run of 3+ backticks, or to the end
    const size_t close = s.find("```", i + n);
    if (close == std::string_view::npos) return s.size();
    size_t end = close;
    while (end < s.size() && s[end] == '`') ++end;
    return end;
  }
  for (size_t at = s.find('`', i + n); at != std::string_view::npos; at = s.find('`', at)) {
    size_t run = 0;
    while (at + run < s.size() && s[at + run] == '`') ++run;
    if (run == n) return at + run;
    at += run;
  }
  return i + n;
}

std::string_view Title(const Passage& p) {
  return p.title.empty() ? p.doc_id : p.title;
}

// The first max_chars code points of s, with "…" when cut.
std::string CutChars(std::string_view s, size_t max_chars) {
  size_t i = 0;
  for (size_t n = 0; n < max_chars && i < s.size(); ++n) utf8::Decode(s, i);
  if (i >= s.size()) return std::string(s);
  return std::string(s.substr(0, i)) + "…";
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// Question terms: case-folded ASCII words of 2+ characters (minus a few stop words) and Han
// bigrams (a lone Han character as itself).
std::set<std::string> QueryTerms(std::string_view q) {
  static const std::set<std::string, std::less<>> kStop = {
      "the", "is", "are",  "was", "what", "how",  "why",  "when",  "where", "which", "who",
      "of",  "to", "in",   "on",  "for",  "and",  "or",   "an",    "do",    "does",  "can",
      "it",  "be", "with", "by",  "from", "this", "that", "there", "about", "me",    "please"};
  std::set<std::string> terms;
  std::string word;
  std::vector<std::string_view> han_run;
  const auto flush_han = [&] {
    if (han_run.size() == 1) terms.emplace(han_run[0]);
    for (size_t k = 1; k < han_run.size(); ++k) {
      terms.insert(std::string(han_run[k - 1]) + std::string(han_run[k]));
    }
    han_run.clear();
  };
  const auto flush_word = [&] {
    if (word.size() >= 2 && !kStop.count(word)) terms.insert(word);
    word.clear();
  };
  for (size_t i = 0; i < q.size();) {
    const size_t start = i;
    const char32_t c = utf8::Decode(q, i);
    if (c < 0x80 && IsAsciiAlnum(static_cast<char>(c))) {
      word.push_back(Lower(static_cast<char>(c)));
    } else {
      flush_word();
    }
    if (rag_text::IsHan(c)) {
      han_run.push_back(q.substr(start, i - start));
    } else {
      flush_han();
    }
  }
  flush_word();
  flush_han();
  return terms;
}

// The excerpt of one passage (see ExtractiveAnswer in rag.h).
std::string Excerpt(std::string_view text, const std::set<std::string>& terms) {
  struct Sentence {
    std::string text;
    size_t chars, overlap;
  };
  std::vector<Sentence> sentences;
  size_t begin = 0;
  std::vector<size_t> ends = rag_text::SentenceEnds(text);
  ends.push_back(text.size());
  for (size_t end : ends) {
    std::string s = rag_text::CollapseWhitespace(text.substr(begin, end - begin));
    begin = end;
    if (s.empty()) continue;
    const std::string lower = LowerAscii(s);
    size_t overlap = 0;
    for (const std::string& t : terms) overlap += lower.find(t) != std::string::npos;
    sentences.push_back({std::move(s), 0, overlap});
    sentences.back().chars = utf8::CodePointCount(sentences.back().text);
  }
  if (sentences.empty()) return "";
  std::vector<size_t> order(sentences.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sentences[a].overlap > sentences[b].overlap; });
  if (sentences[order[0]].chars > kExcerptChars) {
    return CutChars(sentences[order[0]].text, kExcerptChars);
  }
  std::vector<size_t> chosen;
  size_t used = 0;
  const bool any_overlap = sentences[order[0]].overlap > 0;
  for (size_t k : order) {
    if (any_overlap && sentences[k].overlap == 0) break;
    if (used + sentences[k].chars > kExcerptChars) continue;
    used += sentences[k].chars + 1;
    chosen.push_back(k);
  }
  std::sort(chosen.begin(), chosen.end());
  std::string out;
  for (size_t k = 0; k < chosen.size(); ++k) {
    if (k > 0) {
      const bool adjacent = chosen[k] == chosen[k - 1] + 1;
      const unsigned char last = static_cast<unsigned char>(out.back());
      out += !adjacent ? " … " : last < 0x80 ? " " : "";
    }
    out += sentences[chosen[k]].text;
  }
  return out;
}

}  // namespace

std::vector<int> CitedIndices(std::string_view answer, size_t n_passages) {
  std::vector<int> out;
  std::vector<size_t> numbers;
  for (size_t i = 0; i < answer.size();) {
    if (answer[i] == '`') {
      i = SkipCode(answer, i);
      continue;
    }
    if (!IsOpener(utf8::Decode(answer, i))) continue;
    numbers.clear();
    if (!ParseMarker(answer, i, &numbers)) continue;
    for (size_t n : numbers) {
      const int v = static_cast<int>(n);
      if (n >= 1 && n <= n_passages && std::find(out.begin(), out.end(), v) == out.end()) {
        out.push_back(v);
      }
    }
  }
  return out;
}

json CitationsJson(const PackedContext& ctx) {
  json out = json::array();
  for (size_t i = 0; i < ctx.passages.size(); ++i) {
    const Passage& p = ctx.passages[i];
    json c = {{"index", i + 1},
              {"collection", p.collection},
              {"doc_id", p.doc_id},
              {"chunk_id", p.chunk_id},
              {"score", p.score},
              {"text", std::string(rag_text::CutBytes(p.text, kCitationTextBytes))}};
    if (!p.title.empty()) c["title"] = p.title;
    if (!p.source.empty()) c["source"] = p.source;
    if (p.page > 0) c["page"] = p.page;
    if (!p.kb.empty()) c["kb"] = p.kb;
    out.push_back(std::move(c));
  }
  return out;
}

std::string ExtractiveAnswer(const PackedContext& ctx, std::string_view question, Language lang,
                             size_t max_passages) {
  const bool zh = lang == Language::kChinese;
  const size_t n = std::min(ctx.passages.size(), max_passages);
  if (n == 0) {
    return zh ? "当前没有可用的语言模型，知识库中也没有找到与问题相关的内容。"
              : "No language model is available, and nothing relevant to the question was "
                "found in the knowledge base.";
  }
  std::string out = zh ? "当前没有可用的语言模型；以下是知识库中最相关的段落："
                       : "No language model is available; here are the most relevant passages "
                         "from the knowledge base:";
  const std::set<std::string> terms = QueryTerms(question);
  for (size_t i = 0; i < n; ++i) {
    const Passage& p = ctx.passages[i];
    out += "\n\n";
    const std::string title = rag_text::CollapseWhitespace(Title(p));
    const std::string excerpt = Excerpt(p.text, terms);
    // Chunks often begin with their document's title (a heading): say it once.
    if (excerpt.compare(0, title.size(), title) != 0) out += title + (zh ? "：" : ": ");
    out += excerpt;
    out += " [" + std::to_string(i + 1) + "]";
  }
  return out;
}

}  // namespace deepkb::gateway
