// Character classes used by the hand-written pre-tokenizer matchers, and WHATWG-style UTF-8
// repair. Internal to deepkb::tokenize (not part of the module's public contract).
//
// The classes follow the regexes of Hugging Face tokenizer.json files as the JavaScript reference
// (@lenml/tokenizers, a fork of transformers.js) runs them: `new RegExp(pattern, "gu")`.
//  - kL/kN/kP/kS/kM: Unicode general categories \p{L}, \p{N}, \p{P}, \p{S}, \p{M}, taken from
//    ICU (u_charType) — the system ICU's Unicode version (ICU 72 = Unicode 15.0).
//  - kWs: JavaScript's \s: TAB, LF, VT, FF, CR, U+FEFF, U+2028, U+2029 and every Zs character.
//    (Oniguruma, used by the Rust `tokenizers`, differs on exactly two code points: it counts
//    U+0085 as \s and U+FEFF not.)
//  - kCjk: DeepSeek-V3's `[一-龥぀-ゟ゠-ヿ]` = U+4E00..U+9FA5, U+3040..U+309F,
//  U+30A0..U+30FF.
// Thread safety: pure functions; the lookup table is built once, thread-safely, on first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deepkb::tokenize::internal {

enum CharClass : uint8_t {
  kL = 1 << 0,
  kN = 1 << 1,
  kP = 1 << 2,
  kS = 1 << 3,
  kM = 1 << 4,
  kWs = 1 << 5,
  kCjk = 1 << 6,
};

// Class bits of one code point.
uint8_t ClassOf(char32_t cp);

// True when `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

// Replaces each maximal ill-formed subsequence with U+FFFD, exactly as the WHATWG Encoding
// Standard's UTF-8 decoder (and so Node's TextDecoder / fs.readFileSync(..., "utf8")) does.
std::string RepairUtf8(std::string_view s);

// Decodes valid UTF-8 `s` into code points, their class bits, and the byte offset where each
// starts; offsets gets one extra trailing entry, s.size(). The vectors are overwritten.
void DecodeForSplit(std::string_view s, std::vector<char32_t>* cps, std::vector<uint8_t>* cls,
                    std::vector<uint32_t>* offsets);

}  // namespace deepkb::tokenize::internal
