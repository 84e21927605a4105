// Markdown via cmark (CommonMark). Charset is detected first (Markdown files written on Chinese
// Windows are often GBK). A YAML front matter block ("---" ... "---") is removed; its "title:"
// becomes the document title. Headings keep their level; paragraphs, list items, block quotes
// and code blocks become paragraphs; raw HTML blocks contribute their text without tags. The
// title is the front-matter title, else the first heading.
//
// The tree is walked with cmark's iterator (no recursion), so deeply nested quotes or lists
// cannot exhaust the stack.
#include <cmark.h>

#include <memory>
#include <string>
#include <string_view>

#include "text/charset.h"
#include "text/document.h"
#include "text/parse_internal.h"

namespace deepkb::text {
namespace {

struct NodeDeleter {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
struct IterDeleter {
  void operator()(cmark_iter* it) const { cmark_iter_free(it); }
};

std::string_view TrimLine(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits off YAML front matter. Returns the body; sets `title` from a "title:" line.
std::string_view StripFrontMatter(std::string_view text, std::string& title) {
  if (text.substr(0, 3) != "---") return text;
  size_t line_end = text.find('\n');
  if (line_end == std::string_view::npos || TrimLine(text.substr(0, line_end)) != "---") {
    return text;
  }
  size_t pos = line_end + 1;
  constexpr size_t kMaxFrontMatter = 64 << 10;
  while (pos < text.size() && pos < kMaxFrontMatter) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = TrimLine(text.substr(pos, end - pos));
    if (line == "---" || line == "...") {
      return end >= text.size() ? std::string_view() : text.substr(end + 1);
    }
    if (line.substr(0, 6) == "title:") {
      std::string_view v = TrimLine(line.substr(6));
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        v = v.substr(1, v.size() - 2);
      }
      title = internal::CollapseWhitespace(v);
    }
    pos = end + 1;
  }
  title.clear();  // no closing fence: not front matter after all
  return text;
}

// Concatenated inline text below `node` (emphasis, links and image alt text included; raw
// inline HTML skipped; line breaks kept as newlines for the whitespace collapser).
std::string InlineText(cmark_node* node) {
  std::string out;
  std::unique_ptr<cmark_iter, IterDeleter> it(cmark_iter_new(node));
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it.get())) != CMARK_EVENT_DONE) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node* cur = cmark_iter_get_node(it.get());
    switch (cmark_node_get_type(cur)) {
      case CMARK_NODE_TEXT:
      case CMARK_NODE_CODE:
        if (const char* lit = cmark_node_get_literal(cur)) out += lit;
        break;
      case CMARK_NODE_SOFTBREAK:
      case CMARK_NODE_LINEBREAK:
        out += '\n';
        break;
      default:
        break;
    }
  }
  return out;
}

// Text of a raw HTML block with tags and comments removed.
std::string StripTags(std::string_view html) {
  std::string out;
  size_t i = 0;
  while (i < html.size()) {
    if (html.compare(i, 4, "<!--") == 0) {
      const size_t end = html.find("-->", i + 4);
      if (end == std::string_view::npos) break;
      i = end + 3;
    } else if (html[i] == '<') {
      const size_t end = html.find('>', i);
      if (end == std::string_view::npos) break;
      out += ' ';
      i = end + 1;
    } else {
      out += html[i++];
    }
  }
  return out;
}

Result<ParsedDocument> ParseMarkdownImpl(std::string_view bytes) {
  ASSIGN_OR_RETURN(DecodedText decoded, DecodeToUtf8(bytes));
  ParsedDocument doc;
  doc.format = Format::kMarkdown;
  doc.charset = decoded.charset;

  std::string front_title;
  const std::string_view body = StripFrontMatter(decoded.utf8, front_title);
  std::unique_ptr<cmark_node, NodeDeleter> root(
      cmark_parse_document(body.data(), body.size(), CMARK_OPT_DEFAULT));
  if (root == nullptr) return InternalError("the Markdown parser ran out of memory");

  std::unique_ptr<cmark_iter, IterDeleter> it(cmark_iter_new(root.get()));
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it.get())) != CMARK_EVENT_DONE) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node* node = cmark_iter_get_node(it.get());
    switch (cmark_node_get_type(node)) {
      case CMARK_NODE_HEADING:
        internal::AddBlock(doc, Block::Kind::kHeading, cmark_node_get_heading_level(node),
                           InlineText(node), 0);
        break;
      case CMARK_NODE_PARAGRAPH:
        internal::AddBlock(doc, Block::Kind::kParagraph, 0, InlineText(node), 0);
        break;
      case CMARK_NODE_CODE_BLOCK:
        if (const char* lit = cmark_node_get_literal(node)) {
          internal::AddBlock(doc, Block::Kind::kParagraph, 0, lit, 0);
        }
        break;
      case CMARK_NODE_HTML_BLOCK:
        if (const char* lit = cmark_node_get_literal(node)) {
          internal::AddBlock(doc, Block::Kind::kParagraph, 0, StripTags(lit), 0);
        }
        break;
      default:
        break;
    }
  }

  doc.title = front_title;
  if (doc.title.empty()) doc.title = internal::FirstHeading(doc);
  if (doc.blocks.empty()) {
    return InvalidArgumentError("the Markdown file contains no text; nothing to index");
  }
  return doc;
}

}  // namespace

Result<ParsedDocument> ParseMarkdown(std::string_view bytes) {
  return internal::RunParser(&ParseMarkdownImpl, bytes, "markdown");
}

}  // namespace deepkb::text
