// RemoteKb over real loopback HTTP(S): two in-process KbServers (a primary and its replica, each
// with a collection "docs" holding one document) and raw-socket fakes that refuse, hang, answer
// 503, or send malformed and oversized answers.
#include "gateway/kb_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/in_process_server.h"

namespace deepkb::gateway {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using deepkb::testing::InProcessServer;

constexpr char kReplicaKeyEnv[] = "DEEPKB_TEST_KBCLIENT_REPLICA_KEY";

std::string Url(int port, const char* scheme = "http") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
}

// A loopback port nothing listens on (bound, then closed): connections are refused.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A fake KB node: reads each request and answers with `reply` verbatim, then closes; with an
// empty `reply` it accepts and never answers (a hung node).
class FakeNode {
 public:
  explicit FakeNode(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      if (reply_.empty()) {
        held_.push_back(c);
        continue;
      }
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string in;
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) {
        in.append(buf, static_cast<size_t>(n));
        const size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const size_t cl = in.find("Content-Length: ");
        const size_t length = cl < end ? std::stoul(in.substr(cl + 16)) : 0;
        if (in.size() >= end + 4 + length) break;
      }
      ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  const std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;  // only touched by thread_, then by the destructor after join
  std::thread thread_;
};

std::string HttpReply(const std::string& status_line, const std::string& body) {
  return "HTTP/1.1 " + status_line + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

void Fill(InProcessServer& srv, const std::string& doc_id) {
  kb::CreateCollectionRequest cc;
  cc.name = "docs";
  ASSERT_TRUE(srv.kb().CreateCollection(cc).ok());
  kb::PutDocumentRequest put;
  put.collection = "docs";
  put.doc_id = doc_id;
  put.bytes = "The connection pool holds at most 64 connections. 连接池的最大连接数是 64。";
  put.file_name = "pool.txt";
  put.title = "Pool notes";
  put.source = "ops/pool.txt";
  put.metadata_json = R"({"team":"ops"})";
  auto r = srv.kb().PutDocument(put);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

class RemoteKbTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("kb_client_" + RandomHex(6)));
    fs::create_directories(*dir_);
    primary_ = new InProcessServer();
    replica_ = new InProcessServer();
    Fill(*primary_, "primary-doc");
    Fill(*replica_, "replica-doc");
    auto pk = primary_->keys().Create("reader", {}, 0);
    auto rk = replica_->keys().Create("reader", {"docs"}, 0);
    ASSERT_TRUE(pk.ok() && rk.ok());
    std::ofstream(*dir_ / "primary.key") << "  " << *pk << "\n";  // surrounding space is trimmed
    std::ofstream(*dir_ / "wrong.key") << "dk_not_a_real_key_0123456789\n";
    ::setenv(kReplicaKeyEnv, rk->c_str(), 1);
  }
  static void TearDownTestSuite() {
    delete primary_;
    delete replica_;
    fs::remove_all(*dir_);
    delete dir_;
    ::unsetenv(kReplicaKeyEnv);
  }

  static std::string KeyFile(const char* name = "primary.key") { return (*dir_ / name).string(); }

  // Primary at `url` with the primary's key file; the real replica unless `with_replica` is false.
  static RemoteKbConfig Config(const std::string& url, bool with_replica = true) {
    RemoteKbConfig c;
    c.name = "hq";
    c.primary.url = url;
    c.primary.api_key_file = KeyFile();
    if (with_replica) c.replica = KbEndpoint{Url(replica_->port()), "", kReplicaKeyEnv, ""};
    c.connect_timeout_seconds = 1;
    c.timeout_seconds = 3;
    return c;
  }

  static std::unique_ptr<RemoteKb> Make(RemoteKbConfig c) {
    auto kb = RemoteKb::Create(std::move(c));
    EXPECT_TRUE(kb.ok()) << kb.status().ToString();
    return kb.ok() ? std::move(kb).value() : nullptr;
  }

  static kb::SearchRequest Req(const std::string& collection = "docs") {
    kb::SearchRequest r;
    r.collection = collection;
    r.query = "connections";
    r.mode = "keyword";
    r.top_k = 5;
    return r;
  }

  static Clock::time_point In(double seconds) {
    return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  }

  static fs::path* dir_;
  static InProcessServer* primary_;
  static InProcessServer* replica_;
};

fs::path* RemoteKbTest::dir_ = nullptr;
InProcessServer* RemoteKbTest::primary_ = nullptr;
InProcessServer* RemoteKbTest::replica_ = nullptr;

