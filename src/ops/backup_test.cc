// Backup and restore on real data directories: online copy under a concurrent writer equals a
// point in time, verification refuses damage, the swap rules, encryption.
#include "ops/backup.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/file_lock.h"
#include "crypto/keyring.h"
#include "storage/test_util.h"

namespace deepkb::ops {
namespace {

namespace fs = std::filesystem;

const std::string kMarker = "zebraplaintextmarker";

std::string DocText(int i) {
  std::string t;
  for (int s = 0; s < 12; ++s) {
    t += "Section " + std::to_string(s) + " of document " + std::to_string(i) + " about " +
         kMarker + " and backups of knowledge bases in many words. ";
  }
  return t;
}

std::unique_ptr<kb::KnowledgeBase> OpenKb(const std::string& dir,
                                          std::shared_ptr<const crypto::DataKey> key = nullptr) {
  kb::KbOptions o;
  o.data_key = std::move(key);
  auto r = kb::KnowledgeBase::Open(dir, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

void Put(kb::KnowledgeBase& kb, int i) {
  kb::PutDocumentRequest p{"c", "d" + std::to_string(i), DocText(i)};
  p.file_name = "d.txt";
  ASSERT_TRUE(kb.PutDocument(p).ok());
}

void Fill(kb::KnowledgeBase& kb, int n) {
  kb::CreateCollectionRequest c{"c"};
  c.chunk_tokens = 32;
  c.chunk_overlap = 0;
  ASSERT_TRUE(kb.CreateCollection(c).ok());
  for (int i = 0; i < n; ++i) Put(kb, i);
}

std::string Slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class BackupTest : public ::testing::Test {
 protected:
  storage::testing::ScopedTempDir tmp_;
  fs::path root_{tmp_.path()};
  std::string data_ = (root_ / "data").string();
  std::string dest_ = (root_ / "bk").string();
};

TEST_F(BackupTest, OnlineBackupUnderWritesRestoresAPointInTime) {
  auto kb = OpenKb(data_);
  Fill(*kb, 20);
  std::atomic<bool> stop{false};
  std::atomic<int> written{20};
  std::thread writer([&] {
    for (int i = 20; !stop; ++i) {
      Put(*kb, i);
      written = i + 1;
    }
  });
  while (written < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto m = CreateBackup(*kb, dest_);
  const int at_backup = written;
  while (written < at_backup + 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GE(m->covered_seq, 40);
  EXPECT_LT(m->covered_seq, written.load());  // the writer went on after the copy

  // The documents committed up to covered_seq, from the live node's change log.
  std::set<std::string> expected;
  {
    auto db = storage::Database::Open(data_ + "/kb.db");
    ASSERT_TRUE(db.ok());
    auto st = (*db)->Prepare("SELECT doc_id FROM changes WHERE seq <= ?");
    ASSERT_TRUE(st.ok());
    st->Bind(1, m->covered_seq);
    while (*st->Step()) expected.insert(st->ColumnText(0));
  }
  kb.reset();

  const std::string restored = (root_ / "restored").string();
  auto r = Restore(dest_, restored, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->old_dir.empty());
  auto back = OpenKb(restored);
  ASSERT_TRUE(back->Verify().ok());
  auto docs = back->ListDocuments("c", "", 1000);
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  std::set<std::string> got;
  for (const auto& d : *docs) {
    got.insert(d.doc_id);
    auto chunks = back->GetDocumentChunks("c", d.doc_id);
    ASSERT_TRUE(chunks.ok());
    EXPECT_EQ(static_cast<int64_t>(chunks->size()), d.chunk_count) << d.doc_id;
    EXPECT_GT(d.chunk_count, 1);
  }
  EXPECT_EQ(got, expected);
  kb::SearchRequest q{"c", kMarker};
  q.top_k = 5;
  auto hits = back->Search(q);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->hits.size(), 5u);
}

TEST_F(BackupTest, DestinationMustBeNewAndAbsolute) {
  auto kb = OpenKb(data_);
  Fill(*kb, 2);
  EXPECT_EQ(CreateBackup(*kb, "relative/dir").status().code(), StatusCode::kInvalidArgument);
  fs::create_directories(dest_);
  std::ofstream(dest_ + "/x") << "x";
  EXPECT_EQ(CreateBackup(*kb, dest_).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(dest_ + "/x"));
}

TEST_F(BackupTest, DamagedBackupIsRefusedAndLiveDataUntouched) {
  {
    auto kb = OpenKb(data_);
    Fill(*kb, 5);
    ASSERT_TRUE(CreateBackup(*kb, dest_).ok());
  }
  const std::string live = (root_ / "live").string();
  { OpenKb(live); }
  const std::string before = Slurp(live + "/kb.db");
  {
    std::fstream f(dest_ + "/kb.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    char c = 0;
    f.read(&c, 1);
    f.seekp(5000);
    c ^= 1;
    f.write(&c, 1);
  }
  auto r = Restore(dest_, live, {.force = true});
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
  EXPECT_EQ(Slurp(live + "/kb.db"), before);
  fs::remove(dest_ + "/manifest.json");
  EXPECT_EQ(Restore(dest_, live, {.force = true}).status().code(), StatusCode::kDataLoss);
  for (const auto& e : fs::directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().find(".restore-"), std::string::npos);
  }
}

TEST_F(BackupTest, RestoreRefusesNonEmptyOrLockedDirectory) {
  {
    auto kb = OpenKb(data_);
    Fill(*kb, 3);
    ASSERT_TRUE(CreateBackup(*kb, dest_).ok());
    Put(*kb, 100);  // the live directory moves on
  }
  EXPECT_EQ(Restore(dest_, data_, {}).status().code(), StatusCode::kFailedPrecondition);
  {
    auto lock = DirLock::Acquire(data_, DirLock::Mode::kExclusive);
    ASSERT_TRUE(lock.ok());
    EXPECT_EQ(Restore(dest_, data_, {.force = true}).status().code(), StatusCode::kUnavailable);
  }
  auto r = Restore(dest_, data_, {.force = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->old_dir.empty());
  EXPECT_TRUE(fs::exists(r->old_dir + "/kb.db"));
  auto kb = OpenKb(data_);
  EXPECT_TRUE(kb->GetDocument("c", "d2").ok());
  EXPECT_EQ(kb->GetDocument("c", "d100").status().code(), StatusCode::kNotFound);
}

TEST_F(BackupTest, EncryptedBackupStaysCiphertextAndNeedsTheKey) {
  const std::string key_file = (root_ / "master.key").string();
  std::ofstream(key_file) << std::string(32, 'k');
  fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
  auto master = crypto::MasterKey::FromKeyFile(key_file);
  ASSERT_TRUE(master.ok());
  {
    fs::create_directories(data_);
    auto key = crypto::UnlockDataDir(data_, &*master, data_ + "/kb.db");
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    auto kb = OpenKb(data_, *key);
    Fill(*kb, 5);
    auto m = CreateBackup(*kb, dest_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_TRUE(m->encrypted);
  }
  for (const auto& e : fs::recursive_directory_iterator(dest_)) {
    if (e.is_regular_file()) {
      EXPECT_EQ(Slurp(e.path()).find(kMarker), std::string::npos) << e.path();
    }
  }
  EXPECT_TRUE(fs::exists(dest_ + "/keyring"));
  const std::string restored = (root_ / "restored").string();
  EXPECT_EQ(Restore(dest_, restored, {}).status().code(), StatusCode::kUnauthenticated);
  const std::string wrong_file = (root_ / "wrong.key").string();
  std::ofstream(wrong_file) << std::string(32, 'w');
  auto wrong = crypto::MasterKey::FromKeyFile(wrong_file);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(Restore(dest_, restored, {.master = &*wrong}).status().code(),
            StatusCode::kUnauthenticated);
  ASSERT_TRUE(Restore(dest_, restored, {.master = &*master}).ok());
  auto key = crypto::UnlockDataDir(restored, &*master, restored + "/kb.db");
  ASSERT_TRUE(key.ok());
  auto kb = OpenKb(restored, *key);
  EXPECT_TRUE(kb->Verify().ok());
  EXPECT_TRUE(kb->GetDocument("c", "d4").ok());
}

}  // namespace
}  // namespace deepkb::ops
