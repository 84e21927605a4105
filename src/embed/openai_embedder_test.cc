// OpenAiEmbedder against a scripted fake embeddings server over real HTTP on 127.0.0.1.
#include "embed/openai_embedder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace deepkb::embed {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The vector the fake server returns for `text`: dimension `dim`, derived from the text.
std::vector<float> ExpectedVector(const std::string& text, size_t dim = 4) {
  std::vector<float> v(dim, 0.5f);
  v[0] = static_cast<float>(text.size() + 1);
  if (dim > 1) v[1] = text.empty() ? 0.0f : static_cast<float>(static_cast<unsigned char>(text[0]));
  return v;
}

// A correct answer for the request, data in reverse order (so the client must use "index").
json GoodAnswer(const httplib::Request& req, size_t dim = 4) {
  const json body = json::parse(req.body);
  json data = json::array();
  const auto& input = body.at("input");
  for (size_t i = input.size(); i-- > 0;) {
    data.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", ExpectedVector(input[i].get<std::string>(), dim)}});
  }
  return {{"object", "list"}, {"data", data}, {"model", body.at("model")}};
}

void Reply(httplib::Response& res, const json& j) {
  res.status = 200;
  res.set_content(j.dump(), "application/json");
}

struct Recorded {
  std::string path;
  std::string body;
  std::string authorization;
  bool has_authorization = false;
};

// Each request calls the script with its 0-based number.
class FakeServer {
 public:
  using Script = std::function<void(const httplib::Request&, httplib::Response&, int)>;

  explicit FakeServer(Script script) : script_(std::move(script)) {
    server_.set_tcp_nodelay(true);
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = calls_.fetch_add(1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back({req.path, req.body, req.get_header_value("Authorization"),
                             req.has_header("Authorization")});
      }
      script_(req, res, n);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  ~FakeServer() {
    ReleaseHangs();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int calls() const { return calls_.load(); }
  std::vector<Recorded> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  // For scripts that hang: blocks until the test ends (or 5 s).
  void Hang() {
    std::unique_lock<std::mutex> lock(mu_);
    hang_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return released_; });
  }
  void ReleaseHangs() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    hang_cv_.notify_all();
  }

 private:
  Script script_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::condition_variable hang_cv_;
  bool released_ = false;           // guarded by mu_
  std::vector<Recorded> requests_;  // guarded by mu_
};

EmbedderOptions FastOptions() {
  EmbedderOptions o;
  o.timeout_seconds = 0.2;
  o.max_retries = 3;
  o.max_batch = 64;
  o.retry_backoff_seconds = 0.01;
  o.retry_backoff_max_seconds = 0.05;
  o.retry_after_max_seconds = 0.3;
  return o;
}

std::unique_ptr<OpenAiEmbedder> Make(const std::string& url, EmbedderOptions o = FastOptions(),
                                     const std::string& model = "test-model") {
  auto e = OpenAiEmbedder::Create("openai:" + model + "@" + url, o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

class OpenAiEmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("DEEPKB_EMBED_API_KEY"); }
  void TearDown() override { unsetenv("DEEPKB_EMBED_API_KEY"); }
};

TEST_F(OpenAiEmbedderTest, Embed_SendsOpenAiRequestAndReordersByIndex) {
  setenv("DEEPKB_EMBED_API_KEY", "sk-test-secret", 1);
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    Reply(res, GoodAnswer(req));
  });
  auto e = Make(server.url());
  EXPECT_EQ(e->dim(), 0u);
  const std::vector<std::string> texts = {"alpha", "", "数据库", "gamma delta"};
  auto r = e->Embed(texts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), texts.size());
  EXPECT_EQ((*r)[0], ExpectedVector("alpha"));
  EXPECT_EQ((*r)[1], ExpectedVector(" "));  // empty text is sent as " "
  EXPECT_EQ((*r)[2], ExpectedVector("数据库"));
  EXPECT_EQ((*r)[3], ExpectedVector("gamma delta"));
  EXPECT_EQ(e->dim(), 4u);

  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/embeddings");
  EXPECT_EQ(reqs[0].authorization, "Bearer sk-test-secret");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body,
            (json{{"model", "test-model"}, {"input", {"alpha", " ", "数据库", "gamma delta"}}}));

  auto probe = Probe(*e);
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ(*probe, 4u);
}

TEST_F(OpenAiEmbedderTest, Embed_NoAuthorizationHeaderWithoutKey) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    Reply(res, GoodAnswer(req));
  });
  auto e = Make(server.url());
  ASSERT_TRUE(e->Embed({"x"}).ok());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_FALSE(server.requests()[0].has_authorization);
}

TEST_F(OpenAiEmbedderTest, Embed_EmptyInputMakesNoRequest) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    Reply(res, GoodAnswer(req));
  });
  auto e = Make(server.url());
  auto r = e->Embed({});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(server.calls(), 0);
}