TEST_F(RemoteKbTest, Search_PrimaryAnswersWithFullHits) {
  auto kb = Make(Config(Url(primary_->port()) + "/v1/"));  // trailing /v1/ is tolerated
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->used_replica);
  EXPECT_EQ(r->note, "");
  ASSERT_EQ(r->hits.size(), 1u);
  const kb::SearchHit& h = r->hits[0];
  EXPECT_EQ(h.doc_id, "primary-doc");
  EXPECT_GT(h.chunk_id, 0);
  EXPECT_GT(h.score, 0);
  EXPECT_EQ(h.keyword_rank, 1);
  EXPECT_NE(h.text.find("64 connections"), std::string::npos);
  EXPECT_EQ(h.title, "Pool notes");
  EXPECT_EQ(h.source, "ops/pool.txt");
  EXPECT_EQ(nlohmann::json::parse(h.metadata_json), nlohmann::json({{"team", "ops"}}));
}

TEST_F(RemoteKbTest, Search_ConcurrentCallsShareThePool) {
  auto kb = Make(Config(Url(primary_->port())));
  ASSERT_TRUE(kb);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto r = kb->Search(Req(), In(10));
        if (r.ok() && !r->used_replica && r->hits.size() == 1) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
}

TEST_F(RemoteKbTest, Search_PrimaryDown_ReplicaAnswersAndNoteSaysSo) {
  auto kb = Make(Config(Url(ClosedPort())));
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_replica);
  ASSERT_EQ(r->hits.size(), 1u);
  EXPECT_EQ(r->hits[0].doc_id, "replica-doc");
  EXPECT_NE(r->note.find("knowledge base 'hq' unreachable"), std::string::npos) << r->note;
  EXPECT_NE(r->note.find("answered from its replica " + Url(replica_->port())), std::string::npos)
      << r->note;
}

TEST_F(RemoteKbTest, Search_PrimaryHangs_TimesOutThenReplica) {
  FakeNode hung("");
  RemoteKbConfig c = Config(Url(hung.port()));
  c.timeout_seconds = 1;
  auto kb = Make(c);
  ASSERT_TRUE(kb);
  const auto start = Clock::now();
  auto r = kb->Search(Req(), In(30));
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_replica);
  EXPECT_NE(r->note.find("no answer within 1 s"), std::string::npos) << r->note;
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 2.5);  // one timeout plus the replica's answer
}

TEST_F(RemoteKbTest, Search_CallerDeadlineCapsTheTimeout) {
  FakeNode hung("");
  auto kb = Make(Config(Url(hung.port())));  // timeout 3 s
  ASSERT_TRUE(kb);
  const auto start = Clock::now();
  auto r = kb->Search(Req(), In(0.5));
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_LT(took, 1.5);
  auto late = kb->Search(Req(), Clock::now() - std::chrono::seconds(1));
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(RemoteKbTest, Search_Primary503_ReplicaAnswers) {
  FakeNode busy(HttpReply("503 Service Unavailable",
                          R"({"error":{"code":"unavailable","message":"draining","type":"x"}})"));
  auto kb = Make(Config(Url(busy.port())));
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_replica);
  EXPECT_NE(r->note.find("HTTP 503: draining"), std::string::npos) << r->note;
}

TEST_F(RemoteKbTest, Search_MalformedAnswer_ReplicaOrInternal) {
  FakeNode bad(HttpReply("200 OK", R"({"hits":[{"doc_id":5}]})"));
  auto kb = Make(Config(Url(bad.port())));
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->used_replica);
  EXPECT_NE(r->note.find("malformed"), std::string::npos) << r->note;

  auto alone = Make(Config(Url(bad.port()), /*with_replica=*/false));
  ASSERT_TRUE(alone);
  auto a = alone->Search(Req(), In(10));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInternal);
  EXPECT_NE(a.status().message().find("knowledge base 'hq'"), std::string::npos);
  EXPECT_NE(a.status().message().find("malformed response"), std::string::npos)
      << a.status().message();
}

TEST_F(RemoteKbTest, Search_OversizedAnswerIsRefused) {
  FakeNode huge("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20000000"
                "\r\n\r\n{\"hits\":[");
  auto kb = Make(Config(Url(huge.port()), /*with_replica=*/false));
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("16 MiB"), std::string::npos) << r.status().message();
}

TEST_F(RemoteKbTest, Search_BadKey_UnauthenticatedWithoutFallback) {
  RemoteKbConfig c = Config(Url(primary_->port()));
  c.primary.api_key_file = KeyFile("wrong.key");
  auto kb = Make(c);
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_FALSE(r.ok());  // the replica would have answered: no fallback happened
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status().ToString();
  EXPECT_NE(r.status().message().find("knowledge base 'hq'"), std::string::npos);
  EXPECT_EQ(r.status().message().find("dk_not_a_real_key"), std::string::npos);
}

