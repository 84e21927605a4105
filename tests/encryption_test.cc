// Encryption at rest, end to end with the real deepkb binary: after ingesting documents that
// carry a marker string with --key-file, no file under the data directory (database, WAL left
// by a killed server, index snapshots, keyring) contains the marker or any 16-byte run of it;
// the data reads back with the key; rotate-master switches keys; wrong and missing keys are
// refused with a clear message; a flipped byte is reported as corruption (exit code 6).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/hash.h"
#include "shell_util.h"

namespace {

namespace fs = std::filesystem;

constexpr char kMarker[] = "ZEBRA-7c41-confidential-merger-codeword-do-not-leak";

using deepkb::testing::Quote;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using deepkb::testing::CmdResult;

class EncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("encryption_test_" + deepkb::RandomHex(6));
    fs::create_directories(root_ / "corpus");
    fs::create_directories(root_ / "corpus2");
    for (int i = 0; i < 6; ++i) {
      std::ofstream(root_ / "corpus" / ("doc" + std::to_string(i) + ".md"))
          << "# Board minutes " << i << "\n\nThe committee discussed " << kMarker
          << " at length. Item " << i << " was approved.\n\n## Details\n\n"
          << std::string(200, 'x') << " " << kMarker << " appears again here.\n";
    }
    std::ofstream(root_ / "corpus2" / "late.txt")
        << "Written by the server just before it was killed: " << kMarker << ".";
    k1_ = KeyFile("k1.key");
    k2_ = KeyFile("k2.key");
    k3_ = KeyFile("k3.key");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string KeyFile(const std::string& name) {
    const fs::path p = root_ / name;
    std::ofstream(p, std::ios::binary) << deepkb::RandomHex(32);  // 64 bytes
    ::chmod(p.c_str(), 0600);
    return p.string();
  }

  CmdResult Deepkb(const std::string& data, const std::string& args) {
    const fs::path err = root_ / "stderr.txt";
    const std::string cmd = std::string(DEEPKB_BIN) + " --data-dir " + Quote((root_ / data).string()) +
                            " " + args + " 2>" + Quote(err.string());
    CmdResult r = deepkb::testing::RunShell(cmd);
    r.err = ReadAll(err);
    return r;
  }
  std::string Key(const std::string& k) { return "--key-file " + Quote(k) + " "; }

  // Every file under the data directory that contains the marker or any 16-byte run of it.
  std::vector<std::string> FilesWithMarker(const std::string& data) {
    const std::string m = kMarker;
    std::vector<std::string> hits;
    for (const auto& e : fs::recursive_directory_iterator(root_ / data)) {
      if (!e.is_regular_file()) continue;
      const std::string bytes = ReadAll(e.path());
      for (size_t i = 0; i + 16 <= m.size(); ++i) {
        if (bytes.find(m.substr(i, 16)) != std::string::npos) {
          hits.push_back(e.path().string());
          break;
        }
      }
    }
    return hits;
  }

  // Starts `deepkb serve` with the extra args, waits for its "serving on" line, then SIGKILLs it
  // (no clean shutdown: the WAL and whatever else it wrote stay as they are).
  void ServeAndKill(const std::string& data, const std::string& args,
                    const std::string& serve_args) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const std::string cmd = "exec " + std::string(DEEPKB_BIN) + " --data-dir " +
                            Quote((root_ / data).string()) + " " + args +
                            " serve --listen 127.0.0.1:0 " + serve_args + " 2>/dev/null";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (text.find("serving on") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{out[0], POLLIN, 0};
      if (poll(&pfd, 1, 1000) <= 0) continue;
      char buf[1024];
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(out[0]);
    ASSERT_NE(text.find("serving on"), std::string::npos) << text;
    EXPECT_NE(text.find("data at rest is encrypted"), std::string::npos) << text;
  }

  fs::path root_;
  std::string k1_, k2_, k3_;
};

