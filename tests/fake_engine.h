// FakeEngine: a scripted OpenAI-compatible chat engine over real HTTP on 127.0.0.1, for tests
// of the LLM router and the gateway (and the fake_upstream program). A Script fills each
// response: stream SSE events slowly, cut the stream, fail with 429/500, hang, or send junk.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace deepkb::testing {

using namespace std::chrono_literals;

inline std::string Chunk(const nlohmann::json& delta, const nlohmann::json& finish = nullptr) {
  nlohmann::json c = {{"id", "c1"},
            {"object", "chat.completion.chunk"},
            {"choices", nlohmann::json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
  return "data: " + c.dump() + "\n\n";
}
inline std::string UsageChunk(int p, int c) {
  nlohmann::json u = {{"choices", nlohmann::json::array()},
            {"usage", {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}}}};
  return "data: " + u.dump() + "\r\n\r\n";
}
inline const std::string kDone = "data: [DONE]\n\n";

// The SSE events of a normal answer "Hello world" with reasoning first.
inline std::vector<std::string> NormalEvents() {
  return {": keep-alive\n\n",
          Chunk({{"role", "assistant"}, {"reasoning_content", "Let me think."}}),
          Chunk({{"content", "Hello"}}),
          Chunk({{"content", " world"}}),
          Chunk(nlohmann::json::object(), "stop"),
          UsageChunk(7, 2),
          kDone};
}

class FakeEngine {
 public:
  // Called per request with its 0-based number; fills the response.
  using Script = std::function<void(FakeEngine&, const httplib::Request&, httplib::Response&, int)>;

  explicit FakeEngine(Script script) : script_(std::move(script)) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_timeout(1);
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = calls_.fetch_add(1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        bodies_.push_back(req.body);
        auth_ = req.get_header_value("Authorization");
      }
      script_(*this, req, res, n);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
  }
  ~FakeEngine() {
    Release();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int calls() const { return calls_.load(); }
  std::string auth() {
    std::lock_guard<std::mutex> lock(mu_);
    return auth_;
  }
  nlohmann::json body(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return nlohmann::json::parse(bodies_.at(i));
  }
  void Hang() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return released_; });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  // Streams `events`, sleeping `gap` before each; after `cut_after` events the connection is
  // dropped (no terminating chunk). `first_delay` before anything.
  static void StreamEvents(httplib::Response& res, std::vector<std::string> events,
                           std::chrono::milliseconds gap = 0ms, size_t cut_after = SIZE_MAX,
                           std::chrono::milliseconds first_delay = 0ms) {
    auto i = std::make_shared<size_t>(0);
    auto evs = std::make_shared<std::vector<std::string>>(std::move(events));
    res.set_chunked_content_provider(
        "text/event-stream", [=](size_t, httplib::DataSink& sink) {
          if (*i == 0 && first_delay.count() > 0) std::this_thread::sleep_for(first_delay);
          if (*i >= cut_after) return false;  // drop the connection
          if (*i >= evs->size()) {
            sink.done();
            return true;
          }
          if (gap.count() > 0) std::this_thread::sleep_for(gap);
          const std::string& e = (*evs)[(*i)++];
          return sink.write(e.data(), e.size());
        });
  }

  std::atomic<int> active{0};  // for scripts that model load

 private:
  Script script_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::string> bodies_;
  std::string auth_;
};


}  // namespace deepkb::testing
