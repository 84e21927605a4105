// DOCX (Office Open XML WordprocessingML) via libarchive (zip, read from memory) and pugixml.
//
// Parts read: word/document.xml (required), word/styles.xml (heading styles), docProps/core.xml
// (dc:title). Each part may expand to at most kMaxPartBytes; both the size declared in the zip
// and the bytes actually inflated are checked, so a zip bomb stops early with
// TooLarge.
//
// Text: every w:p is a block; text comes from w:t, w:tab is a tab, w:br / w:cr a line break.
// Deleted text (w:delText), field codes (w:instrText) and the duplicate fallback copies of
// drawings (mc:Fallback) are not text. A paragraph is a heading when
//   1. its properties carry w:outlineLvl 0-8 (level = value + 1, capped at 6), or
//   2. its style (w:pStyle) is a heading in styles.xml: named "heading N" (Word keeps these
//      English names even when the style id is localized, e.g. "1" or "a3"), or "Title", or
//      with an outline level, directly or through w:basedOn, or
//   3. without styles.xml, its style id reads HeadingN / Title.
// Title: dc:title, else the first Title-styled paragraph, else the first heading.
// The XML trees are walked with sibling/parent links, never recursion.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <memory>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "text/document.h"
#include "text/parse_internal.h"

namespace deepkb::text {
namespace {

constexpr size_t kMaxPartBytes = 200u << 20;  // 200 MiB uncompressed per part
constexpr int kTitleLevel = 1;                // level used for a "Title" paragraph

constexpr std::string_view kWordNs = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
constexpr std::string_view kWordStrictNs = "http://purl.oclc.org/ooxml/wordprocessingml/main";
constexpr std::string_view kMcNs = "http://schemas.openxmlformats.org/markup-compatibility/2006";

Status NotDocx(std::string_view why) {
  return InvalidArgumentError("not a valid DOCX (" + std::string(why) +
                              "); open it in a word processor and save it as .docx");
}

// ---- zip -----------------------------------------------------------------------------------

struct Parts {
  std::string document;
  std::string styles;
  std::string core;
  bool has_document = false;
};

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

Status ReadEntry(archive* a, archive_entry* entry, std::string_view name, std::string& out) {
  if (archive_entry_size_is_set(entry) != 0 && archive_entry_size(entry) >= 0 &&
      static_cast<uint64_t>(archive_entry_size(entry)) > kMaxPartBytes) {
    return TooLargeError(
        "DOCX part " + std::string(name) + " expands to " +
        std::to_string(archive_entry_size(entry)) + " bytes, over the limit of " +
        std::to_string(kMaxPartBytes) + " bytes (a zip bomb or a corrupt file)");
  }
  std::array<char, 64 << 10> buf;
  for (;;) {
    const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (archive_entry_is_encrypted(entry) != 0) {
        return PermissionDeniedError("DOCX is password-protected; remove the password and retry");
      }
      return NotDocx("damaged zip entry " + std::string(name));
    }
    if (out.size() + static_cast<size_t>(n) > kMaxPartBytes) {
      return TooLargeError("DOCX part " + std::string(name) +
                                    " expands to more than " + std::to_string(kMaxPartBytes) +
                                    " bytes (a zip bomb or a corrupt file)");
    }
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return Status::Ok();
}

// An OLE compound file: a legacy .doc, or an encrypted OOXML package (which stores an
// "EncryptedPackage" stream; names are UTF-16LE).
Status CheckCompoundFile(std::string_view bytes) {
  if (bytes.substr(0, 8) != std::string_view("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)) {
    return Status::Ok();
  }
  std::string marker;
  for (char c : std::string_view("EncryptedPackage")) {
    marker.push_back(c);
    marker.push_back('\0');
  }
  if (bytes.find(marker) != std::string_view::npos) {
    return PermissionDeniedError("DOCX is password-protected; remove the password and retry");
  }
  return NotDocx("this is a legacy Word .doc file");
}

Result<Parts> ReadParts(std::string_view bytes) {
  RETURN_IF_ERROR(CheckCompoundFile(bytes));
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (a == nullptr) return InternalError("cannot allocate a zip reader");
  archive_read_support_format_zip(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    return NotDocx("not a zip archive");
  }
  Parts parts;
  bool has_styles = false, has_core = false;
  for (;;) {
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (parts.has_document) break;  // damage after the part we need
      return NotDocx("damaged zip archive");
    }
    const char* raw_name = archive_entry_pathname(entry);
    const std::string_view name = raw_name != nullptr ? raw_name : "";
    std::string* target = nullptr;
    if (name == "word/document.xml" && !parts.has_document) {
      target = &parts.document;
      parts.has_document = true;
    } else if (name == "word/styles.xml" && !has_styles) {
      target = &parts.styles;
      has_styles = true;
    } else if (name == "docProps/core.xml" && !has_core) {
      target = &parts.core;
      has_core = true;
    }
    if (target == nullptr) {
      archive_read_data_skip(a.get());
      continue;
    }
    RETURN_IF_ERROR(ReadEntry(a.get(), entry, name, *target));
  }
  if (!parts.has_document) return NotDocx("no word/document.xml inside the zip");
  return parts;
}

// ---- XML helpers ---------------------------------------------------------------------------

// Prefix bound to one of `uris` on the root element ("" for a default namespace); `fallback`
// when none is declared there.
std::string PrefixFor(const pugi::xml_node& root, std::initializer_list<std::string_view> uris,
                      const std::string& fallback) {
  for (const pugi::xml_attribute& attr : root.attributes()) {
    const std::string_view name = attr.name();
    const std::string_view value = attr.value();
    if (std::find(uris.begin(), uris.end(), value) == uris.end()) continue;
    if (name == "xmlns") return "";
    if (name.substr(0, 6) == "xmlns:") return std::string(name.substr(6));
  }
  return fallback;
}

class Names {
 public:
  explicit Names(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string operator()(std::string_view local) const {
    return prefix_.empty() ? std::string(local) : prefix_ + ":" + std::string(local);
  }

 private:
  std::string prefix_;
};

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "0".."8" → 1..6 (capped); anything else (9 = body text) → 0.
int LevelFromOutline(std::string_view val) {
  if (val.size() != 1 || val[0] < '0' || val[0] > '8') return 0;
  return std::min(val[0] - '0' + 1, 6);
}

// "heading 3" / "Heading3" / WPS's "标题 3" → 3; 0 otherwise.
int LevelFromHeadingName(std::string_view name) {
  const std::string l = LowerAscii(name);
  std::string_view rest;
  for (std::string_view prefix : {std::string_view("heading"), std::string_view("\u6807\u9898"),
                                  std::string_view("\u6A19\u984C")}) {  // heading, 标题, 標題
    if (l.rfind(prefix, 0) == 0) {
      rest = std::string_view(l).substr(prefix.size());
      break;
    }
  }
  if (rest.empty()) return 0;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.size() != 1 || rest[0] < '1' || rest[0] > '9') return 0;
  return std::min(rest[0] - '0', 6);
}

struct StyleInfo {
  int level = 0;  // heading level, 0 for body styles
  bool title = false;
  std::string based_on;
};

std::map<std::string, StyleInfo> ParseStyles(const std::string& xml) {
  std::map<std::string, StyleInfo> styles;
  if (xml.empty()) return styles;
  pugi::xml_document d;
  if (!d.load_buffer(xml.data(), xml.size(), pugi::parse_default)) return styles;
  const pugi::xml_node root = d.document_element();
  const Names w(PrefixFor(root, {kWordNs, kWordStrictNs}, "w"));
  const std::string style_name = w("style");  // children() keeps the pointer: no temporary
  for (const pugi::xml_node& style : root.children(style_name.c_str())) {
    const std::string_view type = style.attribute(w("type").c_str()).value();
    if (!type.empty() && type != "paragraph") continue;
    const std::string id = style.attribute(w("styleId").c_str()).value();
    if (id.empty()) continue;
    StyleInfo info;
    const std::string name = style.child(w("name").c_str()).attribute(w("val").c_str()).value();
    info.level = LevelFromHeadingName(name);
    info.title = LowerAscii(name) == "title";
    if (info.level == 0) {
      info.level = LevelFromOutline(style.child(w("pPr").c_str())
                                        .child(w("outlineLvl").c_str())
                                        .attribute(w("val").c_str())
                                        .value());
    }
    info.based_on = style.child(w("basedOn").c_str()).attribute(w("val").c_str()).value();
    styles[id] = std::move(info);
  }
  // Inherit heading-ness through basedOn chains (bounded: chains may be cyclic in bad files).
  for (auto& [id, info] : styles) {
    std::string parent = info.based_on;
    for (int hop = 0; hop < 16 && info.level == 0 && !info.title && !parent.empty(); ++hop) {
      const auto it = styles.find(parent);
      if (it == styles.end()) break;
      info.level = it->second.level;
      info.title = it->second.title;
      parent = it->second.based_on;
    }
  }
  return styles;
}

std::string CoreTitle(const std::string& xml) {
  if (xml.empty()) return "";
  pugi::xml_document d;
  if (!d.load_buffer(xml.data(), xml.size(), pugi::parse_default)) return "";
  for (const pugi::xml_node& n : d.document_element().children()) {
    const std::string_view name = n.name();
    if (name == "title" || (name.size() > 6 && name.substr(name.size() - 6) == ":title")) {
      return internal::CollapseWhitespace(utf8::Sanitize(n.text().get()));
    }
  }
  return "";
}

// ---- document.xml ------------------------------------------------------------------------

class BodyWalker {
 public:
  BodyWalker(const pugi::xml_node& root, const std::map<std::string, StyleInfo>& styles,
             ParsedDocument& doc)
      : root_(root),
        styles_(styles),
        doc_(doc),
        w_(PrefixFor(root, {kWordNs, kWordStrictNs}, "w")),
        p_(w_("p")), t_(w_("t")), tab_(w_("tab")), br_(w_("br")), cr_(w_("cr")),
        nb_hyphen_(w_("noBreakHyphen")), ppr_(w_("pPr")), rpr_(w_("rPr")),
        mc_fallback_(Names(PrefixFor(root, {kMcNs}, "mc"))("Fallback")) {}

