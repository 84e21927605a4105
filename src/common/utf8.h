// UTF-8 helpers. Everything inside deepkb is valid UTF-8: input is validated or repaired at the
// edge (parsers, HTTP) with these functions. Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace deepkb::utf8 {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValid(std::string_view s);

// Replaces every ill-formed sequence with U+FFFD; returns valid UTF-8.
std::string Sanitize(std::string_view s);

// Decodes one code point at s[i]; advances i. Ill-formed input yields U+FFFD and advances by
// at least one byte. Precondition: i < s.size().
char32_t Decode(std::string_view s, size_t& i);

// Appends the UTF-8 encoding of `cp` to `out`.
void Append(std::string& out, char32_t cp);

// Number of code points (ill-formed bytes count one each).
size_t CodePointCount(std::string_view s);

// Largest offset <= pos that does not fall inside a UTF-8 sequence.
size_t FloorBoundary(std::string_view s, size_t pos);

}  // namespace deepkb::utf8
