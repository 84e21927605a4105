// The gateway end to end: a real KbServer with the gateway's routes on loopback HTTP, scripted
// fake engines (tests/fake_engine.h) as upstreams, real collections as knowledge.
#include "gateway/gateway.h"
#include "gateway/rag.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/fake_engine.h"
#include "tests/in_process_server.h"

namespace deepkb::gateway {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::Chunk;
using testing::FakeEngine;
using testing::InProcessServer;
using testing::kDone;
using testing::UsageChunk;

// A scripted answer that cites passage 1, with reasoning first.
std::vector<std::string> CitingAnswer() {
  return {Chunk({{"role", "assistant"}, {"reasoning_content", "Looking at passage 1."}}),
          Chunk({{"content", "The rotation period is 90 days"}}),
          Chunk({{"content", " [1]."}}),
          Chunk(json::object(), "stop"),
          UsageChunk(120, 9),
          kDone};
}

void Answer(FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
  FakeEngine::StreamEvents(res, CitingAnswer());
}

UpstreamSpec Spec(const std::string& name, const FakeEngine& e, size_t context = 0) {
  UpstreamSpec s;
  s.config.name = name;
  s.config.base_url = e.url();
  s.config.models = {"deepseek-chat"};
  s.config.connect_timeout_seconds = 2;
  s.config.read_timeout_seconds = 5;
  s.config.max_concurrency = 4;
  s.context_tokens = context;
  return s;
}

GatewayConfig BaseConfig() {
  GatewayConfig c;
  c.router.retry.backoff_initial_seconds = 0.01;
  c.router.retry.backoff_max_seconds = 0.02;
  c.router.breaker.failure_threshold = 1000;
  c.router.admission.initial_duration_seconds = 0.05;
  c.request_timeout_seconds = 20;
  KnowledgeAlias a;
  a.name = "kb-chat";
  a.model = "deepseek-chat";
  a.collections = {"docs"};
  a.top_k = 5;
  c.aliases.push_back(a);
  return c;
}

// A server with the gateway routes, a collection "docs" and one "secret", and an admin key.
class Harness {
 public:
  explicit Harness(GatewayConfig config)
      : srv_([config](kb::KnowledgeBase& kb, auth::ApiKeys& keys, std::shared_ptr<void>* keep) {
          auto gw = Gateway::Create(config, &kb, nullptr);
          EXPECT_TRUE(gw.ok()) << gw.status().ToString();
          if (!gw.ok()) return std::vector<server::Route>{};
          auto routes = (*gw)->Routes(&keys.audit());
          *keep = std::shared_ptr<Gateway>(std::move(*gw));
          return routes;
        }) {
    kb::KnowledgeBase& kb = srv_.kb();
    EXPECT_TRUE(kb.CreateCollection({.name = "docs"}).ok());
    EXPECT_TRUE(kb.CreateCollection({.name = "secret"}).ok());
    Put("docs", "keys", "Key rotation",
        "API keys are rotated every 90 days. The rotation period is configured by the admin.");
    Put("docs", "tls", "TLS", "TLS 1.3 is the default protocol version for every listener.");
    Put("docs", "zh", "备份", "备份每天凌晨两点执行，保留三十天。恢复前需要校验备份文件。");
    Put("secret", "pay", "Salaries", "The salary budget for 2026 is confidential.");
    admin_ = *srv_.keys().Create("admin", {}, 0);
  }

  void Put(const std::string& c, const std::string& id, const std::string& title,
           const std::string& text) {
    kb::PutDocumentRequest r;
    r.collection = c;
    r.doc_id = id;
    r.bytes = text;
    r.file_name = id + ".txt";
    r.title = title;
    r.source = id + ".txt";
    auto p = srv_.kb().PutDocument(r);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
  }

  httplib::Result Post(const json& body, const std::string& key = "") {
    auto c = srv_.Client(key.empty() ? admin_ : key);
    c.set_read_timeout(30, 0);
    return c.Post("/v1/chat/completions", body.dump(), "application/json");
  }
  InProcessServer& srv() { return srv_; }
  const std::string& admin() const { return admin_; }

