// End-to-end operations tests of `deepkb serve` over real loopback HTTP(S): TLS versions and
// client certificates (certificates made with the openssl CLI at test time), start-up errors,
// rate limiting, body limits, content types, multipart upload, /metrics, graceful shutdown.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/hash.h"
#include "test_certs.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

using deepkb::testing::MakeCertificates;
using deepkb::testing::Sh;

class ServerProcess {
 public:
  ~ServerProcess() { Kill(); }

  // Starts `deepkb --data-dir D serve --listen 127.0.0.1:0 <args>`; returns false (with the
  // output in *out) when the process exits before serving.
  bool Start(const fs::path& data, const std::vector<std::string>& args, std::string* out,
             const std::vector<std::string>& global = {}) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(pipefd[1], 1);
      dup2(pipefd[1], 2);
      close(pipefd[0]);
      close(pipefd[1]);
      std::vector<std::string> argv_s = {DEEPKB_BIN, "--data-dir", data.string(), "--log-level",
                                         "warn"};
      for (const auto& a : global) argv_s.push_back(a);
      argv_s.push_back("serve");
      argv_s.push_back("--listen");
      argv_s.push_back("127.0.0.1:0");
      for (const auto& a : args) argv_s.push_back(a);
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(DEEPKB_BIN, argv.data());
      _exit(127);
    }
    close(pipefd[1]);
    fd_ = pipefd[0];
    const std::regex re(R"(serving on https?://127\.0\.0\.1:(\d+))");
    std::smatch m;
    char buf[4096];
    while (!std::regex_search(*out, m, re)) {
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) {
        int st = 0;
        waitpid(pid_, &st, 0);
        exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        pid_ = -1;
        return false;
      }
      out->append(buf, static_cast<size_t>(n));
    }
    port_ = std::stoi(m[1]);
    std::ifstream key_file(data / "admin.key");
    std::getline(key_file, key_);
    return true;
  }

  // SIGTERM and wait; returns the exit code.
  int Terminate() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return exit_code_;
  }

  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  int port() const { return port_; }
  const std::string& key() const { return key_; }
  int exit_code() const { return exit_code_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  std::string key_;
};

class ServerOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("server_ops_" + deepkb::RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    srv_.Kill();
    fs::remove_all(dir_);
  }

  void StartOrDie(const std::vector<std::string>& args, const std::vector<std::string>& global = {}) {
    std::string out;
    ASSERT_TRUE(srv_.Start(dir_ / "data", args, &out, global)) << out;
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", srv_.port());
    c.set_read_timeout(30, 0);
    c.set_bearer_token_auth(srv_.key().c_str());
    return c;
  }

  // Runs openssl s_client; true when the handshake succeeded.
  bool Handshake(const std::string& version_flag, const std::string& extra = "") {
    const std::string cmd = "echo | timeout 10 openssl s_client " + version_flag +
                            " -connect 127.0.0.1:" + std::to_string(srv_.port()) +
                            " -CAfile '" + (dir_ / "ca.pem").string() + "' " + extra +
                            " >/dev/null 2>&1";
    return Sh(cmd) == 0;
  }

  fs::path dir_;
  ServerProcess srv_;
};

std::vector<std::string> TlsArgs(const fs::path& d) {
  return {"--tls-cert", (d / "server.pem").string(), "--tls-key", (d / "server.key").string()};
}

TEST_F(ServerOpsTest, Tls13OnlyByDefault_Tls12RefusedThenAcceptedWithTlsMin12) {
  MakeCertificates(dir_);
  StartOrDie(TlsArgs(dir_));
  EXPECT_TRUE(Handshake("-tls1_3"));
  EXPECT_FALSE(Handshake("-tls1_2"));
  {
    httplib::SSLClient c("127.0.0.1", srv_.port());
    c.set_ca_cert_path((dir_ / "ca.pem").string().c_str());
    c.enable_server_certificate_verification(true);
    c.set_bearer_token_auth(srv_.key().c_str());
    c.set_keep_alive(true);
    for (int i = 0; i < 3; ++i) {  // several requests on one kept-alive TLS connection
      auto r = c.Get("/v1/collections");
      ASSERT_TRUE(r) << httplib::to_string(r.error());
      EXPECT_EQ(r->status, 200);
    }
    // Plain HTTP to the TLS port gets no HTTP answer.
    httplib::Client plain("127.0.0.1", srv_.port());
    plain.set_read_timeout(3, 0);
    auto p = plain.Get("/healthz");
    EXPECT_TRUE(!p || p->status != 200);
  }
  EXPECT_EQ(srv_.Terminate(), 0);

  auto args = TlsArgs(dir_);
  args.insert(args.end(), {"--tls-min", "1.2"});
  StartOrDie(args);
  EXPECT_TRUE(Handshake("-tls1_2"));
  EXPECT_TRUE(Handshake("-tls1_3"));
  // Only AEAD suites with forward secrecy in TLS 1.2.
  EXPECT_FALSE(Handshake("-tls1_2", "-cipher AES128-SHA256"));
}

