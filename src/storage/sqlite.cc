// Implementation of the SQLite RAII wrapper declared in sqlite.h.
//
// Connection setup done by Database::Open, in order:
//   1. sqlite3_open_v2 with READONLY or READWRITE[|CREATE], NOMUTEX (one thread per connection).
//   2. Extended result codes on, so SQLITE_CONSTRAINT_UNIQUE can be told apart from other
//      constraint failures; busy timeout as configured.
//   3. A read of sqlite_master. SQLite opens files lazily, so this is the first point at which a
//      file that is not a database (SQLITE_NOTADB) or a damaged one (SQLITE_CORRUPT) is noticed.
//   4. Encrypted databases only (the path is bound to a data key, crypto/sqlite_vfs.h): on a
//      new, empty file page_size=4096 and SQLITE_FCNTL_RESERVE_BYTES=28 (room for each page's
//      nonce and tag), set before the first page is written; temp_store=MEMORY.
//   5. PRAGMA journal_mode=WAL (checked: an on-disk database must report "wal"),
//      synchronous=FULL, foreign_keys=ON. Encrypted: the reserve is checked to be 28.
#include "storage/sqlite.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crypto/sqlite_vfs.h"

namespace deepkb::storage {
namespace {

// SQL text for messages: the statement, shortened so that a long script does not flood a log.
std::string ShortSql(std::string_view sql) {
  constexpr size_t kMax = 120;
  std::string out;
  out.reserve(std::min(sql.size(), kMax) + 3);
  bool prev_space = false;
  for (char ch : sql) {
    const bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
    if (space && (prev_space || out.empty())) continue;
    out.push_back(space ? ' ' : ch);
    prev_space = space;
    if (out.size() >= kMax) {
      out += "...";
      break;
    }
  }
  return out;
}

// True when `s` holds nothing but whitespace and semicolons (what may follow the single
// statement given to Prepare).
bool OnlyBlank(std::string_view s) {
  for (char ch : s) {
    if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r' && ch != ';') return false;
  }
  return true;
}

bool IsMemoryPath(const std::string& path) {
  return path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0;
}

}  // namespace

Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return Status();

  // The connection's message is more specific ("UNIQUE constraint failed: collections.name"),
  // but only when it describes this error; otherwise fall back to the generic text for rc.
  std::string detail;
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    detail = sqlite3_errmsg(db);
  } else if (db != nullptr && sqlite3_errcode(db) == (rc & 0xff)) {
    detail = sqlite3_errmsg(db);
  } else {
    detail = sqlite3_errstr(rc);
  }
  std::string msg(what);
  if (!msg.empty()) msg += ": ";
  msg += detail;

  if (rc == SQLITE_IOERR_CORRUPTFS) {
    return DataLossError(msg +
                         " (a page of the encrypted database failed authentication: the file is "
                         "corrupt or was tampered with; restore it from a backup)");
  }
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(msg +
                           " (the database file is damaged or is not a deepkb database; "
                           "restore it from a backup or point deepkb at the right file)");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(msg +
                              " (the database is locked by another connection or process; "
                              "retry, or stop the other process)");
    case SQLITE_FULL:
      return ResourceExhaustedError(msg + " (the disk is full; free space and retry)");
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExistsError(msg + " (a row with this key already exists)");
      }
      return FailedPreconditionError(msg + " (a constraint of the schema was violated)");
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return PermissionDeniedError(
          msg + " (the database or its directory is not writable by this process)");
    case SQLITE_CANTOPEN:
      return UnavailableError(msg +
                              " (check that the path and its directory exist and are accessible)");
    case SQLITE_IOERR:
      return InternalError(msg + " (an I/O error occurred; check the disk and the filesystem)");
    default:
      return InternalError(msg);
  }
}

// ---------------------------------------------------------------------------------------------
// Statement

