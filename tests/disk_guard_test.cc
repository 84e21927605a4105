// The disk guard: DiskGuard itself (injected usage, cache, statvfs on a real tmpfs when this
// process may mount one), and KbServer refusing writes with 507 over real loopback HTTP while
// reads, deletes and admin routes keep working; the admin doctor and index routes.
#include <sys/mount.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/api_keys.h"
#include "common/hash.h"
#include "kb/kb.h"
#include "server/disk_guard.h"
#include "server/kb_server.h"

namespace deepkb {
namespace {

using nlohmann::json;
using server::DiskGuard;

TEST(DiskGuard, RefusesAtThresholdWithClearMessage) {
  double usage = 0.5;
  DiskGuard g("/data", 0.95, [&](const std::string&) -> Result<double> { return usage; });
  EXPECT_TRUE(g.CheckWrite().ok());
  DiskGuard full("/data", 0.95, [](const std::string&) -> Result<double> { return 0.963; });
  Status s = full.CheckWrite();
  ASSERT_EQ(s.code(), StatusCode::kInsufficientStorage);
  EXPECT_EQ(s.message(),
            "disk of /data is 96% full (threshold 95%); free space or raise "
            "--disk-refuse-writes-at; reads keep working");
  DiskGuard exact("/data", 0.95, [](const std::string&) -> Result<double> { return 0.95; });
  EXPECT_FALSE(exact.CheckWrite().ok());
}

TEST(DiskGuard, MeasuresAtMostOncePerSecond) {
  int calls = 0;
  DiskGuard g("/d", 0.9, [&](const std::string&) -> Result<double> { return 0.1 * ++calls; });
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(g.Usage().ok());
  EXPECT_EQ(calls, 1);
  EXPECT_DOUBLE_EQ(*g.Usage(), 0.1);
}

TEST(DiskGuard, UnmeasurableDiskDoesNotBlockWrites) {
  DiskGuard g("/nonexistent-deepkb-dir", 0.5);
  EXPECT_EQ(g.Usage().status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(g.CheckWrite().ok());
}

TEST(DiskGuard, ValidatesThreshold) {
  EXPECT_TRUE(DiskGuard::ValidateThreshold(0.95).ok());
  EXPECT_TRUE(DiskGuard::ValidateThreshold(1).ok());
  EXPECT_FALSE(DiskGuard::ValidateThreshold(0).ok());
  EXPECT_FALSE(DiskGuard::ValidateThreshold(1.5).ok());
}

// statvfs on a real 8 MiB tmpfs: filling it moves the usage and trips the guard. Needs
// CAP_SYS_ADMIN (root); skipped otherwise (the injected-source tests above cover the logic).
TEST(DiskGuard, RealTmpfsFillsUp) {
  const auto dir = std::filesystem::temp_directory_path() / ("dkb_tmpfs_" + RandomHex(4));
  std::filesystem::create_directories(dir);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=8m") != 0) {
    std::filesystem::remove(dir);
    GTEST_SKIP() << "cannot mount a tmpfs here (not root)";
  }
  auto empty = DiskGuard::StatvfsUsage(dir.string());
  ASSERT_TRUE(empty.ok());
  EXPECT_LT(*empty, 0.05);
  {
    std::ofstream f(dir / "fill", std::ios::binary);
    const std::string mb(1 << 20, 'x');
    for (int i = 0; i < 8; ++i) f << mb;  // the last write fails: the disk is full
  }
  auto full = DiskGuard::StatvfsUsage(dir.string());
  ASSERT_TRUE(full.ok());
  EXPECT_GT(*full, 0.95);
  DiskGuard g(dir.string(), 0.95);
  EXPECT_EQ(g.CheckWrite().code(), StatusCode::kInsufficientStorage);
  ::umount(dir.c_str());
  std::filesystem::remove_all(dir);
}

// A KbServer with an injected disk usage, spoken to over loopback HTTP.
class GuardedServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("disk_guard_" + RandomHex(6));
    std::filesystem::create_directories(dir_);
    kb_ = std::move(kb::KnowledgeBase::Open(dir_.string(), {})).value();
    keys_ = std::move(auth::ApiKeys::Open((dir_ / "kb.db").string())).value();
    admin_ = *keys_->Create("admin", {}, 0);
    server::ServerOptions opts;
    opts.port = 0;
    opts.disk_refuse_writes_at = 0.95;
    opts.disk_usage = [this](const std::string&) -> Result<double> { return usage_.load(); };
    srv_ = std::make_unique<server::KbServer>(*kb_, *keys_, opts);
    port_ = *srv_->Bind();
    thread_ = std::thread([this] { (void)srv_->Serve(); });
    ASSERT_TRUE(kb_->CreateCollection({.name = "c"}).ok());
  }
  void TearDown() override {
    srv_->Stop();
    thread_.join();
    srv_.reset();
    keys_.reset();
    kb_.reset();
    std::filesystem::remove_all(dir_);
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_bearer_token_auth(admin_.c_str());
    c.set_read_timeout(60, 0);
    return c;
  }
  // Sets the usage and waits out the guard's one-second cache.
  void SetUsage(double u) {
    usage_ = u;
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  httplib::Result Put(const std::string& id, const std::string& text) {
    return Client().Put(("/v1/collections/c/documents/" + id).c_str(),
                        json{{"text", text}}.dump(), "application/json");
  }

  std::filesystem::path dir_;
  std::unique_ptr<kb::KnowledgeBase> kb_;
  std::unique_ptr<auth::ApiKeys> keys_;
  std::unique_ptr<server::KbServer> srv_;
  std::thread thread_;
  std::atomic<double> usage_{0.5};
  std::string admin_;
  int port_ = 0;
};

TEST_F(GuardedServer, FullDiskRefusesWritesKeepsReadsAndDeletes) {
  auto ok = Put("a", "connection pool size is 64");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 201) << ok->body;

