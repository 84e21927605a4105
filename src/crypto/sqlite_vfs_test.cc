// Tests of the encrypting VFS through storage::Database, the way deepkb uses it.
#include "crypto/sqlite_vfs.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "storage/sqlite.h"
#include "storage/test_util.h"

namespace deepkb::crypto {
namespace {

namespace fs = std::filesystem;
using storage::Database;
using storage::testing::ScopedTempDir;

constexpr char kMarker[] = "MARKER-vfs-4b1d9e7c-private-sentence-that-must-not-leak";

std::shared_ptr<const DataKey> NewKey() {
  auto k = DataKey::Generate();
  EXPECT_TRUE(k.ok());
  return std::make_shared<const DataKey>(std::move(k).value());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Any 16-byte run of the marker found in `data`?
bool ContainsMarkerRun(const std::string& data) {
  const std::string m = kMarker;
  for (size_t i = 0; i + 16 <= m.size(); ++i) {
    if (data.find(m.substr(i, 16)) != std::string::npos) return true;
  }
  return false;
}

void FlipByte(const std::string& path, int64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(offset);
  char c = 0;
  f.read(&c, 1);
  ASSERT_TRUE(f.good()) << "offset " << offset << " beyond " << path;
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(offset);
  f.write(&c, 1);
}

std::unique_ptr<Database> OpenOk(const std::string& path) {
  auto db = Database::Open(path);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

// Writes `txns` transactions of `rows` rows each, every row carrying the marker.
void Fill(Database& db, int txns, int rows, int first_txn = 0) {
  ASSERT_TRUE(db.Exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, txn INT, body TEXT)")
                  .ok());
  for (int t = first_txn; t < first_txn + txns; ++t) {
    ASSERT_TRUE(db.Exec("BEGIN").ok());
    auto st = db.Prepare("INSERT INTO t(txn, body) VALUES (?, ?)");
    ASSERT_TRUE(st.ok());
    for (int r = 0; r < rows; ++r) {
      st->Reset();
      st->Bind(1, t).Bind(2, std::string(kMarker) + " row " + std::to_string(r) + " " +
                                 std::string(200, static_cast<char>('a' + r % 26)));
      ASSERT_TRUE(st->Run().ok());
    }
    ASSERT_TRUE(db.Exec("COMMIT").ok());
  }
}

int ReserveBytes(Database& db) {
  int reserve = -1;
  sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  return reserve;
}

TEST(EncryptedVfs, RoundTripReopenAndNoPlaintextOnDisk) {
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  {
    auto db = OpenOk(path);
    ASSERT_TRUE(db);
    EXPECT_EQ(ReserveBytes(*db), kPageReserveBytes);
    EXPECT_EQ(*db->QueryInt("PRAGMA page_size"), kEncryptedPageSize);
    ASSERT_TRUE(db->Exec("PRAGMA wal_autocheckpoint=0").ok());
    Fill(*db, 20, 50);
    // While open, the WAL holds every transaction: neither file may show the marker.
    EXPECT_GT(fs::file_size(path + "-wal"), 100'000u);
    EXPECT_FALSE(ContainsMarkerRun(ReadAll(path + "-wal")));
    EXPECT_FALSE(ContainsMarkerRun(ReadAll(path)));
  }
  const std::string file = ReadAll(path);
  EXPECT_GT(file.size(), 100'000u);
  EXPECT_EQ(file.size() % kEncryptedPageSize, 0u);
  EXPECT_NE(file.substr(0, 15), "SQLite format 3");
  EXPECT_FALSE(ContainsMarkerRun(file));

  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 1000);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t WHERE body LIKE 'MARKER-vfs-%'"), 1000);
  EXPECT_EQ(*db->QueryText("PRAGMA integrity_check"), "ok");
}

TEST(EncryptedVfs, ScanFindsMarkerInPlainDatabase) {
  // The scan above can fail: on an unencrypted database it finds the marker.
  ScopedTempDir dir;
  const std::string path = dir.File("plain.db");
  {
    auto db = OpenOk(path);
    ASSERT_TRUE(db);
    Fill(*db, 1, 5);
  }
  EXPECT_TRUE(ContainsMarkerRun(ReadAll(path)));
}

TEST(EncryptedVfs, CheckpointVacuumKeepReserveAndData) {
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  {
    auto db = OpenOk(path);
    ASSERT_TRUE(db);
    Fill(*db, 10, 100);
    ASSERT_TRUE(db->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    EXPECT_EQ(fs::file_size(path + "-wal"), 0u);
    ASSERT_TRUE(db->Exec("DELETE FROM t WHERE id % 3 = 0").ok());
    ASSERT_TRUE(db->Exec("VACUUM").ok());
    ASSERT_TRUE(db->Exec("CREATE INDEX t_body ON t(body)").ok());
    ASSERT_TRUE(db->Exec("VACUUM").ok());
    ASSERT_TRUE(db->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    EXPECT_EQ(ReserveBytes(*db), kPageReserveBytes);
    EXPECT_EQ(*db->QueryText("PRAGMA integrity_check"), "ok");
  }
  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(ReserveBytes(*db), kPageReserveBytes);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 1000 - 333);
  EXPECT_EQ(*db->QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_FALSE(ContainsMarkerRun(ReadAll(path)));
}

TEST(EncryptedVfs, WrongKeyIsDataLoss) {
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  {
    auto db = OpenOk(path);
    ASSERT_TRUE(db);
    Fill(*db, 1, 10);
  }
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  auto db = Database::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kDataLoss) << db.status().ToString();
  EXPECT_NE(db.status().message().find("tampered"), std::string::npos) << db.status().message();
}

TEST(EncryptedVfs, PlainDatabaseThroughVfsIsRefused) {
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  {
    auto db = OpenOk(path);
    ASSERT_TRUE(db);
    Fill(*db, 1, 10);
  }
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  auto db = Database::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kDataLoss);
  ForgetDatabase(path);
  EXPECT_FALSE(IsEncryptedDatabase(path));
  EXPECT_TRUE(Database::Open(path).ok());  // still a fine plain database
}

TEST(EncryptedVfs, UnboundPathIsRefusedByTheVfs) {
  ScopedTempDir dir;
  ASSERT_TRUE(RegisterEncryptedVfs().ok());
  auto db = Database::Open(dir.File("x.db"), {.vfs = kEncryptedVfsName});
  EXPECT_FALSE(db.ok());
}

TEST(EncryptedVfs, FlippedByteInDatabaseIsDataLoss) {
  for (int64_t offset : {int64_t{3 * 4096 + 1000}, int64_t{4096 - 20} /* page 1 tag */,
                         int64_t{50} /* inside the encrypted 100-byte header */}) {
    SCOPED_TRACE(offset);
    ScopedTempDir dir;
    const std::string path = dir.File("kb.db");
    ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
    {
      auto db = OpenOk(path);
      ASSERT_TRUE(db);
      Fill(*db, 5, 50);
    }
    ASSERT_FALSE(fs::exists(path + "-wal"));  // checkpointed at close: all in the db file
    FlipByte(path, offset);
    Status st;
    auto db = Database::Open(path);
    if (!db.ok()) {
      st = db.status();
    } else {
      auto n = (*db)->QueryInt("SELECT count(*) FROM t WHERE body LIKE '%row%'");
      st = n.status();
      if (n.ok()) st = (*db)->QueryText("PRAGMA integrity_check").status();
    }
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  }
}

// Copies the database and its WAL while a connection holds them (what a thief or a crash
// leaves behind) into `to_dir`, returning the copy's path.
std::string CopyWhileOpen(const std::string& path, const std::string& to_dir) {
  const std::string copy = to_dir + "/copy.db";
  fs::copy_file(path, copy);
  fs::copy_file(path + "-wal", copy + "-wal");
  return copy;
}

constexpr int64_t kFrameBytes = 24 + 4096;

TEST(EncryptedVfs, FlippedByteInCommittedWalFrameIsDataLoss) {
  ScopedTempDir dir, copy_dir;
  const std::string path = dir.File("kb.db");
  auto key = NewKey();
  ASSERT_TRUE(EncryptDatabase(path, key).ok());
  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("PRAGMA wal_autocheckpoint=0").ok());
  Fill(*db, 5, 20);
  const std::string copy = CopyWhileOpen(path, copy_dir.path());
  ASSERT_TRUE(EncryptDatabase(copy, key).ok());
  // First frame's page: part of the first transaction, followed by four more.
  FlipByte(copy + "-wal", 32 + 24 + 2000);
  const auto before = GetVfsCounters().auth_failures;
  auto c = Database::Open(copy);
  Status st = c.ok() ? (*c)->QueryInt("SELECT count(*) FROM t").status() : c.status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_GT(GetVfsCounters().auth_failures, before);
}

TEST(EncryptedVfs, DamagedLastWalTransactionIsDroppedLikeATornWrite) {
  ScopedTempDir dir, copy_dir;
  const std::string path = dir.File("kb.db");
  auto key = NewKey();
  ASSERT_TRUE(EncryptDatabase(path, key).ok());
  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("PRAGMA wal_autocheckpoint=0").ok());
  Fill(*db, 4, 20);
  const std::string copy = CopyWhileOpen(path, copy_dir.path());
  ASSERT_TRUE(EncryptDatabase(copy, key).ok());
  const int64_t frames = (static_cast<int64_t>(fs::file_size(copy + "-wal")) - 32) / kFrameBytes;
  ASSERT_GT(frames, 4);
  FlipByte(copy + "-wal", 32 + (frames - 1) * kFrameBytes + 24 + 100);  // last frame's page
  const auto torn_before = GetVfsCounters().torn_wal_frames;
  auto c = OpenOk(copy);
  ASSERT_TRUE(c);
  // The last transaction is gone (never garbage); the three before it are intact.
  EXPECT_EQ(*c->QueryInt("SELECT count(*) FROM t"), 60);
  EXPECT_EQ(*c->QueryInt("SELECT max(txn) FROM t"), 2);
  EXPECT_EQ(*c->QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(GetVfsCounters().torn_wal_frames, torn_before + 1);
}

TEST(EncryptedVfs, CrashMidTransactionRecovers) {
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  auto key = NewKey();
  ASSERT_TRUE(EncryptDatabase(path, key).ok());
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    auto db = Database::Open(path);
    if (!db.ok()) _exit(2);
    Database& d = **db;
    if (!d.Exec("PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=10").ok()) _exit(3);
    if (!d.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, txn INT, body TEXT)").ok()) _exit(4);
    for (int t = 0; t < 30; ++t) {
      if (!d.Exec("INSERT INTO t(txn, body) VALUES (" + std::to_string(t) +
                  ", printf('%.*c', 3000, 'x'))")
               .ok()) {
        _exit(5);
      }
    }
    // A large transaction that spills pages into the WAL before it commits.
    if (!d.Exec("BEGIN").ok()) _exit(6);
    for (int i = 0; i < 400; ++i) {
      if (!d.Exec("INSERT INTO t(txn, body) VALUES (999, printf('%.*c', 3000, 'y'))").ok()) {
        _exit(7);
      }
    }
    if (write(pipefd[1], "r", 1) != 1) _exit(8);
    pause();
    _exit(0);
  }
  close(pipefd[1]);
  char c = 0;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1) << "child failed before the crash point";
  close(pipefd[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_GT(fs::file_size(path + "-wal"), 30u * kFrameBytes);

  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 30);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t WHERE txn = 999"), 0);
  EXPECT_EQ(*db->QueryText("PRAGMA integrity_check"), "ok");
  ASSERT_TRUE(db->Exec("INSERT INTO t(txn, body) VALUES (1000, 'after')").ok());
  db.reset();
  db = OpenOk(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 31);
}

TEST(EncryptedVfs, TemporaryFilesStayInMemory) {
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  // Even when temporary storage is switched back to files, the VFS keeps them in memory.
  ASSERT_TRUE(db->Exec("PRAGMA cache_size=10; PRAGMA temp_store=FILE").ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE s(v TEXT)").ok());
  ASSERT_TRUE(db->Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
                       "WHERE i < 20000) INSERT INTO s SELECT hex(randomblob(60)) FROM n")
                  .ok());
  const auto before = GetVfsCounters().memory_files;
  // Building an index sorts ~2.4 MB with a 40 KB cache: the sorter spills to temporary files.
  ASSERT_TRUE(db->Exec("CREATE INDEX s_v ON s(v)").ok());
  EXPECT_GT(GetVfsCounters().memory_files, before);
  EXPECT_EQ(*db->QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(*db->QueryText("SELECT v FROM s ORDER BY v LIMIT 1"),
            *db->QueryText("SELECT min(v) FROM s NOT INDEXED"));
  for (const auto& e : fs::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name == "kb.db" || name == "kb.db-wal" || name == "kb.db-shm") << name;
  }
}

}  // namespace
}  // namespace deepkb::crypto

