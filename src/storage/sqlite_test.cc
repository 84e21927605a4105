#include "storage/sqlite.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "storage/test_util.h"

namespace deepkb::storage {
namespace {

using testing::ScopedTempDir;

std::unique_ptr<Database> OpenOrDie(const std::string& path, const OpenOptions& opts = {}) {
  auto db = Database::Open(path, opts);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return nullptr;
  return std::move(db).value();
}

TEST(SqliteOpen, SetsWalFullSyncAndForeignKeys) {
  ScopedTempDir dir;
  auto db = OpenOrDie(dir.File("kb.db"));
  ASSERT_NE(db, nullptr);
  auto mode = db->QueryText("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok()) << mode.status().ToString();
  EXPECT_EQ(*mode, "wal");
  auto sync = db->QueryInt("PRAGMA synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(*sync, 2);  // FULL
  auto fk = db->QueryInt("PRAGMA foreign_keys");
  ASSERT_TRUE(fk.ok());
  EXPECT_EQ(*fk, 1);
  auto timeout = db->QueryInt("PRAGMA busy_timeout");
  ASSERT_TRUE(timeout.ok());
  EXPECT_EQ(*timeout, 10'000);
  EXPECT_EQ(db->path(), dir.File("kb.db"));

  // A write goes to the WAL file, which only exists in WAL mode.
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER)").ok());
  EXPECT_TRUE(std::filesystem::exists(dir.File("kb.db-wal")));
}

TEST(SqliteOpen, WalModePersistsForReadOnlyReopen) {
  ScopedTempDir dir;
  {
    auto db = OpenOrDie(dir.File("kb.db"));
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (7);").ok());
  }
  OpenOptions ro;
  ro.read_only = true;
  auto db = OpenOrDie(dir.File("kb.db"), ro);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->QueryText("PRAGMA journal_mode").value(), "wal");
  EXPECT_EQ(db->QueryInt("SELECT x FROM t").value(), 7);
  Status st = db->Exec("INSERT INTO t VALUES (8)");
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
}

TEST(SqliteOpen, GarbageFileIsDataLoss) {
  ScopedTempDir dir;
  const std::string path = dir.File("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is definitely not an sqlite file ";
  }
  auto db = Database::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kDataLoss) << db.status().ToString();
  EXPECT_NE(db.status().message().find("not a database"), std::string::npos)
      << db.status().message();
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
}

TEST(SqliteOpen, MissingFileWithoutCreateIsNotFound) {
  ScopedTempDir dir;
  OpenOptions opts;
  opts.create = false;
  auto db = Database::Open(dir.File("absent.db"), opts);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kNotFound) << db.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.File("absent.db")));
}

TEST(SqliteOpen, MissingDirectoryIsAnError) {
  ScopedTempDir dir;
  auto db = Database::Open(dir.File("no/such/dir/kb.db"));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kUnavailable) << db.status().ToString();
}

TEST(SqliteOpen, InMemoryDatabaseWorks) {
  auto db = OpenOrDie(":memory:");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x)").ok());
  EXPECT_EQ(db->QueryInt("SELECT count(*) FROM t").value(), 0);
}

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenOrDie(dir_.File("kb.db"));
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Exec("CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT UNIQUE);"
                          "CREATE TABLE child(id INTEGER PRIMARY KEY,"
                          "  parent_id INTEGER NOT NULL REFERENCES parent(id),"
                          "  n INTEGER CHECK (n >= 0), b BLOB, r REAL);")
                    .ok());
  }
  int64_t Count(const std::string& table) {
    auto n = db_->QueryInt("SELECT count(*) FROM " + table);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }

  ScopedTempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SqliteTest, UniqueViolationIsAlreadyExists) {
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('a')").ok());
  Status st = db_->Exec("INSERT INTO parent(name) VALUES ('a')");
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.ToString();
  EXPECT_NE(st.message().find("UNIQUE"), std::string::npos) << st.message();

  // Same through a prepared statement, and for a primary key.
  auto s = db_->Prepare("INSERT INTO parent(id, name) VALUES (?, ?)");
  ASSERT_TRUE(s.ok());
  s->Bind(1, int64_t{1}).Bind(2, "b");
  st = s->Run();
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.ToString();
}