  SetUsage(0.96);
  auto refused = Put("b", "another document");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 507);
  auto body = json::parse(refused->body);
  EXPECT_EQ(body["error"]["code"], "insufficient_storage");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("is 96% full (threshold 95%)"),
            std::string::npos)
      << refused->body;
  auto coll = Client().Post("/v1/collections", json{{"name", "d"}}.dump(), "application/json");
  ASSERT_TRUE(coll);
  EXPECT_EQ(coll->status, 507);

  auto search = Client().Post("/v1/collections/c/search", json{{"query", "pool"}}.dump(),
                              "application/json");
  ASSERT_TRUE(search);
  EXPECT_EQ(search->status, 200);
  EXPECT_EQ(json::parse(search->body)["hits"].size(), 1u);
  auto get = Client().Get("/v1/collections/c/documents/a");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  auto keys = Client().Get("/v1/keys");  // admin routes keep working
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->status, 200);
  auto del = Client().Delete("/v1/collections/c/documents/a");  // deletes free space
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;

  auto metrics = Client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("deepkb_http_rejected_total{reason=\"disk_full\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("deepkb_disk_usage_ratio"), std::string::npos);

  SetUsage(0.5);
  auto again = Put("b", "another document");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 201) << again->body;
}

TEST_F(GuardedServer, DoctorRouteReportsDiskAndIndex) {
  const auto checks = [&]() {
    auto r = Client().Get("/v1/admin/doctor");
    EXPECT_TRUE(r && r->status == 200);
    return json::parse(r->body);
  };
  const auto status_of = [](const json& j, const std::string& check) {
    for (const auto& c : j["checks"]) {
      if (c["check"] == check) return c["status"].get<std::string>();
    }
    return std::string("missing");
  };
  json j = checks();
  EXPECT_EQ(status_of(j, "disk"), "OK");
  EXPECT_EQ(status_of(j, "index_integrity"), "OK");
  EXPECT_EQ(status_of(j, "data_dir"), "OK");
  EXPECT_EQ(j["exit_code"], 0);
  SetUsage(0.9);
  j = checks();
  EXPECT_EQ(status_of(j, "disk"), "WARN");
  EXPECT_EQ(j["exit_code"], 0);
  SetUsage(0.97);
  j = checks();
  EXPECT_EQ(status_of(j, "disk"), "FAIL");
  EXPECT_EQ(j["exit_code"], 1);

  httplib::Client anon("127.0.0.1", port_);
  auto denied = anon.Get("/v1/admin/doctor");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
}

// Online rebuild: searches keep answering from the old index while the new one is built; the
// longest search latency seen during the rebuild is the swap's pause (printed for docs/doctor.md).
TEST_F(GuardedServer, RebuildOnlineKeepsServingSearches) {
  std::string text;
  for (int d = 0; d < 200; ++d) {
    kb::PutDocumentRequest req;
    req.collection = "c";
    req.doc_id = "doc-" + std::to_string(d);
    req.file_name = "d.txt";
    req.bytes.clear();
    for (int p = 0; p < 50; ++p) {
      req.bytes += "Paragraph " + std::to_string(p) + " of document " + std::to_string(d) +
                   " mentions replication lag and pool size " + std::to_string(d * p) + ".\n\n";
    }
    ASSERT_TRUE(kb_->PutDocument(req).ok());
  }
  const int64_t chunks = kb_->GetCollection("c")->chunks;
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, failures{0};
  std::atomic<double> worst_ms{0};
  std::thread searcher([&] {
    httplib::Client c = Client();
    while (!done) {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = c.Post("/v1/collections/c/search",
                      json{{"query", "replication lag"}, {"mode", "hybrid"}}.dump(),
                      "application/json");
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r || r->status != 200 || json::parse(r->body)["hits"].empty()) ++failures;
      ++searches;
      if (ms > worst_ms) worst_ms = ms;
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Client().Post("/v1/admin/index/rebuild", json{{"collection", "c"}}.dump(),
                         "application/json");
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  done = true;
  searcher.join();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["chunks"], chunks);
  EXPECT_EQ(failures, 0);
  EXPECT_GT(searches, 1);
  std::printf("rebuild of %lld chunks: %.0f ms; %d searches during it, longest %.0f ms\n",
              static_cast<long long>(chunks), total_ms, searches.load(), worst_ms.load());
  auto verify = Client().Get("/v1/admin/index/verify");
  ASSERT_TRUE(verify);
  EXPECT_EQ(verify->status, 200) << verify->body;
}

}  // namespace
}  // namespace deepkb
