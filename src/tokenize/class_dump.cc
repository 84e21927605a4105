// Test helper: prints the pre-tokenizer's class bits (unicode_class.h: L=1 N=2 P=4 S=8 M=16
// \s=32) of every Unicode scalar value as one character 'A' + bits, in code point order,
// surrogates skipped. tests/tokenizer/classes.js compares them with the JavaScript regex engine.
#include <cstdio>

#include "tokenize/unicode_class.h"

int main() {
  using deepkb::tokenize::internal::ClassOf;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::putchar('A' + (ClassOf(cp) & 0x3F));
  }
  return 0;
}