TEST_F(RemoteKbTest, Search_UnknownCollection_NotFoundWithoutFallback) {
  auto kb = Make(Config(Url(primary_->port())));
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req("nope"), In(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
  EXPECT_EQ(kb->Search(Req("bad name!"), In(10)).status().code(), StatusCode::kInvalidArgument);
  kb::SearchRequest f = Req();
  f.filter_json = "[1]";
  EXPECT_EQ(kb->Search(f, In(10)).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RemoteKbTest, Search_BothDown_UnavailableNamingBoth) {
  const int p = ClosedPort();
  RemoteKbConfig c = Config(Url(p));
  c.replica->url = Url(ClosedPort()) + "/";
  auto kb = Make(c);
  ASSERT_TRUE(kb);
  auto r = kb->Search(Req(), In(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  const std::string m = r.status().message();
  EXPECT_NE(m.find("'hq'"), std::string::npos) << m;
  EXPECT_NE(m.find(Url(p)), std::string::npos) << m;
  EXPECT_NE(m.find(c.replica->url.substr(0, c.replica->url.size() - 1)), std::string::npos) << m;

  auto alone = Make(Config(Url(p), /*with_replica=*/false));
  ASSERT_TRUE(alone);
  auto a = alone->Search(Req(), In(10));
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find("no replica"), std::string::npos) << a.status().message();
}

int Sh(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F(RemoteKbTest, Search_Https_VerifiedWithCaFileRefusedWithout) {
  const std::string d = (*dir_ / "tls").string();
  fs::create_directories(d);
  const std::string q = " >/dev/null 2>&1";
  ASSERT_EQ(Sh("cd '" + d + "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
               "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=kbclient-test-ca" + q), 0);
  std::ofstream(d + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
  ASSERT_EQ(Sh("cd '" + d + "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
               "-nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1" + q), 0);
  ASSERT_EQ(Sh("cd '" + d + "' && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
               "-CAcreateserial -out server.pem -days 2 -extfile san.ext" + q), 0);

  server::ServerOptions opts;
  opts.port = 0;
  opts.tls.cert_file = d + "/server.pem";
  opts.tls.key_file = d + "/server.key";
  server::KbServer tls(primary_->kb(), primary_->keys(), opts);
  auto port = tls.Bind();
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  std::thread serving([&] { (void)tls.Serve(); });

  RemoteKbConfig c = Config(Url(*port, "https"), /*with_replica=*/false);
  c.primary.ca_file = d + "/ca.pem";
  auto verified = Make(c);
  c.primary.ca_file.clear();
  auto untrusted = Make(c);
  if (verified && untrusted) {
    auto v = verified->Search(Req(), In(10));
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v.ok() ? v->hits.size() : 0u, 1u);
    auto u = untrusted->Search(Req(), In(10));
    EXPECT_EQ(u.status().code(), StatusCode::kUnavailable) << u.status().ToString();
    const std::string m = u.status().message();
    EXPECT_NE(m.find("certificate is not trusted"), std::string::npos) << m;
    EXPECT_NE(m.find("ca="), std::string::npos) << m;
  }
  verified.reset();  // closes the keep-alive connection the server would wait for
  untrusted.reset();
  tls.Stop();
  serving.join();
}

TEST_F(RemoteKbTest, Create_RejectsBadConfigAndMissingKeys) {
  RemoteKbConfig c = Config("http://127.0.0.1:1");
  c.primary.api_key_file = (*dir_ / "absent.key").string();
  auto r = RemoteKb::Create(c);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("absent.key"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("knowledge base 'hq'"), std::string::npos);

  c = Config("http://127.0.0.1:1");
  c.replica->api_key_env = "DEEPKB_TEST_KBCLIENT_UNSET_VAR";
  r = RemoteKb::Create(c);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("DEEPKB_TEST_KBCLIENT_UNSET_VAR"), std::string::npos);

  c = Config("https://127.0.0.1:1");
  c.primary.ca_file = (*dir_ / "absent.pem").string();
  EXPECT_EQ(RemoteKb::Create(c).status().code(), StatusCode::kFailedPrecondition);

  c = Config("http://127.0.0.1:1");
  c.primary.ca_file = KeyFile();  // ca= on plain http is a mistake
  EXPECT_EQ(RemoteKb::Create(c).status().code(), StatusCode::kInvalidArgument);
  c = Config("ftp://127.0.0.1:1");
  EXPECT_EQ(RemoteKb::Create(c).status().code(), StatusCode::kInvalidArgument);
  c = Config("http://127.0.0.1:1");
  c.timeout_seconds = 0;
  EXPECT_EQ(RemoteKb::Create(c).status().code(), StatusCode::kInvalidArgument);
  c = Config("http://127.0.0.1:1");
  c.name = "";
  EXPECT_EQ(RemoteKb::Create(c).status().code(), StatusCode::kInvalidArgument);
}

TEST(ParseRemoteKbFlagTest, ParsesEveryAttribute) {
  auto r = ParseRemoteKbFlag(
      "hq=https://kb.corp:8443,key-file=/etc/deepkb/hq.key,ca=/etc/ca.pem,"
      "replica=https://replica.cloud/v1,replica-key-env=REPLICA_KEY,replica-ca=/r/ca.pem,"
      "replica-key-file=/r.key,key-env=HQ_KEY,timeout=2.5,connect-timeout=0.5");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "hq");
  EXPECT_EQ(r->primary.url, "https://kb.corp:8443");
  EXPECT_EQ(r->primary.api_key_file, "/etc/deepkb/hq.key");
  EXPECT_EQ(r->primary.api_key_env, "HQ_KEY");
  EXPECT_EQ(r->primary.ca_file, "/etc/ca.pem");
  ASSERT_TRUE(r->replica.has_value());
  EXPECT_EQ(r->replica->url, "https://replica.cloud/v1");
  EXPECT_EQ(r->replica->api_key_env, "REPLICA_KEY");
  EXPECT_EQ(r->replica->api_key_file, "/r.key");
  EXPECT_EQ(r->replica->ca_file, "/r/ca.pem");
  EXPECT_DOUBLE_EQ(r->timeout_seconds, 2.5);
  EXPECT_DOUBLE_EQ(r->connect_timeout_seconds, 0.5);

  auto m = ParseRemoteKbFlag("local.kb-1=http://127.0.0.1:8080");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, "local.kb-1");
  EXPECT_FALSE(m->replica.has_value());
  EXPECT_DOUBLE_EQ(m->timeout_seconds, RemoteKbConfig{}.timeout_seconds);
}

TEST(ParseRemoteKbFlagTest, RejectsBadFlagsWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "NAME=URL"},
      {"hq", "NAME=URL"},
      {"=http://x", "name"},
      {"bad name=http://x", "name"},
      {"hq=", "URL"},
      {"hq=ftp://x", "URL"},
      {"hq=http://x,bogus=1", "bogus"},
      {"hq=http://x,key-file", "key-file"},
      {"hq=http://x,key-file=", "key-file"},
      {"hq=http://x,,key-file=a", "empty"},
      {"hq=http://x,key-file=a,key-file=b", "twice"},
      {"hq=http://x,replica-key-file=f", "replica="},
      {"hq=http://x,replica=gopher://y", "replica"},
      {"hq=http://x,timeout=abc", "timeout"},
      {"hq=http://x,timeout=0", "timeout"},
      {"hq=http://x,timeout=-1", "timeout"},
      {"hq=http://x,timeout=1e9", "timeout"},
      {"hq=http://x,connect-timeout=nan", "connect-timeout"},
  };
  for (const auto& [flag, mention] : cases) {
    auto r = ParseRemoteKbFlag(flag);
    ASSERT_FALSE(r.ok()) << flag;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << flag;
    EXPECT_NE(r.status().message().find(mention), std::string::npos)
        << flag << " -> " << r.status().message();
  }
}

