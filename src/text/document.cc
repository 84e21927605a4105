// Format names and detection, the Parse() dispatcher, and the small text helpers every parser
// shares (whitespace collapsing, block building, the exception guard at the parser edge).
//
// The shared helpers live in deepkb::text::internal. They have no header of their own: each
// parser .cc declares the few it uses (a mismatch there is a link error, not silent breakage).
#include "text/document.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <new>
#include <string>

#include "common/utf8.h"
#include "text/charset.h"
#include "text/parse_internal.h"

namespace deepkb::text {
namespace internal {

// CJK characters that are written without spaces between them: a line break between two of
// them is dropped instead of becoming a space.
bool IsWideScript(char32_t c) {
  return (c >= 0x2E80 && c <= 0x303F) ||   // radicals, Kangxi, CJK symbols and punctuation
         (c >= 0x3040 && c <= 0x30FF) ||   // hiragana, katakana
         (c >= 0x3100 && c <= 0x31FF) ||   // bopomofo, kanbun, katakana extensions
         (c >= 0x3400 && c <= 0x4DBF) ||   // CJK extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||   // CJK unified ideographs
         (c >= 0xF900 && c <= 0xFAFF) ||   // compatibility ideographs
         (c >= 0xFE30 && c <= 0xFE4F) ||   // CJK compatibility forms
         (c >= 0xFF00 && c <= 0xFFEF) ||   // full-width forms and punctuation
         (c >= 0x20000 && c <= 0x3FFFF);   // supplementary ideographic planes
}

namespace {

bool IsSpace(char32_t c) {
  switch (c) {
    case ' ': case '\t': case '\n': case '\r': case '\f': case '\v':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsLineBreak(char32_t c) { return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029; }

// Characters that carry no text: C0/C1 controls (other than whitespace), the BOM / zero-width
// no-break space, and U+FFFE/U+FFFF.
bool IsDropped(char32_t c) {
  if (c < 0x20) return !IsSpace(c);
  return c == 0x7F || (c >= 0x80 && c <= 0x9F && c != 0x85) || c == 0xFEFF || c == 0xFFFE ||
         c == 0xFFFF;
}

}  // namespace

// Collapses every run of whitespace into one ASCII space, trims both ends, removes control
// characters, and drops a run that contains a line break when it sits between two CJK
// characters (Chinese text wrapped across lines must not gain spaces). Output is valid UTF-8.
std::string CollapseWhitespace(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  bool pending_space = false;
  bool pending_break = false;
  char32_t prev = 0;  // last code point written (0 at start)
  size_t i = 0;
  while (i < in.size()) {
    const char32_t c = utf8::Decode(in, i);
    if (IsSpace(c)) {
      pending_space = true;
      if (IsLineBreak(c)) pending_break = true;
      continue;
    }
    if (IsDropped(c)) continue;
    if (pending_space && prev != 0) {
      const bool join = pending_break && IsWideScript(prev) && IsWideScript(c);
      if (!join) out.push_back(' ');
    }
    pending_space = false;
    pending_break = false;
    utf8::Append(out, c);
    prev = c;
  }
  return out;
}

// Appends a block unless its collapsed text is empty.
void AddBlock(ParsedDocument& doc, Block::Kind kind, int level, std::string_view raw, int page) {
  std::string text = CollapseWhitespace(raw);
  if (text.empty()) return;
  Block b;
  b.kind = kind;
  b.level = kind == Block::Kind::kHeading ? std::clamp(level, 1, 6) : 0;
  b.text = std::move(text);
  b.page = page;
  doc.blocks.push_back(std::move(b));
}

std::string FirstHeading(const ParsedDocument& doc, int level) {
  for (const Block& b : doc.blocks) {
    if (b.kind == Block::Kind::kHeading && (level == 0 || b.level == level)) return b.text;
  }
  return {};
}

Status EmptyFileError() { return InvalidArgumentError("file is empty"); }

// Runs a parser implementation at the module edge: rejects empty input and turns any exception
// a library throws (allocation failure, mostly) into a Status.
Result<ParsedDocument> RunParser(Result<ParsedDocument> (*impl)(std::string_view),
                                 std::string_view bytes, std::string_view format_name) {
  if (bytes.empty()) return EmptyFileError();
  try {
    return impl(bytes);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory while parsing the " + std::string(format_name) +
                                  " file; the document is too large or too complex");
  } catch (const std::exception& e) {
    return InternalError("parsing the " + std::string(format_name) +
                         " file failed: " + utf8::Sanitize(e.what()));
  } catch (...) {
    return InternalError("parsing the " + std::string(format_name) + " file failed");
  }
}

}  // namespace internal

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (StartsWithNoCase(haystack.substr(i), needle)) return true;
  }
  return false;
}

