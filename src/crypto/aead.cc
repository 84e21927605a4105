#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <utility>

namespace deepkb::crypto {

// ---------------------------------------------------------------------------------------------
// SecretBytes

SecretBytes::SecretBytes(size_t n) : p_(n ? new uint8_t[n]() : nullptr), n_(n) {}

SecretBytes::SecretBytes(const void* p, size_t n) : SecretBytes(n) {
  if (n) std::memcpy(p_, p, n);
}

SecretBytes::SecretBytes(SecretBytes&& o) noexcept
    : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}

SecretBytes& SecretBytes::operator=(const SecretBytes& o) {
  if (this != &o) {
    SecretBytes copy(o);
    *this = std::move(copy);
  }
  return *this;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
  if (this != &o) {
    Wipe();
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() {
  if (p_ != nullptr) {
    OPENSSL_cleanse(p_, n_);
    delete[] p_;
  }
  p_ = nullptr;
  n_ = 0;
}

Status RandomBytes(void* out, size_t n) {
  if (n > static_cast<size_t>(INT_MAX)) return InternalError("RandomBytes: request too large");
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) != 1) {
    return InternalError("the system random number generator failed (RAND_bytes)");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// DataKey

Result<DataKey> DataKey::Generate() {
  DataKey k;
  k.key_ = SecretBytes(kKeyBytes);
  RETURN_IF_ERROR(RandomBytes(k.key_.data(), kKeyBytes));
  return k;
}

Result<DataKey> DataKey::FromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kKeyBytes) {
    return InvalidArgumentError("a data key must be exactly 32 bytes");
  }
  DataKey k;
  k.key_ = SecretBytes(bytes.data(), bytes.size());
  return k;
}

// ---------------------------------------------------------------------------------------------
// AeadContext

AeadContext::AeadContext() : ctx_(EVP_CIPHER_CTX_new()) {}

AeadContext::~AeadContext() { EVP_CIPHER_CTX_free(ctx_); }

Status AeadContext::Seal(const uint8_t* key, std::span<const uint8_t> aad, const uint8_t* in,
                         size_t n, uint8_t* out, uint8_t* nonce, uint8_t* tag) {
  if (ctx_ == nullptr) return InternalError("AES-GCM: out of memory");
  if (n > static_cast<size_t>(INT_MAX) || aad.size() > static_cast<size_t>(INT_MAX)) {
    return InternalError("AES-GCM: message too large");
  }
  RETURN_IF_ERROR(RandomBytes(nonce, kNonceBytes));
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx_, nullptr, nullptr, key, nonce) == 1;
  if (ok && !aad.empty()) {
    ok = EVP_EncryptUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1;
  }
  if (ok && n > 0) ok = EVP_EncryptUpdate(ctx_, out, &len, in, static_cast<int>(n)) == 1;
  if (ok) ok = EVP_EncryptFinal_ex(ctx_, out + n, &len) == 1;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
  if (!ok) return InternalError("AES-GCM encryption failed (OpenSSL)");
  return Status::Ok();
}

Status AeadContext::Open(const uint8_t* key, std::span<const uint8_t> aad, const uint8_t* in,
                         size_t n, uint8_t* out, const uint8_t* nonce, const uint8_t* tag) {
  if (ctx_ == nullptr) return InternalError("AES-GCM: out of memory");
  if (n > static_cast<size_t>(INT_MAX) || aad.size() > static_cast<size_t>(INT_MAX)) {
    return InternalError("AES-GCM: message too large");
  }
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx_, nullptr, nullptr, key, nonce) == 1;
  if (ok && !aad.empty()) {
    ok = EVP_DecryptUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1;
  }
  if (ok && n > 0) ok = EVP_DecryptUpdate(ctx_, out, &len, in, static_cast<int>(n)) == 1;
  if (!ok) return InternalError("AES-GCM decryption failed (OpenSSL)");
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, kTagBytes, const_cast<uint8_t*>(tag)) != 1) {
    return InternalError("AES-GCM: cannot set tag (OpenSSL)");
  }
  if (EVP_DecryptFinal_ex(ctx_, out + n, &len) != 1) {
    if (n > 0) OPENSSL_cleanse(out, n);
    return DataLossError("authentication failed (wrong key, or the data is corrupt or was "
                         "tampered with)");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Strings

Result<std::string> SealString(const DataKey& key, std::string_view aad, std::string_view plain) {
  std::string out(kNonceBytes + plain.size() + kTagBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  AeadContext ctx;
  RETURN_IF_ERROR(ctx.Seal(key.data(), AsBytes(aad),
                           reinterpret_cast<const uint8_t*>(plain.data()), plain.size(),
                           p + kNonceBytes, p, p + kNonceBytes + plain.size()));
  return out;
}

Result<std::string> OpenString(const DataKey& key, std::string_view aad, std::string_view sealed) {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return DataLossError("sealed message is truncated");
  }
  const size_t n = sealed.size() - kNonceBytes - kTagBytes;
  const auto* p = reinterpret_cast<const uint8_t*>(sealed.data());
  std::string out(n, '\0');
  AeadContext ctx;
  RETURN_IF_ERROR(ctx.Open(key.data(), AsBytes(aad), p + kNonceBytes, n,
                           reinterpret_cast<uint8_t*>(out.data()), p, p + kNonceBytes + n));
  return out;
}

}  // namespace deepkb::crypto
