// WalCheckpointer: checkpoints happen on its thread and keep the WAL small while the writer's
// own connection never checkpoints; the database stays intact.
#include "storage/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>

#include "storage/test_util.h"

namespace deepkb::storage {
namespace {

using testing::ScopedTempDir;

// Writes `bursts` × 50 transactions of one 8 KiB blob each (3 WAL pages per transaction), with
// a pause after each burst, and returns the largest WAL file size seen.
uintmax_t WriteBursts(Database& db, const std::string& wal, int bursts) {
  const std::string blob(8192, 'x');
  uintmax_t max_wal = 0;
  for (int b = 0; b < bursts; ++b) {
    for (int i = 0; i < 50; ++i) {
      Transaction tx(db);
      EXPECT_TRUE(tx.Begin().ok());
      auto st = db.Prepare("INSERT INTO t(v) VALUES(?1)");
      EXPECT_TRUE(st.ok());
      st->BindBlob(1, blob);
      EXPECT_TRUE(st->Run().ok());
      EXPECT_TRUE(tx.Commit().ok());
    }
    std::error_code ec;
    max_wal = std::max(max_wal, std::filesystem::file_size(wal, ec));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  return max_wal;
}

// A database with one table; `path` is its file.
class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)").ok());
  }
  ScopedTempDir dir;
  const std::string path = dir.File("kb.db");
  std::unique_ptr<Database> db_;
};

TEST_F(WalCheckpointerTest, KeepsTheWalSmallWhileTheWriterNeverCheckpoints) {
  Database* db = db_.get();

  // The backstop is out of reach here, so only the thread can keep the WAL small.
  WalCheckpointer cp;
  ASSERT_TRUE(cp.Start(path, *db,
                       {.min_interval = std::chrono::milliseconds(5),
                        .writer_backstop_pages = 1'000'000})
                  .ok());
  const uintmax_t with = WriteBursts(*db, path + "-wal", 12);
  cp.Stop();
  EXPECT_GT(cp.checkpoints(), 0);
  EXPECT_EQ(cp.failures(), 0);

  // Control: the same writes with no checkpoints at all grow the WAL by every page written
  // (12 × 50 × 3 pages ≈ 7 MiB), which shows the bound below can fail.
  ASSERT_TRUE(db->Exec("PRAGMA wal_autocheckpoint=0").ok());
  const uintmax_t without = WriteBursts(*db, path + "-wal", 12);
  EXPECT_GT(without, 6u << 20);
  // With it, the WAL restarts after each caught-up burst: about one burst (≈ 600 KiB) plus slack.
  EXPECT_LT(with, 3u << 20) << "largest WAL with the checkpointer: " << with << " bytes";

  auto rows = db->QueryInt("SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, 1200);
  auto check = db->QueryText("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(*check, "ok");
}

TEST_F(WalCheckpointerTest, TheBackstopBoundsTheWalWhenTheThreadIsBehind) {
  Database* db = db_.get();
  // The thread may run at most one checkpoint per hour: after its first, only the writer's
  // backstop (300 pages ≈ 1.2 MiB) can keep the WAL from growing to ≈ 7 MiB.
  WalCheckpointer cp;
  ASSERT_TRUE(cp.Start(path, *db,
                       {.min_interval = std::chrono::hours(1), .writer_backstop_pages = 300})
                  .ok());
  const uintmax_t largest = WriteBursts(*db, path + "-wal", 12);
  EXPECT_LE(cp.checkpoints(), 1);
  EXPECT_LT(largest, 3u << 20) << largest;
  cp.Stop();  // ends the hour-long wait at once
}

TEST(WalCheckpointer, StartFailsCleanlyForAMissingDatabase) {
  ScopedTempDir dir;
  auto db = Database::Open(dir.File("kb.db"));
  ASSERT_TRUE(db.ok());
  WalCheckpointer cp;
  EXPECT_FALSE(cp.Start(dir.File("absent.db"), **db, {}).ok());
  cp.Stop();  // no thread: returns at once
}

}  // namespace
}  // namespace deepkb::storage