TEST_F(OpenAiEmbedderTest, Embed_SplitsIntoBatchesOfMaxBatch) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    Reply(res, GoodAnswer(req));
  });
  EmbedderOptions o = FastOptions();
  o.max_batch = 3;
  auto e = Make(server.url(), o);
  std::vector<std::string> texts;
  for (int i = 0; i < 7; ++i) texts.push_back("text number " + std::string(i + 1, 'x'));
  auto r = e->Embed(texts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ((*r)[i], ExpectedVector(texts[i]));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(json::parse(reqs[0].body)["input"].size(), 3u);
  EXPECT_EQ(json::parse(reqs[1].body)["input"].size(), 3u);
  EXPECT_EQ(json::parse(reqs[2].body)["input"].size(), 1u);
  EXPECT_EQ(json::parse(reqs[2].body)["input"][0], texts[6]);
}

TEST_F(OpenAiEmbedderTest, Url_V1SuffixAndPathPrefix) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    Reply(res, GoodAnswer(req));
  });
  ASSERT_TRUE(Make(server.url() + "/v1")->Embed({"a"}).ok());
  ASSERT_TRUE(Make(server.url() + "/openai/v1/")->Embed({"a"}).ok());
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].path, "/v1/embeddings");
  EXPECT_EQ(reqs[1].path, "/openai/v1/embeddings");
}

TEST_F(OpenAiEmbedderTest, Retry_500ThenSuccess) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int n) {
    if (n == 0) {
      res.status = 500;
      res.set_content(R"({"error":{"message":"overloaded"}})", "application/json");
      return;
    }
    Reply(res, GoodAnswer(req));
  });
  auto e = Make(server.url());
  auto r = e->Embed({"hello"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0], ExpectedVector("hello"));
  EXPECT_EQ(server.calls(), 2);
}

TEST_F(OpenAiEmbedderTest, Retry_5xxForeverIsUnavailableAfterRetries) {
  FakeServer server([](const httplib::Request&, httplib::Response& res, int) { res.status = 503; });
  auto e = Make(server.url());
  auto r = e->Embed({"hello"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find(server.url()), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("503"), std::string::npos);
  EXPECT_EQ(server.calls(), 4);  // 1 + max_retries
}

TEST_F(OpenAiEmbedderTest, Retry_429HonoursRetryAfterUpToCap) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int n) {
    if (n == 0) {
      res.status = 429;
      res.set_header("Retry-After", "1");  // capped to retry_after_max_seconds = 0.3
      return;
    }
    Reply(res, GoodAnswer(req));
  });
  auto e = Make(server.url());
  const auto start = Clock::now();
  auto r = e->Embed({"hello"});
  const double took = SecondsSince(start);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.calls(), 2);
  EXPECT_GE(took, 0.28);  // waited for Retry-After (capped), not the 10 ms backoff
  EXPECT_LT(took, 0.9);   // and not the full second
}

TEST_F(OpenAiEmbedderTest, Retry_429ForeverIsResourceExhausted) {
  FakeServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 429;
    res.set_header("Retry-After", "0");
  });
  EmbedderOptions o = FastOptions();
  o.max_retries = 2;
  auto e = Make(server.url(), o);
  auto r = e->Embed({"hello"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(server.calls(), 3);
}

TEST_F(OpenAiEmbedderTest, NoRetry_On4xx) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    if (req.get_header_value("Authorization").empty()) {
      res.status = 401;
      res.set_content(R"({"error":{"message":"missing key"}})", "application/json");
      return;
    }
    res.status = 400;
    res.set_content(R"({"object":"error","message":"input too long"})", "application/json");
  });
  auto e = Make(server.url());
  auto r = e->Embed({"hello"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("missing key"), std::string::npos);
  EXPECT_EQ(server.calls(), 1);

  setenv("DEEPKB_EMBED_API_KEY", "k", 1);
  auto e2 = Make(server.url());
  auto r2 = e2->Embed({"hello"});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r2.status().message().find("input too long"), std::string::npos);
  EXPECT_EQ(server.calls(), 2);
  // Neither the key nor the text leaks into messages.
  EXPECT_EQ(r2.status().message().find("hello"), std::string::npos);
}

TEST_F(OpenAiEmbedderTest, Timeout_HungServerIsUnavailableWithinAboutTheTimeout) {
  FakeServer* self = nullptr;
  FakeServer server([&](const httplib::Request&, httplib::Response& res, int) {
    self->Hang();
    res.status = 500;
  });
  self = &server;
  auto e = Make(server.url());
  const auto start = Clock::now();
  auto r = e->Embed({"hello"});
  const double took = SecondsSince(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("did not answer"), std::string::npos) << r.status().message();
  EXPECT_GE(took, 0.15);
  EXPECT_LT(took, 0.8);
  EXPECT_EQ(server.calls(), 1);
}

TEST_F(OpenAiEmbedderTest, Down_ConnectionRefusedIsUnavailableFast) {
  // A port that is bound but not listening refuses connections.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  auto e = Make(url);
  const auto start = Clock::now();
  auto r = e->Embed({"hello"});
  const double took = SecondsSince(start);
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("after 4 attempts"), std::string::npos)
      << r.status().message();
  EXPECT_LT(took, 1.0);
}

