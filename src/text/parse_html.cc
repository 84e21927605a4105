// HTML via gumbo (HTML5 tree construction; entities decoded by gumbo).
//
// Charset: a BOM wins, then a <meta charset> / http-equiv declaration in the first 4 KiB (when
// the bytes really convert from it), then detection as for plain text.
//
// Extraction: <title> is the title (fallback: first <h1>, then first heading). h1-h6 become
// headings; every block-level element (p, li, td, pre, blockquote, div, ...) ends a paragraph;
// <br> is a line break inside one. Page chrome and non-text content are dropped: script,
// style, noscript, nav, footer, aside, template, svg, iframe, form controls, embedded media,
// elements marked hidden, a <header> unless it holds the page's <h1>, and a <form> unless it
// wraps real content (ASP.NET pages put the whole body in one form).
//
// Depth: gumbo's tree builder scans the stack of open elements for most start tags, so
// 100,000 nested <div>s take quadratic time (~17 s). Before parsing, a light tokenizer tracks
// nesting; only when a document nests deeper than kMaxDepth does it rewrite the input, removing
// the tags beyond that depth (block tags become <br>) and keeping their text. Our own traversal
// uses an explicit stack, never recursion.
#include <gumbo.h>

#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "text/charset.h"
#include "text/document.h"
#include "text/parse_internal.h"

namespace deepkb::text {
namespace {

constexpr size_t kMaxDepth = 512;
// Bound on the descendant search that decides whether a <header>/<form> is kept.
constexpr size_t kMaxContentProbe = 20000;

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- charset ---------------------------------------------------------------------------------

// The charset named by a <meta charset=...> or <meta http-equiv content="...; charset=...">
// in the first 4 KiB, lower-cased; "" when none.
std::string DeclaredCharset(std::string_view bytes) {
  const std::string head = LowerAscii(bytes.substr(0, 4096));
  size_t pos = 0;
  while ((pos = head.find("<meta", pos)) != std::string::npos) {
    size_t end = head.find('>', pos);
    if (end == std::string::npos) end = head.size();
    const std::string_view tag = std::string_view(head).substr(pos, end - pos);
    const size_t cs = tag.find("charset");
    if (cs != std::string_view::npos) {
      size_t i = cs + 7;
      while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
      if (i < tag.size() && tag[i] == '=') {
        ++i;
        while (i < tag.size() &&
               (std::isspace(static_cast<unsigned char>(tag[i])) || tag[i] == '"' ||
                tag[i] == '\'')) {
          ++i;
        }
        size_t j = i;
        while (j < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[j])) ||
                                  tag[j] == '-' || tag[j] == '_' || tag[j] == '.' ||
                                  tag[j] == ':')) {
          ++j;
        }
        if (j > i) return std::string(tag.substr(i, j - i));
      }
    }
    pos = end;
  }
  return "";
}

Result<DecodedText> DecodeHtml(std::string_view bytes) {
  const bool has_bom = bytes.substr(0, 3) == "\xEF\xBB\xBF" || bytes.substr(0, 2) == "\xFF\xFE" ||
                       bytes.substr(0, 2) == "\xFE\xFF";
  if (!has_bom) {
    const std::string declared = DeclaredCharset(bytes);
    // A meta tag that says UTF-16 was read as ASCII, so it cannot be right (WHATWG: UTF-8).
    if (!declared.empty() && declared.rfind("utf-16", 0) != 0) {
      const std::string name = internal::CanonicalCharset(declared);
      Result<std::string> converted = ConvertToUtf8(bytes, name);
      if (converted.ok()) return DecodedText{std::move(converted).value(), name};
      // Mislabelled pages are common; fall through to detection.
    }
  }
  return DecodeToUtf8(bytes);
}

// ---- nesting guard -----------------------------------------------------------------------

bool IsOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

bool IsVoidTag(std::string_view n) {
  return IsOneOf(n, {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                     "param", "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame",
                     "image", "isindex"});
}

bool IsRawTextTag(std::string_view n) {
  return IsOneOf(n, {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript",
                     "textarea", "title"});
}

