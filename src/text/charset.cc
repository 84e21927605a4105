// Charset detection and conversion (see charset.h for the contract).
//
// Detection order for bytes without a BOM:
//  1. UTF-16 without a BOM: NUL bytes at (almost) every other position only.
//  2. Binary rejection: any NUL byte, or too many C0 control bytes.
//  3. Valid UTF-8 (pure ASCII included), then "UTF-8 with a few broken bytes".
//  4. A structural test for Chinese double-byte encodings. uchardet needs a few dozen bytes
//     before it recognises GBK or Big5 (a four-character GBK string comes back as KOI8-R), so we
//     score the lead/trail byte pairs ourselves: GB2312 puts all hanzi at leads B0-F7 with
//     trails A1-FE, Big5 puts its 5,401 common hanzi at leads A4-C6 (trails 40-7E and A1-FE).
//     Big5 text read as GB lands in kana / user-defined rows and low trails; GB text read as
//     Big5 lands half in the rare level-2 block; Latin-1 text has ASCII "trails". The encoding
//     whose plausible share is high and that converts cleanly wins.
//  5. uchardet's guess (trusted over step 4 for long EUC-KR / Japanese input, which step 4
//     cannot tell from GB), converted with ICU.
//  6. Mostly-ASCII text with a few high bytes: windows-1252. Otherwise InvalidArgument.
//
// Conversions run through ICU with a callback that counts substitutions and stops the
// conversion once more than the allowed number of bad sequences is seen (none for
// ConvertToUtf8; a small share for detected charsets so a truncated last character does not
// reject a whole file).
#include "text/charset.h"
#include "text/parse_internal.h"

#include <uchardet/uchardet.h>
#include <unicode/ucnv.h>
#include <unicode/ucnv_err.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

#include "common/utf8.h"

