// The only translation unit of deepkb_llm that includes cpp-httplib; nothing throws out of it.
#include "llm/openai_upstream.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "embed/openai_embedder.h"
#include "llm/sse.h"

namespace deepkb::llm {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxIdleClients = 8;
constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxAnswerBytes = 64 << 20;

double ParseRetryAfter(const std::string& value) {
  if (value.empty() || value.size() > 16) return -1;
  for (char c : value) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == ' ')) return -1;
  }
  char* end = nullptr;
  const double s = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || !std::isfinite(s) || s < 0) return -1;
  return s;
}

std::string EngineMessage(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  std::string msg;
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) msg = e->get<std::string>();
      if (e->is_object()) {
        if (auto m = e->find("message"); m != e->end() && m->is_string()) msg = *m;
      }
    }
    if (msg.empty()) {
      if (auto m = j.find("message"); m != j.end() && m->is_string()) msg = *m;
    }
  }
  for (char& c : msg) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (msg.size() > 200) msg.resize(200);
  return msg;
}

std::chrono::microseconds Micros(double s) {
  return std::chrono::microseconds(static_cast<int64_t>(std::max(s, 0.001) * 1e6));
}

class OpenAiUpstream final : public LlmUpstream {
 public:
  OpenAiUpstream(UpstreamConfig config, embed::OpenAiTarget target, std::string key)
      : config_(std::move(config)), target_(std::move(target)), key_(std::move(key)) {}

  const UpstreamConfig& config() const override { return config_; }

  Result<ChatResponse> Complete(const ChatRequest& request, Deadline deadline,
                                CallInfo* info) override;
  Status Stream(const ChatRequest& request, Deadline deadline, const EventCallback& on_event,
                CallInfo* info) override;

 private:
  struct Exchange {
    bool stream = false;
    const EventCallback* on_event = nullptr;
    CallInfo* info = nullptr;
    Clock::time_point start;
    int status = 0;
    std::string body;   // non-stream body, or error body (bounded)
    Status stop;        // why the receiver stopped, if it did
    bool done = false;  // [DONE] seen
  };
  // Sends the request; fills `ex`. Returns the transport/HTTP-level error, OK on 2xx complete.
  Status Send(const ChatRequest& request, Deadline deadline, Exchange& ex);
  std::string Who() const { return "upstream '" + config_.name + "'"; }

  std::unique_ptr<httplib::Client> TakeClient();
  void GiveBack(std::unique_ptr<httplib::Client> c);

  const UpstreamConfig config_;
  const embed::OpenAiTarget target_;
  const std::string key_;  // never logged
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;  // guarded by mu_
};

std::unique_ptr<httplib::Client> OpenAiUpstream::TakeClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>(target_.scheme_host_port);
  c->set_connection_timeout(Micros(config_.connect_timeout_seconds));
  c->set_write_timeout(Micros(config_.connect_timeout_seconds + 5));
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  return c;
}

void OpenAiUpstream::GiveBack(std::unique_ptr<httplib::Client> c) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdleClients) idle_.push_back(std::move(c));
}