  // Walks the whole tree in document order without recursion.
  void Run() {
    pugi::xml_node n = root_.first_child();
    while (n) {
      if (Enter(n) && n.first_child()) {
        n = n.first_child();
        continue;
      }
      for (;;) {
        Exit(n);
        if (pugi::xml_node next = n.next_sibling()) {
          n = next;
          break;
        }
        n = n.parent();
        if (!n || n == root_) {
          n = pugi::xml_node();
          break;
        }
      }
    }
  }

  const std::string& first_title_paragraph() const { return first_title_; }

 private:
  struct Para {
    std::string text;
    int level = 0;
    bool title = false;
  };

  void ClassifyParagraph(const pugi::xml_node& p, Para& para) const {
    const pugi::xml_node ppr = p.child(ppr_.c_str());
    if (!ppr) return;
    para.level = LevelFromOutline(
        ppr.child(w_("outlineLvl").c_str()).attribute(w_("val").c_str()).value());
    if (para.level > 0) return;
    const std::string style =
        ppr.child(w_("pStyle").c_str()).attribute(w_("val").c_str()).value();
    if (style.empty()) return;
    if (const auto it = styles_.find(style); it != styles_.end()) {
      para.level = it->second.level;
      para.title = it->second.title;
      return;
    }
    para.level = LevelFromHeadingName(style);
    para.title = LowerAscii(style) == "title";
  }

