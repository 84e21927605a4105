// KbServer: `deepkb serve` — the KB node's HTTP API over cpp-httplib (compiled only in
// kb_server.cc). Routes, error shape and auth follow CONTRACT.md; this build serves the
// knowledge-base routes and health checks. Every route except /healthz and /readyz requires
// `Authorization: Bearer <key>`; in this build every valid key is treated as admin (role and
// scope enforcement is the access-control issue's work).
//
// Lifecycle: Run() blocks until Stop() (called from a signal-handling thread on SIGTERM/SIGINT);
// in-flight requests finish before Run() returns.
// Thread safety: handlers run on httplib's worker threads; they only touch the thread-safe
// KnowledgeBase and ApiKeys.
#pragma once

#include <memory>
#include <string>

#include "auth/api_keys.h"
#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  size_t max_body_bytes = 100u << 20;
};

class KbServer {
 public:
  KbServer(kb::KnowledgeBase& kb, auth::ApiKeys& keys, ServerOptions opts);
  ~KbServer();

  // Binds and serves until Stop(). Unavailable when the address cannot be bound.
  Status Run();
  // Binds the port (0 = any free port); returns the bound port. Then call Serve().
  Result<int> Bind();
  Status Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepkb::server
