// PDF via poppler-cpp.
//
// Errors: a document poppler cannot open is InvalidArgument ("not a valid PDF"); one that needs
// a user password is PermissionDenied; one whose pages carry no text (scans) is
// InvalidArgument with a hint to run OCR.
//
// Structure: PDF has no paragraphs, only positioned words. For each page we take poppler's
// words in reading order (page::text_list), group them into lines by vertical position, and
// start a new paragraph when
//   - the next line is higher up the page (a new column or block),
//   - the font size changes by more than 15% (a heading and its body),
//   - the vertical gap is clearly larger than the page's normal line gap, or
//   - the previous line ends a sentence and stops well short of the right margin.
// Short paragraphs set in a font clearly larger than the body text become headings (level 1 at
// 1.5x the body size, else 2). Every block carries its 1-based page number. The title comes
// from the document information dictionary, else the first level-1 heading.
//
// poppler prints diagnostics for damaged files to stderr; they are routed to a no-op handler.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "text/document.h"
#include "text/parse_internal.h"

namespace deepkb::text {
namespace {

void SilencePoppler() {
  static std::once_flag once;
  std::call_once(once, [] {
    poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
  });
}

std::string ToUtf8(const poppler::ustring& s) {
  const poppler::byte_array bytes = s.to_utf8();
  return utf8::Sanitize(std::string_view(bytes.data(), bytes.size()));
}

struct Line {
  double top = 0, bottom = 0, left = 0, right = 0;
  double size = 0;  // font size (or glyph box height when poppler has no font info)
  std::string text;
  double center() const { return (top + bottom) / 2; }
  double height() const { return bottom - top; }
};

struct Para {
  int page = 0;
  double size = 0;
  int lines = 0;
  bool heading = false;
  std::string text;  // lines joined with '\n'
};

bool EndsSentence(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\'' ||
                        s.back() == ')')) {
    s.remove_suffix(1);
  }
  if (s.empty()) return false;
  const char c = s.back();
  if (c == '.' || c == '!' || c == '?' || c == ':') return true;
  // Full-width 。！？：” (UTF-8 endings).
  for (std::string_view p : {"\u3002", "\uFF01", "\uFF1F", "\uFF1A", "\u201D"}) {
    if (s.size() >= p.size() && s.substr(s.size() - p.size()) == p) return true;
  }
  return false;
}

// Ends like a sentence or clause rather than a title.
bool EndsLikeProse(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return false;
  const char c = s.back();
  if (c == '.' || c == ',' || c == ';') return true;
  for (std::string_view p : {"\u3002", "\uFF0C", "\uFF1B"}) {  // 。，；
    if (s.size() >= p.size() && s.substr(s.size() - p.size()) == p) return true;
  }
  return false;
}

// "12", "- 12 -", "xiv", "Page 3", "Page 3 of 10", "3 / 10".
bool IsPageNumber(std::string_view raw) {
  std::string t = internal::CollapseWhitespace(raw);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.rfind("page ", 0) == 0) t = t.substr(5);
  if (t.empty() || t.size() > 16) return false;
  bool digit = false, roman = true;
  for (char c : t) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (std::string_view("ivxlcdm").find(c) != std::string_view::npos) {
      continue;
    } else if (c == ' ' || c == '-' || c == '/' || c == 'o' || c == 'f') {
      roman = false;  // separators ("of", "/", "-") only around digits
    } else {
      return false;
    }
  }
  return digit || roman;
}

// Page numbers and running headers/footers: paragraphs at the top or bottom of a page that are
// a bare page number, or whose text (digits ignored) sits at a page edge on 3+ pages. Headings
// are kept (the title page's big title often doubles as the running header).
void DropPageFurniture(std::vector<Para>& paras) {
  const size_t n = paras.size();
  std::vector<bool> edge(n);
  std::vector<std::string> keys(n);
  std::map<std::string, std::vector<int>> pages_by_key;
  for (size_t i = 0; i < n; ++i) {
    edge[i] = i == 0 || paras[i - 1].page != paras[i].page || i + 1 == n ||
              paras[i + 1].page != paras[i].page;
    if (!edge[i]) continue;
    std::string key = internal::CollapseWhitespace(paras[i].text);
    for (char& c : key) {
      if (std::isdigit(static_cast<unsigned char>(c))) c = '#';
    }
    std::vector<int>& pages = pages_by_key[key];
    if (pages.empty() || pages.back() != paras[i].page) pages.push_back(paras[i].page);
    keys[i] = std::move(key);
  }
  std::vector<Para> kept;
  kept.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const bool furniture = edge[i] && !paras[i].heading &&
                           (IsPageNumber(paras[i].text) || pages_by_key[keys[i]].size() >= 3);
    if (!furniture) kept.push_back(std::move(paras[i]));
  }
  paras = std::move(kept);
}

