// AES-256-GCM primitives of deepkb (OpenSSL 3) and the key types that carry secrets.
//
// Contract:
//  - SecretBytes owns a heap buffer that is wiped (OPENSSL_cleanse) when it is destroyed or
//    overwritten. It is copyable (each copy wipes itself); secrets are never logged.
//  - DataKey is the random 256-bit key that encrypts a data directory (database pages, index
//    snapshots, backups). It is generated once per data directory and stored wrapped in the
//    keyring (see keyring.h); it never changes when the master key is rotated.
//  - Seal()/Open(): AES-256-GCM with a 96-bit nonce taken from RAND_bytes for every call, a
//    128-bit tag and caller-chosen associated data (AAD). Open() returns DataLoss when the tag
//    does not verify (wrong key, wrong AAD, or modified bytes) and never hands out unverified
//    plaintext (the output buffer is wiped on failure).
//  - Random nonces: do not seal more than 2^32 messages under one key (NIST SP 800-38D, 8.3).
//
// Thread safety: all functions are thread-safe; an AeadContext belongs to one thread at a time.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace deepkb::crypto {

inline constexpr size_t kKeyBytes = 32;    // AES-256
inline constexpr size_t kNonceBytes = 12;  // 96-bit GCM nonce
inline constexpr size_t kTagBytes = 16;    // 128-bit GCM tag

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n);
  SecretBytes(const void* p, size_t n);
  SecretBytes(const SecretBytes& o) : SecretBytes(o.data(), o.size()) {}
  SecretBytes(SecretBytes&& o) noexcept;
  SecretBytes& operator=(const SecretBytes& o);
  SecretBytes& operator=(SecretBytes&& o) noexcept;
  ~SecretBytes();

  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::span<const uint8_t> span() const { return {p_, n_}; }

 private:
  void Wipe();
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

// Fills `out` with cryptographically secure random bytes (RAND_bytes). Internal on failure.
Status RandomBytes(void* out, size_t n);

class DataKey {
 public:
  // A fresh random key.
  static Result<DataKey> Generate();
  // Exactly kKeyBytes bytes, else InvalidArgument.
  static Result<DataKey> FromBytes(std::span<const uint8_t> bytes);

  const uint8_t* data() const { return key_.data(); }
  size_t size() const { return key_.size(); }

 private:
  DataKey() = default;
  SecretBytes key_;
};

// A reusable GCM context (avoids one allocation per page). Not thread-safe; one per file/thread.
class AeadContext {
 public:
  AeadContext();
  ~AeadContext();
  AeadContext(const AeadContext&) = delete;
  AeadContext& operator=(const AeadContext&) = delete;

  // Encrypts in[0..n) into out[0..n) (in == out allowed) under `key` (kKeyBytes) with a fresh
  // random nonce, written to nonce[kNonceBytes], and the tag to tag[kTagBytes].
  Status Seal(const uint8_t* key, std::span<const uint8_t> aad, const uint8_t* in, size_t n,
              uint8_t* out, uint8_t* nonce, uint8_t* tag);
  // Decrypts and verifies. DataLoss when the tag does not verify; `out` is then zeroed.
  Status Open(const uint8_t* key, std::span<const uint8_t> aad, const uint8_t* in, size_t n,
              uint8_t* out, const uint8_t* nonce, const uint8_t* tag);

 private:
  EVP_CIPHER_CTX* ctx_;
};

// Convenience for small messages: returns nonce || ciphertext || tag.
Result<std::string> SealString(const DataKey& key, std::string_view aad, std::string_view plain);
// Inverse of SealString; DataLoss when it does not authenticate (or is too short).
Result<std::string> OpenString(const DataKey& key, std::string_view aad, std::string_view sealed);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace deepkb::crypto