Status OpenAiUpstream::Send(const ChatRequest& request, Deadline deadline, Exchange& ex) {
  ex.start = Clock::now();
  const double remaining = std::chrono::duration<double>(deadline - ex.start).count();
  if (remaining <= 0) {
    return Status(StatusCode::kDeadlineExceeded, Who() + ": the deadline passed before sending");
  }
  const bool capped = remaining < config_.read_timeout_seconds;
  const double read_timeout = std::min(remaining, config_.read_timeout_seconds);

  std::string payload;
  try {
    json body = request.body.is_object() ? request.body : json::object();
    body["model"] = request.model;
    body["stream"] = ex.stream;
    if (ex.stream && config_.stream_include_usage && !body.contains("stream_options")) {
      body["stream_options"] = {{"include_usage", true}};
    }
    if (!ex.stream) body.erase("stream_options");
    payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception&) {
    return InvalidArgumentError(Who() + ": cannot encode the request");
  }

  httplib::Request req;
  req.method = "POST";
  req.path = target_.path_prefix + "/v1/chat/completions";
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", ex.stream ? "text/event-stream" : "application/json");
  if (!key_.empty()) req.set_header("Authorization", "Bearer " + key_);
  req.body = std::move(payload);

  SseParser parser([&](std::string_view data) -> bool {
    if (data == "[DONE]") {
      ex.done = true;
      return true;
    }
    std::vector<ChatEvent> events;
    Status s = ParseChunk(data, events);
    if (!s.ok()) {
      ex.stop = s.code() == StatusCode::kInvalidArgument
                    ? InternalError(Who() + " sent " + s.message())
                    : s.WithContext(Who());
      return false;
    }
    for (const auto& ev : events) {
      if (ex.info != nullptr && !ex.info->first_event_seen) {
        ex.info->first_event_seen = true;
        ex.info->time_to_first_event_seconds =
            std::chrono::duration<double>(Clock::now() - ex.start).count();
      }
      if (!(*ex.on_event)(ev)) {
        ex.stop = Status(StatusCode::kAborted, "cancelled by the caller");
        return false;
      }
    }
    return true;
  });

  req.response_handler = [&](const httplib::Response& res) {
    ex.status = res.status;
    if (ex.info != nullptr && (res.status == 429 || res.status == 503)) {
      ex.info->retry_after_seconds = ParseRetryAfter(res.get_header_value("Retry-After"));
    }
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) -> bool {
    if (Clock::now() >= deadline) {
      ex.stop = Status(StatusCode::kDeadlineExceeded, Who() + ": the deadline passed mid-answer");
      return false;
    }
    if (ex.status < 200 || ex.status >= 300) {
      if (ex.body.size() + n <= kMaxErrorBody) ex.body.append(data, n);  // keep the start only
      return true;
    }
    if (!ex.stream) {
      if (ex.body.size() + n > kMaxAnswerBytes) {
        ex.stop = InternalError(Who() + " sent an answer over 64 MiB");
        return false;
      }
      ex.body.append(data, n);
      return true;
    }
    if (ex.done) return true;  // ignore anything after [DONE]
    if (!parser.Feed(std::string_view(data, n))) {
      if (parser.overflowed()) ex.stop = InternalError(Who() + " sent an SSE line over 8 MiB");
      return false;
    }
    return true;
  };

  std::unique_ptr<httplib::Client> client;
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool ok = false;
  try {
    client = TakeClient();
    client->set_read_timeout(Micros(read_timeout));
    ok = client->send(req, res, err);
  } catch (const std::exception&) {
    return UnavailableError(Who() + ": request failed");
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - ex.start).count();
  if (!ok) {
    if (!ex.stop.ok()) return ex.stop;
    switch (err) {
      case httplib::Error::Connection:
      case httplib::Error::ConnectionTimeout:
      case httplib::Error::SSLConnection:
      case httplib::Error::Write:
        return UnavailableError(Who() + " is unreachable: " + httplib::to_string(err));
      case httplib::Error::Read:
        if (Clock::now() >= deadline || (capped && elapsed >= 0.9 * read_timeout)) {
          return Status(StatusCode::kDeadlineExceeded,
                        Who() + ": no answer before the deadline");
        }
        if (elapsed >= 0.9 * read_timeout) {
          if (ex.info != nullptr) ex.info->hung = true;
          char secs[32];
          std::snprintf(secs, sizeof secs, "%g", config_.read_timeout_seconds);
          return UnavailableError(Who() + " did not answer within " + secs +
                                  " s (read timeout)");
        }
        return UnavailableError(Who() + ": connection lost" +
                                (ex.info && ex.info->first_event_seen ? " mid-stream" : ""));
      default:
        return UnavailableError(Who() + ": request failed: " + httplib::to_string(err));
    }
  }
  const int code = res.status;
  if (code < 200 || code >= 300) {
    const std::string m = EngineMessage(ex.body);
    const std::string detail =
        Who() + " answered HTTP " + std::to_string(code) + (m.empty() ? "" : ": " + m);
    if (client->is_valid()) GiveBack(std::move(client));
    if (code == 429) return ResourceExhaustedError(detail);
    if (code >= 500 || code == 408) return UnavailableError(detail);
    if (code == 401) return UnauthenticatedError(detail);
    if (code == 403) return PermissionDeniedError(detail);
    if (code == 404) return NotFoundError(detail);
    return InvalidArgumentError(detail);
  }
  if (!ex.stop.ok()) return ex.stop;
  GiveBack(std::move(client));
  return Status::Ok();
}