bool IsBlockTagName(std::string_view n) {
  return IsOneOf(n, {"address", "article", "aside", "blockquote", "body", "caption", "center",
                     "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset",
                     "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
                     "h6", "header", "hgroup", "hr", "html", "legend", "li", "listing", "main",
                     "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
                     "td", "tfoot", "th", "thead", "tr", "ul"});
}

// Formatting elements: a misnested end tag for one of these does not close the blocks opened
// after it (HTML's adoption agency algorithm).
bool IsFormattingTag(std::string_view n) {
  return IsOneOf(n, {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike",
                     "strong", "tt", "u"});
}

struct OpenTag {
  std::string name;
  bool kept;
};

// Mirrors the commonest implied end tags so sloppy pages (<p> and <li> never closed) do not
// look deeply nested.
void CloseImplied(std::vector<OpenTag>& stack, std::string_view name) {
  auto top_is = [&](std::initializer_list<std::string_view> names) {
    return !stack.empty() && IsOneOf(stack.back().name, names);
  };
  if (name == "li" && top_is({"li"})) stack.pop_back();
  if ((name == "dt" || name == "dd") && top_is({"dt", "dd"})) stack.pop_back();
  if ((name == "td" || name == "th" || name == "tr") && top_is({"td", "th"})) stack.pop_back();
  if (name == "tr" && top_is({"tr"})) stack.pop_back();
  if ((name == "option" || name == "optgroup") && top_is({"option"})) stack.pop_back();
  if (IsBlockTagName(name) && top_is({"p"})) stack.pop_back();
}

// Position of "</name" (case-insensitive) at or after `from`; html.size() when absent.
size_t FindCloseTag(std::string_view html, size_t from, std::string_view name) {
  for (size_t i = html.find("</", from); i != std::string_view::npos;
       i = html.find("</", i + 2)) {
    if (i + 2 + name.size() > html.size()) break;
    bool match = true;
    for (size_t k = 0; k < name.size() && match; ++k) {
      match = std::tolower(static_cast<unsigned char>(html[i + 2 + k])) == name[k];
    }
    if (match) return i;
  }
  return html.size();
}