TEST_F(EncryptionTest, NoPlaintextOnDiskRotationAndKeyChecks) {
  ASSERT_EQ(Deepkb("data", Key(k1_) + "collections create kb").code, 0);
  CmdResult ing = Deepkb("data", Key(k1_) + "ingest " + Quote((root_ / "corpus").string()) +
                                     " --collection kb --json");
  ASSERT_EQ(ing.code, 0) << ing.err;
  EXPECT_NE(ing.out.find("\"added\": 6"), std::string::npos) << ing.out;

  // The data is there and readable with the key...
  CmdResult found = Deepkb("data", Key(k1_) + "search confidential --collection kb --json");
  ASSERT_EQ(found.code, 0) << found.err;
  EXPECT_NE(found.out.find(kMarker), std::string::npos) << found.out;
  // ...and nowhere on disk in plaintext: database, snapshots, keyring.
  EXPECT_TRUE(fs::exists(root_ / "data" / "keyring"));
  ASSERT_TRUE(fs::exists(root_ / "data" / "index" / "1.hnsw"));
  EXPECT_EQ(ReadAll(root_ / "data" / "index" / "1.hnsw").substr(0, 8), "DKBAEF01");
  EXPECT_EQ(FilesWithMarker("data"), std::vector<std::string>{});

  // A server that ingests and is then killed leaves its WAL behind: also ciphertext.
  ServeAndKill("data", Key(k1_),
               "--sample-collection " + Quote("late=" + (root_ / "corpus2").string()));
  ASSERT_TRUE(fs::exists(root_ / "data" / "kb.db-wal"));
  EXPECT_GT(fs::file_size(root_ / "data" / "kb.db-wal"), 0u);
  EXPECT_EQ(FilesWithMarker("data"), std::vector<std::string>{});
  // Recovery after the kill, through the VFS: the server's write is there.
  CmdResult late = Deepkb("data", Key(k1_) + "search killed --collection late --json");
  ASSERT_EQ(late.code, 0) << late.err;
  EXPECT_NE(late.out.find("just before it was killed"), std::string::npos) << late.out;

  // Rotation: the new key opens the directory, the old one no longer does.
  CmdResult rot = Deepkb("data", Key(k1_) + "keys rotate-master --new-key-file " + Quote(k2_));
  ASSERT_EQ(rot.code, 0) << rot.err;
  CmdResult with_new = Deepkb("data", Key(k2_) + "search confidential --collection kb --json");
  ASSERT_EQ(with_new.code, 0) << with_new.err;
  EXPECT_NE(with_new.out.find(kMarker), std::string::npos);
  CmdResult with_old = Deepkb("data", Key(k1_) + "search confidential --collection kb");
  EXPECT_EQ(with_old.code, 4);
  EXPECT_NE(with_old.err.find("wrong key file for this data directory"), std::string::npos)
      << with_old.err;
  CmdResult wrong = Deepkb("data", Key(k3_) + "collections list");
  EXPECT_EQ(wrong.code, 4);
  EXPECT_NE(wrong.err.find("wrong key file"), std::string::npos) << wrong.err;
  CmdResult none = Deepkb("data", "collections list");
  EXPECT_EQ(none.code, 4);
  EXPECT_NE(none.err.find("is encrypted; pass --key-file"), std::string::npos) << none.err;
  // DEEPKB_KEY_FILE works like --key-file.
  {
    const std::string cmd = "DEEPKB_KEY_FILE=" + Quote(k2_) + " " + std::string(DEEPKB_BIN) +
                            " --data-dir " + Quote((root_ / "data").string()) +
                            " collections list >/dev/null 2>&1";
    const int st = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  EXPECT_EQ(FilesWithMarker("data"), std::vector<std::string>{});
}

TEST_F(EncryptionTest, PlainDirectoryShowsTheMarkerAndRefusesAKey) {
  // The scan can fail: without --key-file the marker is on disk.
  ASSERT_EQ(Deepkb("plain", "collections create kb").code, 0);
  ASSERT_EQ(Deepkb("plain", "ingest " + Quote((root_ / "corpus").string()) + " --collection kb")
                .code,
            0);
  EXPECT_FALSE(FilesWithMarker("plain").empty());
  CmdResult mixed = Deepkb("plain", Key(k1_) + "collections list");
  EXPECT_NE(mixed.code, 0);
  EXPECT_NE(mixed.err.find("holds unencrypted data"), std::string::npos) << mixed.err;
  EXPECT_FALSE(fs::exists(root_ / "plain" / "keyring"));
}

TEST_F(EncryptionTest, FlippedByteIsReportedAsCorruption) {
  ASSERT_EQ(Deepkb("data", Key(k1_) + "collections create kb").code, 0);
  ASSERT_EQ(Deepkb("data", Key(k1_) + "ingest " + Quote((root_ / "corpus").string()) +
                               " --collection kb")
                .code,
            0);
  ASSERT_EQ(Deepkb("data", Key(k1_) + "index verify").code, 0);
  const fs::path db = root_ / "data" / "kb.db";
  const auto size = fs::file_size(db);
  ASSERT_GT(size, 3u * 4096);
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff off = static_cast<std::streamoff>(size - 4096 + 700);  // last page
    f.seekg(off);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x20);
    f.seekp(off);
    f.write(&c, 1);
  }
  CmdResult r = Deepkb("data", Key(k1_) + "index verify");
  EXPECT_EQ(r.code, 6) << r.out << r.err;
  EXPECT_NE(r.err.find("tampered"), std::string::npos) << r.err;
}

}  // namespace