TEST_F(ServerOpsTest, ClientCertificateRequiredWithTlsClientCa) {
  MakeCertificates(dir_);
  auto args = TlsArgs(dir_);
  args.insert(args.end(), {"--tls-client-ca", (dir_ / "ca.pem").string()});
  StartOrDie(args);
  // An HTTP request through openssl s_client (cpp-httplib 0.11's client does not notice a TLS
  // 1.3 alert that arrives after its handshake finished, so the CLI is the reliable probe).
  auto get = [&](const std::string& extra) {
    const fs::path out = dir_ / "s_client.out";
    Sh("printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
       "timeout 10 openssl s_client -quiet -connect 127.0.0.1:" + std::to_string(srv_.port()) +
       " -CAfile '" + (dir_ / "ca.pem").string() + "' " + extra + " >'" + out.string() +
       "' 2>&1");
    std::ifstream in(out);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string anon = get("");
  EXPECT_EQ(anon.find("HTTP/1.1 200"), std::string::npos) << anon;
  EXPECT_NE(anon.find("certificate required"), std::string::npos) << anon;
  // A certificate from another CA is refused too.
  ASSERT_EQ(Sh("cd '" + dir_.string() + "' && openssl req -x509 -newkey ec -pkeyopt "
               "ec_paramgen_curve:P-256 -nodes -keyout rogue.key -out rogue.pem -days 2 "
               "-subj /CN=rogue >/dev/null 2>&1"), 0);
  const std::string rogue = get("-cert '" + (dir_ / "rogue.pem").string() + "' -key '" +
                                (dir_ / "rogue.key").string() + "'");
  EXPECT_EQ(rogue.find("HTTP/1.1 200"), std::string::npos) << rogue;
  const std::string ok = get("-cert '" + (dir_ / "client.pem").string() + "' -key '" +
                             (dir_ / "client.key").string() + "'");
  EXPECT_NE(ok.find("HTTP/1.1 200"), std::string::npos) << ok;
  EXPECT_NE(ok.find("{\"status\":\"ok\"}"), std::string::npos) << ok;
}

TEST_F(ServerOpsTest, StartupErrorsForMissingUnreadableOrMismatchedTlsFiles) {
  MakeCertificates(dir_);
  std::string out;
  ServerProcess p1;
  EXPECT_FALSE(p1.Start(dir_ / "data", {"--tls-cert", (dir_ / "nope.pem").string(), "--tls-key",
                                        (dir_ / "server.key").string()}, &out));
  EXPECT_EQ(p1.exit_code(), 3) << out;
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;

  out.clear();
  ServerProcess p2;
  EXPECT_FALSE(p2.Start(dir_ / "data", {"--tls-cert", (dir_ / "server.pem").string(), "--tls-key",
                                        (dir_ / "other.key").string()}, &out));
  EXPECT_EQ(p2.exit_code(), 2) << out;
  EXPECT_NE(out.find("does not match"), std::string::npos) << out;

  out.clear();
  ServerProcess p3;
  EXPECT_FALSE(p3.Start(dir_ / "data", {"--tls-cert", (dir_ / "server.pem").string()}, &out));
  EXPECT_EQ(p3.exit_code(), 2) << out;
  EXPECT_NE(out.find("--tls-key"), std::string::npos) << out;

  if (geteuid() != 0) {  // root reads any file
    fs::permissions(dir_ / "server.key", fs::perms::none);
    out.clear();
    ServerProcess p4;
    EXPECT_FALSE(p4.Start(dir_ / "data", TlsArgs(dir_), &out));
    EXPECT_EQ(p4.exit_code(), 4) << out;
  }
}

TEST_F(ServerOpsTest, RateLimitBurstThen429WithRetryAfterThenRecovers) {
  StartOrDie({"--rate-limit", "1", "--rate-burst", "4"});
  auto c = Client();
  for (int i = 0; i < 4; ++i) {
    auto r = c.Get("/v1/collections");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << i;
  }
  auto limited = c.Get("/v1/collections");
  ASSERT_TRUE(limited);
  ASSERT_EQ(limited->status, 429);
  EXPECT_EQ(json::parse(limited->body)["error"]["code"], "resource_exhausted");
  const std::string ra = limited->get_header_value("Retry-After");
  ASSERT_TRUE(std::regex_match(ra, std::regex("[1-9][0-9]*"))) << ra;
  // Health checks are never limited.
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  std::this_thread::sleep_for(std::chrono::seconds(std::stoi(ra)) + 100ms);
  EXPECT_EQ(c.Get("/v1/collections")->status, 200);
}

TEST_F(ServerOpsTest, BodyLimit413AndContentType415) {
  StartOrDie({}, {"--max-file-size", "1"});
  auto c = Client();
  ASSERT_EQ(c.Post("/v1/collections", R"({"name":"docs"})", "application/json")->status, 201);
  const std::string big(2u << 20, 'a');
  auto r = c.Put("/v1/collections/docs/documents/big.txt", big, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  auto wrong = c.Post("/v1/collections", R"({"name":"x"})", "text/plain");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 415);
  json e = json::parse(wrong->body);
  EXPECT_EQ(e["error"]["code"], "unsupported_media_type");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("application/json"), std::string::npos);
  auto form = c.Post("/v1/collections/docs/search", "query=x", "application/x-www-form-urlencoded");
  EXPECT_EQ(form->status, 415);
  // The upload route wants multipart.
  EXPECT_EQ(c.Post("/v1/collections/docs/documents", R"({"a":1})", "application/json")->status,
            415);
  // JSON with a charset parameter is fine.
  EXPECT_EQ(c.Post("/v1/collections/docs/search", R"({"query":"x"})",
                   "application/json; charset=utf-8")->status, 200);
}