// Returns a rewritten document when `html` nests deeper than kMaxDepth, else nullopt.
std::optional<std::string> FlattenDeepNesting(std::string_view html) {
  std::vector<OpenTag> stack;
  std::string out;
  out.reserve(html.size());
  bool flattened = false;
  int foreign = 0;  // open <svg>/<math> elements, where "/>" really closes
  const size_t n = html.size();
  size_t i = 0;
  while (i < n) {
    const size_t lt = html.find('<', i);
    if (lt == std::string_view::npos) {
      out.append(html.substr(i));
      break;
    }
    out.append(html.substr(i, lt - i));
    i = lt;
    if (html.compare(i, 4, "<!--") == 0) {
      const size_t e = html.find("-->", i + 4);
      const size_t stop = e == std::string_view::npos ? n : e + 3;
      out.append(html.substr(i, stop - i));
      i = stop;
      continue;
    }
    if (i + 1 < n && (html[i + 1] == '!' || html[i + 1] == '?')) {
      const size_t e = html.find('>', i);
      const size_t stop = e == std::string_view::npos ? n : e + 1;
      out.append(html.substr(i, stop - i));
      i = stop;
      continue;
    }
    const bool end_tag = i + 1 < n && html[i + 1] == '/';
    const size_t name_start = i + (end_tag ? 2 : 1);
    if (name_start >= n || !std::isalpha(static_cast<unsigned char>(html[name_start]))) {
      out.push_back('<');
      ++i;
      continue;
    }
    size_t j = name_start;
    while (j < n && (std::isalnum(static_cast<unsigned char>(html[j])) || html[j] == '-' ||
                     html[j] == ':' || html[j] == '_')) {
      ++j;
    }
    const std::string name = LowerAscii(html.substr(name_start, j - name_start));
    // End of the tag; quotes only count where an attribute value starts.
    size_t k = j;
    char quote = 0;
    char last = 0;
    while (k < n) {
      const char c = html[k];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if ((c == '"' || c == '\'') && last == '=') {
        quote = c;
      } else if (c == '>') {
        break;
      }
      if (!std::isspace(static_cast<unsigned char>(c))) last = c;
      ++k;
    }
    const size_t tag_end = k < n ? k + 1 : n;
    const std::string_view tag_text = html.substr(i, tag_end - i);
    const bool self_closing = k < n && k > j && html[k - 1] == '/';
    i = tag_end;

    if (end_tag) {
      const size_t limit = stack.size() > 64 ? stack.size() - 64 : 0;
      size_t found = std::string_view::npos;
      for (size_t s = stack.size(); s-- > limit;) {
        if (stack[s].name == name) {
          found = s;
          break;
        }
      }
      if (found == std::string_view::npos) {
        out.append(tag_text);  // stray end tag: gumbo ignores it
        continue;
      }
      const bool kept = stack[found].kept;
      bool block_above = false;
      for (size_t s = found + 1; s < stack.size() && !block_above; ++s) {
        block_above = IsBlockTagName(stack[s].name);
      }
      if (IsFormattingTag(name) && block_above) {
        // The adoption agency algorithm: the blocks opened inside a misnested <b> stay open
        // (with a clone of the <b> inside them), so only the formatting element goes.
        stack.erase(stack.begin() + static_cast<std::ptrdiff_t>(found));
      } else {
        stack.resize(found);
      }
      if (name == "svg" || name == "math") foreign = foreign > 0 ? foreign - 1 : 0;
      if (kept) {
        out.append(tag_text);
      } else if (IsBlockTagName(name)) {
        out.append("<br>");
      }
      continue;
    }
    if (IsVoidTag(name) || (self_closing && foreign > 0)) {
      out.append(tag_text);
      continue;
    }
    CloseImplied(stack, name);
    const bool kept = stack.size() < kMaxDepth;
    stack.push_back({name, kept});
    if (name == "svg" || name == "math") ++foreign;
    if (kept) {
      out.append(tag_text);
    } else {
      flattened = true;
      if (IsBlockTagName(name)) out.append("<br>");
    }
    if (IsRawTextTag(name)) {
      const size_t close = FindCloseTag(html, i, name);
      if (kept) {
        out.append(html.substr(i, close - i));
        i = close;  // the end tag is handled by the next iteration
      } else {
        stack.pop_back();  // drop the whole element, content included
        const size_t e = html.find('>', close);
        i = e == std::string_view::npos ? n : e + 1;
      }
    }
  }
  if (!flattened) return std::nullopt;
  return out;
}

// ---- extraction --------------------------------------------------------------------------

bool IsHeading(GumboTag t) {
  return t == GUMBO_TAG_H1 || t == GUMBO_TAG_H2 || t == GUMBO_TAG_H3 || t == GUMBO_TAG_H4 ||
         t == GUMBO_TAG_H5 || t == GUMBO_TAG_H6;
}

int HeadingLevel(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    default: return 6;
  }
}

bool IsBlock(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BODY: case GUMBO_TAG_CAPTION: case GUMBO_TAG_CENTER: case GUMBO_TAG_DD:
    case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR: case GUMBO_TAG_DIV: case GUMBO_TAG_DL:
    case GUMBO_TAG_DT: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE: case GUMBO_TAG_FORM: case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_HR: case GUMBO_TAG_HTML: case GUMBO_TAG_LEGEND: case GUMBO_TAG_LI:
    case GUMBO_TAG_LISTING: case GUMBO_TAG_MAIN: case GUMBO_TAG_MENU: case GUMBO_TAG_OL:
    case GUMBO_TAG_P: case GUMBO_TAG_PRE: case GUMBO_TAG_SECTION: case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_TABLE: case GUMBO_TAG_TBODY: case GUMBO_TAG_TD: case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_TH: case GUMBO_TAG_THEAD: case GUMBO_TAG_TR: case GUMBO_TAG_UL:
    case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT: case GUMBO_TAG_OPTION:
      return true;
    default:
      return false;
  }
}

