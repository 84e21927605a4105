// The only translation unit that includes cpp-httplib: binds (HTTP or HTTPS), parses requests
// into server/http.h's HttpRequest, authenticates, rate-limits, authorises, admits, and writes
// HttpResponse back; logs and measures every request.
//
// Connection handling (cpp-httplib 0.11 runs one task per accepted connection, keep-alive loop
// included, on the Server's TaskQueue; its default ThreadPool queues without bound): we install
// BoundedTaskQueue, with `threads` workers and at most `max_queued_connections` waiting. A
// connection that finds the queue full, or that waited longer than queue_timeout_ms, is served
// in "shed" mode by a separate small thread pool: its request gets 503 + Retry-After and
// `Connection: close` without reading the body or running a handler. When even the shed queue is
// full, the accept loop blocks (back-pressure to the kernel's listen backlog) so memory stays
// bounded. On Stop(), queued connections are still served and workers drain before Serve()
// returns.
#include "server/kb_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/hash.h"
#include "server/http_error.h"
#include "server/limits.h"
#include "server/routes.h"
#include "server/server_metrics.h"

namespace deepkb::server {

namespace {

using Clock = std::chrono::steady_clock;

// Per-request state shared by the pre-routing handler, Dispatch and the logger, which httplib
// calls on the same worker thread for one request.
struct RequestContext {
  Clock::time_point start{};
  const Route* route = nullptr;
  std::string key_id;
};
thread_local RequestContext t_ctx;
// Set while this thread serves a connection that is to be shed (answered 503 at once).
thread_local bool t_shed = false;

void Apply(const HttpResponse& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  if (!in.stream) {
    out.set_content(in.body, in.content_type);
    return;
  }
  BodyProducer produce = in.stream;
  out.set_chunked_content_provider(in.content_type,
                                   [produce](size_t, httplib::DataSink& sink) {
                                     produce([&sink](std::string_view chunk) {
                                       return chunk.empty() || sink.write(chunk.data(), chunk.size());
                                     });
                                     sink.done();
                                     return true;
                                   });
}

// The error response with a computed Retry-After (HttpResponse::Error's default is 1 s).
HttpResponse ErrorWithRetryAfter(const Status& s, int retry_after_s) {
  HttpResponse r = HttpResponse::Error(s);
  r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(),
                                 [](const auto& h) { return h.first == "Retry-After"; }),
                  r.headers.end());
  r.headers.emplace_back("Retry-After", std::to_string(std::max(1, retry_after_s)));
  return r;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string MimeOf(const std::string& content_type) {
  std::string m = Lower(content_type.substr(0, content_type.find(';')));
  while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back()))) m.pop_back();
  return m;
}

HttpRequest Convert(const httplib::Request& req) {
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  for (size_t i = 1; i < req.matches.size(); ++i) r.params.push_back(req.matches[i].str());
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) r.headers.emplace(Lower(k), v);
  r.body = req.body;
  for (const auto& [field, f] : req.files) {
    r.files.push_back({f.name, f.filename, f.content_type, f.content});
  }
  r.remote_addr = req.remote_addr;
  return r;
}

