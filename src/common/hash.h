// Hashing helpers (OpenSSL). Content hashes identify document versions: re-ingesting bytes with
// the same SHA-256 is a no-op. Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

namespace deepkb {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// `n` cryptographically random bytes as lower-case hex (2n characters).
std::string RandomHex(size_t n);

}  // namespace deepkb
