// Thin RAII wrapper over SQLite: Database (one connection), Statement (one prepared statement),
// Transaction (BEGIN IMMEDIATE ... COMMIT, rolled back if not committed). Every call returns
// Status/Result; no exceptions.
//
// Durability: Database::Open puts the file in WAL mode with synchronous=FULL, so a transaction
// whose Commit() returned OK survives a crash (process or power) — this is what "acknowledged"
// means everywhere in deepkb. foreign_keys=ON, busy_timeout as configured.
//
// Encrypted databases (crypto/sqlite_vfs.h): Open() uses the encrypting VFS for paths bound to a
// data key, fixes page size 4096 and 28 reserved bytes on a new file before anything is
// written, and keeps temporary files in memory (temp_store=MEMORY).
//
// Error mapping: SQLITE_CORRUPT/NOTADB and SQLITE_IOERR_CORRUPTFS (a page of an encrypted
// database failed authentication) → DataLoss; SQLITE_BUSY/LOCKED → Unavailable;
// SQLITE_FULL → ResourceExhausted; SQLITE_CONSTRAINT → AlreadyExists (unique) or
// FailedPrecondition; SQLITE_CANTOPEN/PERM/READONLY → PermissionDenied or Unavailable;
// everything else → Internal. The message carries SQLite's text plus a hint.
//
// Statement cache: Prepare() keeps what it prepares. When a Statement is destroyed it is reset,
// its bindings cleared, and kept for the next Prepare() of the same SQL text (compiled once, with
// SQLITE_PREPARE_PERSISTENT), so the fixed statements of hot paths are not parsed and planned on
// every call (≈ 50 µs each for the KB's write path, ~15 per document written: measured as 8% of
// an update at a million chunks). At most kStatementCacheTexts distinct texts are kept (the
// least recently used is finalised first), and at most 4 idle statements per text (one is
// prepared fresh when all are in use, e.g. nested loops over the same query). To the caller a
// recycled statement behaves as a fresh one — SQLite recompiles it by itself after a schema
// change, and a reset statement holds no locks — with one difference: when a table it uses has
// been dropped since it was cached, the error ("no such table") comes from its first Step()
// instead of from Prepare().
//
// Thread safety: a Database (and its Statements) is used by one thread at a time; open one
// connection per thread. Statements should not outlive their Database (one that does is
// finalised, not cached).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace deepkb::storage {

// Converts an SQLite result code (and the connection's message, if db != nullptr) to a Status.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

class StatementCache;

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  // A statement that goes back to `cache` (instead of being finalised) when destroyed.
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::weak_ptr<StatementCache> cache)
      : db_(db), stmt_(stmt), cache_(std::move(cache)) {}
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameter indexes are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
  Statement& Bind(int idx, int64_t v);
  Statement& Bind(int idx, int v) { return Bind(idx, static_cast<int64_t>(v)); }
  Statement& Bind(int idx, double v);
  Statement& Bind(int idx, std::string_view v);
  Statement& Bind(int idx, const char* v) { return Bind(idx, std::string_view(v)); }
  Statement& Bind(int idx, const std::string& v) { return Bind(idx, std::string_view(v)); }
  Statement& BindBlob(int idx, std::string_view v);
  Statement& BindNull(int idx);

  // Runs one step. true: a row is available; false: done. Errors (including a failed Bind,
  // which is remembered) come back as Status.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();
  // Resets for re-execution and clears bindings.
  void Reset();

  int64_t ColumnInt(int col) const;
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;  // "" for NULL
  // Blob bytes, valid until the next Step()/Reset() (empty for NULL).
  std::string_view ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;
  int ColumnCount() const;

  sqlite3_stmt* handle() const { return stmt_; }

 private:
  void Release();  // back to the cache, or finalised

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = SQLITE_OK;
  std::weak_ptr<StatementCache> cache_;  // empty: finalise when done
};

struct OpenOptions {
  bool read_only = false;
  bool create = true;
  int busy_timeout_ms = 10'000;
  // SQLite VFS to open the file with; "" = the default, except that a path bound to a data key
  // (crypto::EncryptDatabase) always opens through the encrypting VFS (crypto/sqlite_vfs.h),
  // so every connection to an encrypted database — including ones opened by other modules by
  // path — encrypts.
  std::string vfs;
};

class Database {
 public:
  // Opens (creating if allowed) the database at `path`, sets WAL, synchronous=FULL,
  // foreign_keys=ON. Fails with a clear message when the file is not a database.
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                const OpenOptions& opts = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  static constexpr size_t kStatementCacheTexts = 128;

  // Executes one or more statements with no parameters and no result rows.
  Status Exec(std::string_view sql);
  // One statement (see "Statement cache" above). InvalidArgument for more than one.
  Result<Statement> Prepare(std::string_view sql);
  // Idle statements in the cache (tests, diagnostics).
  size_t CachedStatements() const;

  // Convenience: first column of the first row as int64 / text; NotFound when no row.
  Result<int64_t> QueryInt(std::string_view sql);
  Result<std::string> QueryText(std::string_view sql);

  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path);
  sqlite3* db_;
  std::string path_;
  std::shared_ptr<StatementCache> cache_;
};

// BEGIN IMMEDIATE on construction via Begin(); Commit() makes it durable; the destructor rolls
// back an uncommitted transaction. Not nestable.
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  ~Transaction();
  Status Begin();
  Status Commit();
  Status Rollback();

 private:
  Database& db_;
  bool active_ = false;
};

}  // namespace deepkb::storage