namespace deepkb::crypto {
namespace {

TEST(EncryptedVfs, PagesRewrittenWithinATransactionRecoverFromTheWal) {
  // With a tiny cache SQLite logs pages, then rewrites them in place in the WAL and fixes the
  // frame checksums at commit; recovery of a copy must read all of it back.
  ScopedTempDir dir, copy_dir;
  const std::string path = dir.File("kb.db");
  auto key = NewKey();
  ASSERT_TRUE(EncryptDatabase(path, key).ok());
  auto db = OpenOk(path);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=5").ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, txn INT, body TEXT)").ok());
  ASSERT_TRUE(db->Exec("BEGIN").ok());
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(db->Exec("INSERT INTO t(txn, body) VALUES (1, printf('%.*c', 500, 'a'))").ok());
  }
  ASSERT_TRUE(db->Exec("UPDATE t SET body = printf('%.*c', 600, 'b')").ok());
  ASSERT_TRUE(db->Exec("COMMIT").ok());
  const std::string copy = CopyWhileOpen(path, copy_dir.path());
  ASSERT_TRUE(EncryptDatabase(copy, key).ok());
  auto c = OpenOk(copy);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c->QueryInt("SELECT count(*) FROM t WHERE body LIKE 'bbbb%'"), 300);
  EXPECT_EQ(*c->QueryText("PRAGMA integrity_check"), "ok");
}

