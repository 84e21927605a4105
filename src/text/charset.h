// Charset detection and conversion to UTF-8 for text files.
//
// Order: BOM (UTF-8, UTF-16LE/BE, UTF-32) → valid UTF-8 → uchardet's guess (GB18030 covers GBK
// and GB2312; Big5; Shift_JIS; EUC-KR; windows-125x; ...) → ICU conversion. Input that looks
// binary (NUL bytes outside UTF-16/32, or a high share of control characters) is rejected with
// InvalidArgument ("not a text file") instead of being decoded into garbage.
// Thread safety: reentrant.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace deepkb::text {

struct DecodedText {
  std::string utf8;
  std::string charset;  // canonical name of the detected source charset, e.g. "GB18030"
};

Result<DecodedText> DecodeToUtf8(std::string_view bytes);

// Converts from a named charset with ICU; InvalidArgument for unknown names or bytes that do
// not convert cleanly.
Result<std::string> ConvertToUtf8(std::string_view bytes, const std::string& charset);

}  // namespace deepkb::text
