// The only translation unit of deepkb_embed that includes cpp-httplib. Every httplib and
// nlohmann call is wrapped here; nothing throws out of this file.
#include "embed/openai_embedder.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <utility>

#include "common/utf8.h"

namespace deepkb::embed {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxIdleClients = 8;
constexpr size_t kMaxServerMessageBytes = 200;
constexpr const char* kApiKeyEnv = "DEEPKB_EMBED_API_KEY";
constexpr const char* kTargetExample = "openai:bge-m3@http://127.0.0.1:8000";

bool HasSpaceOrControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7F;
  });
}

Status TargetError(std::string_view what) {
  return InvalidArgumentError("embedder spec: " + std::string(what) +
                              "; expected MODEL@URL as in \"" + kTargetExample +
                              "\" (URL http:// or https://, optionally ending in /v1)");
}

// "2", "1.5" → seconds; anything else (HTTP dates included) → -1 (use our own backoff).
double ParseRetryAfter(const std::string& value) {
  std::string v;
  for (char c : value) {
    if (c != ' ' && c != '\t') v.push_back(c);
  }
  if (v.empty() || v.size() > 16) return -1;
  bool dot = false;
  for (char c : v) {
    if (c == '.' && !dot) {
      dot = true;
    } else if (c < '0' || c > '9') {
      return -1;
    }
  }
  char* end = nullptr;
  const double secs = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || !std::isfinite(secs) || secs < 0) return -1;
  return secs;
}

// The server's own error text from a JSON error body (OpenAI {"error":{"message":..}}, vLLM
// {"message":..}, TEI {"error":".."}), cleaned and cut to kMaxServerMessageBytes; "" if none.
std::string ServerMessage(const std::string& body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return "";
  std::string msg;
  if (auto e = j.find("error"); e != j.end()) {
    if (e->is_string()) {
      msg = e->get<std::string>();
    } else if (e->is_object()) {
      if (auto m = e->find("message"); m != e->end() && m->is_string()) msg = m->get<std::string>();
    }
  }
  if (msg.empty()) {
    for (const char* key : {"message", "detail"}) {
      if (auto m = j.find(key); m != j.end() && m->is_string()) {
        msg = m->get<std::string>();
        break;
      }
    }
  }
  for (char& c : msg) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (msg.size() > kMaxServerMessageBytes) {
    msg.resize(utf8::FloorBoundary(msg, kMaxServerMessageBytes));
    msg += "...";
  }
  return msg;
}

// Exponential backoff with "equal jitter": half fixed, half random.
double BackoffSeconds(const EmbedderOptions& o, int retry_index) {
  double base = o.retry_backoff_seconds * std::pow(2.0, retry_index);
  base = std::min(base, o.retry_backoff_max_seconds);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, base / 2);
  return base / 2 + jitter(rng);
}

std::chrono::microseconds ToMicros(double seconds) {
  return std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

// The outcome of one HTTP attempt.
struct Attempt {
  enum class Kind { kOk, kRetry, kFail };
  Kind kind = Kind::kFail;
  Status status;            // the error to report if this was the last attempt
  double retry_after = -1;  // server's Retry-After in seconds, -1 if none
  std::string body;         // the response body on kOk
};

}  // namespace