// Idle prepared statements of one connection, by SQL text (see sqlite.h, "Statement cache").
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache() {
    for (auto& [sql, entry] : entries_) {
      for (sqlite3_stmt* st : entry.idle) sqlite3_finalize(st);
    }
  }

  // An idle statement for `sql`, or nullptr.
  sqlite3_stmt* Take(std::string_view sql) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(sql);
    if (it == entries_.end() || it->second.idle.empty()) return nullptr;
    it->second.last_use = ++clock_;
    sqlite3_stmt* st = it->second.idle.back();
    it->second.idle.pop_back();
    --idle_;
    return st;
  }

  // Takes back a statement (already reset) or finalises it.
  void Give(sqlite3_stmt* st) {
    const char* sql = sqlite3_sql(st);
    std::lock_guard<std::mutex> lock(mu_);
    if (sql == nullptr) {
      sqlite3_finalize(st);
      return;
    }
    auto it = entries_.find(std::string_view(sql));
    if (it == entries_.end()) {
      if (entries_.size() >= Database::kStatementCacheTexts) EvictOldest();
      it = entries_.emplace(std::string(sql), Entry{}).first;
    }
    Entry& e = it->second;
    e.last_use = ++clock_;
    if (e.idle.size() >= kIdlePerText) {
      sqlite3_finalize(st);
      return;
    }
    e.idle.push_back(st);
    ++idle_;
  }

  size_t idle() const {
    std::lock_guard<std::mutex> lock(mu_);
    return idle_;
  }

 private:
  static constexpr size_t kIdlePerText = 4;
  struct Entry {
    std::vector<sqlite3_stmt*> idle;
    uint64_t last_use = 0;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  void EvictOldest() {  // mu_ held; O(entries), only when a new text arrives at the limit
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    for (sqlite3_stmt* st : oldest->second.idle) sqlite3_finalize(st);
    idle_ -= oldest->second.idle.size();
    entries_.erase(oldest);
  }

  sqlite3* db_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
  uint64_t clock_ = 0;
  size_t idle_ = 0;
};

Statement::Statement(Statement&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)),
      stmt_(std::exchange(o.stmt_, nullptr)),
      bind_rc_(std::exchange(o.bind_rc_, SQLITE_OK)),
      cache_(std::move(o.cache_)) {}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    Release();
    db_ = std::exchange(o.db_, nullptr);
    stmt_ = std::exchange(o.stmt_, nullptr);
    bind_rc_ = std::exchange(o.bind_rc_, SQLITE_OK);
    cache_ = std::move(o.cache_);
  }
  return *this;
}

Statement::~Statement() {
  Release();
}

void Statement::Release() {
  if (stmt_ == nullptr) return;
  sqlite3_stmt* st = std::exchange(stmt_, nullptr);
  if (auto cache = cache_.lock()) {
    sqlite3_reset(st);  // repeats the last step's error code, already reported by Step
    sqlite3_clear_bindings(st);
    cache->Give(st);
  } else {
    sqlite3_finalize(st);
  }
  cache_.reset();
}

