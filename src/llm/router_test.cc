// Router + OpenAiUpstream against scripted fake engines over real HTTP on 127.0.0.1.
#include "llm/router.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "llm/llm_metrics.h"
#include "llm/openai_upstream.h"
#include "metrics/registry.h"
#include "tests/fake_engine.h"

namespace deepkb::llm {
namespace {

using deepkb::testing::Chunk;
using deepkb::testing::FakeEngine;
using deepkb::testing::NormalEvents;
using deepkb::testing::UsageChunk;
using deepkb::testing::kDone;

using json = nlohmann::json;
using namespace std::chrono_literals;

void Normal(FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
  FakeEngine::StreamEvents(res, NormalEvents());
}

UpstreamConfig Config(const std::string& name, const FakeEngine& e, int priority = 0) {
  UpstreamConfig c;
  c.name = name;
  c.base_url = e.url();
  c.models = {"deepseek-chat"};
  c.connect_timeout_seconds = 2;
  c.read_timeout_seconds = 10;
  c.max_concurrency = 4;
  c.priority = priority;
  return c;
}

RouterConfig FastRetries() {
  RouterConfig rc;
  rc.retry.max_attempts = 3;
  rc.retry.backoff_initial_seconds = 0.01;
  rc.retry.backoff_max_seconds = 0.05;
  rc.retry.retry_after_max_seconds = 0.2;
  rc.breaker.failure_threshold = 100;
  rc.admission.initial_duration_seconds = 0.05;
  return rc;
}

std::unique_ptr<Router> MakeRouter(std::vector<UpstreamConfig> cs, const RouterConfig& rc,
                                   LlmMetrics* m = nullptr) {
  std::vector<std::unique_ptr<LlmUpstream>> ups;
  for (auto& c : cs) {
    auto u = CreateOpenAiUpstream(c);
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    ups.push_back(std::move(u).value());
  }
  auto r = Router::Create(std::move(ups), rc, m);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

ChatRequest Req() {
  ChatRequest r;
  r.model = "deepseek-chat";
  r.body = {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
  return r;
}

Deadline In(std::chrono::milliseconds d) { return Clock::now() + d; }

struct Collected {
  std::string content, reasoning, finish;
  Usage usage;
  int events = 0;
  EventCallback Fn() {
    return [this](const ChatEvent& e) {
      ++events;
      if (e.kind == ChatEvent::Kind::kContent) content += e.text;
      if (e.kind == ChatEvent::Kind::kReasoning) reasoning += e.text;
      if (e.kind == ChatEvent::Kind::kFinish) finish = e.finish_reason;
      if (e.kind == ChatEvent::Kind::kUsage) usage = e.usage;
      return true;
    };
  }
};

TEST(OpenAiUpstream, StreamPassesReasoningUsageAndSendsKeyFromEnv) {
  FakeEngine e(Normal);
  setenv("DEEPKB_TEST_LLM_KEY", "sk-secret\n", 1);
  UpstreamConfig c = Config("a", e);
  c.api_key_env = "DEEPKB_TEST_LLM_KEY";
  auto u = CreateOpenAiUpstream(c);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  Collected got;
  Status s = (*u)->Stream(Req(), In(5000ms), got.Fn());
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got.reasoning, "Let me think.");
  EXPECT_EQ(got.content, "Hello world");
  EXPECT_EQ(got.finish, "stop");
  EXPECT_EQ(got.usage.prompt_tokens, 7);
  EXPECT_EQ(got.usage.total_tokens, 9);
  EXPECT_EQ(e.auth(), "Bearer sk-secret");
  const json b = e.body(0);
  EXPECT_EQ(b["model"], "deepseek-chat");
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["messages"][0]["content"], "hi");
}

TEST(OpenAiUpstream, CompleteNonStreamedAndMalformed) {
  FakeEngine e([](FakeEngine&, const httplib::Request&, httplib::Response& res, int n) {
    if (n == 0) {
      json a = {{"id", "x"},
                {"model", "deepseek-reasoner"},
                {"choices", json::array({{{"index", 0},
                                          {"message",
                                           {{"role", "assistant"},
                                            {"content", "42"},
                                            {"reasoning_content", "because"}}},
                                          {"finish_reason", "stop"}}})},
                {"usage", {{"prompt_tokens", 1}, {"completion_tokens", 1}, {"total_tokens", 2}}}};
      res.set_content(a.dump(), "application/json");
    } else {
      res.set_content("{\"choices\": [", "application/json");
    }
  });
  auto u = CreateOpenAiUpstream(Config("a", e));
  ASSERT_TRUE(u.ok());
  auto r = (*u)->Complete(Req(), In(5000ms));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "42");
  EXPECT_EQ(r->reasoning_content, "because");
  EXPECT_TRUE(r->has_usage);
  EXPECT_EQ(r->usage.total_tokens, 2);
  EXPECT_EQ(e.body(0)["stream"], false);
  auto bad = (*u)->Complete(Req(), In(5000ms));
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("malformed"), std::string::npos);
}

