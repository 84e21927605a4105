// End-to-end: a real `deepkb serve` process on a free loopback port, spoken to over real HTTP.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "common/hash.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("server_test_" + deepkb::RandomHex(6));
    fs::create_directories(dir_ / "sample");
    std::ofstream(dir_ / "sample" / "intro.md") << "# 介绍\n\n知识库支持中文检索和引用。";
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      const std::string data = (dir_ / "data").string();
      const std::string sample = "docs=" + (dir_ / "sample").string();
      execl(DEEPKB_BIN, DEEPKB_BIN, "--data-dir", data.c_str(), "--log-level", "error", "serve",
            "--listen", "127.0.0.1:0", "--sample-collection", sample.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    // Read stdout until the "serving on" line gives us the port.
    std::string text;
    char buf[4096];
    const std::regex re(R"(serving on http://127\.0\.0\.1:(\d+))");
    std::smatch m;
    while (!std::regex_search(text, m, re)) {
      ssize_t n = read(out[0], buf, sizeof buf);
      ASSERT_GT(n, 0) << "server exited before serving; output so far:\n" << text;
      text.append(buf, static_cast<size_t>(n));
    }
    stdout_ = text;
    port_ = std::stoi(m[1]);
    out_fd_ = out[0];
    std::ifstream key_file(dir_ / "data" / "admin.key");
    std::getline(key_file, key_);
    ASSERT_FALSE(key_.empty());
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_fd_);
    fs::remove_all(dir_);
  }

  httplib::Client Client(bool auth = true) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    if (auth) c.set_bearer_token_auth(key_.c_str());
    return c;
  }

  static json Body(const httplib::Result& r) { return json::parse(r->body, nullptr, false); }

  fs::path dir_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  std::string key_;
  std::string stdout_;
};

TEST_F(ServerTest, FirstStartWritesAdminKeyWithMode0600AndSampleCollection) {
  EXPECT_NE(stdout_.find("admin.key"), std::string::npos);
  const auto perms = fs::status(dir_ / "data" / "admin.key").permissions();
  EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto r = Client().Get("/v1/collections");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json j = Body(r);
  ASSERT_EQ(j["collections"].size(), 1u);
  EXPECT_EQ(j["collections"][0]["name"], "docs");
  EXPECT_EQ(j["collections"][0]["documents"], 1);
}

TEST_F(ServerTest, EveryRouteButHealthNeedsAKey) {
  auto anon = Client(false);
  auto h = anon.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_FALSE(h->get_header_value("X-Request-Id").empty());
  EXPECT_EQ(anon.Get("/readyz")->status, 200);
  for (const char* path : {"/v1/collections", "/v1/collections/docs", "/v1/collections/docs/documents"}) {
    auto r = anon.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(Body(r)["error"]["code"], "unauthenticated");
  }
  httplib::Client bad("127.0.0.1", port_);
  bad.set_bearer_token_auth("dkb_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000");
  EXPECT_EQ(bad.Get("/v1/collections")->status, 401);
}

TEST_F(ServerTest, PutSearchGetDeleteDocuments) {
  auto c = Client();
  auto put = c.Put("/v1/collections/docs/documents/ops%2Fnote-1",
                   R"({"text":"连接池的最大连接数是 64。","title":"运维笔记","metadata":{"team":"ops"}})",
                   "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201) << put->body;
  EXPECT_EQ(Body(put)["status"], "created");
  auto again = c.Put("/v1/collections/docs/documents/ops%2Fnote-1",
                     R"({"text":"连接池的最大连接数是 64。","title":"运维笔记","metadata":{"team":"ops"}})",
                     "application/json");
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(Body(again)["status"], "unchanged");
  auto md = c.Put("/v1/collections/docs/documents/guide.md", "# Guide\n\nRestore with PPR-9087.",
                  "text/markdown");
  EXPECT_EQ(md->status, 201) << md->body;

  auto s = c.Post("/v1/collections/docs/search", R"({"query":"连接池最大连接数","top_k":3})",
                  "application/json");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->status, 200) << s->body;
  json hits = Body(s)["hits"];
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["doc_id"], "ops/note-1");
  EXPECT_EQ(hits[0]["title"], "运维笔记");
  EXPECT_EQ(hits[0]["metadata"]["team"], "ops");
  EXPECT_NE(hits[0]["highlight"].get<std::string>().find("<mark>"), std::string::npos);

  auto g = c.Get("/v1/collections/docs/documents/guide.md?chunks=true");
  ASSERT_EQ(g->status, 200);
  EXPECT_EQ(Body(g)["title"], "Guide");
  EXPECT_FALSE(Body(g)["chunk_list"].empty());
  auto list = c.Get("/v1/collections/docs/documents?limit=2");
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(Body(list)["documents"].size(), 2u);
  EXPECT_FALSE(Body(list)["next_cursor"].is_null());

  EXPECT_EQ(c.Delete("/v1/collections/docs/documents/guide.md")->status, 200);
  EXPECT_EQ(c.Get("/v1/collections/docs/documents/guide.md")->status, 404);
}

TEST_F(ServerTest, BadRequestsGetContractErrors) {
  auto c = Client();
  auto missing = c.Get("/v1/collections/nope");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["error"]["type"], "not_found_error");
  EXPECT_EQ(c.Post("/v1/collections", "{not json", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/v1/collections", R"({"name": 5})", "application/json")->status, 400);
  auto dup = c.Post("/v1/collections", R"({"name":"docs"})", "application/json");
  EXPECT_EQ(dup->status, 409);
  EXPECT_EQ(Body(dup)["error"]["code"], "already_exists");
  auto img = c.Put("/v1/collections/docs/documents/x.png", "\x89PNG", "image/png");
  EXPECT_EQ(img->status, 415);
  auto empty = c.Put("/v1/collections/docs/documents/e.txt", "", "text/plain");
  EXPECT_EQ(empty->status, 400);
  for (const char* q : {R"({"query":"\"NEAR(*"})", R"({"query":"AND OR NOT"})", R"({"query":""})"}) {
    auto s = c.Post("/v1/collections/docs/search", q, "application/json");
    EXPECT_EQ(s->status, 200) << q << " " << s->body;
  }
  EXPECT_EQ(c.Post("/v1/collections/docs/search", R"({"query":"x","mode":"semantic"})",
                   "application/json")->status, 400);
  auto fused = c.Post("/v1/collections/docs/search",
                      R"({"query":"中文检索","mode":"hybrid","fusion":{"method":"weighted","keyword_weight":0.3,"vector_weight":0.7},"filter":{"doc_id":{"$in":["sample/intro.md"]}}})",
                      "application/json");
  ASSERT_EQ(fused->status, 200) << fused->body;
  EXPECT_EQ(Body(fused)["mode"], "hybrid");
  for (const auto& h : Body(fused)["hits"]) EXPECT_EQ(h["doc_id"], "sample/intro.md");
  EXPECT_EQ(c.Post("/v1/collections/docs/search", R"({"query":"x","filter":{"a":{"$regex":1}}})",
                   "application/json")->status, 400);
  EXPECT_EQ(c.Get("/v1/nothing-here")->status, 404);
}

TEST_F(ServerTest, CliRefusesWhileServerHoldsTheDataDir) {
  const std::string cmd = std::string(DEEPKB_BIN) + " --data-dir '" + (dir_ / "data").string() +
                          "' collections list >/dev/null 2>&1";
  const int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 5);
}

TEST_F(ServerTest, SigtermStopsGracefully) {
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  int status = 0;
  for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(WIFEXITED(status)) << "server did not exit after SIGTERM";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  pid_ = -1;
}

}  // namespace