// Looks like the start of an HTML document: after a BOM, whitespace and comments, a doctype or
// <html>; unless `strict`, also a <head> or <body> tag within the first kilobyte.
bool LooksLikeHtml(std::string_view bytes, bool strict) {
  std::string_view s = bytes.substr(0, 1024);
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  s = Trim(s);
  // Skip leading comments.
  while (s.substr(0, 4) == "<!--") {
    const size_t end = s.find("-->");
    if (end == std::string_view::npos) return false;
    s = Trim(s.substr(end + 3));
  }
  if (StartsWithNoCase(s, "<!doctype html") || StartsWithNoCase(s, "<html")) return true;
  if (strict) return false;
  return ContainsNoCase(s, "<head>") || ContainsNoCase(s, "<body") ||
         ContainsNoCase(s, "<head ");
}

bool LooksLikeDocx(std::string_view bytes) {
  if (bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4)) return false;
  // The entry name appears in its local header and in the central directory.
  return bytes.find("word/document.xml") != std::string_view::npos;
}

}  // namespace

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kText: return "text";
    case Format::kMarkdown: return "markdown";
    case Format::kHtml: return "html";
    case Format::kPdf: return "pdf";
    case Format::kDocx: return "docx";
    case Format::kUnknown: break;
  }
  return "unknown";
}

std::string_view FormatMimeType(Format f) {
  switch (f) {
    case Format::kText: return "text/plain";
    case Format::kMarkdown: return "text/markdown";
    case Format::kHtml: return "text/html";
    case Format::kPdf: return "application/pdf";
    case Format::kDocx:
      return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    case Format::kUnknown: break;
  }
  return "application/octet-stream";
}

Format FormatFromMimeType(std::string_view mime) {
  const size_t semi = mime.find(';');
  const std::string m = Lower(Trim(mime.substr(0, semi)));
  if (m == "text/plain" || m == "text/csv" || m == "text/x-log") return Format::kText;
  if (m == "text/markdown" || m == "text/x-markdown") return Format::kMarkdown;
  if (m == "text/html" || m == "application/xhtml+xml") return Format::kHtml;
  if (m == "application/pdf" || m == "application/x-pdf") return Format::kPdf;
  if (m == "application/vnd.openxmlformats-officedocument.wordprocessingml.document") {
    return Format::kDocx;
  }
  return Format::kUnknown;
}

Format FormatFromFileName(std::string_view file_name) {
  const size_t slash = file_name.find_last_of("/\\");
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return Format::kUnknown;
  const std::string ext = Lower(file_name.substr(dot + 1));
  if (ext == "txt" || ext == "text" || ext == "log" || ext == "csv") return Format::kText;
  if (ext == "md" || ext == "markdown") return Format::kMarkdown;
  if (ext == "html" || ext == "htm" || ext == "xhtml") return Format::kHtml;
  if (ext == "pdf") return Format::kPdf;
  if (ext == "docx") return Format::kDocx;
  return Format::kUnknown;
}

Format DetectFormat(std::string_view file_name, std::string_view bytes) {
  const Format by_name = FormatFromFileName(file_name);
  // PDF readers accept the header anywhere in the first kilobyte; only a file that is not
  // named as some other format gets that leniency (a text file may quote "%PDF-").
  if (bytes.substr(0, 5) == "%PDF-") return Format::kPdf;
  if ((by_name == Format::kUnknown || by_name == Format::kPdf) &&
      bytes.substr(0, 1024).find("%PDF-") != std::string_view::npos) {
    return Format::kPdf;
  }
  if (LooksLikeDocx(bytes)) return Format::kDocx;
  // A Markdown file may legitimately start with an HTML block: trust its extension. A text
  // file is HTML only when it starts like a page (not when it merely mentions <body>).
  if (by_name != Format::kMarkdown && LooksLikeHtml(bytes, by_name == Format::kText)) {
    return Format::kHtml;
  }
  if (by_name != Format::kUnknown) return by_name;
  if (bytes.empty()) return Format::kUnknown;
  if (DecodeToUtf8(bytes.substr(0, 64 << 10)).ok()) return Format::kText;
  return Format::kUnknown;
}

Result<ParsedDocument> Parse(std::string_view bytes, Format format, const ParseOptions& opts) {
  if (bytes.size() > opts.max_bytes) {
    return TooLargeError("file is " + std::to_string(bytes.size()) +
                                  " bytes, over the limit of " + std::to_string(opts.max_bytes) +
                                  " bytes; split the file or raise the maximum file size");
  }
  if (bytes.empty()) return internal::EmptyFileError();
  switch (format) {
    case Format::kText: return ParsePlainText(bytes);
    case Format::kMarkdown: return ParseMarkdown(bytes);
    case Format::kHtml: return ParseHtml(bytes);
    case Format::kPdf: return ParsePdf(bytes);
    case Format::kDocx: return ParseDocx(bytes);
    case Format::kUnknown: break;
  }
  return UnsupportedMediaError(
      "unsupported file format; supported formats: text (.txt .text .log .csv), markdown (.md), "
      "html (.html .htm), pdf, docx");
}

}  // namespace deepkb::text