  std::string* Current() { return open_.empty() ? nullptr : &open_.back().text; }

  bool Enter(const pugi::xml_node& n) {
    if (n.type() != pugi::node_element) return false;
    const std::string_view name = n.name();
    if (name == p_) {
      Para para;
      ClassifyParagraph(n, para);
      open_.push_back(std::move(para));
      return true;
    }
    std::string* cur = Current();
    if (name == t_) {
      if (cur != nullptr) *cur += n.text().get();
      return false;
    }
    if (name == tab_) {
      if (cur != nullptr) cur->push_back('\t');
      return false;
    }
    if (name == br_ || name == cr_) {
      if (cur != nullptr) cur->push_back('\n');
      return false;
    }
    if (name == nb_hyphen_) {
      if (cur != nullptr) cur->push_back('-');
      return false;
    }
    if (name == ppr_ || name == rpr_ || name == mc_fallback_) return false;
    return true;
  }

  void Exit(const pugi::xml_node& n) {
    if (n.type() != pugi::node_element || std::string_view(n.name()) != p_ || open_.empty()) {
      return;
    }
    Para para = std::move(open_.back());
    open_.pop_back();
    const std::string text = utf8::Sanitize(para.text);
    if (para.title && first_title_.empty()) first_title_ = internal::CollapseWhitespace(text);
    const int level = para.title ? kTitleLevel : para.level;
    internal::AddBlock(doc_, level > 0 ? Block::Kind::kHeading : Block::Kind::kParagraph, level,
                       text, 0);
  }

  const pugi::xml_node root_;
  const std::map<std::string, StyleInfo>& styles_;
  ParsedDocument& doc_;
  const Names w_;
  const std::string p_, t_, tab_, br_, cr_, nb_hyphen_, ppr_, rpr_, mc_fallback_;
  std::vector<Para> open_;  // paragraphs being collected (text boxes nest them)
  std::string first_title_;
};

Result<ParsedDocument> ParseDocxImpl(std::string_view bytes) {
  ASSIGN_OR_RETURN(Parts parts, ReadParts(bytes));
  pugi::xml_document xml;
  const pugi::xml_parse_result parsed = xml.load_buffer(
      parts.document.data(), parts.document.size(), pugi::parse_default | pugi::parse_ws_pcdata);
  if (!parsed) {
    return NotDocx(std::string("word/document.xml is not well-formed XML: ") +
                   parsed.description());
  }
  parts.document = std::string();  // pugixml copied what it needs

  ParsedDocument doc;
  doc.format = Format::kDocx;
  const std::map<std::string, StyleInfo> styles = ParseStyles(parts.styles);
  BodyWalker walker(xml.document_element(), styles, doc);
  walker.Run();
  if (doc.blocks.empty()) {
    return InvalidArgumentError("the DOCX document contains no text; nothing to index");
  }
  doc.title = CoreTitle(parts.core);
  if (doc.title.empty()) doc.title = walker.first_title_paragraph();
  if (doc.title.empty()) doc.title = internal::FirstHeading(doc);
  return doc;
}

}  // namespace

Result<ParsedDocument> ParseDocx(std::string_view bytes) {
  return internal::RunParser(&ParseDocxImpl, bytes, "docx");
}

}  // namespace deepkb::text