TEST(OpenAiUpstream, ConfigErrors) {
  UpstreamConfig c;
  c.name = "x";
  c.models = {"m"};
  c.base_url = "ftp://nowhere";
  EXPECT_EQ(CreateOpenAiUpstream(c).status().code(), StatusCode::kInvalidArgument);
  c.base_url = "https://api.deepseek.com";
  c.api_key_file = "/nonexistent/key";
  auto r = CreateOpenAiUpstream(c);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  c.api_key_file.clear();
  EXPECT_TRUE(CreateOpenAiUpstream(c).ok());  // https is usable
}

TEST(Router, RetriesOn429And500BeforeFirstByte) {
  FakeEngine e([](FakeEngine&, const httplib::Request&, httplib::Response& res, int n) {
    if (n == 0) {
      res.status = 429;
      res.set_header("Retry-After", "0");
      res.set_content(R"({"error":{"message":"slow down"}})", "application/json");
    } else if (n == 1) {
      res.status = 500;
      res.set_content("oops", "text/plain");
    } else {
      FakeEngine::StreamEvents(res, NormalEvents());
    }
  });
  metrics::Registry reg;
  auto m = RegisterLlmMetrics(reg);
  auto r = MakeRouter({Config("a", e)}, FastRetries(), m.get());
  Collected got;
  RouteInfo info;
  Status s = r->Stream(Req(), In(10000ms), got.Fn(), &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.attempts, 3);
  EXPECT_EQ(e.calls(), 3);
  EXPECT_EQ(got.content, "Hello world");
  EXPECT_EQ(m->requests.With({"a", "rate_limited"}).Value(), 1);
  EXPECT_EQ(m->requests.With({"a", "upstream_error"}).Value(), 1);
  EXPECT_EQ(m->requests.With({"a", "ok"}).Value(), 1);
  const std::string text = reg.Expose();
  EXPECT_NE(text.find("deepkb_llm_time_to_first_token_seconds_count{upstream=\"a\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_llm_inter_token_latency_seconds_count{upstream=\"a\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_llm_queue_depth{upstream=\"a\"} 0"), std::string::npos);
}

TEST(Router, FailsOverByPriorityAfterRetriesAreSpent) {
  FakeEngine bad([](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
    res.status = 503;
    res.set_content("{}", "application/json");
  });
  FakeEngine good(Normal);
  // Configured out of order: priority decides.
  auto r = MakeRouter({Config("good", good, 2), Config("bad", bad, 1)}, FastRetries());
  RouteInfo info;
  auto res = r->Complete(Req(), In(10000ms), &info);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->content, "Hello world");
  EXPECT_EQ(res->reasoning_content, "Let me think.");
  EXPECT_EQ(res->usage.completion_tokens, 2);
  EXPECT_EQ(res->upstream, "good");
  EXPECT_EQ(bad.calls(), 3);
  EXPECT_EQ(good.calls(), 1);
}