Result<ChatResponse> OpenAiUpstream::Complete(const ChatRequest& request, Deadline deadline,
                                              CallInfo* info) {
  Exchange ex;
  ex.stream = false;
  CallInfo local;
  ex.info = info != nullptr ? info : &local;
  RETURN_IF_ERROR(Send(request, deadline, ex));
  const json j = json::parse(ex.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InternalError(Who() + " sent malformed JSON");
  }
  ChatResponse r;
  r.upstream = config_.name;
  try {
    if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
      return UnavailableError(Who() + " reported an error: " + EngineMessage(ex.body));
    }
    if (j.contains("id") && j["id"].is_string()) r.id = j["id"];
    if (j.contains("model") && j["model"].is_string()) r.model = j["model"];
    const json& choices = j.at("choices");
    if (!choices.is_array() || choices.empty() || !choices[0].is_object()) {
      return InternalError(Who() + " sent an answer without choices");
    }
    const json& c0 = choices[0];
    if (auto m = c0.find("message"); m != c0.end() && m->is_object()) {
      if (auto t = m->find("content"); t != m->end() && t->is_string()) r.content = *t;
      for (const char* key : {"reasoning_content", "reasoning"}) {
        if (auto t = m->find(key); t != m->end() && t->is_string()) {
          r.reasoning_content = *t;
          break;
        }
      }
    }
    if (auto f = c0.find("finish_reason"); f != c0.end() && f->is_string()) r.finish_reason = *f;
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      r.has_usage = true;
      r.usage.prompt_tokens = u->value("prompt_tokens", int64_t{0});
      r.usage.completion_tokens = u->value("completion_tokens", int64_t{0});
      r.usage.total_tokens = u->value("total_tokens", int64_t{0});
    }
  } catch (const std::exception&) {
    return InternalError(Who() + " sent an answer of the wrong shape");
  }
  if (info != nullptr) {
    info->first_event_seen = true;
    info->time_to_first_event_seconds =
        std::chrono::duration<double>(Clock::now() - ex.start).count();
  }
  return r;
}

Status OpenAiUpstream::Stream(const ChatRequest& request, Deadline deadline,
                              const EventCallback& on_event, CallInfo* info) {
  Exchange ex;
  ex.stream = true;
  ex.on_event = &on_event;
  CallInfo local;
  ex.info = info != nullptr ? info : &local;
  RETURN_IF_ERROR(Send(request, deadline, ex));
  if (!ex.done) {
    return UnavailableError(Who() + ": the stream ended without [DONE]");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> LoadApiKey(const UpstreamConfig& config) {
  auto trim = [](std::string s) {
    const char* ws = " \t\r\n";
    s.erase(0, s.find_first_not_of(ws));
    const size_t e = s.find_last_not_of(ws);
    s.erase(e == std::string::npos ? 0 : e + 1);
    return s;
  };
  if (!config.api_key_file.empty()) {
    std::ifstream in(config.api_key_file, std::ios::binary);
    if (!in) {
      return FailedPreconditionError("upstream '" + config.name +
                                     "': cannot read the API key file " + config.api_key_file);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string key = trim(ss.str());
    if (key.empty()) {
      return FailedPreconditionError("upstream '" + config.name + "': the API key file " +
                                     config.api_key_file + " is empty");
    }
    return key;
  }
  if (!config.api_key_env.empty()) {
    const char* v = std::getenv(config.api_key_env.c_str());
    std::string key = v != nullptr ? trim(v) : std::string();
    if (key.empty()) {
      return FailedPreconditionError("upstream '" + config.name + "': environment variable " +
                                     config.api_key_env + " is unset or empty");
    }
    return key;
  }
  return std::string();
}

Result<std::unique_ptr<LlmUpstream>> CreateOpenAiUpstream(const UpstreamConfig& config) {
  const std::string who = "upstream '" + config.name + "'";
  if (config.name.empty()) return InvalidArgumentError("an upstream needs a name");
  auto target = embed::ParseOpenAiTarget("m@" + config.base_url);
  if (!target.ok()) {
    return InvalidArgumentError(who + ": base_url must be http(s)://host[:port][/prefix], got '" +
                                config.base_url + "'");
  }
  if (!(config.connect_timeout_seconds > 0) || !(config.read_timeout_seconds > 0)) {
    return InvalidArgumentError(who + ": timeouts must be positive");
  }
  if (config.max_concurrency < 1) return InvalidArgumentError(who + ": max_concurrency must be >= 1");
  if (config.models.empty()) return InvalidArgumentError(who + ": list at least one model");
  try {
    httplib::Client probe(target->scheme_host_port);
    if (!probe.is_valid()) return InvalidArgumentError(who + ": cannot use " + config.base_url);
  } catch (const std::exception&) {
    return InvalidArgumentError(who + ": cannot use " + config.base_url);
  }
  ASSIGN_OR_RETURN(std::string key, LoadApiKey(config));
  return std::unique_ptr<LlmUpstream>(
      new OpenAiUpstream(config, std::move(target).value(), std::move(key)));
}

}  // namespace deepkb::llm