namespace deepkb::text {
namespace {

constexpr std::string_view kNotText =
    "not a text file (binary data); convert the document to a supported format (text, markdown, "
    "html, pdf, docx)";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

namespace internal {

// Maps charset labels (from uchardet, HTML meta tags, users) to the name we report and hand to
// ICU. GB2312 and GBK are subsets of GB18030; ISO-8859-1 text is decoded as windows-1252, as
// browsers do (the C1 range is almost always windows-1252 punctuation).
std::string CanonicalCharset(std::string_view label) {
  const std::string l = Lower(label);
  if (l == "gb2312" || l == "gbk" || l == "gb18030" || l == "euc-cn" || l == "cp936" ||
      l == "x-gbk" || l == "windows-936" || l == "chinese" || l == "csgb2312" ||
      l == "gb_2312-80" || l == "iso-ir-58") {
    return "GB18030";
  }
  if (l == "big5" || l == "cn-big5" || l == "csbig5" || l == "x-x-big5" || l == "cp950" ||
      l == "windows-950") {
    return "Big5";
  }
  if (l == "big5-hkscs" || l == "big5hkscs") return "Big5-HKSCS";
  if (l == "iso-8859-1" || l == "iso8859-1" || l == "latin1" || l == "l1" || l == "us-ascii" ||
      l == "ascii" || l == "cp819" || l == "windows-1252" || l == "cp1252") {
    return "windows-1252";
  }
  if (l == "shift_jis" || l == "sjis" || l == "ms_kanji" || l == "windows-31j" ||
      l == "cp932" || l == "x-sjis") {
    return "Shift_JIS";
  }
  if (l == "euc-kr" || l == "cp949" || l == "uhc" || l == "ks_c_5601-1987" ||
      l == "windows-949") {
    return "EUC-KR";
  }
  if (l == "utf-8" || l == "utf8") return "UTF-8";
  if (l.rfind("windows-", 0) == 0) return l;
  std::string up(label);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return up;
}

}  // namespace internal

namespace {

using internal::CanonicalCharset;

// ---- ICU conversion --------------------------------------------------------------------------

struct CallbackState {
  size_t errors = 0;
  size_t max_errors = 0;
};

// Substitutes U+FFFD for a bad sequence while the budget lasts; past it, leaves the error code
// set so ucnv_toUnicode stops.
void U_CALLCONV CountingToUCallback(const void* context, UConverterToUnicodeArgs* args,
                                    const char* code_units, int32_t length,
                                    UConverterCallbackReason reason, UErrorCode* err) {
  if (reason > UCNV_IRREGULAR) return;  // reset / close / clone notifications
  auto* state = static_cast<CallbackState*>(const_cast<void*>(context));
  ++state->errors;
  if (state->errors > state->max_errors) return;
  UCNV_TO_U_CALLBACK_SUBSTITUTE(nullptr, args, code_units, length, reason, err);
}

// Appends UTF-16 code units as UTF-8; a high surrogate at the end of a chunk waits in `high`.
void AppendUtf16(std::string& out, const UChar* begin, const UChar* end, char16_t& high) {
  for (const UChar* p = begin; p != end; ++p) {
    const char16_t u = *p;
    if (high != 0) {
      if (u >= 0xDC00 && u <= 0xDFFF) {
        utf8::Append(out, 0x10000 + ((char32_t(high) - 0xD800) << 10) + (u - 0xDC00));
        high = 0;
        continue;
      }
      utf8::Append(out, 0xFFFD);
      high = 0;
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
      high = u;
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      utf8::Append(out, 0xFFFD);
    } else {
      utf8::Append(out, u);
    }
  }
}

struct Converted {
  std::string utf8;
  size_t errors = 0;
};

// Converts `bytes` from the ICU charset `name`, tolerating at most `max_errors` bad sequences.
Result<Converted> IcuConvert(std::string_view bytes, const std::string& name, size_t max_errors) {
  UErrorCode err = U_ZERO_ERROR;
  std::unique_ptr<UConverter, void (*)(UConverter*)> cnv(ucnv_open(name.c_str(), &err),
                                                         &ucnv_close);
  if (U_FAILURE(err) || cnv == nullptr) {
    return InvalidArgumentError("unknown charset '" + utf8::Sanitize(name) +
                                "'; use a charset name such as UTF-8, GB18030 or Big5");
  }
  CallbackState state;
  state.max_errors = max_errors;
  ucnv_setToUCallBack(cnv.get(), CountingToUCallback, &state, nullptr, nullptr, &err);
  if (U_FAILURE(err)) return InternalError("cannot set up the charset converter");

  Converted result;
  result.utf8.reserve(bytes.size() + bytes.size() / 2);
  std::array<UChar, 8192> buf;
  const char* src = bytes.data();
  const char* const limit = bytes.data() + bytes.size();
  char16_t high = 0;
  for (;;) {
    UChar* target = buf.data();
    err = U_ZERO_ERROR;
    ucnv_toUnicode(cnv.get(), &target, buf.data() + buf.size(), &src, limit, nullptr,
                   /*flush=*/true, &err);
    AppendUtf16(result.utf8, buf.data(), target, high);
    if (err == U_BUFFER_OVERFLOW_ERROR) continue;
    if (U_FAILURE(err) || state.errors > max_errors) {
      const size_t offset = static_cast<size_t>(src - bytes.data());
      return InvalidArgumentError("the bytes are not valid " + CanonicalCharset(name) +
                                  " (bad sequence near byte " + std::to_string(offset) +
                                  "); convert the file to UTF-8 and retry");
    }
    break;
  }
  if (high != 0) utf8::Append(result.utf8, 0xFFFD);
  result.errors = state.errors;
  return result;
}

// Tolerance for detected charsets: a truncated last character or a stray corrupt byte should
// not reject a file, garbage should.
size_t DetectedErrorBudget(size_t n) { return 1 + n / 1000; }

// ---- binary checks ---------------------------------------------------------------------------

bool IsControlByte(unsigned char b) {
  // Everything below 0x20 except TAB LF VT FF CR and ESC (ANSI colours in logs), plus DEL.
  if (b == 0x7F) return true;
  if (b >= 0x20) return false;
  return !(b == '\t' || b == '\n' || b == 0x0B || b == 0x0C || b == '\r' || b == 0x1B);
}

// Raw bytes of a would-be single- or multi-byte text: no NUL, few controls. Legacy-encoded text
// (not valid UTF-8) gets a much lower allowance: such files contain no controls at all.
bool LooksBinary(std::string_view bytes, bool valid_utf8) {
  if (bytes.find('\0') != std::string_view::npos) return true;
  size_t controls = 0;
  for (char c : bytes) controls += IsControlByte(static_cast<unsigned char>(c)) ? 1 : 0;
  const size_t percent = valid_utf8 ? 10 : 2;
  return controls * 100 > bytes.size() * percent;
}

// Decoded UTF-8 text (from UTF-16/32): same rules, on code points, C1 controls included.
bool DecodedLooksBinary(std::string_view text) {
  size_t total = 0, controls = 0;
  size_t i = 0;
  while (i < text.size()) {
    const char32_t c = utf8::Decode(text, i);
    ++total;
    if (c == 0) return true;
    if ((c < 0x80 && IsControlByte(static_cast<unsigned char>(c))) || (c >= 0x80 && c < 0xA0) ||
        c == 0xFFFD) {
      ++controls;
    }
  }
  return controls * 10 > total;
}

// ---- UTF-16/32 ---------------------------------------------------------------------------

Result<DecodedText> DecodeWide(std::string_view bytes, const std::string& name) {
  ASSIGN_OR_RETURN(Converted c, IcuConvert(bytes, name, DetectedErrorBudget(bytes.size())));
  if (DecodedLooksBinary(c.utf8)) return InvalidArgumentError(std::string(kNotText));
  DecodedText out;
  out.utf8 = std::move(c.utf8);
  out.charset = name;
  return out;
}

// UTF-16 without a BOM: ASCII-heavy text has a NUL in every high byte. Returns "UTF-16LE",
// "UTF-16BE" or "".
std::string GuessBomlessUtf16(std::string_view bytes) {
  if (bytes.size() < 4 || bytes.size() % 2 != 0) return "";
  const size_t n = std::min<size_t>(bytes.size(), 1 << 16) & ~size_t{1};
  size_t zero_even = 0, zero_odd = 0;
  for (size_t i = 0; i < n; i += 2) {
    zero_even += bytes[i] == '\0' ? 1 : 0;
    zero_odd += bytes[i + 1] == '\0' ? 1 : 0;
  }
  const size_t units = n / 2;
  if (zero_odd * 10 >= units * 3 && zero_even * 100 <= units) return "UTF-16LE";
  if (zero_even * 10 >= units * 3 && zero_odd * 100 <= units) return "UTF-16BE";
  return "";
}

// ---- UTF-8 ---------------------------------------------------------------------------------

// UTF-8 text with a few corrupt bytes (a bad copy, a truncated multi-byte character): many
// valid multi-byte sequences and at most one bad byte per twenty of them.
bool MostlyUtf8(std::string_view bytes) {
  size_t multibyte = 0, invalid = 0;
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t start = i;
    const char32_t c = utf8::Decode(bytes, i);
    const size_t len = i - start;
    if (c == 0xFFFD && !(len == 3 && static_cast<unsigned char>(bytes[start]) == 0xEF)) {
      ++invalid;
    } else if (len > 1) {
      ++multibyte;
    }
  }
  return multibyte >= 8 && invalid * 20 <= multibyte;
}

// ---- Chinese double-byte structure -----------------------------------------------------------

struct PairScores {
  size_t pairs = 0;
  double gb = 0;    // share of pairs plausible as GB2312 text (punctuation rows or hanzi)
  double big5 = 0;  // share of pairs plausible as common Big5 text (symbols or level-1 hanzi)
};

PairScores ScoreDoubleBytePairs(std::string_view bytes) {
  size_t pairs = 0, gb = 0, big5 = 0;
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if (i + 1 >= n) break;  // truncated final byte
    const auto trail = static_cast<unsigned char>(bytes[i + 1]);
    ++pairs;
    if (lead >= 0x81 && trail >= 0x30 && trail <= 0x39) {  // GB18030 four-byte form
      i += 4;
      continue;
    }
    const bool trail_high = trail >= 0xA1 && trail <= 0xFE;
    const bool trail_low = trail >= 0x40 && trail <= 0x7E;
    if (trail_high && ((lead >= 0xA1 && lead <= 0xA3) || (lead >= 0xB0 && lead <= 0xF7))) ++gb;
    if ((trail_high || trail_low) && lead >= 0xA1 && lead <= 0xC6) ++big5;
    i += 2;
  }
  PairScores s;
  s.pairs = pairs;
  if (pairs > 0) {
    s.gb = static_cast<double>(gb) / static_cast<double>(pairs);
    s.big5 = static_cast<double>(big5) / static_cast<double>(pairs);
  }
  return s;
}

std::string UchardetGuess(std::string_view bytes) {
  uchardet_t ud = uchardet_new();
  if (ud == nullptr) return "";
  const size_t n = std::min<size_t>(bytes.size(), 1 << 20);
  std::string guess;
  if (uchardet_handle_data(ud, bytes.data(), n) == 0) {
    uchardet_data_end(ud);
    const char* cs = uchardet_get_charset(ud);
    if (cs != nullptr) guess = cs;
  }
  uchardet_delete(ud);
  return guess;
}

bool IsNonChineseCjk(const std::string& canonical) {
  return canonical == "EUC-KR" || canonical == "EUC-JP" || canonical == "Shift_JIS" ||
         canonical.rfind("ISO-2022", 0) == 0;
}

// Tries `charset` with the detection tolerance; fills `out` on success.
bool TryDetected(std::string_view bytes, const std::string& charset, DecodedText& out) {
  Result<Converted> c = IcuConvert(bytes, charset, DetectedErrorBudget(bytes.size()));
  if (!c.ok()) return false;
  out.utf8 = std::move(c->utf8);
  out.charset = charset;
  return true;
}

Result<DecodedText> DetectLegacy(std::string_view bytes) {
  DecodedText out;
  const PairScores scores = ScoreDoubleBytePairs(bytes);
  const std::string guess = CanonicalCharset(UchardetGuess(bytes));
  const bool guess_usable = !guess.empty() && guess != "UTF-8" && guess != "ASCII";

  // Long Korean or Japanese input: uchardet's statistics beat our GB-shaped test.
  if (guess_usable && IsNonChineseCjk(guess) && scores.pairs >= 16 &&
      TryDetected(bytes, guess, out)) {
    return out;
  }
  constexpr double kPlausible = 0.8;
  if (scores.pairs > 0 && std::max(scores.gb, scores.big5) >= kPlausible) {
    const bool gb_first = scores.gb > scores.big5 ||
                          (scores.gb == scores.big5 && guess != "Big5");
    if (gb_first) {
      if (TryDetected(bytes, "GB18030", out)) return out;
      if (scores.big5 >= kPlausible && TryDetected(bytes, "Big5", out)) return out;
    } else {
      if (TryDetected(bytes, "Big5", out)) return out;
      if (TryDetected(bytes, "Big5-HKSCS", out)) return out;
      if (scores.gb >= kPlausible && TryDetected(bytes, "GB18030", out)) return out;
    }
  }
  if (guess_usable && TryDetected(bytes, guess, out)) return out;

  // Western text with a few accented letters that uchardet did not place.
  size_t high = 0;
  for (char c : bytes) high += static_cast<unsigned char>(c) >= 0x80 ? 1 : 0;
  if (high * 20 <= bytes.size() && TryDetected(bytes, "windows-1252", out)) return out;
  return InvalidArgumentError(
      "could not detect the character encoding of the text; save the file as UTF-8 and retry");
}

}  // namespace