TEST(Router, NeverRetriesAfterBytesReachedTheCaller) {
  FakeEngine cut([](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
    FakeEngine::StreamEvents(res, NormalEvents(), 0ms, /*cut_after=*/3);
  });
  FakeEngine spare(Normal);
  auto r = MakeRouter({Config("cut", cut, 0), Config("spare", spare, 1)}, FastRetries());
  Collected got;
  RouteInfo info;
  Status s = r->Stream(Req(), In(10000ms), got.Fn(), &info);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_TRUE(info.delivered);
  EXPECT_EQ(cut.calls(), 1);
  EXPECT_EQ(spare.calls(), 0);
  EXPECT_EQ(got.reasoning, "Let me think.");
  EXPECT_EQ(got.content, "Hello");  // exactly what was sent, nothing duplicated
}

TEST(Router, CutBeforeAnyEventIsRetried) {
  FakeEngine e([](FakeEngine&, const httplib::Request&, httplib::Response& res, int n) {
    // First call: only a keep-alive comment, then the connection drops.
    FakeEngine::StreamEvents(res, NormalEvents(), 0ms, n == 0 ? 1 : SIZE_MAX);
  });
  auto r = MakeRouter({Config("a", e)}, FastRetries());
  Collected got;
  RouteInfo info;
  Status s = r->Stream(Req(), In(10000ms), got.Fn(), &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(e.calls(), 2);
  EXPECT_EQ(got.content, "Hello world");
}

TEST(Router, CompleteRetriesAMidStreamCutWithoutDuplicates) {
  FakeEngine e([](FakeEngine&, const httplib::Request&, httplib::Response& res, int n) {
    FakeEngine::StreamEvents(res, NormalEvents(), 0ms, n == 0 ? 3 : SIZE_MAX);
  });
  auto r = MakeRouter({Config("a", e)}, FastRetries());
  auto res = r->Complete(Req(), In(10000ms));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->content, "Hello world");
  EXPECT_EQ(res->reasoning_content, "Let me think.");
  EXPECT_EQ(e.calls(), 2);
}

TEST(Router, MalformedJsonIsAClearErrorAndFailsOverWithoutRetry) {
  FakeEngine bad([](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
    FakeEngine::StreamEvents(res, {"data: {\"choices\": [{\"delta\": \n\n", kDone});
  });
  {
    auto r = MakeRouter({Config("bad", bad)}, FastRetries());
    Collected got;
    Status s = r->Stream(Req(), In(10000ms), got.Fn());
    EXPECT_EQ(s.code(), StatusCode::kInternal);
    EXPECT_NE(s.message().find("malformed JSON"), std::string::npos) << s.message();
    EXPECT_EQ(bad.calls(), 1);
    EXPECT_EQ(got.events, 0);
  }
  FakeEngine good(Normal);
  auto r = MakeRouter({Config("bad", bad, 0), Config("good", good, 1)}, FastRetries());
  Collected got;
  ASSERT_TRUE(r->Stream(Req(), In(10000ms), got.Fn()).ok());
  EXPECT_EQ(bad.calls(), 2);
  EXPECT_EQ(got.content, "Hello world");
}

