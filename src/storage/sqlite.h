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
// Thread safety: a Database (and its Statements) is used by one thread at a time; open one
// connection per thread. Statements must not outlive their Database.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace deepkb::storage {

// Converts an SQLite result code (and the connection's message, if db != nullptr) to a Status.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
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
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = SQLITE_OK;
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

  // Executes one or more statements with no parameters and no result rows.
  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);

  // Convenience: first column of the first row as int64 / text; NotFound when no row.
  Result<int64_t> QueryInt(std::string_view sql);
  Result<std::string> QueryText(std::string_view sql);

  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
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
