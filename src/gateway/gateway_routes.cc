// The gateway's HTTP routes. A streamed chat answer is produced on its own thread so that an
// error before the first chunk (unknown model, 429 from admission, upstream down) still gets its
// HTTP status and Retry-After; once the first chunk exists the response is committed (200,
// text/event-stream) and the server's worker thread relays chunks as they come.
#include <condition_variable>
#include <cmath>
#include <deque>
#include <mutex>
#include <thread>

#include "common/utf8.h"
#include "gateway/gateway.h"
#include "server/http_error.h"
#include "server/routes.h"

namespace deepkb::gateway {

namespace {

using json = nlohmann::json;

server::HttpResponse ErrorResponse(const Status& s, double retry_after) {
  server::HttpResponse r = server::HttpResponse::Error(s);
  if (retry_after > 0) {
    for (auto& [k, v] : r.headers) {
      if (k == "Retry-After") v = std::to_string(static_cast<long long>(std::ceil(retry_after)));
    }
  }
  return r;
}

std::string SseLine(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

// Shared between the producing thread (Gateway::Chat) and the server's worker thread (the HTTP
// body producer). Its destructor cancels and joins the producing thread, so the thread never
// outlives it whatever happens to the response.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;  // SSE lines not yet written
  bool started = false;
  bool done = false;
  bool cancelled = false;
  Status status;
  double retry_after = -1;
  std::thread producer;

  ~StreamState() {
    {
      std::lock_guard<std::mutex> lock(mu);
      cancelled = true;
    }
    if (producer.joinable()) producer.join();
  }
};

server::HttpResponse HandleChat(Gateway& gw, const server::HttpRequest& req) {
  auto body = server::ParseJsonObject(req.body);
  if (!body.ok()) return server::HttpResponse::Error(body.status());
  const bool stream = body->contains("stream") && (*body)["stream"].is_boolean() &&
                      (*body)["stream"].get<bool>();
  const auth::Principal who = *req.principal;
  if (!stream) {
    json answer;
    double retry_after = -1;
    Status s = gw.Chat(
        who, *body,
        [&answer](const json& obj) {
          answer = obj;
          return true;
        },
        nullptr, &retry_after);
    if (!s.ok()) return ErrorResponse(s, retry_after);
    return server::HttpResponse::Json(200, answer);
  }

  auto state = std::make_shared<StreamState>();
  StreamState* st = state.get();  // the thread must not own the state it is joined by
  state->producer = std::thread([&gw, st, who, request = std::move(*body)] {
    bool started = false;
    double retry_after = -1;
    Status s = gw.Chat(
        who, request,
        [st](const json& obj) {
          std::lock_guard<std::mutex> lock(st->mu);
          if (st->cancelled) return false;
          st->chunks.push_back(SseLine(obj));
          st->started = true;
          st->cv.notify_all();
          return true;
        },
        &started, &retry_after);
    std::lock_guard<std::mutex> lock(st->mu);
    st->done = true;
    st->status = s;
    st->retry_after = retry_after;
    st->cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(state->mu);
    state->cv.wait(lock, [&] { return state->started || state->done; });
    if (!state->started) {
      const Status s = state->status;
      const double retry_after = state->retry_after;
      lock.unlock();
      state.reset();  // joins the finished thread
      return ErrorResponse(s, retry_after);
    }
  }
  server::HttpResponse r;
  r.status = 200;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");  // tell nginx-style proxies not to buffer
  r.stream = [state](const server::BodyWriter& write) {
    std::unique_lock<std::mutex> lock(state->mu);
    while (true) {
      state->cv.wait(lock, [&] { return !state->chunks.empty() || state->done; });
      while (!state->chunks.empty()) {
        std::string line = std::move(state->chunks.front());
        state->chunks.pop_front();
        lock.unlock();
        const bool ok = write(line);
        lock.lock();
        if (!ok) {
          state->cancelled = true;  // the client went away: stop the upstream call
          return;
        }
      }
      if (state->done && state->chunks.empty()) break;
    }
    const Status s = state->status;
    lock.unlock();
    if (s.ok()) {
      write("data: [DONE]\n\n");
    } else {
      // The answer had started: the failure ends the stream as an error object (no [DONE]).
      write("data: " + server::ErrorBody(s) + "\n\n");
    }
  };
  return r;
}

}  // namespace

std::vector<server::Route> Gateway::Routes(auth::AuditLog* audit) {
  Gateway* gw = this;
  std::vector<server::Route> routes;
  routes.push_back({"GET", "/v1/models", "/v1/models", auth::Permission::kRead, 0,
                    [gw](const server::HttpRequest& req) {
                      return server::HttpResponse::Json(200, gw->Models(*req.principal));
                    }});
  // Model ids may contain '/' ("deepseek-ai/DeepSeek-V3").
  routes.push_back({"GET", "/v1/models/(.+)", "/v1/models/{id}", auth::Permission::kRead, 0,
                    [gw](const server::HttpRequest& req) {
                      const json all = gw->Models(*req.principal);
                      for (const json& m : all["data"]) {
                        if (m["id"] == req.params.at(0)) return server::HttpResponse::Json(200, m);
                      }
                      return server::HttpResponse::Error(NotFoundError(
                          "model '" + utf8::Sanitize(req.params.at(0).substr(0, 128)) +
                          "' does not exist (GET /v1/models lists them)"));
                    }});
  server::Route chat{"POST", "/v1/chat/completions", "/v1/chat/completions",
                     auth::Permission::kRead, 0,
                     [gw](const server::HttpRequest& req) { return HandleChat(*gw, req); }};
  chat.server_admission = false;  // the router's per-upstream queues admit chat requests
  routes.push_back(std::move(chat));
  routes.push_back({"POST", "/v1/embeddings", "/v1/embeddings", auth::Permission::kRead, 0,
                    [gw](const server::HttpRequest& req) {
                      auto body = server::ParseJsonObject(req.body);
                      if (!body.ok()) return server::HttpResponse::Error(body.status());
                      auto r = gw->Embeddings(*req.principal, *body);
                      if (!r.ok()) return server::HttpResponse::Error(r.status());
                      return server::HttpResponse::Json(200, *r);
                    }});
  if (audit) {
    for (server::Route& r : routes) r = server::WithDenialAudit(std::move(r), audit);
  }
  return routes;
}

}  // namespace deepkb::gateway