// Each Bind remembers the first failure; Step() reports it. This keeps call sites chainable.
Statement& Statement::Bind(int idx, int64_t v) {
  const int rc = stmt_ ? sqlite3_bind_int64(stmt_, idx, v) : SQLITE_MISUSE;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(int idx, double v) {
  const int rc = stmt_ ? sqlite3_bind_double(stmt_, idx, v) : SQLITE_MISUSE;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(int idx, std::string_view v) {
  // A null data pointer would bind SQL NULL; an empty string must stay an empty string.
  const char* data = v.data() != nullptr ? v.data() : "";
  const int rc =
      stmt_ ? sqlite3_bind_text64(stmt_, idx, data, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8)
            : SQLITE_MISUSE;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindBlob(int idx, std::string_view v) {
  const int rc =
      stmt_ ? (v.empty() ? sqlite3_bind_zeroblob(stmt_, idx, 0)
                         : sqlite3_bind_blob64(stmt_, idx, v.data(), v.size(), SQLITE_TRANSIENT))
            : SQLITE_MISUSE;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindNull(int idx) {
  const int rc = stmt_ ? sqlite3_bind_null(stmt_, idx) : SQLITE_MISUSE;
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (stmt_ == nullptr) return InternalError("step on an empty (moved-from) statement");
  if (bind_rc_ != SQLITE_OK) {
    return SqliteStatus(bind_rc_, db_, "bind parameter of `" + ShortSql(sqlite3_sql(stmt_)) + "`");
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, db_, "execute `" + ShortSql(sqlite3_sql(stmt_)) + "`");
}

Status Statement::Run() {
  while (true) {
    ASSIGN_OR_RETURN(const bool row, Step());
    if (!row) return Status();
  }
}

void Statement::Reset() {
  if (stmt_ == nullptr) return;
  // sqlite3_reset repeats the last step's error code; that error was already reported by Step.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return std::string();
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Statement::ColumnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

int Statement::ColumnCount() const { return stmt_ ? sqlite3_column_count(stmt_) : 0; }

// ---------------------------------------------------------------------------------------------
// Database

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, const OpenOptions& opts) {
  if (!opts.create && !IsMemoryPath(path)) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return NotFoundError("open database " + path +
                           ": the file does not exist (check the data directory)");
    }
  }

  int flags = SQLITE_OPEN_NOMUTEX;
  if (opts.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (opts.create) flags |= SQLITE_OPEN_CREATE;
  }
  if (path.rfind("file:", 0) == 0) flags |= SQLITE_OPEN_URI;

  std::string vfs = opts.vfs;
  if (vfs.empty() && !IsMemoryPath(path) && crypto::IsEncryptedDatabase(path)) {
    vfs = crypto::kEncryptedVfsName;
  }
  const bool encrypted = vfs == crypto::kEncryptedVfsName;
  if (encrypted) {
    if (Status st = crypto::RegisterEncryptedVfs(); !st.ok()) return st;
  }

  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    // open_v2 returns the primary code; the extended one (SQLITE_IOERR_CORRUPTFS from the
    // encrypting VFS while reading the header) is kept on the handle.
    const int ext = raw != nullptr ? sqlite3_extended_errcode(raw) : rc;
    Status st = SqliteStatus((ext & 0xff) == rc ? ext : rc, raw, "open database " + path);
    sqlite3_close_v2(raw);  // sqlite3_open_v2 allocates a handle even on failure
    return st;
  }
  // From here on the Database owns the handle and closes it on every return path.
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, opts.busy_timeout_ms > 0 ? opts.busy_timeout_ms : 0);

  auto context = [&](const Status& st) { return st.WithContext("open database " + path); };

  // Forces SQLite to read the header and parse the schema: a non-database file fails here with
  // SQLITE_NOTADB (→ DataLoss) instead of on some later, unrelated query.
  if (auto r = db->QueryInt("SELECT count(*) FROM sqlite_master"); !r.ok()) {
    return context(r.status());
  }

  if (encrypted) {
    // Temporary tables, sorter spills and statement journals stay in memory (the VFS also
    // keeps any temporary file it is asked for in memory).
    if (Status st = db->Exec("PRAGMA temp_store=MEMORY"); !st.ok()) return context(st);
    auto pages = db->QueryInt("PRAGMA page_count");
    if (!pages.ok()) return context(pages.status());
    if (*pages == 0 && !opts.read_only) {
      // A new file: fix the page size and make room for the nonce and tag of every page
      // before the first page is written (both can only change while the file is empty).
      if (Status st = db->Exec("PRAGMA page_size=" + std::to_string(crypto::kEncryptedPageSize));
          !st.ok()) {
        return context(st);
      }
      int reserve = crypto::kPageReserveBytes;
      const int frc = sqlite3_file_control(raw, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
      if (frc != SQLITE_OK) return context(SqliteStatus(frc, raw, "set reserved bytes"));
    }
  }

  if (!opts.read_only) {
    auto mode = db->QueryText("PRAGMA journal_mode=WAL");
    if (!mode.ok()) return context(mode.status());
    const bool on_disk =
        sqlite3_db_filename(raw, "main") != nullptr && sqlite3_db_filename(raw, "main")[0] != '\0';
    if (on_disk && *mode != "wal") {
      return FailedPreconditionError("open database " + path +
                                     ": could not enable WAL journal mode (got '" + *mode +
                                     "'); the filesystem may not support shared memory");
    }
  }
  if (Status st = db->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"); !st.ok()) {
    return context(st);
  }
  if (encrypted) {
    int reserve = -1;  // query only
    sqlite3_file_control(raw, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    auto pages = db->QueryInt("PRAGMA page_count");
    if (!pages.ok()) return context(pages.status());
    if (*pages > 0 && reserve != crypto::kPageReserveBytes) {
      return FailedPreconditionError("open database " + path + ": the encrypted database has " +
                                     std::to_string(reserve) + " reserved bytes per page, not " +
                                     std::to_string(crypto::kPageReserveBytes));
    }
  }
  return db;
}

Database::Database(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)), cache_(std::make_shared<StatementCache>(db)) {}

Database::~Database() {
  cache_.reset();  // finalises the idle statements; live ones are finalised when released
  // close_v2 defers the close if a Statement is (wrongly) still alive instead of failing.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

size_t Database::CachedStatements() const {
  return cache_->idle();
}

Status Database::Exec(std::string_view sql) {
  // sqlite3_exec needs a NUL-terminated string.
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (err != nullptr) sqlite3_free(err);  // the same text is available from sqlite3_errmsg
  return SqliteStatus(rc, db_, "execute `" + ShortSql(sql) + "`");
}

Result<Statement> Database::Prepare(std::string_view sql) {
  if (sqlite3_stmt* cached = cache_->Take(sql)) return Statement(db_, cached, cache_);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    if (stmt != nullptr) sqlite3_finalize(stmt);
    return SqliteStatus(rc, db_, "prepare `" + ShortSql(sql) + "`");
  }
  if (stmt == nullptr) {
    return InvalidArgumentError("prepare: the SQL text contains no statement");
  }
  const size_t used = static_cast<size_t>(tail - sql.data());
  if (used < sql.size() && !OnlyBlank(sql.substr(used))) {
    sqlite3_finalize(stmt);
    return InvalidArgumentError("prepare `" + ShortSql(sql) +
                                "`: more than one statement; use Exec for scripts");
  }
  // Cached under its own text (sqlite3_sql: `sql` without what follows the statement), so the
  // next Prepare finds it only if it asks with exactly that text; a trailing blank or ';' only
  // costs reuse.
  return Statement(db_, stmt, cache_);
}

// NULL in the first column reads as 0 / "" (as Statement::ColumnInt/ColumnText do), so an
// aggregate over an empty table such as MAX() is not an error.
Result<int64_t> Database::QueryInt(std::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return NotFoundError("query `" + ShortSql(sql) + "` returned no row");
  return stmt.ColumnInt(0);
}

Result<std::string> Database::QueryText(std::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return NotFoundError("query `" + ShortSql(sql) + "` returned no row");
  return stmt.ColumnText(0);
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int Database::Changes() const { return sqlite3_changes(db_); }

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::~Transaction() {
  if (active_) {
    // Best effort: a destructor cannot report failure. If SQLite already rolled the
    // transaction back on its own (e.g. after SQLITE_FULL), there is nothing left to undo.
    if (sqlite3_get_autocommit(db_.handle()) == 0) {
      (void)db_.Exec("ROLLBACK");
    }
    active_ = false;
  }
}

Status Transaction::Begin() {
  if (active_) return FailedPreconditionError("transaction: Begin called twice");
  if (sqlite3_get_autocommit(db_.handle()) == 0) {
    return FailedPreconditionError(
        "transaction: another transaction is already open on this connection (not nestable)");
  }
  RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  active_ = true;
  return Status();
}

Status Transaction::Commit() {
  if (!active_) return FailedPreconditionError("transaction: Commit without an open transaction");
  Status st = db_.Exec("COMMIT");
  // On SQLITE_BUSY the transaction is still open (the caller may retry Commit or let the
  // destructor roll back); on other errors SQLite may have rolled it back already.
  if (st.ok() || sqlite3_get_autocommit(db_.handle()) != 0) active_ = false;
  return st;
}

Status Transaction::Rollback() {
  if (!active_) return Status();
  active_ = false;
  if (sqlite3_get_autocommit(db_.handle()) != 0) return Status();  // already rolled back
  return db_.Exec("ROLLBACK");
}

}  // namespace deepkb::storage
