// KbServer: `deepkb serve` — the HTTP transport. The only file that includes cpp-httplib is
// kb_server.cc; routes are server/http.h functions (routes.h) registered here. For every route
// but the kPublic ones the server authenticates `Authorization: Bearer <key>` (401), checks the
// route's declared permission against the key's role and collection scope (403,
// auth/policy.h), then calls the handler with the caller's Principal.
//
// Every request gets an id (X-Request-Id, kept from the client when short and plain), one log
// line (request id, key id, route name, status, duration; never the key or document text) and
// metrics (server_metrics.h). Before a handler runs: authentication (401), the per-key token
// bucket (429 + Retry-After), authorisation (403), the route's body type (415), and admission
// (503 + Retry-After when too many handlers run already). Limits: server/limits.h and
// ServerOptions.
//
// Lifecycle: Run() blocks until Stop() (called from a signal-handling thread on SIGTERM/SIGINT);
// in-flight requests finish before Run() returns. The caller then destroys the KnowledgeBase,
// which saves the index snapshots.
// Thread safety: handlers run on httplib's worker threads; they only touch the thread-safe
// KnowledgeBase and ApiKeys.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/api_keys.h"
#include "common/status.h"
#include "kb/kb.h"
#include "server/disk_guard.h"
#include "server/http.h"

namespace deepkb::server {

// HTTPS (docs/server.md). With cert_file and key_file set the server speaks only TLS.
struct TlsOptions {
  std::string cert_file;       // PEM certificate chain (leaf first)
  std::string key_file;        // PEM private key matching the certificate
  std::string min_version = "1.3";  // "1.3" (default) or "1.2" (then only ECDHE + AEAD suites)
  std::string client_ca_file;  // PEM CA bundle: when set, clients must present a certificate
                               // signed by it (mutual TLS for node-to-node traffic)
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

class ServerMetrics;

// Limits and timeouts; defaults are documented in docs/server.md and `deepkb serve --help`.
struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  size_t max_body_bytes = 100u << 20;  // larger bodies: 413
  TlsOptions tls;

  // Connections. Each worker thread serves one connection at a time (its keep-alive requests
  // included). Accepted connections wait in a queue of at most max_queued_connections; when it
  // is full, or a connection waited longer than queue_timeout_ms, its request is answered 503
  // with Retry-After by a separate shedding thread instead of waiting.
  int threads = 32;
  int max_queued_connections = 256;
  // Admission: at most max_inflight handlers run at once (0 = 2 × CPU cores, at least 4); up to
  // max_waiting more wait at most queue_timeout_ms for a slot (0 = 4 × max_inflight); the rest
  // get 503 + Retry-After at once. /healthz, /readyz and /metrics bypass admission.
  int max_inflight = 0;
  int max_waiting = 0;
  int queue_timeout_ms = 500;
  // Socket timeouts (slow clients) and keep-alive.
  int read_timeout_s = 10;
  int write_timeout_s = 10;
  int keep_alive_timeout_s = 5;
  int keep_alive_max_requests = 100;
  // Handlers are not interrupted (KB calls are not cancellable and always finish); one that runs
  // longer than this is logged at warn and counted in deepkb_http_slow_requests_total.
  double slow_request_s = 10;
  // Per-key token bucket: rate_limit requests/second, bursts of rate_burst; 0 = no limit
  // (the library default; `deepkb serve` defaults to --rate-limit 100 --rate-burst 200).
  double rate_limit = 0;
  double rate_burst = 200;

  ServerMetrics* metrics = nullptr;  // not owned; null = the server keeps its own

  // Disk guard (server/disk_guard.h): routes with Permission::kWrite, except DELETEs (which
  // free space), get 507 insufficient_storage while the data directory's filesystem is at least
  // this full; reads and admin routes keep working. disk_usage: null = statvfs (tests inject).
  double disk_refuse_writes_at = 0.95;
  DiskGuard::UsageSource disk_usage;
};

class KbServer {
 public:
  // Serves KbRoutes(kb) plus `extra` routes.
  KbServer(kb::KnowledgeBase& kb, auth::ApiKeys& keys, ServerOptions opts,
           std::vector<Route> extra = {});
  ~KbServer();

  // Binds and serves until Stop(). Unavailable when the address cannot be bound.
  Status Run();
  // Binds the port (0 = any free port); returns the bound port. Then call Serve(). With TLS,
  // first reports a missing (NotFound), unreadable (PermissionDenied) or invalid/mismatched
  // (InvalidArgument) certificate, key or client CA file.
  Result<int> Bind();
  Status Serve();
  // Stops accepting; Serve() returns once in-flight requests (and accepted connections) have
  // been answered. Safe to call from any thread, more than once.
  void Stop();

  // Every registered route (for the route × role × scope tests and docs).
  const std::vector<Route>& routes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepkb::server