// One bad answer per case; each must be InvalidArgument naming the server, never retried.
TEST_F(OpenAiEmbedderTest, Validation_BadAnswersAreInvalidArgument) {
  struct Case {
    const char* name;
    std::string body;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"garbage", "this is not json", "not valid JSON"},
      {"nan literal", R"({"data":[{"index":0,"embedding":[NaN,1]},{"index":1,"embedding":[1,1]}]})",
       "not valid JSON"},
      {"array", R"([1,2])", "not a JSON object"},
      {"no data", R"({"object":"list"})", "no \"data\" array"},
      {"wrong count", R"({"data":[{"index":0,"embedding":[1,2]}]})", "1 embeddings for 2 inputs"},
      {"wrong dim", R"({"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]})",
       "has 3 values, expected 2"},
      // nlohmann rejects numbers beyond double range outright.
      {"overflow", R"({"data":[{"index":0,"embedding":[1e999,2]},{"index":1,"embedding":[1,2]}]})",
       "not valid JSON"},
      {"float overflow",
       R"({"data":[{"index":0,"embedding":[1e300,2]},{"index":1,"embedding":[1,2]}]})",
       "not finite"},
      {"zeros", R"({"data":[{"index":0,"embedding":[0,0]},{"index":1,"embedding":[1,2]}]})",
       "all zeros"},
      {"string value",
       R"({"data":[{"index":0,"embedding":["1",2]},{"index":1,"embedding":[1,2]}]})",
       "not a number"},
      {"base64", R"({"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":"AAAA"}]})",
       "base64"},
      {"no index", R"({"data":[{"embedding":[1,2]},{"index":1,"embedding":[1,2]}]})",
       "no integer \"index\""},
      {"dup index", R"({"data":[{"index":1,"embedding":[1,2]},{"index":1,"embedding":[1,2]}]})",
       "appears twice"},
      {"index range", R"({"data":[{"index":0,"embedding":[1,2]},{"index":2,"embedding":[1,2]}]})",
       "out of range"},
      {"empty vector", R"({"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[]}]})",
       "is empty"},
  };
  std::string body;
  FakeServer server([&](const httplib::Request&, httplib::Response& res, int) {
    res.status = 200;
    res.set_content(body, "application/json");
  });
  for (const Case& c : cases) {
    body = c.body;
    const int before = server.calls();
    auto e = Make(server.url());
    auto r = e->Embed({"a", "b"});
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(server.url()), std::string::npos) << c.name;
    EXPECT_EQ(server.calls(), before + 1) << c.name;
    EXPECT_EQ(e->dim(), 0u) << c.name;
  }
}

TEST_F(OpenAiEmbedderTest, Validation_DimensionChangeBetweenAnswersIsInvalidArgument) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int n) {
    Reply(res, GoodAnswer(req, n == 0 ? 4 : 8));
  });
  auto e = Make(server.url());
  ASSERT_TRUE(e->Embed({"a"}).ok());
  EXPECT_EQ(e->dim(), 4u);
  auto r = e->Embed({"b"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("did the model change"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(e->dim(), 4u);
}

TEST_F(OpenAiEmbedderTest, Concurrent_CallsFromManyThreads) {
  FakeServer server([](const httplib::Request& req, httplib::Response& res, int) {
    Reply(res, GoodAnswer(req));
  });
  auto e = Make(server.url());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::vector<std::string> texts = {"t" + std::to_string(t), std::string(i + 1, 'q')};
        auto r = e->Embed(texts);
        if (!r.ok() || (*r)[0] != ExpectedVector(texts[0]) || (*r)[1] != ExpectedVector(texts[1])) {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(server.calls(), 60);
}

TEST(OpenAiTargetTest, Parse_AcceptsTheDocumentedForms) {
  auto t = ParseOpenAiTarget("bge-m3@http://127.0.0.1:8000");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->model, "bge-m3");
  EXPECT_EQ(t->scheme_host_port, "http://127.0.0.1:8000");
  EXPECT_EQ(t->path_prefix, "");

  t = ParseOpenAiTarget("nomic-embed-text:latest@https://api.example.com/v1/");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->model, "nomic-embed-text:latest");
  EXPECT_EQ(t->scheme_host_port, "https://api.example.com");
  EXPECT_EQ(t->path_prefix, "");

  t = ParseOpenAiTarget("BAAI/bge-m3@http://[::1]:9000/proxy/v1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->model, "BAAI/bge-m3");
  EXPECT_EQ(t->scheme_host_port, "http://[::1]:9000");
  EXPECT_EQ(t->path_prefix, "/proxy");
  EXPECT_EQ(t->display, "http://[::1]:9000/proxy");
}

TEST(OpenAiTargetTest, Parse_RejectsBadForms) {
  for (const char* bad : {"bge-m3", "@http://h:1", "m@ftp://h", "m@http://", "m@http://:80",
                          "m@http://h:0", "m@http://h:99999", "m@http://h:x", "m@http://u:p@h",
                          "m@http://h/?q=1", "m x@http://h", "m@http://h /v1"}) {
    auto t = ParseOpenAiTarget(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(t.status().message().find("MODEL@URL"), std::string::npos) << t.status().message();
    }
  }
}

}  // namespace
}  // namespace deepkb::embed
