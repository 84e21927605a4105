// Master keys and the keyring of an encrypted data directory.
//
// Keys, outermost first:
//   master key  a key file (>= 32 random bytes, `--key-file`, env DEEPKB_KEY_FILE) or a
//               passphrase (env DEEPKB_PASSPHRASE). Never stored by deepkb.
//   KEK         key-encryption key derived from the master key and the keyring's random salt:
//               key file → HKDF-SHA256(ikm = every byte of the file, salt, info
//               "deepkb keyring v1 kek"); passphrase → scrypt(N = 2^17, r = 8, p = 1: 128 MiB
//               and roughly half a second per unlock, memory-hard), parameters stored in the
//               keyring so they can be raised later without breaking old directories.
//   data key    random 256-bit key that encrypts everything in the data directory; stored in
//               <data-dir>/keyring wrapped (AES-256-GCM) by the KEK. Rotating the master key
//               rewraps this one key and rewrites no data.
// The keyring format is documented at the top of keyring.cc.
//
// Errors: a master key that does not unwrap the keyring → Unauthenticated ("wrong key file for
// this data directory"); an encrypted directory opened without a key → Unauthenticated; an
// unencrypted directory opened with a key → FailedPrecondition (no silent mixing); a malformed
// keyring → DataLoss; key files shorter than 32 bytes → InvalidArgument. A key file readable by
// group or others is accepted with a warning (the contract's `head -c 32 /dev/urandom > f`
// creates one under the usual umask 022); `chmod 600` it.
//
// Thread safety: free functions and value types; concurrent RotateMasterKey calls on one
// directory are each atomic (the last rename wins).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/aead.h"

namespace deepkb::crypto {

inline constexpr size_t kMinKeyFileBytes = 32;
inline constexpr size_t kMaxKeyFileBytes = 1 << 20;

// scrypt cost; the default is the production cost documented above.
struct ScryptParams {
  uint8_t log2_n = 17;
  uint8_t r = 8;
  uint8_t p = 1;
};

class MasterKey {
 public:
  enum class Kind { kKeyFile, kPassphrase };

  // Reads the whole file. InvalidArgument when it is shorter than 32 bytes or larger than
  // 1 MiB; NotFound / PermissionDenied when it cannot be read. Logs a warning (and keeps it in
  // warning()) when a regular file is readable or writable by group or others.
  static Result<MasterKey> FromKeyFile(const std::string& path);
  // A non-empty passphrase (InvalidArgument when shorter than 8 bytes). `params` is the scrypt
  // cost used when this key wraps a keyring (creation and rotation); unlocking always uses the
  // cost recorded in the keyring.
  static Result<MasterKey> FromPassphrase(std::string_view passphrase,
                                          ScryptParams params = ScryptParams{});

  Kind kind() const { return kind_; }
  // "key file /path" or "passphrase": for messages, never the secret.
  const std::string& origin() const { return origin_; }
  const std::string& warning() const { return warning_; }
  const ScryptParams& scrypt_params() const { return scrypt_; }
  const SecretBytes& secret() const { return secret_; }

 private:
  MasterKey() = default;
  Kind kind_ = Kind::kKeyFile;
  std::string origin_;
  std::string warning_;
  ScryptParams scrypt_;
  SecretBytes secret_;
};

inline constexpr const char* kKeyringFileName = "keyring";
std::string KeyringPath(const std::string& data_dir);
bool KeyringExists(const std::string& data_dir);

// Creates <data_dir>/keyring with a new random data key wrapped by `master` (file mode 0600,
// written to a temp file, fsynced and linked into place, so it never exists half-written and
// an existing keyring is never replaced: AlreadyExists then).
Result<DataKey> CreateKeyring(const std::string& data_dir, const MasterKey& master);
// Unwraps the data key. NotFound without a keyring; Unauthenticated with the wrong master key
// (or the wrong kind: a key file for a passphrase keyring and vice versa); DataLoss when the
// file is malformed.
Result<DataKey> OpenKeyring(const std::string& data_dir, const MasterKey& master);
// Rewraps the data key under `next` with a fresh salt: temp file, fsync, rename, directory
// fsync. The old master key stops working; no data is rewritten. Errors as OpenKeyring for
// `old`; on any error the keyring is unchanged.
Status RotateMasterKey(const std::string& data_dir, const MasterKey& old_master,
                       const MasterKey& next);

// The policy applied when a data directory is opened; `db_path` is its SQLite database.
//   keyring, master given   → the data key (errors as OpenKeyring)
//   keyring, no master      → Unauthenticated: the directory is encrypted, pass --key-file
//   no keyring, master      → a new keyring, unless the directory already holds an
//                             unencrypted database: FailedPrecondition (no silent mixing)
//   no keyring, no master   → nullptr (plaintext), unless the database does not start with the
//                             SQLite magic (an encrypted database whose keyring is missing):
//                             FailedPrecondition
Result<std::shared_ptr<const DataKey>> UnlockDataDir(const std::string& data_dir,
                                                     const MasterKey* master,
                                                     const std::string& db_path);

}  // namespace deepkb::crypto
