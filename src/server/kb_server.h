// KbServer: `deepkb serve` — the HTTP transport. The only file that includes cpp-httplib is
// kb_server.cc; routes are server/http.h functions (routes.h) registered here. For every route
// but the kPublic ones the server authenticates `Authorization: Bearer <key>` (401), checks the
// route's declared permission against the key's role and collection scope (403,
// auth/policy.h), then calls the handler with the caller's Principal.
//
// Lifecycle: Run() blocks until Stop() (called from a signal-handling thread on SIGTERM/SIGINT);
// in-flight requests finish before Run() returns.
// Thread safety: handlers run on httplib's worker threads; they only touch the thread-safe
// KnowledgeBase and ApiKeys.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/api_keys.h"
#include "common/status.h"
#include "kb/kb.h"
#include "server/http.h"

namespace deepkb::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  size_t max_body_bytes = 100u << 20;
};

class KbServer {
 public:
  // Serves KbRoutes(kb) plus `extra` routes.
  KbServer(kb::KnowledgeBase& kb, auth::ApiKeys& keys, ServerOptions opts,
           std::vector<Route> extra = {});
  ~KbServer();

  // Binds and serves until Stop(). Unavailable when the address cannot be bound.
  Status Run();
  // Binds the port (0 = any free port); returns the bound port. Then call Serve().
  Result<int> Bind();
  Status Serve();
  void Stop();

  // Every registered route (for the route × role × scope tests and docs).
  const std::vector<Route>& routes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepkb::server
