// `deepkb doctor` and `deepkb index verify|rebuild --server` end-to-end: the real binary on real
// data directories, each check forced to fail in a real setup (tampered FTS content, nothing
// listening, a 0644 key file, a disk threshold below the real usage, a server whose Date header
// is 2 minutes off), and the --server paths against an in-process KbServer over loopback HTTP.
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/api_keys.h"
#include "common/hash.h"
#include "kb/kb.h"
#include "server/kb_server.h"
#include "shell_util.h"

namespace deepkb {
namespace {

using nlohmann::json;
using testing::Quote;

struct Out {
  int code = -1;
  std::string text;
};

Out Deepkb(const std::string& args) {
  const testing::CmdResult r = testing::RunShell(std::string(DEEPKB_BIN) + " " + args + " 2>&1");
  return Out{r.code, r.out};
}

// A port with nothing listening (bound, then closed).
// A loopback port with nothing listening: bound, never listened on, then closed. (An
// httplib::Server that bound a port keeps listening on it after its destructor, so connecting
// would hang instead of being refused.)
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("doctor_" + RandomHex(6));
    data_ = (dir_ / "data").string();
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "note.txt") << "The connection pool size is 64.\n\nReplication lag "
                                        "alerts fire after 30 seconds.\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A data dir with collection c holding note.txt; `extra` global flags (e.g. --key-file).
  void MakeData(const std::string& extra = "") {
    ASSERT_EQ(Deepkb(D() + extra + " collections create c").code, 0);
    auto r = Deepkb(D() + extra + " ingest " + Quote((dir_ / "note.txt").string()) + " -c c");
    ASSERT_EQ(r.code, 0) << r.text;
  }
  std::string D() const { return "--data-dir " + Quote(data_) + " "; }

  std::filesystem::path dir_;
  std::string data_;
};

TEST_F(Doctor, HealthyNodePassesWithJson) {
  MakeData();
  auto r = Deepkb(D() + "doctor");
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("OK    data_dir:"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("OK    index_integrity:"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("WARN  log:"), std::string::npos) << r.text;
  auto j = Deepkb(D() + "doctor --json");
  auto arr = json::parse(j.text, nullptr, false);
  ASSERT_TRUE(arr.is_array()) << j.text;
  for (const auto& c : arr) {
    EXPECT_TRUE(c.contains("check") && c.contains("status") && c.contains("detail") &&
                c.contains("fix"));
  }
}

TEST_F(Doctor, TamperedFullTextIndexFailsWithExit6) {
  MakeData();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_ + "/kb.db").c_str(), &db), SQLITE_OK);
  // The FTS index is external-content over the chunk text: changing the text behind its back
  // leaves index entries that no longer match their row.
  ASSERT_EQ(sqlite3_exec(db, "UPDATE chunks SET text = 'tampered entirely different words'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto r = Deepkb(D() + "doctor");
  EXPECT_EQ(r.code, 6) << r.text;
  EXPECT_NE(r.text.find("FAIL  index_integrity:"), std::string::npos) << r.text;
  EXPECT_NE(Deepkb(D() + "index verify").code, 0);
}

TEST_F(Doctor, UnreachableUpstreamFailsWithExit5) {
  MakeData();
  const int port = ClosedPort();
  auto r = Deepkb(D() + "doctor --timeout 1 --upstream " +
               Quote("llm=http://127.0.0.1:" + std::to_string(port) + "/v1"));
  EXPECT_EQ(r.code, 5) << r.text;
  EXPECT_NE(r.text.find("FAIL  upstream llm:"), std::string::npos) << r.text;
}

TEST_F(Doctor, GroupReadableKeyFileFails) {
  const std::string key = (dir_ / "master.key").string();
  {
    std::ofstream k(key, std::ios::binary);
    k << std::string(32, 'k') << RandomHex(16);
  }
  ::chmod(key.c_str(), 0600);
  MakeData("--key-file " + Quote(key) + " ");
  auto ok = Deepkb(D() + "--key-file " + Quote(key) + " doctor");
  EXPECT_EQ(ok.code, 0) << ok.text;
  EXPECT_NE(ok.text.find("OK    key_file:"), std::string::npos) << ok.text;
  ::chmod(key.c_str(), 0644);
  auto r = Deepkb(D() + "--key-file " + Quote(key) + " doctor");
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("FAIL  key_file:"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("chmod 600"), std::string::npos) << r.text;
}

TEST_F(Doctor, DiskAboveThresholdFails) {
  MakeData();
  // Any real filesystem is more than 0.0001% used.
  auto r = Deepkb(D() + "doctor --disk-refuse-writes-at 0.000001");
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("FAIL  disk:"), std::string::npos) << r.text;
}

