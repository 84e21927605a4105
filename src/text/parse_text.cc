// Plain text: charset detection, paragraphs split on blank lines, whitespace collapsed inside a
// paragraph (line breaks inside Chinese text vanish instead of becoming spaces). The title is
// the first non-empty line when it is short enough to be one.
#include <string>
#include <string_view>

#include "common/utf8.h"
#include "text/charset.h"
#include "text/document.h"
#include "text/parse_internal.h"

namespace deepkb::text {
namespace {

constexpr size_t kMaxTitleChars = 120;

bool IsBlankLine(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  }
  return true;
}

Result<ParsedDocument> ParsePlainTextImpl(std::string_view bytes) {
  ASSIGN_OR_RETURN(DecodedText decoded, DecodeToUtf8(bytes));
  ParsedDocument doc;
  doc.format = Format::kText;
  doc.charset = decoded.charset;
  const std::string_view text = decoded.utf8;

  std::string paragraph;
  bool title_checked = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    // Old Mac line ends: a lone CR also ends a line.
    if (const size_t cr = line.find('\r'); cr != std::string_view::npos && cr + 1 < line.size()) {
      end = pos + cr;
      line = text.substr(pos, cr);
    }
    if (IsBlankLine(line)) {
      internal::AddBlock(doc, Block::Kind::kParagraph, 0, paragraph, 0);
      paragraph.clear();
    } else {
      if (!title_checked) {
        title_checked = true;
        std::string first = internal::CollapseWhitespace(line);
        if (utf8::CodePointCount(first) <= kMaxTitleChars) doc.title = std::move(first);
      }
      paragraph.append(line);
      paragraph.push_back('\n');
    }
    if (end >= text.size()) break;
    pos = end + 1;
  }
  internal::AddBlock(doc, Block::Kind::kParagraph, 0, paragraph, 0);
  if (doc.blocks.empty()) {
    return InvalidArgumentError("the text file contains only whitespace; nothing to index");
  }
  return doc;
}

}  // namespace

Result<ParsedDocument> ParsePlainText(std::string_view bytes) {
  return internal::RunParser(&ParsePlainTextImpl, bytes, "text");
}

}  // namespace deepkb::text