TEST(Router, BreakerOpensSkipsTheUpstreamAndHalfOpens) {
  std::atomic<bool> healthy{false};
  FakeEngine e([&](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
    if (healthy) {
      FakeEngine::StreamEvents(res, NormalEvents());
    } else {
      res.status = 500;
      res.set_content("{}", "application/json");
    }
  });
  RouterConfig rc = FastRetries();
  rc.retry.max_attempts = 1;
  rc.breaker.failure_threshold = 2;
  rc.breaker.open_seconds = 0.5;
  auto r = MakeRouter({Config("a", e)}, rc);
  Collected got;
  EXPECT_EQ(r->Stream(Req(), In(5000ms), got.Fn()).code(), StatusCode::kUnavailable);
  EXPECT_EQ(r->Stream(Req(), In(5000ms), got.Fn()).code(), StatusCode::kUnavailable);
  EXPECT_EQ(r->States()[0].breaker, CircuitBreaker::State::kOpen);
  RouteInfo info;
  Status s = r->Stream(Req(), In(5000ms), got.Fn(), &info);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("circuit breaker"), std::string::npos);
  EXPECT_GT(info.retry_after_seconds, 0);
  EXPECT_EQ(e.calls(), 2);  // not contacted while open
  healthy = true;
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(r->States()[0].breaker, CircuitBreaker::State::kHalfOpen);
  ASSERT_TRUE(r->Stream(Req(), In(5000ms), got.Fn()).ok());
  EXPECT_EQ(r->States()[0].breaker, CircuitBreaker::State::kClosed);
  EXPECT_EQ(e.calls(), 3);
}

TEST(Router, HangingUpstreamHonoursTheDeadline) {
  FakeEngine e([](FakeEngine& self, const httplib::Request&, httplib::Response& res, int) {
    self.Hang();
    res.status = 500;
  });
  auto r = MakeRouter({Config("a", e)}, FastRetries());
  Collected got;
  const auto t0 = Clock::now();
  Status s = r->Stream(Req(), In(400ms), got.Fn());
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_LT(took, 5.0);  // far below the 10 s read timeout
  EXPECT_EQ(e.calls(), 1);
  e.Release();
}

TEST(Router, HangPastReadTimeoutFailsOverWithoutRetry) {
  FakeEngine hang([](FakeEngine& self, const httplib::Request&, httplib::Response& res, int) {
    self.Hang();
    res.status = 500;
  });
  FakeEngine good(Normal);
  UpstreamConfig c = Config("hang", hang, 0);
  c.read_timeout_seconds = 0.3;
  auto r = MakeRouter({c, Config("good", good, 1)}, FastRetries());
  Collected got;
  RouteInfo info;
  Status s = r->Stream(Req(), In(20000ms), got.Fn(), &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.upstream, "good");
  EXPECT_EQ(info.attempts, 2);
  EXPECT_EQ(hang.calls(), 1);
  EXPECT_EQ(got.content, "Hello world");
  hang.Release();
}

TEST(Router, SlowStreamIsNotATimeout) {
  FakeEngine e([](FakeEngine&, const httplib::Request&, httplib::Response& res, int) {
    FakeEngine::StreamEvents(res, NormalEvents(), 100ms);
  });
  UpstreamConfig c = Config("a", e);
  c.read_timeout_seconds = 2;  // longer than each gap, shorter than the whole stream
  auto r = MakeRouter({c}, FastRetries());
  Collected got;
  ASSERT_TRUE(r->Stream(Req(), In(10000ms), got.Fn()).ok());
  EXPECT_EQ(got.content, "Hello world");
}