// A TaskQueue with a bounded wait queue and a shedding lane (see the file comment).
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(size_t workers, size_t max_queued, std::chrono::milliseconds max_wait,
                   ServerMetrics* metrics)
      : max_queued_(std::max<size_t>(1, max_queued)), max_wait_(max_wait), metrics_(metrics) {
    for (size_t i = 0; i < std::max<size_t>(1, workers); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { Shed(); });
  }
  ~BoundedTaskQueue() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    ExpireLocked();
    if (queue_.size() < max_queued_) {
      queue_.push_back({std::move(fn), Clock::now()});
      work_cv_.notify_one();
      return;
    }
    if (metrics_) metrics_->CountRejected("queue_full");
    space_cv_.wait(lock, [&] { return shed_.size() < max_queued_ || shutdown_; });
    shed_.push_back(std::move(fn));
    shed_cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    work_cv_.notify_all();
    shed_cv_.notify_all();
    space_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  struct Job {
    std::function<void()> fn;
    Clock::time_point queued;
  };

  void Work() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return !queue_.empty() || shutdown_; });
        if (queue_.empty()) return;  // shutting down, drained
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      const bool late = max_wait_.count() > 0 && Clock::now() - job.queued > max_wait_;
      if (late && metrics_) metrics_->CountRejected("overloaded");
      t_shed = late;
      job.fn();
      t_shed = false;
    }
  }

  // Moves connections that waited longer than max_wait_ from the work queue to the shed queue
  // (workers held by busy keep-alive connections may not free up for a long time).
  void ExpireLocked() {
    if (max_wait_.count() <= 0) return;
    const auto now = Clock::now();
    while (!queue_.empty() && now - queue_.front().queued > max_wait_) {
      shed_.push_back(std::move(queue_.front().fn));
      queue_.pop_front();
      if (metrics_) metrics_->CountRejected("overloaded");
    }
  }

  void Shed() {
    const auto tick = std::max(std::chrono::milliseconds(5), max_wait_ / 4);
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
          ExpireLocked();
          if (!shed_.empty() || shutdown_) break;
          shed_cv_.wait_for(lock, tick);
        }
        if (shed_.empty()) return;
        fn = std::move(shed_.front());
        shed_.pop_front();
      }
      space_cv_.notify_one();
      t_shed = true;
      fn();
      t_shed = false;
    }
  }

  const size_t max_queued_;
  const std::chrono::milliseconds max_wait_;
  ServerMetrics* metrics_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_cv_, shed_cv_, space_cv_;
  std::deque<Job> queue_;                     // guarded by mu_
  std::deque<std::function<void()>> shed_;    // guarded by mu_
  bool shutdown_ = false;                     // guarded by mu_
};

// --- TLS -----------------------------------------------------------------------------------

std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status CheckReadable(const std::string& path, const std::string& what, const char* flag) {
  if (path.empty()) {
    return InvalidArgumentError(std::string(flag) + " is required for HTTPS (give both " +
                                "--tls-cert and --tls-key)");
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFoundError(what + " file '" + path + "' does not exist (" + flag + ")");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    return PermissionDeniedError("cannot read " + what + " file '" + path + "' (" + flag +
                                 "): " + std::strerror(errno));
  }
  return Status::Ok();
}

Status CheckTls(const TlsOptions& tls) {
  RETURN_IF_ERROR(CheckReadable(tls.cert_file, "TLS certificate", "--tls-cert"));
  RETURN_IF_ERROR(CheckReadable(tls.key_file, "TLS private key", "--tls-key"));
  if (!tls.client_ca_file.empty()) {
    RETURN_IF_ERROR(CheckReadable(tls.client_ca_file, "client CA", "--tls-client-ca"));
  }
  if (tls.min_version != "1.2" && tls.min_version != "1.3") {
    return InvalidArgumentError("--tls-min must be 1.2 or 1.3");
  }
  return Status::Ok();
}

// Configures `ctx`; on failure records why in *err and returns false.
bool SetupSslCtx(SSL_CTX& ctx, const TlsOptions& tls, Status* err) {
  ERR_clear_error();
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE |
                                SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  const bool allow12 = tls.min_version == "1.2";
  SSL_CTX_set_min_proto_version(&ctx, allow12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  if (allow12 &&
      SSL_CTX_set_cipher_list(&ctx,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    *err = InternalError("cannot set the TLS 1.2 cipher suites: " + OpenSslError());
    return false;
  }
  if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert_file.c_str()) != 1) {
    *err = InvalidArgumentError("TLS certificate '" + tls.cert_file +
                                "' (--tls-cert) is not a valid PEM certificate: " + OpenSslError());
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    *err = InvalidArgumentError("TLS private key '" + tls.key_file +
                                "' (--tls-key) is not a valid PEM key or does not match the "
                                "certificate: " + OpenSslError());
    return false;
  }
  if (SSL_CTX_check_private_key(&ctx) != 1) {
    *err = InvalidArgumentError("TLS private key '" + tls.key_file +
                                "' does not match the certificate '" + tls.cert_file +
                                "': " + OpenSslError());
    return false;
  }
  static const unsigned char kSessionContext[] = "deepkb";
  SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof kSessionContext - 1);
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      *err = InvalidArgumentError("client CA '" + tls.client_ca_file +
                                  "' (--tls-client-ca) is not a valid PEM bundle: " +
                                  OpenSslError());
      return false;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(&ctx, names);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return true;
}

}  // namespace

