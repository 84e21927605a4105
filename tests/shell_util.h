// Test helpers for running the deepkb binary through the shell (cli_test, keys_cli_test).
#pragma once

#include <string>

namespace deepkb::testing {

struct CmdResult {
  int code = -1;
  std::string out;  // what the command printed
};

// `s` as one single-quoted shell word.
inline std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

}  // namespace deepkb::testing
