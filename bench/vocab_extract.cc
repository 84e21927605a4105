// bench_vocab_extract: builds the benchmark vocabulary (bench/data/vocab.tsv) from real text.
//
// Input on stdin: troff/man source in UTF-8 (bench/extract_vocab.sh feeds it the Chinese man
// pages of Debian's manpages-zh with `zcat`). Output on stdout: one word per line,
//   <kind> TAB <word> TAB <count>
// where kind is
//   zh  a Chinese word: a run of Han characters segmented with ICU's dictionary word breaker
//       (the same segmentation family the keyword analyzer uses for queries);
//   en  an English word: a run of 2-24 ASCII letters, lower-cased;
//   id  an identifier: letters/digits joined by _ . - / (e.g. pthread_create, ld.so.conf,
//       etc/passwd), 3-40 bytes, starting with a letter, containing two adjacent letters and
//       at least one connector (connectors at the edges are stripped first).
// Lines are grouped by kind (zh, en, id) and ordered by count descending, then by word bytes,
// so the line order is the Zipf rank the corpus generator uses. Only words seen at least
// --min-count times are kept, and at most --zh/--en/--id of each kind.
//
// troff handling is deliberately simple: comment lines are dropped, the macro name of a control
// line is dropped (its arguments, e.g. the text of .B or .SH, are kept), layout-only requests
// (.TH .de .nr .if ...) are dropped whole, and inline escapes (\fB, \(em, \*x, \s-1, \-) are
// removed or replaced by their plain character; escapes with a delimited argument (\h'1n',
// \w'text') are skipped whole, and so are the option/format lines of tbl tables (.TS).
#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

struct Limits {
  size_t zh = 6000;
  size_t en = 3000;
  size_t id = 1000;
  long min_count = 2;
};

// Requests that carry no prose: the whole line is dropped.
bool IsLayoutRequest(std::string_view name) {
  static const std::set<std::string_view> kLayout = {
      "TH", "de", "nr", "ds", "ig", "if", "ie", "el", "ta", "in", "ti", "sp", "br", "ft",
      "ps", "vs", "ne", "fi", "nf", "PD", "IX", "so", "na", "ad", "hy", "nh", "ll", "rm",
      "rr", "am", "tr", "cc", "c2", "ec", "eo", "mk", "rt", "bp", "pl", "wh", "ch", "it",
      "RS", "RE", "PP", "LP", "P",  "TP", "IP", "HP", "UR", "UE", "\\\""};
  return kLayout.count(name) != 0;
}

// Removes troff inline escapes from one line of text.
std::string StripEscapes(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 >= in.size()) break;
    const char e = in[++i];
    switch (e) {
      case '"':  // comment to end of line
        return out;
      case '-':
      case 'e':
        out.push_back(e == '-' ? '-' : '\\');
        break;
      case ' ':
      case '~':
        out.push_back(' ');
        break;
      case 'f':
      case '*':
      case 'n':
        // \fB  \f(CW  \*x  \*(xx  \nx  \n(xx
        if (i + 1 < in.size() && in[i + 1] == '(') {
          i += 3;
        } else if (i + 1 < in.size() && in[i + 1] == '[') {
          const size_t close = in.find(']', i + 1);
          i = close == std::string_view::npos ? in.size() : close;
        } else {
          i += 1;
        }
        break;
      case 'h':
      case 'v':
      case 'w':
      case 'l':
      case 'L':
      case 'D':
      case 'o':
      case 'x':
      case 'X':
      case 'Z':
      case 'b':
      case 'C':
      case 'N':
      case 'A':
      case 'R': {
        // Escapes with a delimited argument (\h'1n', \v'-1v', \w'text'u): skip it whole; it
        // holds motions and units, not prose.
        if (i + 1 < in.size()) {
          const char delim = in[i + 1];
          const size_t close = in.find(delim, i + 2);
          i = close == std::string_view::npos ? in.size() : close;
        }
        out.push_back(' ');
        break;
      }
      case '(':  // \(em etc: a special character; keep a separator
        i += 2;
        out.push_back(' ');
        break;
      case 's':  // \s-1 \s+2 \s0
        if (i + 1 < in.size() && (in[i + 1] == '-' || in[i + 1] == '+')) ++i;
        while (i + 1 < in.size() && in[i + 1] >= '0' && in[i + 1] <= '9') ++i;
        break;
      default:  // \& \| \^ \c \% and anything unknown: drop
        break;
    }
  }
  return out;
}

