// Parsed document model and the format-dispatching parser entry point.
//
// Contract: Parse() turns the raw bytes of one file into valid UTF-8 text with structure
// (title, headings with levels, paragraphs, page numbers). It never crashes on bad input:
// empty, binary, truncated, encrypted, oversized or unsupported files come back as a Status
// whose message says what is wrong and what to do:
//   InvalidArgument     empty file, not text, malformed container, no extractable text
//   PermissionDenied    encrypted / password-protected document
//   UnsupportedMedia    format not supported (message lists the supported ones)
//   TooLarge            larger than ParseOptions::max_bytes or expansion limits (zip bombs)
//   ResourceExhausted   out of memory while parsing
// Thread safety: all functions are reentrant; no shared mutable state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace deepkb::text {

enum class Format { kUnknown, kText, kMarkdown, kHtml, kPdf, kDocx };

std::string_view FormatName(Format f);          // "text", "markdown", "html", "pdf", "docx"
std::string_view FormatMimeType(Format f);      // "text/plain", ...
// From a MIME type (parameters such as "; charset=" ignored). kUnknown when not supported.
Format FormatFromMimeType(std::string_view mime);
// From the file name's extension (.txt .text .log .csv .md .markdown .html .htm .xhtml .pdf
// .docx); kUnknown otherwise.
Format FormatFromFileName(std::string_view file_name);
// Best guess: magic bytes first (%PDF-, PK zip with word/document.xml, <html), then the
// extension, then kText when the bytes decode as text.
Format DetectFormat(std::string_view file_name, std::string_view bytes);

struct Block {
  enum class Kind { kHeading, kParagraph };
  Kind kind = Kind::kParagraph;
  int level = 0;      // heading level 1..6 (0 for paragraphs)
  std::string text;   // valid UTF-8, whitespace collapsed within the block, no leading/trailing ws
  int page = 0;       // 1-based page number for paged formats (PDF), else 0
};

struct ParsedDocument {
  Format format = Format::kUnknown;
  std::string charset;  // source charset for text formats ("UTF-8", "GB18030", ...)
  std::string title;    // from metadata / <title> / first heading; may be empty
  std::vector<Block> blocks;
  int pages = 0;        // page count for PDF
};

struct ParseOptions {
  size_t max_bytes = 100u << 20;  // 100 MiB
};

Result<ParsedDocument> Parse(std::string_view bytes, Format format, const ParseOptions& opts = {});

// Per-format parsers (called by Parse; exposed for tests).
Result<ParsedDocument> ParsePlainText(std::string_view bytes);  // decodes charset first
Result<ParsedDocument> ParseMarkdown(std::string_view bytes);
Result<ParsedDocument> ParseHtml(std::string_view bytes);
Result<ParsedDocument> ParsePdf(std::string_view bytes);
Result<ParsedDocument> ParseDocx(std::string_view bytes);

}  // namespace deepkb::text
