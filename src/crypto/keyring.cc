// Master keys and the keyring file of an encrypted data directory (see keyring.h).
//
// ================================ Keyring format, version 1 ==================================
// <data-dir>/keyring, 124 bytes, mode 0600. Integers little-endian.
//
//   offset size  field
//   0      8     magic "DKBKEYR1"
//   8      2     version = 1
//   10     1     kdf: 1 = HKDF-SHA256 over the key file's bytes, 2 = scrypt over a passphrase
//   11     1     scrypt log2(N) (10..22; 0 for HKDF)
//   12     1     scrypt r (1..32; 0 for HKDF)
//   13     1     scrypt p (1..16; 0 for HKDF)
//   14     2     reserved, 0
//   16     32    salt (random; new at every rotation)
//   48     16    data key id (random at creation; kept across rotations; not secret)
//   64     12    GCM nonce (random; new at every rotation)
//   76     32    data key, AES-256-GCM encrypted under the KEK
//   108    16    GCM tag; the associated data is bytes 0..63 (so no field above can be changed)
//
// KEK = HKDF-SHA256(ikm = key file bytes, salt = salt, info = "deepkb keyring v1 kek", 32 bytes)
//    or scrypt(passphrase, salt, N, r, p, 32 bytes).
// A tag that does not verify means the master key is wrong (or the file was modified: the two
// cannot be told apart, and the message says so).
// =============================================================================================
#include "crypto/keyring.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "crypto/file_io.h"

namespace deepkb::crypto {
namespace {

constexpr char kMagic[8] = {'D', 'K', 'B', 'K', 'E', 'Y', 'R', '1'};
constexpr uint16_t kVersion = 1;
constexpr size_t kSaltBytes = 32;
constexpr size_t kKeyIdBytes = 16;
constexpr size_t kAadBytes = 64;
constexpr size_t kFileBytes = kAadBytes + kNonceBytes + kKeyBytes + kTagBytes;  // 124
constexpr uint8_t kKdfHkdf = 1, kKdfScrypt = 2;
constexpr char kHkdfInfo[] = "deepkb keyring v1 kek";

struct Header {
  uint8_t kdf = 0;
  ScryptParams scrypt{0, 0, 0};
  std::array<uint8_t, kSaltBytes> salt{};
  std::array<uint8_t, kKeyIdBytes> key_id{};
};

void EncodeHeader(const Header& h, uint8_t* out) {
  std::memset(out, 0, kAadBytes);
  std::memcpy(out, kMagic, 8);
  out[8] = static_cast<uint8_t>(kVersion & 0xff);
  out[9] = static_cast<uint8_t>(kVersion >> 8);
  out[10] = h.kdf;
  out[11] = h.scrypt.log2_n;
  out[12] = h.scrypt.r;
  out[13] = h.scrypt.p;
  std::memcpy(out + 16, h.salt.data(), kSaltBytes);
  std::memcpy(out + 48, h.key_id.data(), kKeyIdBytes);
}

Status Malformed(const std::string& path, const std::string& what) {
  return DataLossError("keyring " + path + " is damaged (" + what +
                       "); restore it from a backup of the data directory");
}

Result<Header> DecodeHeader(const std::string& path, const uint8_t* in) {
  if (std::memcmp(in, kMagic, 8) != 0) return Malformed(path, "bad magic");
  const uint16_t version = static_cast<uint16_t>(in[8] | (in[9] << 8));
  if (version != kVersion) {
    return Malformed(path, "unknown version " + std::to_string(version));
  }
  Header h;
  h.kdf = in[10];
  h.scrypt = {in[11], in[12], in[13]};
  if (in[14] != 0 || in[15] != 0) return Malformed(path, "reserved bytes set");
  if (h.kdf == kKdfHkdf) {
    if (h.scrypt.log2_n || h.scrypt.r || h.scrypt.p) return Malformed(path, "bad KDF parameters");
  } else if (h.kdf == kKdfScrypt) {
    if (h.scrypt.log2_n < 10 || h.scrypt.log2_n > 22 || h.scrypt.r < 1 || h.scrypt.r > 32 ||
        h.scrypt.p < 1 || h.scrypt.p > 16) {
      return Malformed(path, "scrypt parameters out of range");
    }
  } else {
    return Malformed(path, "unknown KDF " + std::to_string(h.kdf));
  }
  std::memcpy(h.salt.data(), in + 16, kSaltBytes);
  std::memcpy(h.key_id.data(), in + 48, kKeyIdBytes);
  return h;
}

Result<SecretBytes> Hkdf(const SecretBytes& ikm, std::span<const uint8_t> salt) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return InternalError("HKDF is not available in this OpenSSL");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return InternalError("HKDF: out of memory");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kHkdfInfo),
                                        sizeof(kHkdfInfo) - 1),
      OSSL_PARAM_construct_end()};
  SecretBytes out(kKeyBytes);
  const int rc = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) return InternalError("HKDF-SHA256 derivation failed (OpenSSL)");
  return out;
}