std::vector<Line> GroupLines(const std::vector<poppler::text_box>& boxes) {
  std::vector<Line> lines;
  bool space_pending = false;
  for (const poppler::text_box& box : boxes) {
    const poppler::rectf r = box.bbox();
    const std::string word = ToUtf8(box.text());
    const double size = box.has_font_info() ? box.get_font_size() : r.height();
    const double center = (r.top() + r.bottom()) / 2;
    bool same_line = false;
    if (!lines.empty()) {
      const Line& cur = lines.back();
      const double tolerance = 0.5 * std::max(cur.height(), r.height());
      same_line = std::abs(center - cur.center()) <= tolerance &&
                  r.left() >= cur.left - 1.0;  // moving back left means a new line
    }
    if (!same_line) {
      Line l;
      l.top = r.top();
      l.bottom = r.bottom();
      l.left = r.left();
      l.right = r.right();
      l.size = size;
      l.text = word;
      lines.push_back(std::move(l));
    } else {
      Line& cur = lines.back();
      if (space_pending) cur.text.push_back(' ');
      cur.text += word;
      cur.top = std::min(cur.top, r.top());
      cur.bottom = std::max(cur.bottom, r.bottom());
      cur.right = std::max(cur.right, r.right());
      cur.size = std::max(cur.size, size);
    }
    space_pending = box.has_space_after();
  }
  return lines;
}

void AppendLine(Para& p, const std::string& line) {
  if (p.text.empty()) {
    p.text = line;
  } else if (p.text.size() >= 2 && p.text.back() == '-' &&
             std::isalpha(static_cast<unsigned char>(p.text[p.text.size() - 2])) &&
             !line.empty() && std::islower(static_cast<unsigned char>(line.front()))) {
    p.text += line;  // a word hyphenated across lines: join without a break
  } else {
    p.text += '\n';
    p.text += line;
  }
  ++p.lines;
}

void SplitParagraphs(const std::vector<Line>& lines, int page, std::vector<Para>& out) {
  if (lines.empty()) return;
  // The page's normal gap between consecutive lines of the same size.
  double min_gap = -1;
  double min_left = lines[0].left, max_right = lines[0].right;
  for (size_t i = 0; i < lines.size(); ++i) {
    min_left = std::min(min_left, lines[i].left);
    max_right = std::max(max_right, lines[i].right);
    if (i == 0) continue;
    const Line& a = lines[i - 1];
    const Line& b = lines[i];
    if (std::abs(a.size - b.size) > 0.15 * std::max(a.size, b.size)) continue;
    const double gap = b.top - a.bottom;
    if (b.center() <= a.center() || gap < -0.3 * a.size) continue;
    if (min_gap < 0 || gap < min_gap) min_gap = std::max(gap, 0.0);
  }
  const double width = max_right - min_left;

  Para cur;
  cur.page = page;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& b = lines[i];
    if (i > 0) {
      const Line& a = lines[i - 1];
      const double gap = b.top - a.bottom;
      const double size = std::max(a.size, b.size);
      const bool moved_up = b.center() < a.center() - 0.5 * std::max(a.height(), b.height());
      const bool size_change = std::abs(a.size - b.size) > 0.15 * size;
      const bool big_gap = gap > 0.75 * size && (min_gap < 0 || gap > 1.5 * min_gap + 1.0);
      const bool short_end =
          width > 0 && EndsSentence(a.text) && (a.right - min_left) < 0.8 * width;
      if (moved_up || size_change || big_gap || short_end) {
        if (!cur.text.empty()) out.push_back(std::move(cur));
        cur = Para();
        cur.page = page;
      }
    }
    cur.size = std::max(cur.size, b.size);
    AppendLine(cur, b.text);
  }
  if (!cur.text.empty()) out.push_back(std::move(cur));
}