TEST(EncryptedVfs, RollbackJournalIsEncryptedAndPlaysBackAfterACrash) {
  ScopedTempDir dir;
  const std::string path = dir.File("j.db");
  ASSERT_TRUE(EncryptDatabase(path, NewKey()).ok());
  auto open_raw = [&](sqlite3** db) {
    return sqlite3_open_v2(path.c_str(), db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           kEncryptedVfsName);
  };
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(open_raw(&db), SQLITE_OK);
    int reserve = kPageReserveBytes;
    ASSERT_EQ(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA journal_mode=DELETE; CREATE TABLE t(v TEXT);"
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
                           "WHERE i < 200) INSERT INTO t SELECT 'MARKER-vfs-4b1d9e7c-private-"
                           "sentence-that-must-not-leak ' || i FROM n;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    sqlite3* db = nullptr;
    if (open_raw(&db) != SQLITE_OK) _exit(2);
    // A transaction larger than the cache: SQLite journals the old pages, then overwrites
    // them in the database file before the commit.
    if (sqlite3_exec(db, "PRAGMA cache_size=2; BEGIN; UPDATE t SET v = 'overwritten';", nullptr,
                     nullptr, nullptr) != SQLITE_OK) {
      _exit(3);
    }
    if (write(pipefd[1], "r", 1) != 1) _exit(4);
    pause();
    _exit(0);
  }
  close(pipefd[1]);
  char ch = 0;
  ASSERT_EQ(read(pipefd[0], &ch, 1), 1) << "child failed before the crash point";
  close(pipefd[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(fs::exists(path + "-journal"));
  ASSERT_GT(fs::file_size(path + "-journal"), 4096u);
  EXPECT_FALSE(ContainsMarkerRun(ReadAll(path + "-journal")));
  EXPECT_FALSE(ContainsMarkerRun(ReadAll(path)));

  sqlite3* db = nullptr;
  ASSERT_EQ(open_raw(&db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE v LIKE 'MARKER-vfs-%'", -1, &st,
                               nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_column_int(st, 0), 200);  // the hot journal rolled the update back
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_FALSE(fs::exists(path + "-journal"));
}

}  // namespace
}  // namespace deepkb::crypto