TEST_F(SqliteTest, OtherConstraintsAreFailedPrecondition) {
  Status fk = db_->Exec("INSERT INTO child(parent_id, n) VALUES (42, 1)");
  EXPECT_EQ(fk.code(), StatusCode::kFailedPrecondition) << fk.ToString();
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(id, name) VALUES (1, 'p')").ok());
  Status check = db_->Exec("INSERT INTO child(parent_id, n) VALUES (1, -5)");
  EXPECT_EQ(check.code(), StatusCode::kFailedPrecondition) << check.ToString();
  Status not_null = db_->Exec("INSERT INTO child(parent_id, n) VALUES (NULL, 1)");
  EXPECT_EQ(not_null.code(), StatusCode::kFailedPrecondition) << not_null.ToString();
  EXPECT_EQ(Count("child"), 0);
}

TEST_F(SqliteTest, TransactionRollsBackOnDestruction) {
  {
    Transaction tx(*db_);
    ASSERT_TRUE(tx.Begin().ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('gone')").ok());
    EXPECT_EQ(Count("parent"), 1);  // visible inside the transaction
  }
  EXPECT_EQ(Count("parent"), 0);
  EXPECT_NE(sqlite3_get_autocommit(db_->handle()), 0);  // no transaction left open
}

TEST_F(SqliteTest, TransactionCommitIsDurableAcrossReopen) {
  {
    Transaction tx(*db_);
    ASSERT_TRUE(tx.Begin().ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('kept')").ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  db_.reset();
  db_ = OpenOrDie(dir_.File("kb.db"));
  ASSERT_NE(db_, nullptr);
  EXPECT_EQ(db_->QueryText("SELECT name FROM parent").value(), "kept");
}

TEST_F(SqliteTest, TransactionExplicitRollbackAndMisuse) {
  Transaction tx(*db_);
  EXPECT_EQ(tx.Commit().code(), StatusCode::kFailedPrecondition);  // not begun
  ASSERT_TRUE(tx.Begin().ok());
  EXPECT_EQ(tx.Begin().code(), StatusCode::kFailedPrecondition);  // twice

  Transaction nested(*db_);
  EXPECT_EQ(nested.Begin().code(), StatusCode::kFailedPrecondition);  // not nestable

  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('x')").ok());
  ASSERT_TRUE(tx.Rollback().ok());
  EXPECT_EQ(Count("parent"), 0);
  EXPECT_TRUE(tx.Rollback().ok());  // idempotent
  // The object can be reused after it finished.
  ASSERT_TRUE(tx.Begin().ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('y')").ok());
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_EQ(Count("parent"), 1);
}

TEST_F(SqliteTest, WriteLockHeldElsewhereIsUnavailable) {
  OpenOptions quick;
  quick.busy_timeout_ms = 50;
  auto other = OpenOrDie(dir_.File("kb.db"), quick);
  ASSERT_NE(other, nullptr);
  Transaction tx(*db_);
  ASSERT_TRUE(tx.Begin().ok());  // BEGIN IMMEDIATE takes the write lock

  Transaction tx2(*other);
  Status st = tx2.Begin();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  // Readers are not blocked in WAL mode.
  EXPECT_EQ(other->QueryInt("SELECT count(*) FROM parent").value(), 0);
}

TEST_F(SqliteTest, StatementBindsAndReadsEveryType) {
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(id, name) VALUES (1, 'p')").ok());
  auto ins = db_->Prepare("INSERT INTO child(parent_id, n, b, r) VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  const std::string blob("a\0b\xff", 4);
  ins->Bind(1, 1).Bind(2, int64_t{1} << 40).BindBlob(3, blob).Bind(4, 2.5);
  ASSERT_TRUE(ins->Run().ok());
  EXPECT_EQ(db_->Changes(), 1);
  const int64_t first = db_->LastInsertRowId();
  ins->Reset();
  ins->Bind(1, 1).BindNull(2).BindNull(3).Bind(4, -1.0);
  ASSERT_TRUE(ins->Run().ok());
  EXPECT_EQ(db_->LastInsertRowId(), first + 1);

  auto sel = db_->Prepare("SELECT n, b, r FROM child ORDER BY id");
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->ColumnCount(), 3);
  ASSERT_TRUE(sel->Step().value());
  EXPECT_EQ(sel->ColumnInt(0), int64_t{1} << 40);
  EXPECT_EQ(sel->ColumnText(1), blob);  // embedded NUL survives
  EXPECT_DOUBLE_EQ(sel->ColumnDouble(2), 2.5);
  EXPECT_FALSE(sel->ColumnIsNull(0));
  ASSERT_TRUE(sel->Step().value());
  EXPECT_TRUE(sel->ColumnIsNull(0));
  EXPECT_EQ(sel->ColumnText(1), "");
  EXPECT_FALSE(sel->Step().value());
}

TEST_F(SqliteTest, EmptyStringBindsAsTextNotNull) {
  auto ins = db_->Prepare("INSERT INTO parent(name) VALUES (?)");
  ASSERT_TRUE(ins.ok());
  ins->Bind(1, std::string_view());
  ASSERT_TRUE(ins->Run().ok());
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM parent WHERE name = ''").value(), 1);
}

TEST_F(SqliteTest, BadBindIndexIsReportedByStep) {
  auto s = db_->Prepare("SELECT ?");
  ASSERT_TRUE(s.ok());
  s->Bind(5, 1);
  auto r = s->Step();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
  // Reset clears the remembered error.
  s->Reset();
  s->Bind(1, 3);
  auto r2 = s->Step();
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_TRUE(*r2);
  EXPECT_EQ(s->ColumnInt(0), 3);
}

TEST_F(SqliteTest, PrepareErrors) {
  auto bad = db_->Prepare("SELEC 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("syntax error"), std::string::npos);

  auto two = db_->Prepare("SELECT 1; SELECT 2");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), StatusCode::kInvalidArgument);

  auto empty = db_->Prepare("   ");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);

  EXPECT_TRUE(db_->Prepare("SELECT 1;  \n").ok());  // a trailing semicolon is fine
}

TEST_F(SqliteTest, QueryHelpers) {
  EXPECT_EQ(db_->QueryInt("SELECT 41 + 1").value(), 42);
  EXPECT_EQ(db_->QueryText("SELECT 'hi'").value(), "hi");
  EXPECT_EQ(db_->QueryInt("SELECT MAX(id) FROM parent").value(), 0);  // NULL reads as 0
  auto none = db_->QueryInt("SELECT id FROM parent");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db_->QueryText("SELECT name FROM parent").status().code(), StatusCode::kNotFound);
}

TEST_F(SqliteTest, StatementMoveTransfersOwnership) {
  auto s = db_->Prepare("SELECT 7");
  ASSERT_TRUE(s.ok());
  Statement a = std::move(*s);
  Statement b;
  b = std::move(a);
  EXPECT_EQ(a.handle(), nullptr);
  ASSERT_NE(b.handle(), nullptr);
  EXPECT_FALSE(a.Step().ok());  // moved-from statement reports an error, does not crash
  ASSERT_TRUE(b.Step().value());
  EXPECT_EQ(b.ColumnInt(0), 7);
}

// ---- statement cache (sqlite.h, "Statement cache") ----

TEST_F(SqliteTest, PrepareReusesAStatementOnceItIsReleased) {
  const std::string sql = "SELECT count(*) FROM parent WHERE name = ?1";
  const size_t idle0 = db_->CachedStatements();  // Open's own statements
  sqlite3_stmt* first = nullptr;
  {
    auto s = db_->Prepare(sql);
    ASSERT_TRUE(s.ok());
    first = s->handle();
    EXPECT_EQ(db_->CachedStatements(), idle0);  // in use: not idle
  }
  EXPECT_EQ(db_->CachedStatements(), idle0 + 1);
  auto again = db_->Prepare(sql);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->handle(), first);  // the same compiled statement
  EXPECT_EQ(db_->CachedStatements(), idle0);
  // Another text is another statement.
  auto other = db_->Prepare("SELECT count(*) FROM child");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->handle(), first);
}

