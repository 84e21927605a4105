// `deepkb serve`: runs the KB node's HTTP API on the data directory (held exclusively).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <thread>

#include "auth/api_keys.h"
#include "cli/app.h"
#include "cli/gateway_flags.h"
#include "common/log.h"
#include "kb/ingest.h"
#include "server/kb_server.h"
#include "server/routes.h"
#include "server/server_metrics.h"
#include "sync/scheduler.h"

namespace deepkb::cli {

namespace {

Result<std::pair<std::string, int>> ParseListen(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgumentError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  }
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(s.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return InvalidArgumentError("--listen port must be 0-65535");
  return std::make_pair(host, port);
}

Status WriteSecretFile(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return PermissionDeniedError("cannot write " + path);
  ::fchmod(fd, 0600);
  const std::string line = content + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  return ok ? Status::Ok() : InternalError("short write to " + path);
}

Status EnsureSampleCollection(kb::KnowledgeBase& kb, const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    return InvalidArgumentError("--sample-collection must be NAME=FOLDER, e.g. docs=docs");
  }
  const std::string name = spec.substr(0, eq), folder = spec.substr(eq + 1);
  if (kb.GetCollection(name).ok()) return Status::Ok();  // only on first start
  if (!std::filesystem::is_directory(folder)) {
    return NotFoundError("sample folder '" + folder + "' does not exist");
  }
  RETURN_IF_ERROR(kb.CreateCollection({.name = name}).status());
  kb::IngestOptions opts;
  opts.collection = name;
  opts.recursive = true;
  ASSIGN_OR_RETURN(auto report, kb::IngestPaths(kb, {folder}, opts));
  std::printf("created sample collection '%s' from %s/: %lld documents, %lld chunks\n",
              name.c_str(), folder.c_str(), static_cast<long long>(report.added),
              static_cast<long long>(report.chunks));
  for (const auto& f : report.failed) spdlog::warn("sample ingest failed: {}: {}", f.path, f.error);
  return Status::Ok();
}

}  // namespace

void RegisterServeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* serve = app.add_subcommand(
      "serve",
      "run the KB node's HTTP API (binds 127.0.0.1 unless told otherwise; every route but "
      "/healthz and /readyz needs an API key; the first admin key is written to "
      "<data-dir>/admin.key)");
  auto listen = std::make_shared<std::string>("127.0.0.1:8080");
  auto samples = std::make_shared<std::vector<std::string>>();
  serve->add_option("--listen", *listen, "HOST:PORT to listen on")->capture_default_str();
  serve->add_option("--sample-collection", *samples,
                    "NAME=FOLDER: on first start, create collection NAME from FOLDER");
  // Server options (docs/server.md); defaults from server::ServerOptions.
  auto so = std::make_shared<server::ServerOptions>();
  so->rate_limit = 100;  // the server's default; the library's is "no limit"
  so->rate_burst = 200;
  serve->add_option("--tls-cert", so->tls.cert_file, "PEM certificate chain: serve HTTPS only");
  serve->add_option("--tls-key", so->tls.key_file, "PEM private key of --tls-cert");
  serve->add_option("--tls-min", so->tls.min_version,
                    "lowest TLS version: 1.3, or 1.2 (ECDHE with AES-GCM/ChaCha20 only)")
      ->check(CLI::IsMember({"1.2", "1.3"}))
      ->capture_default_str();
  serve->add_option("--tls-client-ca", so->tls.client_ca_file,
                    "PEM CA bundle: require client certificates signed by it (mutual TLS)");
  serve->add_option("--rate-limit", so->rate_limit,
                    "requests per second per API key (token bucket); 0 = unlimited")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  serve->add_option("--rate-burst", so->rate_burst, "token bucket size per API key")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  serve->add_option("--max-inflight", so->max_inflight,
                    "handlers running at once; 0 = 2 x CPU cores (at least 4)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  serve->add_option("--max-waiting", so->max_waiting,
                    "requests waiting for a handler slot; beyond: 503 at once; 0 = 4 x --max-inflight")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve->add_option("--queue-timeout-ms", so->queue_timeout_ms,
                    "longest wait for a handler slot or a worker thread before 503")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  serve->add_option("--http-threads", so->threads,
                    "connection worker threads (each serves one keep-alive connection at a time)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  serve->add_option("--max-queued-connections", so->max_queued_connections,
                    "accepted connections waiting for a worker; beyond: 503 at once")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve->add_option("--read-timeout", so->read_timeout_s, "socket read timeout, seconds")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve->add_option("--write-timeout", so->write_timeout_s, "socket write timeout, seconds")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve->add_option("--keep-alive-timeout", so->keep_alive_timeout_s,
                    "idle keep-alive connection timeout, seconds")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve->add_option("--slow-request", so->slow_request_s,
                    "handler time (seconds) after which a request is logged and counted as slow")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  serve->add_option("--disk-refuse-writes-at", so->disk_refuse_writes_at,
                    "refuse document and collection writes (HTTP 507) while the data "
                    "directory's disk is at least this full (a fraction in (0, 1]); reads and "
                    "deletes keep working")
      ->check(CLI::Range(0.000001, 1.0))
      ->capture_default_str();
  // Scheduled sync and the tombstone purge (docs/sync.md).
  auto sync_peers = std::make_shared<std::vector<std::string>>();
  auto horizon = std::make_shared<std::string>("30d");
  serve->add_option("--sync-peer", *sync_peers,
                    "sync with another KB node on a schedule (repeatable): URL,key-file=F"
                    "[,key-env=VAR][,ca=F][,cert=F,cert-key=F][,direction=push|pull|both][,collection=C]..."
                    "[,interval=DURATION] (default interval 24h; e.g. 15m)");
  serve->add_option("--tombstone-horizon", *horizon,
                    "purge delete markers older than this (daily); peers must sync within it "
                    "(DURATION like 30d, or 0 = never purge)")
      ->capture_default_str();
  auto gw_flags = std::make_shared<GatewayFlags>();
  AddGatewayFlags(serve, *gw_flags);
  serve->callback([&g, exit_code, listen, samples, so, gw_flags, sync_peers, horizon] {
    if (g.log_level == "warn") g.log_level = "info";  // a server should say what it does
    if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) { *exit_code = Fail(s); return; }
    auto addr = ParseListen(*listen);
    if (!addr.ok()) { *exit_code = Fail(addr.status()); return; }
    auto gw_config = GatewayConfigFrom(*gw_flags);
    if (!gw_config.ok()) { *exit_code = Fail(gw_config.status()); return; }
    sync::SchedulerOptions sync_opts;
    for (const auto& spec : *sync_peers) {
      auto peer = sync::ParsePeerSpec(spec);
      if (!peer.ok()) { *exit_code = Fail(peer.status()); return; }
      sync_opts.peers.push_back(std::move(peer).value());
    }
    if (*horizon == "0") {
      sync_opts.tombstone_horizon_ms = 0;
    } else {
      auto ms = auth::ParseDuration(*horizon);
      if (!ms.ok()) { *exit_code = Fail(ms.status().WithContext("--tombstone-horizon")); return; }
      sync_opts.tombstone_horizon_ms = *ms;
    }

    // Block the signals in every thread; one thread waits for them and stops the server.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    auto lock = DirLock::Acquire(g.data_dir, DirLock::Mode::kExclusive);
    if (!lock.ok()) { *exit_code = Fail(lock.status()); return; }
    kb::KbOptions kopts;
    kopts.parse.max_bytes = static_cast<size_t>(g.max_file_mb) << 20;
    auto data_key = UnlockDataDir(g);
    if (!data_key.ok()) { *exit_code = Fail(data_key.status()); return; }
    kopts.data_key = *data_key;
    server::ServerMetrics metrics;  // outlives the KnowledgeBase that reports into it
    metrics.HookKb(kopts);
    auto kb = kb::KnowledgeBase::Open(g.data_dir, kopts);
    if (!kb.ok()) { *exit_code = Fail(kb.status()); return; }
    auto keys = auth::ApiKeys::Open(g.data_dir + "/kb.db");
    if (!keys.ok()) { *exit_code = Fail(keys.status()); return; }
    auto count = (*keys)->Count();
    if (!count.ok()) { *exit_code = Fail(count.status()); return; }
    const std::string key_path = g.data_dir + "/admin.key";
    if (*count == 0) {
      auto key = (*keys)->Create("admin", {}, 0);
      if (!key.ok()) { *exit_code = Fail(key.status()); return; }
      if (Status s = WriteSecretFile(key_path, *key); !s.ok()) { *exit_code = Fail(s); return; }
      std::printf("first start: admin API key written to %s (mode 0600)\n", key_path.c_str());
    }
    for (const auto& spec : *samples) {
      if (Status s = EnsureSampleCollection(**kb, spec); !s.ok()) { *exit_code = Fail(s); return; }
    }

    server::ServerOptions sopts = *so;
    sopts.metrics = &metrics;
    sopts.host = addr->first;
    sopts.port = addr->second;
    sopts.max_body_bytes = static_cast<size_t>(g.max_file_mb) << 20;
    // The gateway: /v1/models, /v1/chat/completions, /v1/embeddings (docs/gateway.md).
    auto gw = gateway::Gateway::Create(std::move(*gw_config), kb->get(), &metrics.registry());
    if (!gw.ok()) { *exit_code = Fail(gw.status()); return; }
    // Scheduled sync: joined below before the KnowledgeBase goes.
    auto scheduler = std::make_unique<sync::SyncScheduler>(**kb, std::move(sync_opts),
                                                           &metrics.registry());
    auto routes = (*gw)->Routes(&(*keys)->audit());
    for (auto& r : server::SyncStatusRoutes(scheduler.get())) routes.push_back(std::move(r));
    auto srv_owner = std::make_unique<server::KbServer>(**kb, **keys, sopts, std::move(routes));
    server::KbServer& srv = *srv_owner;
    auto port = srv.Bind();
    if (!port.ok()) { *exit_code = Fail(port.status()); return; }
    const char* scheme = sopts.tls.enabled() ? "https" : "http";
    std::printf("deepkb serving on %s://%s:%d  (data: %s)\n", scheme, sopts.host.c_str(), *port,
                g.data_dir.c_str());
    if (sopts.tls.enabled()) {
      std::printf("TLS %s+%s\n", sopts.tls.min_version.c_str(),
                  sopts.tls.client_ca_file.empty() ? "" : ", client certificates required");
    }
    if (kopts.data_key) {
      std::printf("data at rest is encrypted (AES-256-GCM; keyring %s/keyring)\n",
                  g.data_dir.c_str());
      spdlog::info("data at rest is encrypted (AES-256-GCM)");
    } else {
      std::printf("note: data at rest is NOT encrypted; pass --key-file\n");
      spdlog::warn("data at rest is NOT encrypted; pass --key-file");
    }
    if ((*gw)->has_upstreams()) {
      std::printf("LLM gateway: %zu upstream(s), %zu knowledge alias(es)\n",
                  (*gw)->config().upstreams.size(), (*gw)->config().aliases.size());
    } else {
      std::printf("LLM gateway: no --upstream configured; chat answers are extractive\n");
    }
    if (!scheduler->Status().empty()) {
      std::printf("sync: %zu peer(s) scheduled (GET /v1/sync/status)\n", scheduler->Status().size());
    }
    scheduler->Start();
    std::printf("try:  curl -s -H \"Authorization: Bearer $(cat %s)\" %s://%s:%d/v1/collections\n",
                key_path.c_str(), scheme, sopts.host.c_str(), *port);
    std::fflush(stdout);
    std::atomic<bool> served{false};
    std::thread waiter([&srv, &served, set] {
      int sig = 0;
      sigwait(&set, &sig);
      if (served.load()) return;  // woken because the server already stopped
      spdlog::info("signal {} received: draining in-flight requests and stopping", sig);
      // A signal can arrive before Serve() has entered its accept loop, when Stop() would be a
      // no-op; keep asking until Serve() has returned.
      while (!served.load()) {
        srv.Stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    Status s = srv.Serve();
    served.store(true);
    // Wake the waiter if the server stopped for another reason.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    if (!s.ok()) *exit_code = Fail(s);
    // Shutdown order: every accepted request has been answered (Serve() drained the workers);
    // the sync scheduler stops (a session in flight is cut; it resumes from its checkpoint next
    // start), the server goes, then the KnowledgeBase, whose destructor writes the index
    // snapshots, then the keys, and the data-directory lock last.
    scheduler->Stop();
    srv_owner.reset();
    scheduler.reset();
    gw->reset();
    spdlog::info("requests drained; saving index snapshots");
    kb->reset();
    spdlog::info("stopped");
  });
}

}  // namespace deepkb::cli
