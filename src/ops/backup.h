// Backup and restore of a KB node's data directory (docs/backup.md).
//
// A backup is a directory:
//   kb.db          the database as of one point in time: copied with SQLite's online backup API
//                  from a dedicated connection inside one read transaction, so the copy is a
//                  single committed snapshot while writers keep committing (WAL: readers never
//                  block writers). Pages pass through the connection's VFS, so an encrypted
//                  node's copy is written through the encrypting VFS again: ciphertext on disk
//                  under the same data key. API keys, audit log and change log are inside.
//   index/*        the vector and keyword index snapshots, saved just before the database copy
//                  (so they cover at most its point in time); at load, KnowledgeBase::Open
//                  reconciles them with the database (kb/vectors.h, kb/keyword_set.h).
//                  Encrypted files are copied byte for byte (their context is the relative
//                  path, so they decrypt at the same place in the restored directory).
//   keyring        when the node is encrypted (the same master key opens the backup).
//   manifest.json  written last, atomically: {"format": 1, "deepkb_version", "node_id",
//                  "created_ms", "covered_seq", "schema_version", "encrypted",
//                  "files": [{"path", "bytes", "sha256"}]}. A backup without it is incomplete.
//                  It holds no document content (plaintext even on an encrypted node).
//
// Errors: DEST relative, or existing and non-empty → InvalidArgument / AlreadyExists; I/O →
// PermissionDenied/Internal; a backup that fails verification (missing file, checksum mismatch,
// integrity check) → DataLoss; wrong master key → Unauthenticated; data dir held by a server
// (or another command) during restore → Unavailable; a non-empty data dir without `force` →
// FailedPrecondition. On any error of CreateBackup, DEST is removed if this call created it; on
// any error of Restore, the data directory is untouched.
//
// Thread safety: CreateBackup may run while other threads use the KnowledgeBase; callers
// serialise backups themselves (the HTTP route allows one at a time).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/keyring.h"
#include "kb/kb.h"

namespace deepkb::ops {

inline constexpr int kBackupFormat = 1;
inline constexpr const char* kManifestName = "manifest.json";

struct BackupFile {
  std::string path;  // relative to the backup directory, '/'-separated
  int64_t bytes = 0;
  std::string sha256;  // hex
};

struct BackupManifest {
  int format = kBackupFormat;
  std::string deepkb_version;
  std::string node_id;
  int64_t created_ms = 0;
  int64_t covered_seq = 0;  // last change-log seq contained in kb.db
  int schema_version = 0;
  bool encrypted = false;
  std::vector<BackupFile> files;
};

std::string ManifestToJson(const BackupManifest& m);
// InvalidArgument (malformed) / DataLoss (unsupported format version) naming the problem.
Result<BackupManifest> ParseManifest(const std::string& json);

// (done, total) database pages copied.
using BackupProgress = std::function<void(int64_t done, int64_t total)>;

// Writes a backup of `kb` (its data directory) to `dest`, an absolute path that must not exist
// or be an empty directory. Returns the manifest written.
Result<BackupManifest> CreateBackup(kb::KnowledgeBase& kb, const std::string& dest,
                                    const BackupProgress& progress = nullptr);

// Checks the manifest and every listed file's size and SHA-256 (no key needed). DataLoss names
// the first bad file.
Result<BackupManifest> VerifyBackupFiles(const std::string& src);

struct RestoreOptions {
  bool force = false;     // replace a non-empty data directory
  bool keep_old = true;   // keep the replaced directory as <data-dir>.old-<unix ms>
  const crypto::MasterKey* master = nullptr;  // required for an encrypted backup
};

struct RestoreResult {
  BackupManifest manifest;
  std::string old_dir;  // where the replaced data went ("" when none or removed)
};

// Verifies `src` (VerifyBackupFiles, then a copy in a staging directory beside `data_dir` is
// opened with KnowledgeBase::Open and passes KnowledgeBase::Verify), then swaps it in: with the
// data directory's lock held exclusively, data_dir → data_dir.old-<ms>, staging → data_dir.
Result<RestoreResult> Restore(const std::string& src, const std::string& data_dir,
                              const RestoreOptions& opts);

}  // namespace deepkb::ops