 private:
  InProcessServer srv_;
  std::string admin_;
};

json Ask(const std::string& model, const std::string& q, bool stream = false) {
  return {{"model", model},
          {"stream", stream},
          {"messages", json::array({{{"role", "user"}, {"content", q}}})}};
}

// The data lines of an SSE body.
std::vector<std::string> DataLines(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

TEST(GatewayConfigTest, ParsesFlags) {
  auto u = ParseUpstreamFlag(
      "ds=https://api.deepseek.com,model=deepseek-chat,model=deepseek-reasoner,key-env=DS_KEY,"
      "priority=2,max-concurrency=8,context=65536,timeout=30");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->config.name, "ds");
  EXPECT_EQ(u->config.models, (std::vector<std::string>{"deepseek-chat", "deepseek-reasoner"}));
  EXPECT_EQ(u->config.api_key_env, "DS_KEY");
  EXPECT_EQ(u->config.priority, 2);
  EXPECT_EQ(u->config.max_concurrency, 8);
  EXPECT_EQ(u->context_tokens, 65536u);
  EXPECT_DOUBLE_EQ(u->config.read_timeout_seconds, 30);
  auto plain = ParseUpstreamFlag("qwen3=http://127.0.0.1:8000");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->config.models, (std::vector<std::string>{"qwen3"}));
  for (const char* bad : {"noequals", "x=ftp://h", "x=http://h,colour=red", "x=http://h,priority=a",
                          "x=http://h,max-concurrency=0", "x=http://h,context=12", "=http://h",
                          "x=http://h,stream-usage=maybe", "bad name=http://h"}) {
    EXPECT_EQ(ParseUpstreamFlag(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto a = ParseAliasFlag("kb=deepseek-chat,collection=docs,collection=hq/manuals,top-k=4,mode=hybrid");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->collections, (std::vector<std::string>{"docs", "hq/manuals"}));
  EXPECT_EQ(a->top_k, 4);
  EXPECT_EQ(a->mode, "hybrid");
  for (const char* bad : {"kb=m", "kb=m,collection=/x", "kb=m,collection=c,top-k=0",
                          "kb=m,collection=c,mode=fuzzy", "kb=m,collection=c,x=1"}) {
    EXPECT_EQ(ParseAliasFlag(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(GatewayConfigTest, RejectsInconsistentConfiguration) {
  FakeEngine engine(Answer);
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", engine));
  c.aliases[0].model = "no-such-model";
  EXPECT_EQ(Gateway::Create(c, nullptr, nullptr).status().code(), StatusCode::kInvalidArgument);
  c = BaseConfig();
  c.aliases[0].collections = {"hq/docs"};  // no --remote-kb hq
  EXPECT_EQ(Gateway::Create(c, nullptr, nullptr).status().code(), StatusCode::kInvalidArgument);
  c = BaseConfig();
  c.aliases.push_back(c.aliases[0]);
  EXPECT_EQ(Gateway::Create(c, nullptr, nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST(GatewayTest, AliasRetrievesPacksAndCites) {
  FakeEngine engine(Answer);
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", engine));
  Harness h(c);
  auto res = h.Post(Ask("kb-chat", "How often are API keys rotated?"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "kb-chat");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "The rotation period is 90 days [1].");
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "Looking at passage 1.");
  EXPECT_EQ(j["usage"]["completion_tokens"], 9);
  ASSERT_TRUE(j["citations"].is_array());
  ASSERT_FALSE(j["citations"].empty());
  EXPECT_EQ(j["citations"][0]["index"], 1);
  EXPECT_EQ(j["citations"][0]["doc_id"], "keys");
  EXPECT_EQ(j["citations"][0]["collection"], "docs");
  EXPECT_TRUE(j["citations"][0]["cited"].get<bool>());
  EXPECT_NE(j["citations"][0]["text"].get<std::string>().find("90 days"), std::string::npos);

  // What the engine got: our system message with the numbered passage, then the question; the
  // gateway's own fields are not forwarded.
  ASSERT_EQ(engine.calls(), 1);
  const json sent = engine.body(0);
  EXPECT_EQ(sent["model"], "deepseek-chat");
  EXPECT_FALSE(sent.contains("knowledge"));
  ASSERT_EQ(sent["messages"].size(), 2u);
  EXPECT_EQ(sent["messages"][0]["role"], "system");
  const std::string system = sent["messages"][0]["content"];
  EXPECT_NE(system.find("[1]"), std::string::npos);
  EXPECT_NE(system.find("rotated every 90 days"), std::string::npos);
  EXPECT_EQ(system.find("salary"), std::string::npos);  // another collection
  EXPECT_EQ(sent["messages"][1]["content"], "How often are API keys rotated?");
}

TEST(GatewayTest, StreamsChunksThenCitationsThenDone) {
  FakeEngine engine(Answer);
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", engine));
  Harness h(c);
  json req = Ask("kb-chat", "How often are API keys rotated?", true);
  req["stream_options"] = {{"include_usage", true}};
  auto res = h.Post(req);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/event-stream", 0), 0u);
  const auto lines = DataLines(res->body);
  ASSERT_GE(lines.size(), 5u) << res->body;
  EXPECT_EQ(lines.back(), "[DONE]");
  std::string content, reasoning;
  bool saw_usage = false, saw_finish = false;
  json citations;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    const json chunk = json::parse(lines[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (i == 0) {
      EXPECT_EQ(chunk["choices"][0]["delta"]["role"], "assistant");
    }
    if (chunk.contains("citations")) {
      EXPECT_EQ(i, lines.size() - 3) << "citations come right before the usage chunk";
      citations = chunk["citations"];
    }
    if (chunk.contains("usage")) {
      EXPECT_EQ(i, lines.size() - 2) << "usage is the last chunk before [DONE], as in OpenAI's API";
      saw_usage = true;
    }
    for (const json& ch : chunk["choices"]) {
      content += ch["delta"].value("content", "");
      reasoning += ch["delta"].value("reasoning_content", "");
      if (ch["finish_reason"].is_string()) saw_finish = true;
    }
  }
  EXPECT_EQ(content, "The rotation period is 90 days [1].");
  EXPECT_EQ(reasoning, "Looking at passage 1.");
  EXPECT_TRUE(saw_usage);
  EXPECT_TRUE(saw_finish);
  ASSERT_TRUE(citations.is_array());
  ASSERT_FALSE(citations.empty());
  EXPECT_EQ(citations[0]["doc_id"], "keys");
}

TEST(GatewayTest, ExtractiveWithoutUpstreamAndWhenUpstreamsAreDown) {
  {
    Harness h(BaseConfig());  // no upstream at all
    auto res = h.Post(Ask("kb-chat", "How often are API keys rotated?"));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json j = json::parse(res->body);
    EXPECT_EQ(j["model"], "extractive");
    const std::string text = j["choices"][0]["message"]["content"];
    EXPECT_NE(text.find("90 days"), std::string::npos) << text;
    EXPECT_NE(text.find("[1]"), std::string::npos) << text;
    EXPECT_EQ(j["citations"][0]["doc_id"], "keys");
    // A Chinese question gets the Chinese label.
    auto zh = h.Post(Ask("kb-chat", "备份保留多少天？"));
    ASSERT_TRUE(zh);
    ASSERT_EQ(zh->status, 200) << zh->body;
    const std::string zh_text = json::parse(zh->body)["choices"][0]["message"]["content"];
    EXPECT_NE(zh_text.find("三十天"), std::string::npos) << zh_text;
    // A model no upstream serves is an error, not a substitute.
    auto direct = h.Post(Ask("deepseek-chat", "hi"));
    ASSERT_TRUE(direct);
    EXPECT_EQ(direct->status, 404) << direct->body;
    EXPECT_NE(direct->body.find("kb-chat"), std::string::npos) << "the message lists the models";
  }
  {
    FakeEngine down([](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
      res.status = 500;
      res.set_content("{\"error\":{\"message\":\"engine crashed\"}}", "application/json");
    });
    GatewayConfig c = BaseConfig();
    c.upstreams.push_back(Spec("a", down));
    Harness h(c);
    for (bool stream : {false, true}) {
      auto res = h.Post(Ask("kb-chat", "How often are API keys rotated?", stream));
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
      EXPECT_NE(res->body.find("\"model\":\"extractive\""), std::string::npos) << res->body;
      EXPECT_NE(res->body.find("unavailable"), std::string::npos) << "a note says why";
      EXPECT_NE(res->body.find("90 days"), std::string::npos);
    }
    // Asking the upstream model itself: a clear error with its HTTP meaning.
    auto direct = h.Post(Ask("deepseek-chat", "hi"));
    ASSERT_TRUE(direct);
    EXPECT_EQ(direct->status, 503) << direct->body;
    EXPECT_TRUE(testing::IsErrorShape(direct->body));
    EXPECT_FALSE(direct->get_header_value("Retry-After").empty());
  }
}

TEST(GatewayTest, NoRetryAfterBytesReachedTheClient) {
  // The engine sends one content chunk and then drops the connection, every time.
  FakeEngine cut([](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
    FakeEngine::StreamEvents(res, {Chunk({{"role", "assistant"}, {"content", "Partial"}}),
                                   Chunk({{"content", " answer"}})},
                             5ms, 1);
  });
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", cut));
  Harness h(c);
  auto res = h.Post(Ask("deepseek-chat", "hi", true));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto lines = DataLines(res->body);
  ASSERT_GE(lines.size(), 2u) << res->body;
  EXPECT_NE(lines.front().find("Partial"), std::string::npos);
  EXPECT_NE(lines.back(), "[DONE]");
  EXPECT_TRUE(testing::IsErrorShape(lines.back())) << lines.back();
  EXPECT_EQ(cut.calls(), 1) << "a request whose bytes reached the client is never retried";

  // Non-streamed: nothing was delivered, so the cut is retried (and fails again, 3 attempts).
  auto whole = h.Post(Ask("deepseek-chat", "hi", false));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 503) << whole->body;
  EXPECT_EQ(cut.calls(), 1 + 3);
}

TEST(GatewayTest, QueueFullIs429WithRetryAfter) {
  FakeEngine slow([](FakeEngine& e, const httplib::Request&, httplib::Response& res, int) {
    e.Hang();  // until released
    FakeEngine::StreamEvents(res, CitingAnswer());
  });
  GatewayConfig c = BaseConfig();
  UpstreamSpec s = Spec("a", slow);
  s.config.max_concurrency = 1;
  c.upstreams.push_back(s);
  c.router.admission.max_queue = 1;
  c.router.admission.initial_duration_seconds = 0.01;
  Harness h(c);
  // One runs, one waits, the third is refused at once.
  auto first = std::async(std::launch::async, [&] { return h.Post(Ask("deepseek-chat", "a")); });
  std::this_thread::sleep_for(300ms);
  auto second = std::async(std::launch::async, [&] { return h.Post(Ask("deepseek-chat", "b")); });
  std::this_thread::sleep_for(300ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto third = h.Post(Ask("deepseek-chat", "c"));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  slow.Release();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 429) << third->body;
  EXPECT_FALSE(third->get_header_value("Retry-After").empty());
  EXPECT_LT(waited, 1.0) << "rejected without waiting";
  auto r1 = first.get();
  auto r2 = second.get();
  ASSERT_TRUE(r1);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r2->status, 200);
}

TEST(GatewayTest, KeysOnlyRetrieveFromCollectionsTheyMaySee) {
  FakeEngine engine(Answer);
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", engine));
  KnowledgeAlias secret;
  secret.name = "secret-chat";
  secret.model = "deepseek-chat";
  secret.collections = {"secret"};
  c.aliases.push_back(secret);
  Harness h(c);
  const std::string reader = *h.srv().keys().Create("reader", {"docs"}, 0);
  const std::string guest = *h.srv().keys().Create("guest", {}, 0);

  json req = Ask("deepseek-chat", "What is the salary budget?");
  req["knowledge"] = {{"collections", {"secret"}}};
  auto denied = h.Post(req, reader);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403) << denied->body;
  auto alias_denied = h.Post(Ask("secret-chat", "What is the salary budget?"), reader);
  ASSERT_TRUE(alias_denied);
  EXPECT_EQ(alias_denied->status, 403);
  EXPECT_EQ(engine.calls(), 0) << "nothing reached the engine";

  auto ok = h.Post(Ask("kb-chat", "How often are API keys rotated?"), reader);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto g = h.Post(Ask("kb-chat", "hi"), guest);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 403);

  // /v1/models lists only the aliases the key may use.
  auto c2 = h.srv().Client(reader);
  auto models = c2.Get("/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->status, 200);
  EXPECT_NE(models->body.find("\"kb-chat\""), std::string::npos);
  EXPECT_EQ(models->body.find("secret-chat"), std::string::npos);
  EXPECT_NE(models->body.find("\"deepseek-chat\""), std::string::npos);
  auto one = c2.Get("/v1/models/kb-chat");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200) << one->body;
  EXPECT_EQ(json::parse(one->body)["id"], "kb-chat");
  auto hidden = c2.Get("/v1/models/secret-chat");
  ASSERT_TRUE(hidden);
  EXPECT_EQ(hidden->status, 404) << "an alias the key may not use does not exist for it";
}

TEST(GatewayTest, BadRequestsAreClear400s) {
  FakeEngine engine(Answer);
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", engine));
  Harness h(c);
  const std::vector<std::pair<json, int>> cases = {
      {json{{"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},  // no model
      {Ask("nope", "x"), 404},
      {json{{"model", "deepseek-chat"}, {"messages", json::array()}}, 400},
      {json{{"model", "deepseek-chat"}, {"messages", "hi"}}, 400},
      {json{{"model", "deepseek-chat"}, {"messages", json::array({{{"role", "wizard"}, {"content", "x"}}})}}, 400},
      {json{{"model", "deepseek-chat"}, {"n", 2}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},
      {json{{"model", "deepseek-chat"}, {"stream", "yes"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},
      {json{{"model", "extractive"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},
      {json{{"model", "deepseek-chat"}, {"knowledge", {{"collections", json::array()}}}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},
      {json{{"model", "deepseek-chat"}, {"knowledge", {{"collections", {"docs"}}, {"topk", 3}}}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},
      {json{{"model", "deepseek-chat"}, {"knowledge", {{"collections", {"nosuch"}}}}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 404},
      {json{{"model", "deepseek-chat"}, {"knowledge", {{"collections", {"hq/docs"}}}}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 404},
      {json{{"model", "deepseek-chat"}, {"max_tokens", -5}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}, 400},
  };
  for (const auto& [body, status] : cases) {
    for (bool stream : {false, true}) {
      json b = body;
      if (stream && !b.contains("stream")) b["stream"] = true;
      auto res = h.Post(b);
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, status) << b.dump() << " → " << res->body;
      EXPECT_TRUE(testing::IsErrorShape(res->body)) << res->body;
    }
  }
  auto raw = h.srv().Client(h.admin()).Post("/v1/chat/completions", "{not json", "application/json");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 400);
  EXPECT_EQ(engine.calls(), 0);
}

TEST(GatewayTest, PackingRespectsTheContextWindow) {
  FakeEngine engine(Answer);
  GatewayConfig c = BaseConfig();
  c.upstreams.push_back(Spec("a", engine, /*context=*/600));
  c.answer_reserve_tokens = 100;
  Harness h(c);
  for (int i = 0; i < 12; ++i) {
    h.Put("docs", "long" + std::to_string(i), "Rotation notes " + std::to_string(i),
          "Key rotation note " + std::to_string(i) + ": " +
              std::string(60, 'x') + " rotation policy details follow. " +
              "Rotation happens on schedule and keys are rotated by the admin team. ");
  }
  auto res = h.Post(Ask("kb-chat", "key rotation"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json sent = engine.body(0);
  const std::string system = sent["messages"][0]["content"];
  auto est = MakeEstimateCounter();
  EXPECT_LE(est->Count(system) + est->Count("key rotation") + 100, 600u + 20u)
      << "the prompt fits the context window with room for the answer";
  const json j = json::parse(res->body);
  EXPECT_LT(j["citations"].size(), 5u) << "fewer passages than retrieved fit";

  // A conversation that leaves no room is refused with a clear message.
  auto too_long = h.Post(Ask("kb-chat", std::string(3000, 'y') + " rotation?"));
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->status, 400) << too_long->body;
  EXPECT_NE(too_long->body.find("context"), std::string::npos);
}

TEST(GatewayTest, RemoteKnowledgeFallsBackToTheReplica) {
  // The "cloud replica": another KB node with the same collection.
  InProcessServer replica;
  ASSERT_TRUE(replica.kb().CreateCollection({.name = "manuals"}).ok());
  kb::PutDocumentRequest r;
  r.collection = "manuals";
  r.doc_id = "fw";
  r.bytes = "Firmware updates are signed with the vendor key before rollout.";
  r.file_name = "fw.txt";
  r.title = "Firmware";
  ASSERT_TRUE(replica.kb().PutDocument(r).ok());
  const std::string replica_key = *replica.keys().Create("reader", {}, 0);
  setenv("GW_TEST_REPLICA_KEY", replica_key.c_str(), 1);
  setenv("GW_TEST_PRIMARY_KEY", "unused", 1);

  GatewayConfig c = BaseConfig();
  auto remote = ParseRemoteKbFlag(
      "hq=http://127.0.0.1:9,key-env=GW_TEST_PRIMARY_KEY,replica=http://127.0.0.1:" +
      std::to_string(replica.port()) + ",replica-key-env=GW_TEST_REPLICA_KEY,timeout=2");
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  c.remote_kbs.push_back(*remote);
  c.aliases[0].collections = {"hq/manuals"};
  Harness h(c);  // no upstream: extractive, which shows the retrieved passage directly
  auto res = h.Post(Ask("kb-chat", "How are firmware updates signed?"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j["citations"][0]["doc_id"], "fw");
  EXPECT_EQ(j["citations"][0]["kb"], "hq");
  const std::string notes = j["knowledge"]["notes"].dump();
  EXPECT_NE(notes.find("replica"), std::string::npos) << notes;
}

TEST(GatewayTest, EmbeddingsFloatAndBase64) {
  Harness h(BaseConfig());
  auto c = h.srv().Client(h.admin());
  auto f = c.Post("/v1/embeddings", json{{"input", {"hello", "你好"}}, {"model", "docs"}}.dump(),
                  "application/json");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200) << f->body;
  const json j = json::parse(f->body);
  ASSERT_EQ(j["data"].size(), 2u);
  const auto v = j["data"][0]["embedding"].get<std::vector<float>>();
  ASSERT_FALSE(v.empty());
  auto b = c.Post("/v1/embeddings",
                  json{{"input", "hello"}, {"model", "docs"}, {"encoding_format", "base64"}}.dump(),
                  "application/json");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  const std::string b64 = json::parse(b->body)["data"][0]["embedding"];
  EXPECT_EQ(b64.size(), (v.size() * 4 + 2) / 3 * 4);
  // Decode and compare with the float form of the same input.
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : b64) {
    if (ch == '=') break;
    const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    acc = (acc << 6) | static_cast<uint32_t>(std::strchr(table, ch) - table);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  ASSERT_EQ(bytes.size(), v.size() * 4);
  std::vector<float> decoded(v.size());
  std::memcpy(decoded.data(), bytes.data(), bytes.size());
  EXPECT_EQ(decoded, v);
  auto bad = c.Post("/v1/embeddings", json{{"input", json::array({1, 2})}}.dump(), "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto missing = c.Post("/v1/embeddings", json{{"input", "x"}, {"model", "nosuch"}}.dump(),
                        "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  const std::string reader = *h.srv().keys().Create("reader", {"docs"}, 0);
  auto scoped = h.srv().Client(reader).Post(
      "/v1/embeddings", json{{"input", "x"}, {"model", "secret"}}.dump(), "application/json");
  ASSERT_TRUE(scoped);
  EXPECT_EQ(scoped->status, 403);
}

}  // namespace
}  // namespace deepkb::gateway
