// fake_upstream: a scripted OpenAI-compatible chat engine as a process, for tests and benchmarks
// that need an upstream LLM that cannot run here (the openai SDK test, bench/gateway, UI tests).
//
//   fake_upstream [--port N] [--ttft-ms MS] [--token-ms MS] [--answer TEXT] [--reasoning TEXT]
//                 [--fail-every N]
//
// Prints "port N" on stdout once listening (port 0 = any free port), serves until SIGTERM/SIGINT.
// POST /v1/chat/completions answers `--answer` (default cites [1]) split into word tokens:
// streamed as SSE chunks (reasoning first when --reasoning is set, then content, finish, usage
// when asked, [DONE]) when "stream" is true, else one chat.completion. --ttft-ms waits before the
// first token, --token-ms between tokens. --fail-every N answers every N-th request with HTTP 500.
// The answer may contain "{last_user}" (replaced by the last user message, cut to 200 bytes) and
// "{system_chars}" (the length of the first system message: shows whether context was sent).
// GET /v1/models lists "fake-model". Requests are counted on GET /stats ({"requests": N}).
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;

struct Options {
  int port = 0;
  int ttft_ms = 0;
  int token_ms = 0;
  int fail_every = 0;
  std::string answer = "According to the knowledge base, the answer is in passage [1].";
  std::string reasoning;
};

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(' ', start + 1);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end;
  }
  return out;
}

std::string Render(const std::string& tmpl, const json& body) {
  std::string last_user, system;
  if (body.contains("messages") && body["messages"].is_array()) {
    for (const json& m : body["messages"]) {
      if (!m.is_object() || !m.contains("content") || !m["content"].is_string()) continue;
      if (m.value("role", "") == "user") last_user = m["content"].get<std::string>();
      if (m.value("role", "") == "system" && system.empty()) system = m["content"].get<std::string>();
    }
  }
  if (last_user.size() > 200) last_user.resize(200);
  std::string out = tmpl;
  for (auto [key, value] : {std::pair<std::string, std::string>{"{last_user}", last_user},
                            {"{system_chars}", std::to_string(system.size())}}) {
    for (size_t p = out.find(key); p != std::string::npos; p = out.find(key, p + value.size())) {
      out.replace(p, key.size(), value);
    }
  }
  return out;
}

std::string Sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fake_upstream: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") o.port = std::atoi(next().c_str());
    else if (a == "--ttft-ms") o.ttft_ms = std::atoi(next().c_str());
    else if (a == "--token-ms") o.token_ms = std::atoi(next().c_str());
    else if (a == "--fail-every") o.fail_every = std::atoi(next().c_str());
    else if (a == "--answer") o.answer = next();
    else if (a == "--reasoning") o.reasoning = next();
    else {
      std::fprintf(stderr, "fake_upstream: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  httplib::Server server;
  server.new_task_queue = [] { return new httplib::ThreadPool(256); };
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000000);  // benchmark clients keep their connections
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  std::atomic<long> requests{0};
  server.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"object", "list"},
                         {"data", json::array({{{"id", "fake-model"}, {"object", "model"}}})}}
                         .dump(),
                     "application/json");
  });
  server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"requests", requests.load()}}.dump(), "application/json");
  });
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    const long n = requests.fetch_add(1) + 1;
    const json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) {
      res.status = 400;
      res.set_content(R"({"error":{"message":"body is not JSON"}})", "application/json");
      return;
    }
    if (o.fail_every > 0 && n % o.fail_every == 0) {
      res.status = 500;
      res.set_content(R"({"error":{"message":"scripted failure"}})", "application/json");
      return;
    }
    const std::string model = body.value("model", "fake-model");
    const std::string answer = Render(o.answer, body);
    const bool stream = body.value("stream", false);
    const bool usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                       body["stream_options"].value("include_usage", false);
    const std::vector<std::string> tokens = Words(answer);
    if (!stream) {
      if (o.ttft_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.ttft_ms));
      if (o.token_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(o.token_ms * tokens.size()));
      }
      json msg = {{"role", "assistant"}, {"content", answer}};
      if (!o.reasoning.empty()) msg["reasoning_content"] = o.reasoning;
      res.set_content(json{{"id", "fake-" + std::to_string(n)},
                           {"object", "chat.completion"},
                           {"model", model},
                           {"choices", json::array({{{"index", 0}, {"message", msg},
                                                     {"finish_reason", "stop"}}})},
                           {"usage", {{"prompt_tokens", 10}, {"completion_tokens", tokens.size()},
                                      {"total_tokens", 10 + tokens.size()}}}}
                          .dump(),
                      "application/json");
      return;
    }
    // The whole event list up front; the provider paces it.
    auto events = std::make_shared<std::vector<std::string>>();
    const auto chunk = [&](json delta, json finish) {
      return Sse({{"id", "fake-" + std::to_string(n)},
                  {"object", "chat.completion.chunk"},
                  {"model", model},
                  {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)},
                                            {"finish_reason", std::move(finish)}}})}});
    };
    if (!o.reasoning.empty()) {
      events->push_back(chunk({{"role", "assistant"}, {"reasoning_content", o.reasoning}}, nullptr));
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      json delta = {{"content", tokens[i]}};
      if (i == 0 && o.reasoning.empty()) delta["role"] = "assistant";
      events->push_back(chunk(std::move(delta), nullptr));
    }
    events->push_back(chunk(json::object(), "stop"));
    if (usage) {
      events->push_back(Sse({{"id", "fake-" + std::to_string(n)},
                             {"object", "chat.completion.chunk"},
                             {"model", model},
                             {"choices", json::array()},
                             {"usage", {{"prompt_tokens", 10},
                                        {"completion_tokens", tokens.size()},
                                        {"total_tokens", 10 + tokens.size()}}}}));
    }
    events->push_back("data: [DONE]\n\n");
    auto next = std::make_shared<size_t>(0);
    const int ttft = o.ttft_ms, gap = o.token_ms;
    res.set_chunked_content_provider(
        "text/event-stream", [events, next, ttft, gap](size_t, httplib::DataSink& sink) {
          if (*next >= events->size()) {
            sink.done();
            return true;
          }
          const int wait = *next == 0 ? ttft : gap;
          if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
          const std::string& e = (*events)[(*next)++];
          return sink.write(e.data(), e.size());
        });
  });

  const int port = o.port == 0 ? server.bind_to_any_port("127.0.0.1")
                               : (server.bind_to_port("127.0.0.1", o.port) ? o.port : -1);
  if (port <= 0) {
    std::fprintf(stderr, "fake_upstream: cannot listen on 127.0.0.1:%d\n", o.port);
    return 1;
  }
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);  // httplib's backlog is 5
  std::printf("port %d\n", port);
  std::fflush(stdout);
  std::thread waiter([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
  });
  server.listen_after_bind();
  // Woken by a signal (stop() above) or stopped otherwise: make sure the waiter ends.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}