struct KbServer::Impl {
  kb::KnowledgeBase& kb;
  auth::ApiKeys& keys;
  ServerOptions opts;
  std::vector<Route> routes;
  std::unique_ptr<ServerMetrics> own_metrics;
  ServerMetrics* metrics = nullptr;
  std::unique_ptr<httplib::Server> http;
  Status init_status;  // a TLS set-up error, reported by Bind()
  std::atomic<int> listen_fd{-1};  // the listening socket, once bound
  RateLimiter rate;
  ConcurrencyLimiter admission;
  DiskGuard disk;

  static int DefaultInflight() {
    const unsigned hw = std::thread::hardware_concurrency();
    return std::max(4, 2 * static_cast<int>(hw == 0 ? 2 : hw));
  }

  Impl(kb::KnowledgeBase& k, auth::ApiKeys& a, ServerOptions o)
      : kb(k), keys(a), opts(std::move(o)), rate(opts.rate_limit, opts.rate_burst),
        admission(opts.max_inflight > 0 ? opts.max_inflight : DefaultInflight(),
                  opts.max_waiting > 0
                      ? opts.max_waiting
                      : 4 * (opts.max_inflight > 0 ? opts.max_inflight : DefaultInflight()),
                  std::chrono::milliseconds(opts.queue_timeout_ms)),
        disk(k.data_dir(), opts.disk_refuse_writes_at, opts.disk_usage) {
    if (opts.metrics) {
      metrics = opts.metrics;
    } else {
      own_metrics = std::make_unique<ServerMetrics>();
      metrics = own_metrics.get();
    }
    if (opts.tls.enabled()) {
      init_status = CheckTls(opts.tls);
      if (init_status.ok()) {
        Status err;
        auto ssl = std::make_unique<httplib::SSLServer>(
            [&](SSL_CTX& ctx) { return SetupSslCtx(ctx, opts.tls, &err); });
        if (!ssl->is_valid()) {
          init_status = err.ok() ? InternalError("TLS set-up failed: " + OpenSslError()) : err;
        }
        http = std::move(ssl);
      }
    }
    if (!http) http = std::make_unique<httplib::Server>();
  }

  void Register();
  Result<auth::Principal> Authenticate(const httplib::Request& req);
  void Dispatch(const Route& route, const httplib::Request& req, httplib::Response& res);
  HttpResponse Admit(const Route& route, const HttpRequest& hr);
};

Result<auth::Principal> KbServer::Impl::Authenticate(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (h.size() <= prefix.size() || h.compare(0, prefix.size(), prefix) != 0) {
    return UnauthenticatedError(
        "missing API key; send 'Authorization: Bearer <key>' (the first admin key is in "
        "<data-dir>/admin.key)");
  }
  ASSIGN_OR_RETURN(auth::KeyInfo info, keys.Verify(h.substr(prefix.size())));
  auth::Principal p;
  p.key_id = info.id;
  auto role = auth::ParseRole(info.role);
  p.role = role.ok() ? *role : auth::Role::kGuest;  // an unknown stored role gets nothing
  p.collections = info.collections;
  return p;
}