// A remote KB and an upstream whose clock is 2 minutes ahead of ours.
TEST_F(Doctor, ClockSkewToRemoteKbFails) {
  MakeData();
  httplib::Server fake;
  const auto date = [] {
    const std::time_t t = std::time(nullptr) + 120;
    char buf[64];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf);
  };
  for (const char* path : {"/healthz", "/v1/collections", "/v1/models"}) {
    fake.Get(path, [&](const httplib::Request&, httplib::Response& res) {
      res.set_header("Date", date());
      res.set_content("{}", "application/json");
    });
  }
  const int port = fake.bind_to_any_port("127.0.0.1");
  std::thread t([&] { fake.listen_after_bind(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto r = Deepkb(D() + "doctor --remote-kb " + Quote("far=" + url) + " --upstream " +
               Quote("llm=" + url + "/v1"));
  fake.stop();
  t.join();
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("OK    remote_kb far:"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("OK    upstream llm:"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("FAIL  clock_skew remote_kb far: +12"), std::string::npos) << r.text;
}

// --server: the node checks and index commands run on the server holding the directory.
TEST_F(Doctor, ServerModeUsesAdminRoutes) {
  MakeData();
  auto kb = std::move(kb::KnowledgeBase::Open(data_, {})).value();
  auto keys = std::move(auth::ApiKeys::Open(data_ + "/kb.db")).value();
  const std::string admin = *keys->Create("admin", {}, 0);
  const std::string reader = *keys->Create("reader", {}, 0);
  server::ServerOptions opts;
  opts.port = 0;
  server::KbServer srv(*kb, *keys, opts);
  const int port = *srv.Bind();
  std::thread t([&] { (void)srv.Serve(); });
  const std::string s = "--server http://127.0.0.1:" + std::to_string(port) + " --api-key ";

  auto d = Deepkb("doctor " + s + admin);
  EXPECT_EQ(d.code, 0) << d.text;
  EXPECT_NE(d.text.find("OK    index_integrity:"), std::string::npos) << d.text;
  auto denied = Deepkb("doctor " + s + reader);
  EXPECT_EQ(denied.code, 1) << denied.text;
  EXPECT_NE(denied.text.find("FAIL  server:"), std::string::npos) << denied.text;
  auto v = Deepkb("index verify " + s + admin);
  EXPECT_EQ(v.code, 0) << v.text;
  auto b = Deepkb("index rebuild -c c " + s + admin);
  EXPECT_EQ(b.code, 0) << b.text;
  EXPECT_NE(b.text.find("rebuilt collection 'c' online"), std::string::npos) << b.text;
  auto missing = Deepkb("index rebuild -c nope " + s + admin);
  EXPECT_EQ(missing.code, 3) << missing.text;

  srv.Stop();
  t.join();
  const int closed = ClosedPort();
  auto gone = Deepkb("doctor --server http://127.0.0.1:" + std::to_string(closed) + " --api-key x");
  EXPECT_EQ(gone.code, 5) << gone.text;
}

}  // namespace
}  // namespace deepkb