// The prose of one troff line ("" for comments and layout requests).
std::string ProseOf(const std::string& line) {
  if (line.empty()) return "";
  if (line[0] == '.' || line[0] == '\'') {
    size_t p = 1;
    while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    size_t q = p;
    while (q < line.size() && line[q] != ' ' && line[q] != '\t') ++q;
    const std::string_view name(line.data() + p, q - p);
    if (name.empty() || name.substr(0, 2) == "\\\"" || IsLayoutRequest(name)) return "";
    std::string rest = StripEscapes(std::string_view(line).substr(q));
    // Macro arguments are often quoted: "a b" -> a b.
    std::erase(rest, '"');
    return rest;
  }
  return StripEscapes(line);
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsConnector(char c) { return c == '_' || c == '.' || c == '-' || c == '/'; }

class Counter {
 public:
  Counter() {
    UErrorCode status = U_ZERO_ERROR;
    words_.reset(icu::BreakIterator::createWordInstance(icu::Locale::getChinese(), status));
    if (U_FAILURE(status)) {
      std::fprintf(stderr, "bench_vocab_extract: ICU word break iterator: %s\n",
                   u_errorName(status));
      std::exit(1);
    }
  }

  void AddLine(const std::string& text) {
    const icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
    int32_t i = 0;
    const int32_t n = u.length();
    while (i < n) {
      const UChar32 c = u.char32At(i);
      if (IsHan(c)) {
        int32_t j = i;
        while (j < n && IsHan(u.char32At(j))) j = u.moveIndex32(j, 1);
        AddHanRun(u.tempSubString(i, j - i));
        i = j;
      } else if (c < 0x80 && (IsAsciiLetter(static_cast<char>(c)) ||
                              IsAsciiDigit(static_cast<char>(c)) ||
                              IsConnector(static_cast<char>(c)))) {
        std::string token;
        int32_t j = i;
        while (j < n) {
          const UChar32 d = u.char32At(j);
          if (d >= 0x80) break;
          const char ch = static_cast<char>(d);
          if (!IsAsciiLetter(ch) && !IsAsciiDigit(ch) && !IsConnector(ch)) break;
          token.push_back(ch);
          ++j;
        }
        AddLatinToken(token);
        i = j;
      } else {
        i = u.moveIndex32(i, 1);
      }
    }
  }

  void Print(const Limits& limits) const {
    PrintKind("zh", zh_, limits.zh, limits.min_count);
    PrintKind("en", en_, limits.en, limits.min_count);
    PrintKind("id", id_, limits.id, limits.min_count);
  }

 private:
  static bool IsHan(UChar32 c) {
    UErrorCode status = U_ZERO_ERROR;
    return uscript_getScript(c, &status) == USCRIPT_HAN && U_SUCCESS(status);
  }

  void AddHanRun(const icu::UnicodeString& run) {
    words_->setText(run);
    int32_t start = words_->first();
    for (int32_t end = words_->next(); end != icu::BreakIterator::DONE;
         start = end, end = words_->next()) {
      std::string word;
      run.tempSubString(start, end - start).toUTF8String(word);
      if (!word.empty()) ++zh_[word];
    }
  }

  void AddLatinToken(std::string token) {
    // Connectors at the edges are punctuation ("--verbose", "end.", "dir/").
    while (!token.empty() && IsConnector(token.front())) token.erase(token.begin());
    while (!token.empty() && IsConnector(token.back())) token.pop_back();
    if (token.empty()) return;
    bool letter = false, digit = false, connector = false;
    for (char c : token) {
      letter |= IsAsciiLetter(c);
      digit |= IsAsciiDigit(c);
      connector |= IsConnector(c);
    }
    if (!letter) return;
    if (!digit && !connector) {
      if (token.size() < 2 || token.size() > 24) return;
      for (char& c : token) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      ++en_[token];
      return;
    }
    // Identifiers start with a letter and contain a word of 2+ letters; this keeps troff units
    // and version numbers ("1.5n", "0u-1") out.
    bool word = false;
    for (size_t k = 1; k < token.size(); ++k) {
      word |= IsAsciiLetter(token[k]) && IsAsciiLetter(token[k - 1]);
    }
    if (connector && word && IsAsciiLetter(token.front()) && token.size() >= 3 &&
        token.size() <= 40) {
      // A connector must sit between letters/digits ("a--b" is prose, not an identifier).
      for (size_t k = 1; k < token.size(); ++k) {
        if (IsConnector(token[k]) && IsConnector(token[k - 1])) return;
      }
      ++id_[token];
    }
  }

  static void PrintKind(const char* kind, const std::unordered_map<std::string, long>& counts,
                        size_t limit, long min_count) {
    std::vector<std::pair<std::string, long>> v;
    for (const auto& [w, n] : counts) {
      if (n >= min_count) v.emplace_back(w, n);
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (v.size() > limit) v.resize(limit);
    for (const auto& [w, n] : v) std::printf("%s\t%s\t%ld\n", kind, w.c_str(), n);
  }

  std::unique_ptr<icu::BreakIterator> words_;
  std::unordered_map<std::string, long> zh_, en_, id_;
};

bool ParseSize(const char* s, size_t& out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < 0) return false;
  out = static_cast<size_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Limits limits;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    size_t v = 0;
    if (i + 1 < argc && (a == "--zh" || a == "--en" || a == "--id" || a == "--min-count") &&
        ParseSize(argv[i + 1], v)) {
      if (a == "--zh") limits.zh = v;
      if (a == "--en") limits.en = v;
      if (a == "--id") limits.id = v;
      if (a == "--min-count") limits.min_count = static_cast<long>(v);
      ++i;
      continue;
    }
    std::fprintf(stderr,
                 "usage: zcat /usr/share/man/zh_CN/man*/*.gz | bench_vocab_extract "
                 "[--zh N] [--en N] [--id N] [--min-count N] > vocab.tsv\n");
    return 2;
  }
  Counter counter;
  std::string line;
  bool tbl_format = false;  // inside the option/format lines that open a .TS table
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(".TS", 0) == 0) {
      tbl_format = true;
      continue;
    }
    if (tbl_format) {
      // tbl: an options line ending in ';', then format lines; the last one ends in '.'.
      const size_t last = line.find_last_not_of(" \t");
      if (last != std::string::npos && line[last] == '.') tbl_format = false;
      continue;
    }
    const std::string prose = ProseOf(line);
    if (!prose.empty()) counter.AddLine(prose);
  }
  counter.Print(limits);
  return 0;
}