Result<OpenAiTarget> ParseOpenAiTarget(std::string_view s) {
  size_t at = std::string_view::npos;
  for (std::string_view marker : {"@http://", "@https://"}) {
    const size_t p = s.find(marker);
    if (p != std::string_view::npos && p < at) at = p;
  }
  if (at == std::string_view::npos) return TargetError("no \"@http://\" or \"@https://\" found");
  OpenAiTarget t;
  t.model = std::string(s.substr(0, at));
  if (t.model.empty()) return TargetError("the model name is empty");
  if (HasSpaceOrControl(t.model))
    return TargetError("the model name contains spaces or control characters");
  const std::string_view url = s.substr(at + 1);
  if (HasSpaceOrControl(url)) return TargetError("the URL contains spaces or control characters");
  if (url.find_first_of("?#") != std::string_view::npos) {
    return TargetError("the URL must not have a query or fragment");
  }
  const size_t scheme_end = url.find("://");
  const std::string_view scheme = url.substr(0, scheme_end);
  const std::string_view rest = url.substr(scheme_end + 3);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string path(slash == std::string_view::npos ? std::string_view() : rest.substr(slash));
  if (authority.empty()) return TargetError("the URL has no host");
  if (authority.find('@') != std::string_view::npos) {
    return TargetError("credentials in the URL are not supported (set " + std::string(kApiKeyEnv) +
                       " instead)");
  }
  // Host and optional port; IPv6 literals in brackets.
  std::string_view port;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1)
      return TargetError("bad IPv6 host in the URL");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return TargetError("bad host:port in the URL");
      port = after.substr(1);
      if (port.empty()) return TargetError("empty port in the URL");
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon == 0) return TargetError("the URL has no host");
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return TargetError("empty port in the URL");
    }
  }
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      return TargetError("the URL port must be a number 1..65535");
    }
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0)
    path.resize(path.size() - 3);
  while (!path.empty() && path.back() == '/') path.pop_back();
  t.scheme_host_port = std::string(scheme) + "://" + std::string(authority);
  t.path_prefix = path;
  t.display = t.scheme_host_port + t.path_prefix;
  return t;
}

// A pool of idle keep-alive clients: httplib serialises requests on one Client, so concurrent
// Embed() calls each take their own.
struct OpenAiEmbedder::Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;  // guarded by mu
};

OpenAiEmbedder::OpenAiEmbedder(std::string spec, OpenAiTarget target, const EmbedderOptions& opts,
                               std::string api_key)
    : spec_(std::move(spec)),
      target_(std::move(target)),
      opts_(opts),
      api_key_(std::move(api_key)),
      pool_(std::make_unique<Pool>()) {}

OpenAiEmbedder::~OpenAiEmbedder() = default;

Result<std::unique_ptr<OpenAiEmbedder>> OpenAiEmbedder::Create(std::string spec,
                                                               const EmbedderOptions& opts) {
  constexpr std::string_view kPrefix = "openai:";
  if (spec.compare(0, kPrefix.size(), kPrefix) != 0)
    return TargetError("missing \"openai:\" prefix");
  ASSIGN_OR_RETURN(OpenAiTarget target,
                   ParseOpenAiTarget(std::string_view(spec).substr(kPrefix.size())));
  if (!(opts.timeout_seconds > 0) || opts.timeout_seconds > 3600) {
    return InvalidArgumentError("embedder timeout must be in (0, 3600] seconds");
  }
  if (opts.max_retries < 0 || opts.max_retries > 10) {
    return InvalidArgumentError("embedder max_retries must be 0..10");
  }
  if (opts.max_batch < 1 || opts.max_batch > 100000) {
    return InvalidArgumentError("embedder max_batch must be 1..100000");
  }
  if (opts.retry_backoff_seconds < 0 || opts.retry_backoff_max_seconds < 0 ||
      opts.retry_after_max_seconds < 0) {
    return InvalidArgumentError("embedder retry delays must not be negative");
  }
  std::string key;
  if (const char* env = std::getenv(kApiKeyEnv); env != nullptr) key = env;
  // Build one client now so an unusable URL (e.g. https without TLS support) fails here.
  try {
    httplib::Client probe(target.scheme_host_port);
    if (!probe.is_valid()) {
      return InvalidArgumentError("embedder spec: cannot use URL " + target.display);
    }
  } catch (const std::exception&) {
    return InvalidArgumentError("embedder spec: cannot use URL " + target.display);
  }
  return std::unique_ptr<OpenAiEmbedder>(
      new OpenAiEmbedder(std::move(spec), std::move(target), opts, std::move(key)));
}