Result<std::string> ConvertToUtf8(std::string_view bytes, const std::string& charset) {
  const std::string name = CanonicalCharset(charset);
  if (name == "UTF-8") {
    if (!utf8::IsValid(bytes)) {
      return InvalidArgumentError("the bytes are not valid UTF-8; check the declared charset");
    }
    return std::string(bytes);
  }
  ASSIGN_OR_RETURN(Converted c, IcuConvert(bytes, name, 0));
  return std::move(c.utf8);
}

Result<DecodedText> DecodeToUtf8(std::string_view bytes) {
  if (bytes.empty()) return DecodedText{"", "UTF-8"};

  // 1. Byte order marks. UTF-32LE's BOM starts with UTF-16LE's, so test it first.
  if (bytes.substr(0, 4) == std::string_view("\xFF\xFE\0\0", 4)) {
    return DecodeWide(bytes.substr(4), "UTF-32LE");
  }
  if (bytes.substr(0, 4) == std::string_view("\0\0\xFE\xFF", 4)) {
    return DecodeWide(bytes.substr(4), "UTF-32BE");
  }
  if (bytes.substr(0, 2) == "\xFF\xFE") return DecodeWide(bytes.substr(2), "UTF-16LE");
  if (bytes.substr(0, 2) == "\xFE\xFF") return DecodeWide(bytes.substr(2), "UTF-16BE");
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") {
    const std::string_view body = bytes.substr(3);
    if (LooksBinary(body, true)) return InvalidArgumentError(std::string(kNotText));
    return DecodedText{utf8::Sanitize(body), "UTF-8"};
  }

  // 2. UTF-16 without a BOM.
  if (const std::string wide = GuessBomlessUtf16(bytes); !wide.empty()) {
    return DecodeWide(bytes, wide);
  }

  // 3. Binary data.
  const bool valid = utf8::IsValid(bytes);
  if (LooksBinary(bytes, valid)) return InvalidArgumentError(std::string(kNotText));

  // 4. UTF-8, clean or nearly so.
  if (valid) return DecodedText{std::string(bytes), "UTF-8"};
  if (MostlyUtf8(bytes)) return DecodedText{utf8::Sanitize(bytes), "UTF-8"};

  // 5. Legacy encodings.
  return DetectLegacy(bytes);
}

}  // namespace deepkb::text
