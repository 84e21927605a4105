// Hashing helpers (OpenSSL). Content hashes identify document versions: re-ingesting bytes with
// the same SHA-256 is a no-op. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace deepkb {

// SplitMix64's finaliser: a bijective 64-bit mixer whose every output bit depends on every input
// bit. Stable (its outputs are persisted by some callers, e.g. keyword-index fingerprints).
inline uint64_t SplitMix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// `n` cryptographically random bytes as lower-case hex (2n characters).
std::string RandomHex(size_t n);

}  // namespace deepkb