TEST_F(SqliteTest, RecycledStatementsStartAfreshWithoutBindings) {
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('a'), ('b'), ('c')").ok());
  const std::string sql = "SELECT name, ?1 FROM parent ORDER BY name";
  {
    auto s = db_->Prepare(sql);
    ASSERT_TRUE(s.ok());
    s->Bind(1, "bound");
    ASSERT_TRUE(s->Step().value());  // left in the middle of its rows
    EXPECT_EQ(s->ColumnText(0), "a");
    EXPECT_EQ(s->ColumnText(1), "bound");
  }
  auto s = db_->Prepare(sql);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->Step().value());
  EXPECT_EQ(s->ColumnText(0), "a");  // from the first row again
  EXPECT_TRUE(s->ColumnIsNull(1));   // the old binding is gone
}

TEST_F(SqliteTest, RecycledStatementAfterAnErrorWorks) {
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('a')").ok());
  const std::string sql = "INSERT INTO parent(name) VALUES (?1)";
  {
    auto s = db_->Prepare(sql);
    ASSERT_TRUE(s.ok());
    s->Bind(1, "a");
    EXPECT_EQ(s->Run().code(), StatusCode::kAlreadyExists);
  }
  auto s = db_->Prepare(sql);
  ASSERT_TRUE(s.ok());
  s->Bind(1, "b");
  EXPECT_TRUE(s->Run().ok());
  EXPECT_EQ(Count("parent"), 2);
}