// Body type check, admission, then the handler (with the slow-handler policy).
HttpResponse KbServer::Impl::Admit(const Route& route, const HttpRequest& hr) {
  const bool has_body = !hr.body.empty() || !hr.files.empty();
  if (has_body && route.body != RequestBody::kAny) {
    const std::string mime = MimeOf(hr.Header("content-type"));
    if (route.body == RequestBody::kJson && mime != "application/json") {
      return HttpResponse::Error(UnsupportedMediaError(
          "this endpoint takes a JSON body: send 'Content-Type: application/json' (got '" +
          (mime.empty() ? std::string("none") : mime) + "')"));
    }
    if (route.body == RequestBody::kMultipart && mime != "multipart/form-data") {
      return HttpResponse::Error(UnsupportedMediaError(
          "this endpoint takes file uploads: send multipart/form-data (e.g. curl -F "
          "file=@guide.md); got '" + (mime.empty() ? std::string("none") : mime) + "'"));
    }
  }
  const bool bypass = route.permission == auth::Permission::kPublic || route.name == "/metrics" ||
                      !route.server_admission;
  if (bypass) return route.handler(hr);
  switch (admission.Acquire()) {
    case ConcurrencyLimiter::Outcome::kAdmitted: break;
    case ConcurrencyLimiter::Outcome::kQueueFull:
    case ConcurrencyLimiter::Outcome::kTimedOut:
      metrics->CountRejected("overloaded");
      return ErrorWithRetryAfter(
          UnavailableError("server overloaded: too many requests in progress; retry later"), 1);
  }
  struct Release {
    ConcurrencyLimiter& c;
    ServerMetrics& m;
    ~Release() {
      c.Release();
      m.SetInFlight(c.in_flight());
    }
  } release{admission, *metrics};
  metrics->SetInFlight(admission.in_flight());
  const auto t0 = Clock::now();
  HttpResponse out = route.handler(hr);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (opts.slow_request_s > 0 && secs > opts.slow_request_s) {
    metrics->CountSlow(route.name);
    spdlog::warn("slow request id={} route={} handler ran {:.1f}s (limit {}s)", hr.request_id,
                 route.name, secs, opts.slow_request_s);
  }
  return out;
}

void KbServer::Impl::Dispatch(const Route& route, const httplib::Request& req,
                              httplib::Response& res) {
  t_ctx.route = &route;
  HttpRequest hr = Convert(req);
  hr.request_id = res.get_header_value("X-Request-Id");
  if (route.permission != auth::Permission::kPublic) {
    auto p = Authenticate(req);
    if (!p.ok()) {
      keys.audit().Record(AuthFailureEvent(hr, route, p.status(), std::string()));
      return Apply(HttpResponse::Error(p.status()), res);
    }
    t_ctx.key_id = p->key_id;
    int retry_after = 1;
    if (!rate.Allow(p->key_id, &retry_after)) {
      metrics->CountRejected("rate_limited");
      return Apply(ErrorWithRetryAfter(
                       ResourceExhaustedError(
                           "rate limit exceeded for this API key (" +
                           std::to_string(static_cast<int>(rate.rate())) + " requests/s, burst " +
                           std::to_string(static_cast<int>(rate.burst())) + "); retry after " +
                           std::to_string(retry_after) + " s"),
                       retry_after),
                   res);
    }
    const std::string collection =
        route.collection_param > 0 && static_cast<size_t>(route.collection_param) <= hr.params.size()
            ? hr.params[route.collection_param - 1]
            : std::string();
    if (Status s = auth::Authorize(*p, route.permission, collection); !s.ok()) {
      spdlog::info("request_id={} key={} denied {} {}: {}", hr.request_id, p->key_id, req.method,
                   route.name, s.message());
      keys.audit().Record(AuthFailureEvent(hr, route, s, p->key_id));
      return Apply(HttpResponse::Error(s), res);
    }
    if (route.permission == auth::Permission::kWrite && route.method != "DELETE") {
      if (Status s = disk.CheckWrite(); !s.ok()) {
        metrics->CountRejected("disk_full");
        return Apply(HttpResponse::Error(s), res);
      }
    }
    hr.principal = std::move(*p);
  }
  Apply(Admit(route, hr), res);
}

