// Encoding and decoding (loading is in tokenizer_load.cc).
#include "tokenize/tokenizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include "tokenize/tokenizer_impl.h"
#include "tokenize/unicode_class.h"

namespace deepkb::tokenize {

using internal::kWs;

std::array<char32_t, 256> ByteToUnicode() {
  std::array<char32_t, 256> map{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    map[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return map;
}

namespace {

constexpr size_t kKeepScratch = size_t{1} << 20;  // code points

struct Scratch {
  std::vector<char32_t> cps;
  std::vector<uint8_t> cls;
  std::vector<uint32_t> offsets;
  std::string normalized;

  void Swap(Scratch& o) {
    cps.swap(o.cps);
    cls.swap(o.cls);
    offsets.swap(o.offsets);
    normalized.swap(o.normalized);
  }
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Byte length of the JavaScript-whitespace prefix / suffix of valid UTF-8 `s` (String.trimStart
// and trimEnd remove exactly the \s set).
size_t WsPrefix(std::string_view s) {
  std::vector<char32_t> cps;
  std::vector<uint8_t> cls;
  std::vector<uint32_t> off;
  internal::DecodeForSplit(s, &cps, &cls, &off);
  size_t k = 0;
  while (k < cps.size() && (cls[k] & kWs)) ++k;
  return off[k];
}
size_t WsSuffixStart(std::string_view s) {
  std::vector<char32_t> cps;
  std::vector<uint8_t> cls;
  std::vector<uint32_t> off;
  internal::DecodeForSplit(s, &cps, &cls, &off);
  size_t k = cps.size();
  while (k > 0 && (cls[k - 1] & kWs)) --k;
  return off[k];
}

}  // namespace

void Tokenizer::Impl::EncodeSection(std::string_view section, std::vector<uint32_t>* out) const {
  if (section.empty()) return;
  Scratch& sc = ThreadScratch();
  if (normalizer == Normalizer::kNfc) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
    const icu::StringPiece piece(section.data(), static_cast<int32_t>(section.size()));
    if (U_SUCCESS(status) && !nfc->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) {
      sc.normalized.clear();
      icu::StringByteSink<std::string> sink(&sc.normalized);
      nfc->normalizeUTF8(0, piece, sink, nullptr, status);
      if (U_SUCCESS(status)) section = sc.normalized;
    }
    if (section.empty()) return;
  }
  // The scratch vectors are per thread; `section` may live in sc.normalized, which stays
  // untouched below.
  internal::DecodeForSplit(section, &sc.cps, &sc.cls, &sc.offsets);
  const uint32_t* off = sc.offsets.data();
  pre_tokenizer.Split(sc.cps.data(), sc.cls.data(), sc.cps.size(), [&](size_t b, size_t e) {
    bpe.EncodeWord(section.substr(off[b], off[e] - off[b]), out);
  });
  // Scratch grows to ~9 bytes per code point of the largest section; do not keep that around
  // after a huge input.
  if (sc.cps.capacity() > kKeepScratch) Scratch().Swap(sc);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::EncodeAppend(std::string_view text, std::vector<uint32_t>* ids) const {
  std::string repaired;
  if (!internal::IsValidUtf8(text)) {
    repaired = internal::RepairUtf8(text);
    text = repaired;
  }
  const Impl& m = *impl_;
  if (m.added_matcher.empty()) {
    m.EncodeSection(text, ids);
    return;
  }
  if (!m.any_strip) {
    size_t from = 0, pos = 0, len = 0;
    uint32_t index = 0;
    while (m.added_matcher.Find(text, from, &pos, &len, &index)) {
      m.EncodeSection(text.substr(from, pos - from), ids);
      ids->push_back(m.added_tokens[index].id);
      from = pos + len;
    }
    m.EncodeSection(text.substr(from), ids);
    return;
  }
  // With lstrip/rstrip: collect the sections first, then trim the text around such tokens
  // (transformers.js: trimEnd() of the section before an lstrip token, trimStart() after an
  // rstrip token).
  struct Section {
    std::string_view text;
    int64_t added = -1;
  };
  std::vector<Section> sections;
  size_t from = 0, pos = 0, len = 0;
  uint32_t index = 0;
  while (m.added_matcher.Find(text, from, &pos, &len, &index)) {
    if (pos > from) sections.push_back({text.substr(from, pos - from)});
    sections.push_back({text.substr(pos, len), index});
    from = pos + len;
  }
  if (from < text.size()) sections.push_back({text.substr(from)});
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].added < 0) continue;
    const AddedToken& t = m.added_tokens[static_cast<size_t>(sections[i].added)];
    if (t.lstrip && i > 0 && sections[i - 1].added < 0) {
      auto& s = sections[i - 1].text;
      s = s.substr(0, WsSuffixStart(s));
    }
    if (t.rstrip && i + 1 < sections.size() && sections[i + 1].added < 0) {
      auto& s = sections[i + 1].text;
      s = s.substr(WsPrefix(s));
    }
  }
  for (const Section& s : sections) {
    if (s.added >= 0) {
      ids->push_back(m.added_tokens[static_cast<size_t>(s.added)].id);
    } else {
      m.EncodeSection(s.text, ids);
    }
  }
}

std::vector<uint32_t> Tokenizer::Encode(std::string_view text) const {
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  EncodeAppend(text, &ids);
  return ids;
}

size_t Tokenizer::Count(std::string_view text) const {
  thread_local std::vector<uint32_t> ids;
  ids.clear();
  EncodeAppend(text, &ids);
  const size_t n = ids.size();
  if (ids.capacity() > (1u << 20)) std::vector<uint32_t>().swap(ids);
  return n;
}

Result<std::string> Tokenizer::Decode(std::span<const uint32_t> ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string out;
  for (uint32_t id : ids) {
    if (id >= m.id_to_bytes.size() || m.id_to_token[id].empty()) {
      return InvalidArgumentError("token id " + std::to_string(id) + " is not in the vocabulary");
    }
    const int32_t added = m.id_to_added[id];
    if (skip_special && added >= 0 && m.added_tokens[static_cast<size_t>(added)].special) continue;
    out += m.id_to_bytes[id];
  }
  return out;
}

std::optional<uint32_t> Tokenizer::TokenToId(std::string_view token) const {
  auto it = impl_->token_to_id.find(std::string(token));
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

std::string_view Tokenizer::IdToToken(uint32_t id) const {
  if (id >= impl_->id_to_token.size()) return {};
  return impl_->id_to_token[id];
}

size_t Tokenizer::id_limit() const {
  return impl_->id_to_token.size();
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added_tokens;
}

std::string Tokenizer::Describe() const {
  return impl_->describe;
}

}  // namespace deepkb::tokenize