// Fallback for pages whose words are rotated (vertical text) or not listed: poppler's own
// reading-order text, paragraphs at blank lines.
void SplitPlainPageText(const std::string& text, int page, std::vector<Para>& out) {
  Para cur;
  cur.page = page;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = internal::CollapseWhitespace(text.substr(pos, end - pos));
    if (line.empty()) {
      if (!cur.text.empty()) out.push_back(std::move(cur));
      cur = Para();
      cur.page = page;
    } else {
      AppendLine(cur, line);
    }
    if (end >= text.size()) break;
    pos = end + 1;
  }
  if (!cur.text.empty()) out.push_back(std::move(cur));
}

// Strips producer noise such as "Microsoft Word - report.docx".
std::string CleanTitle(std::string title) {
  title = internal::CollapseWhitespace(title);
  constexpr std::string_view kWordPrefix = "Microsoft Word - ";
  if (title.rfind(kWordPrefix, 0) == 0) title = title.substr(kWordPrefix.size());
  const std::string lower = [&] {
    std::string l = title;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return l;
  }();
  if (lower == "untitled" || lower == "untitled document") return "";
  return title;
}

Result<ParsedDocument> ParsePdfImpl(std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return TooLargeError("PDF files larger than 2 GiB are not supported; split the file");
  }
  SilencePoppler();
  std::unique_ptr<poppler::document> pdf(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (pdf == nullptr) return InvalidArgumentError("not a valid PDF (damaged or truncated)");
  if (pdf->is_locked()) {
    return PermissionDeniedError("PDF is password-protected; remove the password and retry");
  }
  const int pages = pdf->pages();
  if (pages <= 0) return InvalidArgumentError("not a valid PDF (damaged or truncated)");

  ParsedDocument doc;
  doc.format = Format::kPdf;
  doc.pages = pages;

  std::vector<Para> paras;
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (page == nullptr) continue;
    const std::vector<poppler::text_box> boxes =
        page->text_list(poppler::page::text_list_include_font);
    size_t rotated = 0;
    for (const poppler::text_box& b : boxes) rotated += b.rotation() != 0 ? 1 : 0;
    if (boxes.empty() || rotated * 2 > boxes.size()) {
      SplitPlainPageText(
          ToUtf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout)), i + 1,
          paras);
    } else {
      SplitParagraphs(GroupLines(boxes), i + 1, paras);
    }
  }

  // Body font size: the size carrying the most text.
  std::map<long, size_t> chars_by_size;
  for (const Para& p : paras) chars_by_size[std::lround(p.size * 10)] += p.text.size();
  double body = 0;
  size_t best = 0;
  for (const auto& [size, count] : chars_by_size) {
    if (count > best) {
      best = count;
      body = static_cast<double>(size) / 10;
    }
  }
  for (Para& p : paras) {
    p.heading = body > 0 && p.size >= 1.2 * body && p.lines <= 2 &&
                utf8::CodePointCount(p.text) <= 150 && !EndsLikeProse(p.text);
  }
  DropPageFurniture(paras);
  for (const Para& p : paras) {
    if (p.heading) {
      internal::AddBlock(doc, Block::Kind::kHeading, p.size >= 1.5 * body ? 1 : 2, p.text,
                         p.page);
    } else {
      internal::AddBlock(doc, Block::Kind::kParagraph, 0, p.text, p.page);
    }
  }
  if (doc.blocks.empty()) {
    return InvalidArgumentError(
        "PDF contains no extractable text (scanned images?); run OCR first");
  }

  doc.title = CleanTitle(ToUtf8(pdf->info_key("Title")));
  if (doc.title.empty()) doc.title = internal::FirstHeading(doc, 1);
  return doc;
}

}  // namespace

Result<ParsedDocument> ParsePdf(std::string_view bytes) {
  return internal::RunParser(&ParsePdfImpl, bytes, "pdf");
}

}  // namespace deepkb::text