Result<std::vector<std::vector<float>>> OpenAiEmbedder::Embed(
    const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (size_t begin = 0; begin < texts.size(); begin += opts_.max_batch) {
    const size_t end = std::min(texts.size(), begin + opts_.max_batch);
    ASSIGN_OR_RETURN(auto part, EmbedBatch(texts, begin, end));
    for (auto& v : part) out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<std::vector<float>>> OpenAiEmbedder::EmbedBatch(
    const std::vector<std::string>& texts, size_t begin, size_t end) {
  const std::string who = "embedding server " + target_.display + " (model " + target_.model + ")";
  std::string payload;
  try {
    json input = json::array();
    for (size_t i = begin; i < end; ++i)
      input.push_back(texts[i].empty() ? std::string(" ") : texts[i]);
    json req = {{"model", target_.model}, {"input", std::move(input)}};
    payload = req.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception&) {
    return InternalError(who + ": cannot encode the request");
  }
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);
  const std::string path = target_.path_prefix + "/v1/embeddings";
  const auto timeout = ToMicros(opts_.timeout_seconds);

  auto send_once = [&]() -> Attempt {
    Attempt a;
    std::unique_ptr<httplib::Client> client;
    {
      std::lock_guard<std::mutex> lock(pool_->mu);
      if (!pool_->idle.empty()) {
        client = std::move(pool_->idle.back());
        pool_->idle.pop_back();
      }
    }
    const auto start = std::chrono::steady_clock::now();
    try {
      if (!client) {
        client = std::make_unique<httplib::Client>(target_.scheme_host_port);
        client->set_connection_timeout(timeout);
        client->set_read_timeout(timeout);
        client->set_write_timeout(timeout);
        client->set_keep_alive(true);
        client->set_tcp_nodelay(true);  // headers and body go in separate writes
      }
      httplib::Result res = client->Post(path, headers, payload, "application/json");
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!res) {
        const httplib::Error err = res.error();
        const std::string what = httplib::to_string(err);
        switch (err) {
          case httplib::Error::Connection:
          case httplib::Error::ConnectionTimeout:
          case httplib::Error::SSLConnection:
          case httplib::Error::Write:
            a.kind = Attempt::Kind::kRetry;
            a.status = UnavailableError(who + " is unreachable: " + what);
            break;
          case httplib::Error::Read:
            if (elapsed >= 0.9 * opts_.timeout_seconds) {
              a.kind = Attempt::Kind::kFail;
              a.status = UnavailableError(who + " did not answer within " +
                                          std::to_string(opts_.timeout_seconds) + " s");
            } else {
              a.kind = Attempt::Kind::kRetry;
              a.status = UnavailableError(who + ": connection lost while reading the answer");
            }
            break;
          case httplib::Error::SSLServerVerification:
          case httplib::Error::SSLLoadingCerts:
            a.kind = Attempt::Kind::kFail;
            a.status = UnavailableError(who + ": TLS certificate problem: " + what);
            break;
          default:
            a.kind = Attempt::Kind::kFail;
            a.status = UnavailableError(who + ": request failed: " + what);
            break;
        }
        return a;  // the client is dropped: its connection is in an unknown state
      }
      const int code = res->status;
      if (code >= 200 && code < 300) {
        a.kind = Attempt::Kind::kOk;
        a.body = std::move(res->body);
      } else {
        const std::string server_msg = ServerMessage(res->body);
        const std::string detail = who + " answered HTTP " + std::to_string(code) +
                                   (server_msg.empty() ? "" : ": " + server_msg);
        if (code == 429) {
          a.kind = Attempt::Kind::kRetry;
          a.status = ResourceExhaustedError(detail);
        } else if (code >= 500 && code != 501) {
          a.kind = Attempt::Kind::kRetry;
          a.status = UnavailableError(detail);
        } else if (code == 401) {
          a.status = UnauthenticatedError(detail + " (check " + kApiKeyEnv + ")");
        } else if (code == 403) {
          a.status = PermissionDeniedError(detail);
        } else if (code == 404) {
          a.status = NotFoundError(
              detail + " (is the URL an OpenAI-compatible server and the model served?)");
        } else if (code == 413) {
          a.status = TooLargeError(detail + " (lower the batch size or the chunk size)");
        } else {
          a.status = InvalidArgumentError(detail);
        }
        if (code == 429 || code == 503)
          a.retry_after = ParseRetryAfter(res->get_header_value("Retry-After"));
      }
      std::lock_guard<std::mutex> lock(pool_->mu);
      if (pool_->idle.size() < kMaxIdleClients) pool_->idle.push_back(std::move(client));
    } catch (const std::exception& e) {
      a.kind = Attempt::Kind::kFail;
      a.status = UnavailableError(who + ": request failed: " + e.what());
    }
    return a;
  };

  const int attempts = 1 + opts_.max_retries;
  for (int attempt = 0;; ++attempt) {
    Attempt a = send_once();
    if (a.kind == Attempt::Kind::kOk) {
      const size_t known = dim_.load(std::memory_order_acquire);
      auto parsed = ParseResponse(a.body, end - begin, known, who);
      if (!parsed.ok()) return parsed.status();
      const size_t got = parsed.value().front().size();
      size_t expected = 0;
      if (!dim_.compare_exchange_strong(expected, got, std::memory_order_acq_rel) &&
          expected != got) {
        return InvalidArgumentError(who + " returned " + std::to_string(got) +
                                    "-dimensional vectors but earlier answers had " +
                                    std::to_string(expected) + " (did the model change?)");
      }
      return parsed;
    }
    if (a.kind == Attempt::Kind::kFail) return a.status;
    if (attempt + 1 >= attempts) {
      if (attempts == 1) return a.status;
      return Status(a.status.code(),
                    a.status.message() + " (after " + std::to_string(attempts) + " attempts)");
    }
    double delay = BackoffSeconds(opts_, attempt);
    if (a.retry_after >= 0) delay = std::min(a.retry_after, opts_.retry_after_max_seconds);
    spdlog::warn("{}; retry {}/{} in {} ms", a.status.message(), attempt + 1, opts_.max_retries,
                 static_cast<int64_t>(delay * 1000));
    std::this_thread::sleep_for(ToMicros(delay));
  }
}