void KbServer::Impl::Register() {
  // The listening socket: SO_REUSEADDR (a restart may bind while old connections sit in
  // TIME_WAIT) but not httplib's default SO_REUSEPORT, with which a second server on the same
  // port would bind silently and share the traffic. The fd is kept to raise the backlog.
  http->set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd.store(sock);
  });
  http->set_payload_max_length(opts.max_body_bytes);
  http->set_read_timeout(std::max(1, opts.read_timeout_s), 0);
  http->set_write_timeout(std::max(1, opts.write_timeout_s), 0);
  http->set_keep_alive_timeout(std::max(1, opts.keep_alive_timeout_s));
  http->set_keep_alive_max_count(static_cast<size_t>(std::max(1, opts.keep_alive_max_requests)));
  http->set_tcp_nodelay(true);
  {
    const size_t threads = static_cast<size_t>(std::max(1, opts.threads));
    const size_t queued = static_cast<size_t>(std::max(1, opts.max_queued_connections));
    const auto wait = std::chrono::milliseconds(opts.queue_timeout_ms);
    ServerMetrics* m = metrics;
    http->new_task_queue = [threads, queued, wait, m] {
      return new BoundedTaskQueue(threads, queued, wait, m);
    };
  }

  // Request ids for every request (a client-supplied one is kept when it is short and plain);
  // shed connections are answered here, before the body is read or a handler runs.
  // Compressed request bodies: cpp-httplib inflates them before any handler runs and applies the
  // body limit to the compressed bytes only, so a small gzip "bomb" could inflate to gigabytes.
  // They are therefore accepted only where a peer needs them (POST /v1/sync/apply) and only from
  // a key that may write there (checked here, before the body is read); elsewhere 415.
  http->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{Clock::now(), nullptr, {}};
    std::string rid = req.get_header_value("X-Request-Id");
    const bool plain = !rid.empty() && rid.size() <= 64 &&
                       std::all_of(rid.begin(), rid.end(), [](unsigned char c) {
                         return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                       });
    res.set_header("X-Request-Id", plain ? rid : RandomHex(8));
    if (t_shed) {
      Apply(ErrorWithRetryAfter(
                UnavailableError("server overloaded: too many connections waiting; retry later"),
                1),
            res);
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::string encoding = Lower(req.get_header_value("Content-Encoding"));
    if (!encoding.empty() && encoding != "identity") {
      Status refused;
      if (req.method != "POST" || req.path != "/v1/sync/apply") {
        refused = UnsupportedMediaError(
            "Content-Encoding '" + encoding.substr(0, 32) +
            "' is accepted only on POST /v1/sync/apply; send this request uncompressed");
      } else if (auto p = Authenticate(req); !p.ok()) {
        refused = p.status();
      } else if (p->role != auth::Role::kAdmin && p->role != auth::Role::kWriter) {
        refused = PermissionDeniedError("compressed sync batches need a writer or admin key");
      }
      if (!refused.ok()) {
        Apply(HttpResponse::Error(refused), res);
        res.set_header("Connection", "close");  // the unread body must not be parsed as a request
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // One line per request: never the key (only its id), never the body.
  http->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const std::string_view route = t_ctx.route ? std::string_view(t_ctx.route->name)
                                               : std::string_view("unrouted");
    const double secs = t_ctx.start == Clock::time_point{}
                            ? 0.0
                            : std::chrono::duration<double>(Clock::now() - t_ctx.start).count();
    metrics->ObserveRequest(route, res.status, secs);
    spdlog::info("request id={} key={} method={} route={} status={} duration_ms={:.2f}",
                 res.get_header_value("X-Request-Id"),
                 t_ctx.key_id.empty() ? std::string("-") : t_ctx.key_id, req.method, route,
                 res.status, secs * 1000);
    t_ctx = RequestContext{};
  });
  http->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        Apply(HttpResponse::Error(InternalError("unexpected error while handling the request")),
              res);
      });
  http->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      res.set_content(ErrorBody(NotFoundError("no route for " + req.method + " " + req.path)),
                      "application/json");
    } else if (res.status == 413) {
      res.set_content(ErrorBody(TooLargeError("request body too large")), "application/json");
    } else if (res.status == 400) {
      res.set_content(ErrorBody(InvalidArgumentError("malformed request")), "application/json");
    }
  });

  for (const Route& route : routes) {
    const Route* rt = &route;
    auto h = [this, rt](const httplib::Request& req, httplib::Response& res) {
      Dispatch(*rt, req, res);
    };
    if (route.method == "GET") {
      http->Get(route.pattern, h);
    } else if (route.method == "POST") {
      http->Post(route.pattern, h);
    } else if (route.method == "PUT") {
      http->Put(route.pattern, h);
    } else if (route.method == "DELETE") {
      http->Delete(route.pattern, h);
    } else if (route.method == "PATCH") {
      http->Patch(route.pattern, h);
    } else {
      spdlog::error("route {} has unsupported method {}; not registered", route.name, route.method);
    }
  }
}