TEST(Router, QueueFullAndUnmeetableDeadlineAreRejectedAtOnce) {
  FakeEngine e([](FakeEngine& self, const httplib::Request&, httplib::Response& res, int) {
    self.Hang();
    FakeEngine::StreamEvents(res, NormalEvents());
  });
  UpstreamConfig c = Config("a", e);
  c.max_concurrency = 1;
  RouterConfig rc = FastRetries();
  rc.admission.max_queue = 1;
  rc.admission.initial_duration_seconds = 30;  // pessimistic estimate: long waits
  metrics::Registry reg;
  auto m = RegisterLlmMetrics(reg);
  auto r = MakeRouter({c}, rc, m.get());
  std::thread busy([&] {
    Collected g;
    EXPECT_TRUE(r->Stream(Req(), In(20000ms), g.Fn()).ok());
  });
  for (int i = 0; i < 1000 && e.calls() < 1; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(e.calls(), 1);
  // A request whose deadline is shorter than the estimated wait: 503 at once.
  {
    Collected g;
    RouteInfo info;
    const auto t0 = Clock::now();
    Status s = r->Stream(Req(), In(5000ms), g.Fn(), &info);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
    EXPECT_GE(info.retry_after_seconds, 1);
  }
  std::thread queued([&] {
    Collected g;
    EXPECT_TRUE(r->Stream(Req(), In(60000ms), g.Fn()).ok());
  });
  for (int i = 0; i < 1000 && r->States()[0].queued < 1; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(r->States()[0].queued, 1u);
  EXPECT_EQ(m->queue_depth.With({"a"}).Value(), 1);
  {
    Collected g;
    RouteInfo info;
    Status s = r->Stream(Req(), In(60000ms), g.Fn(), &info);
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
    EXPECT_GE(info.retry_after_seconds, 1);
    EXPECT_EQ(info.attempts, 0);
  }
  EXPECT_EQ(e.calls(), 1);  // the rejected requests never reached the engine
  e.Release();
  busy.join();
  queued.join();
  EXPECT_EQ(e.calls(), 2);
  EXPECT_EQ(m->requests.With({"a", "queue_full"}).Value(), 1);
  EXPECT_EQ(m->requests.With({"a", "deadline_unmeetable"}).Value(), 1);
}

// The engine's time to first token grows with the number of requests it is serving; the limiter
// must come down, and go back up when the engine gets fast again.
TEST(Router, AdaptiveLimitFollowsLoadDependentLatency) {
  std::atomic<bool> loaded{true};
  FakeEngine e([&](FakeEngine& self, const httplib::Request&, httplib::Response& res, int) {
    const int now_active = ++self.active;
    const auto delay = loaded ? std::chrono::milliseconds(20 * now_active) : 2ms;
    std::this_thread::sleep_for(delay);
    --self.active;
    FakeEngine::StreamEvents(res, NormalEvents());
  });
  UpstreamConfig c = Config("a", e);
  c.max_concurrency = 16;
  RouterConfig rc = FastRetries();
  rc.admission.max_queue = 64;
  rc.limiter.target_low_seconds = 0.05;
  rc.limiter.target_high_seconds = 0.12;
  rc.limiter.window = 4;
  rc.limiter.decrease_factor = 0.7;
  rc.limiter.increase_step = 1;
  auto r = MakeRouter({c}, rc);
  auto drive = [&](int total) {
    std::atomic<int> left{total};
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; ++t) {
      ts.emplace_back([&] {
        while (left.fetch_sub(1) > 0) {
          Collected g;
          Status s = r->Stream(Req(), In(30000ms), g.Fn());
          EXPECT_TRUE(s.ok()) << s.ToString();
        }
      });
    }
    for (auto& t : ts) t.join();
  };
  EXPECT_EQ(r->States()[0].limit, 16);
  drive(160);
  const double low = r->States()[0].limit;
  std::printf("limit after the loaded phase: %.2f\n", low);
  EXPECT_LE(low, 8) << "the limit should fall when latency rises with load";
  EXPECT_GE(low, 1);
  loaded = false;
  drive(240);
  const double high = r->States()[0].limit;
  std::printf("limit after the fast phase: %.2f\n", high);
  EXPECT_GE(high, low + 4) << "the limit should grow back when the engine is fast";
  EXPECT_LE(high, 16);
}

TEST(Router, UnknownModelIsNotFound) {
  FakeEngine e(Normal);
  auto r = MakeRouter({Config("a", e)}, FastRetries());
  ChatRequest q = Req();
  q.model = "gpt-9";
  Collected g;
  EXPECT_EQ(r->Stream(q, In(1000ms), g.Fn()).code(), StatusCode::kNotFound);
  EXPECT_EQ(r->Models(), std::vector<std::string>{"deepseek-chat"});
  EXPECT_EQ(e.calls(), 0);
}

}  // namespace
}  // namespace deepkb::llm