TEST_F(SqliteTest, SameTextTwiceAtOnceGivesTwoStatements) {
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('a'), ('b')").ok());
  const std::string sql = "SELECT id FROM parent ORDER BY id";
  auto outer = db_->Prepare(sql);
  ASSERT_TRUE(outer.ok());
  int pairs = 0;
  while (outer->Step().value()) {
    auto inner = db_->Prepare(sql);  // nested loop over the same query
    ASSERT_TRUE(inner.ok());
    EXPECT_NE(inner->handle(), outer->handle());
    while (inner->Step().value()) ++pairs;
  }
  EXPECT_EQ(pairs, 4);
}

TEST_F(SqliteTest, CachedStatementsFollowSchemaChanges) {
  const std::string sql = "SELECT * FROM parent";
  {
    auto s = db_->Prepare(sql);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->ColumnCount(), 2);
  }
  ASSERT_TRUE(db_->Exec("ALTER TABLE parent ADD COLUMN extra TEXT DEFAULT 'x'").ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO parent(name) VALUES ('a')").ok());
  auto s = db_->Prepare(sql);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->Step().value());
  EXPECT_EQ(s->ColumnCount(), 3);
  EXPECT_EQ(s->ColumnText(2), "x");
  s = Statement();
  // An idle cached statement does not stop its table from being dropped.
  ASSERT_TRUE(db_->Exec("DROP TABLE child").ok());
  {
    auto dropped = db_->Prepare("SELECT count(*) FROM child");
    EXPECT_FALSE(dropped.ok());
  }
  ASSERT_TRUE(db_->Exec("DROP TABLE parent").ok());
  // The cached statement is handed out; its first Step reports the missing table.
  auto stale = db_->Prepare(sql);
  ASSERT_TRUE(stale.ok());
  auto step = stale->Step();
  ASSERT_FALSE(step.ok());
  EXPECT_NE(step.status().message().find("no such table"), std::string::npos)
      << step.status().ToString();
}

TEST_F(SqliteTest, StatementCacheIsBounded) {
  for (size_t i = 0; i < Database::kStatementCacheTexts + 50; ++i) {
    auto s = db_->Prepare("SELECT " + std::to_string(i));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->Step().value());
    EXPECT_EQ(s->ColumnInt(0), static_cast<int64_t>(i));
  }
  EXPECT_EQ(db_->CachedStatements(), Database::kStatementCacheTexts);
  // The most recent texts are the ones kept.
  auto recent = db_->Prepare("SELECT " + std::to_string(Database::kStatementCacheTexts + 49));
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ(db_->CachedStatements(), Database::kStatementCacheTexts - 1);
}

TEST(SqliteStatementCache, StatementOutlivingItsDatabaseIsFinalised) {
  ScopedTempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  auto s = (*db)->Prepare("SELECT 1");
  ASSERT_TRUE(s.ok());
  Statement late = std::move(*s);
  db->reset();  // the connection goes first (a caller's mistake): no crash, no leak under ASan
}

TEST(SqliteStatus, MapsResultCodes) {
  EXPECT_TRUE(SqliteStatus(SQLITE_OK, nullptr, "x").ok());
  EXPECT_TRUE(SqliteStatus(SQLITE_DONE, nullptr, "x").ok());
  EXPECT_EQ(SqliteStatus(SQLITE_CORRUPT, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteStatus(SQLITE_NOTADB, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_LOCKED, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_FULL, nullptr, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_UNIQUE, nullptr, "x").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_PRIMARYKEY, nullptr, "x").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_FOREIGNKEY, nullptr, "x").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStatus(SQLITE_READONLY, nullptr, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(SqliteStatus(SQLITE_PERM, nullptr, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(SqliteStatus(SQLITE_CANTOPEN, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_ERROR, nullptr, "x").code(), StatusCode::kInternal);
  EXPECT_EQ(SqliteStatus(SQLITE_IOERR_WRITE, nullptr, "x").code(), StatusCode::kInternal);

  Status st = SqliteStatus(SQLITE_NOTADB, nullptr, "open kb.db");
  EXPECT_EQ(st.message().rfind("open kb.db: ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("backup"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace deepkb::storage