// Elements whose content is never document text.
bool IsAlwaysDropped(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_NAV:
    case GUMBO_TAG_FOOTER: case GUMBO_TAG_ASIDE: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_SVG:
    case GUMBO_TAG_IFRAME: case GUMBO_TAG_BUTTON: case GUMBO_TAG_SELECT:
    case GUMBO_TAG_DATALIST: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED: case GUMBO_TAG_CANVAS: case GUMBO_TAG_AUDIO: case GUMBO_TAG_VIDEO:
    case GUMBO_TAG_APPLET: case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_FRAMESET: case GUMBO_TAG_MAP: case GUMBO_TAG_INPUT:
      return true;
    default:
      return false;
  }
}

bool IsHidden(const GumboElement& el) {
  if (gumbo_get_attribute(&el.attributes, "hidden") != nullptr) return true;
  if (const GumboAttribute* a = gumbo_get_attribute(&el.attributes, "aria-hidden")) {
    if (LowerAscii(a->value) == "true") return true;
  }
  if (const GumboAttribute* a = gumbo_get_attribute(&el.attributes, "style")) {
    std::string style;
    for (char c : LowerAscii(a->value)) {
      if (!std::isspace(static_cast<unsigned char>(c))) style.push_back(c);
    }
    if (style.find("display:none") != std::string::npos ||
        style.find("visibility:hidden") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// True when a descendant of `node` (bounded search, no recursion) has one of `tags`.
bool HasDescendant(const GumboNode* node, std::initializer_list<GumboTag> tags) {
  std::vector<const GumboNode*> todo{node};
  size_t visited = 0;
  while (!todo.empty() && visited++ < kMaxContentProbe) {
    const GumboNode* n = todo.back();
    todo.pop_back();
    if (n->type != GUMBO_NODE_ELEMENT) continue;
    if (n != node) {
      for (GumboTag t : tags) {
        if (n->v.element.tag == t) return true;
      }
    }
    const GumboVector& kids = n->v.element.children;
    for (unsigned i = 0; i < kids.length; ++i) {
      todo.push_back(static_cast<const GumboNode*>(kids.data[i]));
    }
  }
  return false;
}

bool ShouldDrop(const GumboNode* node) {
  const GumboElement& el = node->v.element;
  if (IsAlwaysDropped(el.tag) || IsHidden(el)) return true;
  if (el.tag == GUMBO_TAG_HEADER) return !HasDescendant(node, {GUMBO_TAG_H1});
  if (el.tag == GUMBO_TAG_FORM) {
    return !HasDescendant(node, {GUMBO_TAG_P, GUMBO_TAG_H1, GUMBO_TAG_H2, GUMBO_TAG_H3,
                                 GUMBO_TAG_ARTICLE, GUMBO_TAG_MAIN, GUMBO_TAG_SECTION});
  }
  return false;
}

// Text directly inside an element (used for <title>, whose children are only text).
std::string ChildText(const GumboNode* node) {
  std::string out;
  const GumboVector& kids = node->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) {
    const auto* k = static_cast<const GumboNode*>(kids.data[i]);
    if (k->type == GUMBO_NODE_TEXT || k->type == GUMBO_NODE_WHITESPACE ||
        k->type == GUMBO_NODE_CDATA) {
      out += k->v.text.text;
    }
  }
  return internal::CollapseWhitespace(out);
}

class Extractor {
 public:
  explicit Extractor(ParsedDocument& doc) : doc_(doc) {}

  void Run(const GumboNode* root) {
    struct Frame {
      const GumboNode* node;
      bool exit;
    };
    std::vector<Frame> stack{{root, false}};
    while (!stack.empty()) {
      const Frame f = stack.back();
      stack.pop_back();
      const GumboNode* n = f.node;
      if (f.exit) {
        Exit(n);
        continue;
      }
      const GumboVector* kids = nullptr;
      switch (n->type) {
        case GUMBO_NODE_TEXT:
        case GUMBO_NODE_CDATA:
        case GUMBO_NODE_WHITESPACE:
          Current().append(n->v.text.text);
          break;
        case GUMBO_NODE_DOCUMENT:
          kids = &n->v.document.children;
          break;
        case GUMBO_NODE_ELEMENT:
          if (Enter(n)) {
            stack.push_back({n, true});
            kids = &n->v.element.children;
          }
          break;
        default:  // comments, <template> contents
          break;
      }
      if (kids != nullptr) {
        for (unsigned i = kids->length; i-- > 0;) {
          stack.push_back({static_cast<const GumboNode*>(kids->data[i]), false});
        }
      }
    }
    FlushParagraph();
  }

  std::string_view title() const { return title_; }

 private:
  std::string& Current() { return heading_ != nullptr ? heading_text_ : paragraph_; }

  void FlushParagraph() {
    internal::AddBlock(doc_, Block::Kind::kParagraph, 0, paragraph_, 0);
    paragraph_.clear();
  }

  // Returns whether to descend into the element.
  bool Enter(const GumboNode* n) {
    const GumboTag tag = n->v.element.tag;
    if (tag == GUMBO_TAG_TITLE) {
      if (title_.empty()) title_ = ChildText(n);
      return false;
    }
    if (tag == GUMBO_TAG_HEAD) {
      const GumboVector& kids = n->v.element.children;
      for (unsigned i = 0; i < kids.length && title_.empty(); ++i) {
        const auto* k = static_cast<const GumboNode*>(kids.data[i]);
        if (k->type == GUMBO_NODE_ELEMENT && k->v.element.tag == GUMBO_TAG_TITLE) {
          title_ = ChildText(k);
        }
      }
      return false;
    }
    if (ShouldDrop(n)) return false;
    if (tag == GUMBO_TAG_BR) {
      Current().push_back('\n');
      return false;
    }
    if (IsHeading(tag)) {
      if (heading_ == nullptr) {
        FlushParagraph();
        heading_ = n;
        heading_text_.clear();
      }
      return true;
    }
    if (IsBlock(tag)) {
      if (heading_ != nullptr) {
        heading_text_.push_back(' ');
      } else {
        FlushParagraph();
      }
    } else if (tag == GUMBO_TAG_IMG || tag == GUMBO_TAG_WBR) {
      return false;
    }
    return true;
  }

  void Exit(const GumboNode* n) {
    const GumboTag tag = n->v.element.tag;
    if (n == heading_) {
      internal::AddBlock(doc_, Block::Kind::kHeading, HeadingLevel(tag), heading_text_, 0);
      heading_ = nullptr;
      heading_text_.clear();
      return;
    }
    if (IsBlock(tag)) {
      if (heading_ != nullptr) {
        heading_text_.push_back(' ');
      } else {
        FlushParagraph();
      }
    }
  }

  ParsedDocument& doc_;
  std::string title_;
  std::string paragraph_;
  const GumboNode* heading_ = nullptr;  // the heading element being collected, if any
  std::string heading_text_;
};

struct GumboOutputDeleter {
  void operator()(GumboOutput* out) const { gumbo_destroy_output(&kGumboDefaultOptions, out); }
};

Result<ParsedDocument> ParseHtmlImpl(std::string_view bytes) {
  ASSIGN_OR_RETURN(DecodedText decoded, DecodeHtml(bytes));
  ParsedDocument doc;
  doc.format = Format::kHtml;
  doc.charset = decoded.charset;

  std::optional<std::string> flat = FlattenDeepNesting(decoded.utf8);
  const std::string& html = flat ? *flat : decoded.utf8;

  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;  // we never read parse errors; do not collect them
  std::unique_ptr<GumboOutput, GumboOutputDeleter> output(
      gumbo_parse_with_options(&options, html.data(), html.size()));
  if (output == nullptr) return InternalError("the HTML parser failed");

  Extractor extractor(doc);
  extractor.Run(output->document);
  doc.title = std::string(extractor.title());
  if (doc.title.empty()) doc.title = internal::FirstHeading(doc, 1);
  if (doc.title.empty()) doc.title = internal::FirstHeading(doc);
  if (doc.blocks.empty()) {
    return InvalidArgumentError("the HTML page contains no text outside scripts and navigation; "
                                "nothing to index");
  }
  return doc;
}

}  // namespace

Result<ParsedDocument> ParseHtml(std::string_view bytes) {
  return internal::RunParser(&ParseHtmlImpl, bytes, "html");
}

}  // namespace deepkb::text