Result<std::vector<std::vector<float>>> OpenAiEmbedder::ParseResponse(std::string_view body,
                                                                      size_t n, size_t expected_dim,
                                                                      std::string_view server) {
  const std::string who(server);
  auto bad = [&](const std::string& what) {
    return InvalidArgumentError(who + ": bad answer: " + what);
  };
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("not a JSON object");
  const auto data = j.find("data");
  if (data == j.end() || !data->is_array()) return bad("no \"data\" array");
  if (data->size() != n) {
    return bad(std::to_string(data->size()) + " embeddings for " + std::to_string(n) + " inputs");
  }
  std::vector<std::vector<float>> out(n);
  std::vector<bool> seen(n, false);
  size_t dim = expected_dim;
  for (size_t k = 0; k < n; ++k) {
    const json& item = (*data)[k];
    const std::string at = "data[" + std::to_string(k) + "]";
    if (!item.is_object()) return bad(at + " is not an object");
    const auto idx = item.find("index");
    if (idx == item.end() || !idx->is_number_integer())
      return bad(at + " has no integer \"index\"");
    const int64_t index =
        idx->is_number_unsigned()
            ? static_cast<int64_t>(std::min<uint64_t>(idx->get<uint64_t>(), INT64_MAX))
            : idx->get<int64_t>();
    if (index < 0 || static_cast<uint64_t>(index) >= n) {
      return bad(at + ".index " + std::to_string(index) + " is out of range for " +
                 std::to_string(n) + " inputs");
    }
    if (seen[static_cast<size_t>(index)])
      return bad(at + ".index " + std::to_string(index) + " appears twice");
    seen[static_cast<size_t>(index)] = true;
    const auto emb = item.find("embedding");
    if (emb == item.end()) return bad(at + " has no \"embedding\"");
    if (emb->is_string()) return bad(at + ".embedding is a string (base64?); floats are required");
    if (!emb->is_array()) return bad(at + ".embedding is not an array");
    if (emb->empty()) return bad(at + ".embedding is empty");
    if (dim == 0) {
      dim = emb->size();
    } else if (emb->size() != dim) {
      return bad(at + ".embedding has " + std::to_string(emb->size()) + " values, expected " +
                 std::to_string(dim) +
                 (expected_dim != 0 ? " as in earlier answers (did the model change?)" : ""));
    }
    std::vector<float>& v = out[static_cast<size_t>(index)];
    v.resize(dim);
    bool nonzero = false;
    for (size_t d = 0; d < dim; ++d) {
      const json& x = (*emb)[d];
      if (!x.is_number()) return bad(at + ".embedding[" + std::to_string(d) + "] is not a number");
      const float f = static_cast<float>(x.get<double>());
      if (!std::isfinite(f)) return bad(at + ".embedding[" + std::to_string(d) + "] is not finite");
      nonzero = nonzero || f != 0.0f;
      v[d] = f;
    }
    if (!nonzero) return bad(at + ".embedding is all zeros");
  }
  return out;
}

}  // namespace deepkb::embed