TEST(ParseSearchResponseTest, KeepsTopKAndChecksEveryField) {
  const std::string good = R"({"hits":[
      {"doc_id":"a","chunk_id":1,"score":0.5,"text":"x","page":2,"vector_rank":1,"extra":true},
      {"doc_id":"b","chunk_id":2,"score":0.25,"text":"y","metadata":null,"title":null}],
      "took_ms":1})";
  auto all = RemoteKb::ParseSearchResponse(good, 0);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].page, 2);
  EXPECT_EQ((*all)[0].vector_rank, 1);
  EXPECT_EQ((*all)[1].metadata_json, "{}");
  auto one = RemoteKb::ParseSearchResponse(good, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);

  const char* bad[] = {
      "not json",
      "[]",
      "{}",
      R"({"hits":{}})",
      R"({"hits":[1]})",
      R"({"hits":[{"chunk_id":1,"score":1,"text":"x"}]})",
      R"({"hits":[{"doc_id":"","chunk_id":1,"score":1,"text":"x"}]})",
      R"({"hits":[{"doc_id":"a","chunk_id":"1","score":1,"text":"x"}]})",
      R"({"hits":[{"doc_id":"a","chunk_id":1,"score":"1","text":"x"}]})",
      R"({"hits":[{"doc_id":"a","chunk_id":1,"score":1}]})",
      R"({"hits":[{"doc_id":"a","chunk_id":1,"score":1,"text":"x","metadata":[]}]})",
      R"({"hits":[{"doc_id":"a","chunk_id":1,"score":1,"text":"x","page":"3"}]})",
      R"({"hits":[{"doc_id":"a","chunk_id":1,"score":1,"text":"x","title":7}]})",
  };
  for (const char* body : bad) {
    auto r = RemoteKb::ParseSearchResponse(body, 10);
    EXPECT_EQ(r.status().code(), StatusCode::kInternal) << body;
  }
}

}  // namespace
}  // namespace deepkb::gateway