TEST_F(ServerOpsTest, MultipartUploadGivesPerFileResults) {
  StartOrDie({});
  auto c = Client();
  ASSERT_EQ(c.Post("/v1/collections", R"({"name":"docs"})", "application/json")->status, 201);
  httplib::MultipartFormDataItems items = {
      {"file", "# Guide\n\nRestore with PPR-9087.", "guide.md", "application/octet-stream"},
      {"file", "plain words about backups", "notes/ops.txt", "text/plain"},
      {"file", std::string("\x89PNG\r\n\x1a\n\0\0\0", 11), "logo.png", "image/png"},
      {"comment", "not a file", "", ""},
  };
  auto r = c.Post("/v1/collections/docs/documents", items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["added"], 2);
  EXPECT_EQ(j["failed"], 1);
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["id"], "guide.md");
  EXPECT_EQ(j["results"][0]["status"], "created");
  EXPECT_EQ(j["results"][1]["id"], "notes/ops.txt");
  EXPECT_EQ(j["results"][2]["status"], "failed");
  EXPECT_EQ(j["results"][2]["error"]["code"], "unsupported_media_type");
  auto again = c.Post("/v1/collections/docs/documents", items);
  EXPECT_EQ(json::parse(again->body)["unchanged"], 2);
  auto g = c.Get("/v1/collections/docs/documents/guide.md");
  ASSERT_EQ(g->status, 200);
  EXPECT_EQ(json::parse(g->body)["title"], "Guide");
  // No file parts: 400.
  httplib::MultipartFormDataItems none = {{"comment", "x", "", ""}};
  EXPECT_EQ(c.Post("/v1/collections/docs/documents", none)->status, 400);
}

TEST_F(ServerOpsTest, MetricsExpositionHasContractNamesAndParses) {
  StartOrDie({});
  auto c = Client();
  ASSERT_EQ(c.Post("/v1/collections", R"({"name":"docs"})", "application/json")->status, 201);
  ASSERT_EQ(c.Put("/v1/collections/docs/documents/a.md", "# A\n\nalpha beta", "text/markdown")
                ->status, 201);
  for (const char* mode : {"keyword", "vector", "hybrid"}) {
    auto s = c.Post("/v1/collections/docs/search",
                    json{{"query", "alpha"}, {"mode", mode}}.dump(), "application/json");
    ASSERT_EQ(s->status, 200) << s->body;
  }
  c.Get("/v1/collections/nope");
  httplib::Client anon("127.0.0.1", srv_.port());
  EXPECT_EQ(anon.Get("/metrics")->status, 401);

  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& t = m->body;
  for (const char* name :
       {"deepkb_http_requests_total{route=\"/v1/collections/{c}/search\",code=\"200\"} 3",
        "deepkb_http_requests_total{route=\"/v1/collections/{c}\",code=\"404\"} 1",
        "deepkb_http_request_duration_seconds_bucket{route=\"/v1/collections/{c}/search\",le=\"+Inf\"} 3",
        "deepkb_search_duration_seconds_count{mode=\"keyword\"} 1",
        "deepkb_search_duration_seconds_count{mode=\"vector\"} 1",
        "deepkb_search_duration_seconds_count{mode=\"hybrid\"} 1",
        "deepkb_index_update_duration_seconds_count 1", "deepkb_documents{collection=\"docs\"} 1",
        "deepkb_chunks{collection=\"docs\"} 1", "deepkb_disk_usage_ratio ",
        "# TYPE deepkb_vector_queue gauge",
        "# TYPE deepkb_http_request_duration_seconds histogram",
        "# TYPE deepkb_http_requests_total counter", "deepkb_process_resident_memory_bytes "}) {
    EXPECT_NE(t.find(name), std::string::npos) << name << "\n" << t;
  }
  // Every line is a HELP/TYPE comment or a sample.
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*",?)*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::istringstream in(t);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    const bool ok = std::regex_match(line, sample) || std::regex_match(line, comment);
    EXPECT_TRUE(ok) << line;
    samples += line[0] != '#';
  }
  EXPECT_GT(samples, 20);
}