Result<SecretBytes> Scrypt(const SecretBytes& pass, std::span<const uint8_t> salt,
                           const ScryptParams& p) {
  const uint64_t n = uint64_t{1} << p.log2_n;
  // scrypt needs 128·r·N bytes for V plus 128·r·p for B; leave head room.
  const uint64_t maxmem = 256ull * p.r * (n + p.p + 2) + (1ull << 20);
  SecretBytes out(kKeyBytes);
  if (EVP_PBE_scrypt(reinterpret_cast<const char*>(pass.data()), pass.size(), salt.data(),
                     salt.size(), n, p.r, p.p, maxmem, out.data(), out.size()) != 1) {
    return InternalError("scrypt derivation failed (OpenSSL; out of memory?)");
  }
  return out;
}

Result<SecretBytes> DeriveKek(const MasterKey& master, const Header& h) {
  if (h.kdf == kKdfHkdf) return Hkdf(master.secret(), h.salt);
  return Scrypt(master.secret(), h.salt, h.scrypt);
}

Result<std::string> Wrap(const DataKey& data_key, const MasterKey& master,
                         const std::array<uint8_t, kKeyIdBytes>& key_id) {
  Header h;
  if (master.kind() == MasterKey::Kind::kKeyFile) {
    h.kdf = kKdfHkdf;
  } else {
    h.kdf = kKdfScrypt;
    h.scrypt = master.scrypt_params();
  }
  RETURN_IF_ERROR(RandomBytes(h.salt.data(), h.salt.size()));
  h.key_id = key_id;
  ASSIGN_OR_RETURN(SecretBytes kek, DeriveKek(master, h));
  std::string file(kFileBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(file.data());
  EncodeHeader(h, p);
  AeadContext ctx;
  RETURN_IF_ERROR(ctx.Seal(kek.data(), {p, kAadBytes}, data_key.data(), kKeyBytes,
                           p + kAadBytes + kNonceBytes, p + kAadBytes,
                           p + kAadBytes + kNonceBytes + kKeyBytes));
  return file;
}

struct Unwrapped {
  Header header;
  DataKey key;
};

Result<Unwrapped> Unwrap(const std::string& data_dir, const MasterKey& master) {
  const std::string path = KeyringPath(data_dir);
  auto bytes = internal::ReadWholeFile(path, 4096);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      return NotFoundError("data directory " + data_dir + " has no keyring (it is not encrypted)");
    }
    return bytes.status().WithContext("read keyring");
  }
  if (bytes->size() != kFileBytes) {
    return Malformed(path, "size " + std::to_string(bytes->size()) + ", expected " +
                               std::to_string(kFileBytes));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(bytes->data());
  ASSIGN_OR_RETURN(Header h, DecodeHeader(path, p));
  if (h.kdf == kKdfScrypt && master.kind() != MasterKey::Kind::kPassphrase) {
    return UnauthenticatedError("data directory " + data_dir +
                                " is unlocked with a passphrase (env DEEPKB_PASSPHRASE), not a "
                                "key file");
  }
  if (h.kdf == kKdfHkdf && master.kind() != MasterKey::Kind::kKeyFile) {
    return UnauthenticatedError("data directory " + data_dir +
                                " is unlocked with a key file (--key-file / DEEPKB_KEY_FILE), "
                                "not a passphrase");
  }
  ASSIGN_OR_RETURN(SecretBytes kek, DeriveKek(master, h));
  SecretBytes plain(kKeyBytes);
  Status st = AeadContext().Open(kek.data(), {p, kAadBytes}, p + kAadBytes + kNonceBytes,
                                 kKeyBytes, plain.data(), p + kAadBytes,
                                 p + kAadBytes + kNonceBytes + kKeyBytes);
  if (st.code() == StatusCode::kDataLoss) {
    return UnauthenticatedError(
        "wrong " + std::string(master.kind() == MasterKey::Kind::kKeyFile ? "key file"
                                                                           : "passphrase") +
        " for this data directory (" + master.origin() + " does not unlock " + path +
        "; if the key is right, the keyring file is damaged)");
  }
  RETURN_IF_ERROR(st);
  ASSIGN_OR_RETURN(DataKey key, DataKey::FromBytes(plain.span()));
  return Unwrapped{h, std::move(key)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MasterKey

Result<MasterKey> MasterKey::FromKeyFile(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("--key-file: empty path");
  auto bytes = internal::ReadWholeFile(path, kMaxKeyFileBytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kTooLarge) {
      return InvalidArgumentError("key file " + path +
                                  " is larger than 1 MiB; use a file of 32 or more random bytes");
    }
    return bytes.status().WithContext("key file");
  }
  MasterKey k;
  k.kind_ = Kind::kKeyFile;
  k.origin_ = "key file " + path;
  k.secret_ = SecretBytes(bytes->data(), bytes->size());
  const size_t n = bytes->size();
  OPENSSL_cleanse(bytes->data(), bytes->size());
  if (n < kMinKeyFileBytes) {
    return InvalidArgumentError("key file " + path + " holds " + std::to_string(n) +
                                " bytes; it needs at least 32 random bytes (create one with "
                                "`head -c 32 /dev/urandom > master.key && chmod 600 master.key`)");
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
    k.warning_ = "key file " + path + " is accessible by group or others (mode " +
                 fmt::format("{:04o}", st.st_mode & 07777) + "); run `chmod 600 " + path + "`";
    spdlog::warn("{}", k.warning_);
  }
  return k;
}

Result<MasterKey> MasterKey::FromPassphrase(std::string_view passphrase, ScryptParams params) {
  if (passphrase.size() < 8) {
    return InvalidArgumentError("the passphrase must be at least 8 characters long");
  }
  if (params.log2_n < 10 || params.log2_n > 22 || params.r < 1 || params.r > 32 ||
      params.p < 1 || params.p > 16) {
    return InvalidArgumentError("scrypt parameters out of range");
  }
  MasterKey k;
  k.kind_ = Kind::kPassphrase;
  k.origin_ = "passphrase";
  k.scrypt_ = params;
  k.secret_ = SecretBytes(passphrase.data(), passphrase.size());
  return k;
}

// ---------------------------------------------------------------------------------------------
// Keyring

std::string KeyringPath(const std::string& data_dir) {
  return data_dir + "/" + kKeyringFileName;
}

bool KeyringExists(const std::string& data_dir) {
  std::error_code ec;
  return std::filesystem::exists(KeyringPath(data_dir), ec);
}

Result<DataKey> CreateKeyring(const std::string& data_dir, const MasterKey& master) {
  ASSIGN_OR_RETURN(DataKey key, DataKey::Generate());
  std::array<uint8_t, kKeyIdBytes> key_id{};
  RETURN_IF_ERROR(RandomBytes(key_id.data(), key_id.size()));
  ASSIGN_OR_RETURN(std::string file, Wrap(key, master, key_id));
  RETURN_IF_ERROR(internal::WriteFileAtomic(KeyringPath(data_dir), file, /*no_clobber=*/true));
  return key;
}

Result<DataKey> OpenKeyring(const std::string& data_dir, const MasterKey& master) {
  ASSIGN_OR_RETURN(Unwrapped u, Unwrap(data_dir, master));
  return std::move(u.key);
}

Status RotateMasterKey(const std::string& data_dir, const MasterKey& old_master,
                       const MasterKey& next) {
  ASSIGN_OR_RETURN(Unwrapped u, Unwrap(data_dir, old_master));
  ASSIGN_OR_RETURN(std::string file, Wrap(u.key, next, u.header.key_id));
  return internal::WriteFileAtomic(KeyringPath(data_dir), file, /*no_clobber=*/false);
}

Result<std::shared_ptr<const DataKey>> UnlockDataDir(const std::string& data_dir,
                                                     const MasterKey* master,
                                                     const std::string& db_path) {
  std::error_code ec;
  if (KeyringExists(data_dir)) {
    if (master == nullptr) {
      return UnauthenticatedError("data directory " + data_dir +
                                  " is encrypted; pass --key-file FILE (or set DEEPKB_KEY_FILE, "
                                  "or DEEPKB_PASSPHRASE if it was created with a passphrase)");
    }
    ASSIGN_OR_RETURN(DataKey key, OpenKeyring(data_dir, *master));
    return std::make_shared<const DataKey>(std::move(key));
  }
  const auto db_size = std::filesystem::file_size(db_path, ec);
  const bool has_db = !ec && db_size > 0;
  if (master == nullptr) {
    if (has_db && db_size >= 16) {
      char magic[16] = {};
      std::ifstream in(db_path, std::ios::binary);
      in.read(magic, sizeof(magic));
      if (in && std::memcmp(magic, "SQLite format 3", 16) != 0) {
        return FailedPreconditionError(
            db_path + " is not a plain SQLite database; if this data directory was encrypted, "
                      "its keyring file (" + KeyringPath(data_dir) +
            ") is missing: restore it from a backup");
      }
    }
    return std::shared_ptr<const DataKey>();
  }
  if (has_db) {
    return FailedPreconditionError(
        "data directory " + data_dir +
        " holds unencrypted data, so it cannot be opened with a key (deepkb does not mix "
        "encrypted and plain data): drop --key-file, or start a new data directory with "
        "--key-file and ingest the documents again");
  }
  auto created = CreateKeyring(data_dir, *master);
  if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
    // Another process created it a moment ago: use theirs.
    ASSIGN_OR_RETURN(DataKey key, OpenKeyring(data_dir, *master));
    return std::make_shared<const DataKey>(std::move(key));
  }
  if (!created.ok()) return created.status().WithContext("create keyring");
  spdlog::info("data directory {} is new: created its keyring (data at rest is encrypted)",
               data_dir);
  return std::make_shared<const DataKey>(std::move(created).value());
}

}  // namespace deepkb::crypto
