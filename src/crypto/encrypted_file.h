// Whole-file encryption for files deepkb writes beside the database: index snapshots
// (<data-dir>/index/*.hnsw, *.kwi) and backups. The chunked AEAD format is documented at the
// top of encrypted_file.cc.
//
// The `key` argument of WriteFileAtomic/ReadFile may be null: then the bytes are written and
// read as they are (an unencrypted node). With a key, a file that is not in the encrypted format
// is refused (DataLoss), never read as plaintext; without one, an encrypted file is refused
// (FailedPrecondition). `context` is bound into every chunk's tag (use the path relative to
// the data directory, e.g. "index/3.hnsw"), so a file renamed onto another one fails.
//
// Hook for other index files: call WriteFileAtomic(path, bytes, kb.data_key(), "index/3.kwi")
// and ReadFile(path, kb.data_key(), "index/3.kwi") (kb::KnowledgeBase::data_key()).
//
// Thread safety: free functions; concurrent writers of one path each publish a whole file.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/aead.h"

namespace deepkb::crypto {

inline constexpr size_t kFileChunkBytes = 64 * 1024;

// Encrypts `plain` into the encrypted file format (in memory).
Result<std::string> EncryptBuffer(std::string_view plain, const DataKey& key,
                                  std::string_view context);
// Decrypts a whole encrypted file image. DataLoss when anything does not verify (any flipped
// byte, truncation, reordered chunks, wrong key or context) — nothing is returned then.
Result<std::string> DecryptBuffer(std::string_view file, const DataKey& key,
                                  std::string_view context);
// True when `head` (the first bytes of a file) starts with the encrypted-file magic.
bool LooksEncrypted(std::string_view head);

// Writes `bytes` (encrypted when key != nullptr) to `path`: temp file (0600), fsync, rename,
// directory fsync; on error `path` is unchanged.
Status WriteFileAtomic(const std::string& path, std::string_view bytes, const DataKey* key,
                       std::string_view context);
// Reads `path` (decrypting when key != nullptr). NotFound when it does not exist.
Result<std::string> ReadFile(const std::string& path, const DataKey* key,
                             std::string_view context);

// A new private directory (mode 0700) on a RAM-backed file system (tmpfs: /dev/shm, or
// $XDG_RUNTIME_DIR), for plaintext that must never reach a disk while a library that only
// writes to paths produces it. Unavailable when no such file system is found. The caller
// removes it.
Result<std::string> MakeRamStagingDir();

}  // namespace deepkb::crypto
