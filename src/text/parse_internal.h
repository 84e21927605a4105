// Helpers shared by the parsers of text/ (not part of the module's public interface).
// Defined in document.cc unless noted.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "text/document.h"

namespace deepkb::text::internal {

// Collapses runs of whitespace to one space (line breaks between CJK characters vanish) and
// trims; the result is valid UTF-8.
std::string CollapseWhitespace(std::string_view in);
// Appends a block with collapsed text; empty text adds nothing.
void AddBlock(ParsedDocument& doc, Block::Kind kind, int level, std::string_view raw, int page);
// Runs a parser, converting escaping exceptions (bad_alloc) into a Status naming the format.
Result<ParsedDocument> RunParser(Result<ParsedDocument> (*impl)(std::string_view),
                                 std::string_view bytes, std::string_view format_name);
// Text of the first heading of `level` (0 = any level), "" when there is none.
std::string FirstHeading(const ParsedDocument& doc, int level = 0);
// Canonical charset name for a label (GBK → GB18030, ...). Defined in charset.cc.
std::string CanonicalCharset(std::string_view label);

}  // namespace deepkb::text::internal