KbServer::KbServer(kb::KnowledgeBase& kb, auth::ApiKeys& keys, ServerOptions opts,
                   std::vector<Route> extra)
    : impl_(std::make_unique<Impl>(kb, keys, std::move(opts))) {
  impl_->routes = KbRoutes(kb, &keys.audit());
  for (auto& r : AdminRoutes(keys)) impl_->routes.push_back(std::move(r));
  for (auto& r : BackupRoutes(kb, &keys.audit())) impl_->routes.push_back(std::move(r));
  for (auto& r : DoctorRoutes(kb, impl_->disk)) impl_->routes.push_back(std::move(r));
  for (auto& r : UploadRoutes(kb)) impl_->routes.push_back(std::move(r));
  for (auto& r : SyncRoutes(kb, &keys.audit())) impl_->routes.push_back(std::move(r));
  for (auto& r : UiRoutes()) impl_->routes.push_back(std::move(r));
  {
    Impl* impl = impl_.get();
    // Permission::kAdmin: the exposition names every collection and its size (docs/server.md
    // explains how Prometheus sends an admin key from a bearer-token file).
    impl_->routes.push_back({"GET", "/metrics", "/metrics", auth::Permission::kAdmin, 0,
                             [impl](const HttpRequest&) {
                               HttpResponse r;
                               r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                               r.body = impl->metrics->Scrape(impl->kb, impl->kb.data_dir());
                               return r;
                             }});
  }
  for (auto& r : extra) impl_->routes.push_back(std::move(r));
  impl_->Register();
}

KbServer::~KbServer() = default;

const std::vector<Route>& KbServer::routes() const { return impl_->routes; }

Result<int> KbServer::Bind() {
  RETURN_IF_ERROR(impl_->init_status);
  int port = impl_->opts.port;
  if (port == 0) {
    port = impl_->http->bind_to_any_port(impl_->opts.host);
    if (port <= 0) return UnavailableError("cannot bind " + impl_->opts.host);
  } else if (!impl_->http->bind_to_port(impl_->opts.host, port)) {
    return UnavailableError("cannot listen on " + impl_->opts.host + ":" + std::to_string(port) +
                            " (in use by another process?); choose another with --listen");
  }
  // cpp-httplib listens with a backlog of 5: a burst of reconnecting clients would see dropped
  // SYNs and 1 s retransmits (bench/gateway/README.md). Listening again raises it.
  if (const int fd = impl_->listen_fd.load(); fd >= 0) ::listen(fd, SOMAXCONN);
  return port;
}

Status KbServer::Serve() {
  RETURN_IF_ERROR(impl_->init_status);
  if (!impl_->http->listen_after_bind()) return InternalError("HTTP server stopped unexpectedly");
  return Status::Ok();
}

Status KbServer::Run() {
  RETURN_IF_ERROR(Bind().status());
  return Serve();
}

void KbServer::Stop() { impl_->http->stop(); }

}  // namespace deepkb::server