TEST_F(ServerOpsTest, SigtermFinishesInFlightRequestThenSavesSnapshots) {
  StartOrDie({});
  auto c = Client();
  ASSERT_EQ(c.Post("/v1/collections", R"({"name":"docs"})", "application/json")->status, 201);
  // A large document: parsing, chunking and indexing it keeps the handler busy for a while.
  std::string big;
  for (int i = 0; big.size() < (6u << 20); ++i) {
    big += "Paragraph " + std::to_string(i) +
           " explains how the replica restores backups, rotates keys and compacts indexes.\n\n";
  }
  int slow_status = 0;
  std::string slow_body, slow_error;
  std::thread t([&] {
    auto sc = Client();
    sc.set_read_timeout(120, 0);
    auto r = sc.Put("/v1/collections/docs/documents/big.txt", big, "text/plain");
    if (r) {
      slow_status = r->status;
      slow_body = r->body;
    } else {
      slow_error = httplib::to_string(r.error());
    }
  });
  // Wait until the handler runs (the in-flight gauge counts it), then SIGTERM.
  bool running = false;
  for (int i = 0; i < 400 && !running; ++i) {
    auto m = c.Get("/metrics");
    running = m && m->body.find("deepkb_http_in_flight_requests 1") != std::string::npos;
    if (!running) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(running) << "the upload finished before SIGTERM could be sent";
  const auto t0 = std::chrono::steady_clock::now();
  const auto before_term = fs::file_time_type::clock::now();
  const int code = srv_.Terminate();
  t.join();
  EXPECT_EQ(code, 0);
  EXPECT_EQ(slow_status, 201) << slow_body << slow_error;
  std::printf("shutdown took %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  bool snapshot = false;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "data")) {
    // Written at shutdown (not left over from earlier).
    snapshot = snapshot || (e.path().extension() == ".hnsw" &&
                            fs::last_write_time(e.path()) >= before_term - 1s);
  }
  EXPECT_TRUE(snapshot) << "no index snapshot written at shutdown";
  // After shutdown nothing listens.
  httplib::Client gone("127.0.0.1", srv_.port());
  gone.set_connection_timeout(1, 0);
  EXPECT_FALSE(gone.Get("/healthz"));
}

TEST_F(ServerOpsTest, OverloadGets503QuicklyAndRecovers) {
  // One handler slot, no waiting room: concurrent slow uploads beyond the first get 503.
  StartOrDie({"--max-inflight", "1", "--max-waiting", "1", "--queue-timeout-ms", "50",
              "--rate-limit", "0"});
  auto c = Client();
  ASSERT_EQ(c.Post("/v1/collections", R"({"name":"docs"})", "application/json")->status, 201);
  std::string big;
  for (int i = 0; big.size() < (3u << 20); ++i) {
    big += "Paragraph " + std::to_string(i) + " about restoring backups and rotating keys.\n\n";
  }
  std::vector<std::thread> ts;
  std::vector<int> codes(6, 0);
  std::vector<double> secs(6, 0);
  std::vector<std::string> retry(6);
  for (int i = 0; i < 6; ++i) {
    ts.emplace_back([&, i] {
      auto cc = Client();
      cc.set_read_timeout(120, 0);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = cc.Put("/v1/collections/docs/documents/big" + std::to_string(i) + ".txt", big,
                      "text/plain");
      secs[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r) {
        codes[i] = r->status;
        retry[i] = r->get_header_value("Retry-After");
      }
    });
  }
  for (auto& t : ts) t.join();
  int ok = 0, shed = 0;
  double slowest_ok = 0;
  for (int i = 0; i < 6; ++i) {
    if (codes[i] == 201) {
      ++ok;
      slowest_ok = std::max(slowest_ok, secs[i]);
    } else if (codes[i] == 503) {
      ++shed;
      EXPECT_EQ(retry[i], "1");
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(shed, 1);
  EXPECT_EQ(ok + shed, 6);
  for (int i = 0; i < 6; ++i) {
    // A refusal comes well before the accepted uploads finish.
    if (codes[i] == 503) {
      EXPECT_LT(secs[i], slowest_ok) << i;
    }
  }
  // Load gone: served again.
  EXPECT_EQ(c.Get("/v1/collections")->status, 200);
  auto m = c.Get("/metrics");
  EXPECT_NE(m->body.find("deepkb_http_rejected_total{reason=\"overloaded\"}"), std::string::npos);
}

}  // namespace
