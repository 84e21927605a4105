#include "tokenize/unicode_class.h"

#include <unicode/uchar.h>

#include <array>

namespace deepkb::tokenize::internal {
namespace {

uint8_t ComputeClass(char32_t cp) {
  uint8_t c = 0;
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      c |= kL;
      break;
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
      c |= kM;
      break;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      c |= kN;
      break;
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      c |= kP;
      break;
    case U_MATH_SYMBOL:
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL:
      c |= kS;
      break;
    case U_SPACE_SEPARATOR:
      c |= kWs;
      break;
    default:
      break;
  }
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0xFEFF || cp == 0x2028 || cp == 0x2029) c |= kWs;
  if ((cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF)) c |= kCjk;
  return c;
}

struct BmpTable {
  std::array<uint8_t, 0x10000> cls;
  BmpTable() {
    for (char32_t cp = 0; cp < 0x10000; ++cp) cls[cp] = ComputeClass(cp);
  }
};

const BmpTable& Table() {
  static const BmpTable* table = new BmpTable();  // never destroyed: usable during exit
  return *table;
}

// Length of the well-formed sequence at s[i], or 0 when ill-formed.
inline size_t SeqLen(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 == 0xE0) {
    need = 2;
    lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    need = 2;
  } else if (b0 == 0xED) {
    need = 2;
    hi = 0x9F;
  } else if (b0 == 0xF0) {
    need = 3;
    lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    need = 3;
  } else if (b0 == 0xF4) {
    need = 3;
    hi = 0x8F;
  } else {
    return 0;
  }
  if (i + need >= s.size()) return 0;  // truncated
  for (size_t k = 1; k <= need; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < lo || b > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

}  // namespace

uint8_t ClassOf(char32_t cp) {
  if (cp < 0x10000) return Table().cls[cp];
  return ComputeClass(cp);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = SeqLen(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string RepairUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(static_cast<char>(b0));
      ++i;
      continue;
    }
    const size_t len = SeqLen(s, i);
    if (len != 0) {
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    // Ill-formed: consume the maximal subpart (the lead byte plus the continuation bytes that
    // were still acceptable), emit one U+FFFD, and resume at the first unacceptable byte.
    size_t need = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 == 0xE0) {
      need = 2;
      lo = 0xA0;
    } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
      need = 2;
    } else if (b0 == 0xED) {
      need = 2;
      hi = 0x9F;
    } else if (b0 == 0xF0) {
      need = 3;
      lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
      need = 3;
    } else if (b0 == 0xF4) {
      need = 3;
      hi = 0x8F;
    }
    size_t j = i + 1;
    for (size_t k = 0; k < need && j < n; ++k, ++j) {
      const auto b = static_cast<unsigned char>(s[j]);
      if (b < lo || b > hi) break;
      lo = 0x80;
      hi = 0xBF;
    }
    out.append("\xEF\xBF\xBD");
    i = j;
  }
  return out;
}

void DecodeForSplit(std::string_view s, std::vector<char32_t>* cps, std::vector<uint8_t>* cls,
                    std::vector<uint32_t>* offsets) {
  cps->resize(s.size());
  cls->resize(s.size());
  offsets->resize(s.size() + 1);
  const BmpTable& table = Table();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0, k = 0;
  char32_t* cp_out = cps->data();
  uint8_t* cls_out = cls->data();
  uint32_t* off_out = offsets->data();
  while (i < n) {
    const unsigned b0 = p[i];
    char32_t cp;
    off_out[k] = static_cast<uint32_t>(i);
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if (b0 < 0xE0) {
      cp = ((b0 & 0x1F) << 6) | (p[i + 1] & 0x3F);
      i += 2;
    } else if (b0 < 0xF0) {
      cp = ((b0 & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
      i += 3;
    } else {
      cp = ((b0 & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) |
           (p[i + 3] & 0x3F);
      i += 4;
    }
    cp_out[k] = cp;
    cls_out[k] = cp < 0x10000 ? table.cls[cp] : ComputeClass(cp);
    ++k;
  }
  off_out[k] = static_cast<uint32_t>(n);
  cps->resize(k);
  cls->resize(k);
  offsets->resize(k + 1);
}

}  // namespace deepkb::tokenize::internal
