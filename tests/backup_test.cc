// `deepkb backup` / `deepkb restore` end-to-end: a real `deepkb serve` keeps taking writes over
// loopback HTTP while `deepkb backup --server` runs; the restored directory must hold exactly the
// documents committed up to the manifest's covered seq, each complete, and pass
// `deepkb index verify`. Plus the refusals (server holds the directory, non-empty without
// --force, damaged backup → exit 6, wrong key → exit 4).
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/hash.h"
#include "kb/kb.h"
#include "shell_util.h"

namespace {

namespace fs = std::filesystem;
using deepkb::testing::CmdResult;
using deepkb::testing::Quote;
using nlohmann::json;

class BackupE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("backup_e2e_" + deepkb::RandomHex(6));
    fs::create_directories(root_);
  }
  void TearDown() override {
    StopServer();
    fs::remove_all(root_);
  }

  CmdResult Deepkb(const fs::path& data, const std::string& args, const std::string& env = "") {
    return deepkb::testing::RunShell(env + " " + DEEPKB_BIN + std::string(" --data-dir ") +
                                     Quote(data.string()) + " " + args + " 2>&1");
  }

  void StartServer(const fs::path& data) {
    ASSERT_EQ(server_.Start(DEEPKB_BIN, data.string()), "");
    port_ = server_.port();
    admin_key_ = server_.admin_key();
  }
  void StopServer() { server_.Stop(); }

  fs::path root_;
  deepkb::testing::ServeProcess server_;
  int port_ = 0;
  std::string admin_key_;
};

std::string DocBody(int i) {
  std::string t;
  for (int s = 0; s < 10; ++s) {
    t += "Paragraph " + std::to_string(s) + " of note " + std::to_string(i) +
         " on restoring knowledge from a consistent snapshot. ";
  }
  return json{{"text", t}}.dump();
}

TEST_F(BackupE2eTest, OnlineBackupUnderWritesRestoresAConsistentPointInTime) {
  const fs::path data = root_ / "data";
  StartServer(data);
  httplib::Client c("127.0.0.1", port_);
  c.set_bearer_token_auth(admin_key_.c_str());
  ASSERT_EQ(c.Post("/v1/collections", R"({"name":"c","chunk_tokens":24,"chunk_overlap":4})", "application/json")
                ->status,
            201);
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread writer([&] {
    httplib::Client w("127.0.0.1", port_);
    w.set_bearer_token_auth(admin_key_.c_str());
    for (int i = 0; !stop; ++i) {
      auto r = w.Put(("/v1/collections/c/documents/n" + std::to_string(i)).c_str(), DocBody(i),
                     "application/json");
      ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
      acked = i + 1;
    }
  });
  while (acked < 30) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  const fs::path bk = root_ / "bk";
  const std::string server = " --server http://127.0.0.1:" + std::to_string(port_) +
                             " --api-key " + admin_key_;
  CmdResult b = Deepkb(data, "backup " + Quote(bk.string()) + server + " --json");
  const int at_backup_end = acked;
  // A second backup into the same place is refused (not empty); relative paths too.
  EXPECT_NE(Deepkb(data, "backup " + Quote(bk.string()) + server).code, 0);
  EXPECT_EQ(Deepkb(data, "backup relative/x" + server).code, 2);
  // The data directory is held by the server: direct backup and restore are refused.
  EXPECT_EQ(Deepkb(data, "backup " + Quote((root_ / "b2").string())).code, 5);
  EXPECT_EQ(Deepkb(data, "restore " + Quote(bk.string()) + " --force").code, 5);
  while (acked < at_backup_end + 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  StopServer();
  ASSERT_EQ(b.code, 0) << b.out;
  const json m = json::parse(b.out);
  const int64_t covered = m["covered_seq"];
  EXPECT_GE(covered, 30);
  EXPECT_LT(covered, acked.load());

  std::set<std::string> expected;
  {
    auto db = deepkb::storage::Database::Open((data / "kb.db").string());
    ASSERT_TRUE(db.ok());
    auto st = (*db)->Prepare("SELECT doc_id FROM changes WHERE seq <= ?");
    ASSERT_TRUE(st.ok());
    st->Bind(1, covered);
    while (*st->Step()) expected.insert(st->ColumnText(0));
  }

  const fs::path restored = root_ / "restored";
  CmdResult r = Deepkb(restored, "restore " + Quote(bk.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  CmdResult v = Deepkb(restored, "index verify");
  EXPECT_EQ(v.code, 0) << v.out;
  {
    auto kb = deepkb::kb::KnowledgeBase::Open(restored.string());
    ASSERT_TRUE(kb.ok());
    auto docs = (*kb)->ListDocuments("c", "", 1000);
    ASSERT_TRUE(docs.ok());
    std::set<std::string> got;
    for (const auto& d : *docs) {
      got.insert(d.doc_id);
      auto chunks = (*kb)->GetDocumentChunks("c", d.doc_id);
      ASSERT_TRUE(chunks.ok());
      EXPECT_EQ(static_cast<int64_t>(chunks->size()), d.chunk_count);
    }
    EXPECT_EQ(got, expected);
  }

  // Non-empty data directory without --force: refused; the live data stays.
  EXPECT_EQ(Deepkb(data, "restore " + Quote(bk.string())).code, 1);
  // A flipped byte: refused with exit 6, the live data untouched.
  std::ifstream before_f(data / "kb.db", std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(before_f)), {});
  {
    std::fstream f(bk / "kb.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9000);
    f.put('\x5a');
  }
  CmdResult bad = Deepkb(data, "restore " + Quote(bk.string()) + " --force");
  EXPECT_EQ(bad.code, 6) << bad.out;
  std::ifstream after_f(data / "kb.db", std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(after_f)), {}), before);
}

TEST_F(BackupE2eTest, EncryptedBackupNeedsTheRightKey) {
  const fs::path data = root_ / "data";
  const std::string key = (root_ / "k").string(), wrong = (root_ / "w").string();
  std::ofstream(key) << std::string(32, 'a');
  std::ofstream(wrong) << std::string(32, 'b');
  fs::permissions(key, fs::perms::owner_read);
  fs::permissions(wrong, fs::perms::owner_read);
  const std::string doc = (root_ / "n.txt").string();
  std::ofstream(doc) << "secretmarkerword in an encrypted node";
  ASSERT_EQ(Deepkb(data, "--key-file " + key + " collections create c").code, 0);
  ASSERT_EQ(Deepkb(data, "--key-file " + key + " ingest " + doc + " --collection c").code, 0);
  const fs::path bk = root_ / "bk";
  CmdResult b = Deepkb(data, "--key-file " + key + " backup " + Quote(bk.string()));
  ASSERT_EQ(b.code, 0) << b.out;
  for (const auto& e : fs::recursive_directory_iterator(bk)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), {});
    EXPECT_EQ(bytes.find("secretmarkerword"), std::string::npos) << e.path();
  }
  const fs::path restored = root_ / "restored";
  EXPECT_EQ(Deepkb(restored, "--key-file " + wrong + " restore " + Quote(bk.string())).code, 4);
  CmdResult ok = Deepkb(restored, "--key-file " + key + " restore " + Quote(bk.string()));
  ASSERT_EQ(ok.code, 0) << ok.out;
  EXPECT_EQ(Deepkb(restored, "--key-file " + key + " index verify").code, 0);
  CmdResult s = Deepkb(restored, "--key-file " + key + " search secretmarkerword --collection c");
  EXPECT_NE(s.out.find("secretmarkerword"), std::string::npos) << s.out;
}

}  // namespace
