// The encrypting SQLite VFS "deepkb-aes": page-level AES-256-GCM for a database, its WAL and
// its rollback journal, layered over SQLite's "unix" VFS. The on-disk format and what each
// authentication tag binds are documented at the top of sqlite_vfs.cc.
//
// Use:
//   1. EncryptDatabase(path, key) binds a data key to a database path (process-wide).
//   2. Open that path with the VFS named kEncryptedVfsName (storage::Database::Open does this
//      by itself for bound paths), and on a new database set page_size = kEncryptedPageSize and
//      SQLITE_FCNTL_RESERVE_BYTES = kPageReserveBytes before the first write (Database::Open
//      does this too). The VFS refuses to write a page 1 whose header says otherwise.
//   3. Temporary files (sorter, temp tables, statement journals) opened through the VFS are
//      kept in memory and never reach the disk.
//
// Errors seen through SQLite: a page whose tag does not verify (wrong key, flipped bit,
// swapped or replayed-at-another-position page) fails the read with SQLITE_IOERR_CORRUPTFS,
// which storage::SqliteStatus maps to DataLoss ("corrupt or tampered"). Opening a path that
// has no bound key through the VFS fails with SQLITE_CANTOPEN.
//
// Thread safety: all functions are thread-safe. Each SQLite connection owns its files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/aead.h"

namespace deepkb::crypto {

inline constexpr const char* kEncryptedVfsName = "deepkb-aes";
inline constexpr int kEncryptedPageSize = 4096;
inline constexpr int kPageReserveBytes = static_cast<int>(kNonceBytes + kTagBytes);  // 28

// Registers the VFS with SQLite (not as the default). Idempotent.
Status RegisterEncryptedVfs();

// Binds `key` to the database file at `db_path` (and its -wal and -journal files), replacing
// any earlier binding; registers the VFS if needed. Files already open keep their key.
Status EncryptDatabase(const std::string& db_path, std::shared_ptr<const DataKey> key);
// Removes the binding of `db_path` (no-op when there is none).
void ForgetDatabase(const std::string& db_path);
// True when `db_path` is bound to a key.
bool IsEncryptedDatabase(const std::string& db_path);

// Process-wide counters, for tests and diagnostics.
struct VfsCounters {
  uint64_t pages_sealed = 0;
  uint64_t pages_opened = 0;
  uint64_t auth_failures = 0;      // reported to SQLite as corruption
  uint64_t torn_wal_frames = 0;    // unauthenticated tail frames handed back as torn
  uint64_t memory_files = 0;       // temporary files kept in memory
};
VfsCounters GetVfsCounters();

}  // namespace deepkb::crypto
