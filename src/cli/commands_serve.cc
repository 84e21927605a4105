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
#include "common/log.h"
#include "kb/ingest.h"
#include "server/kb_server.h"

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
  serve->callback([&g, exit_code, listen, samples] {
    if (g.log_level == "warn") g.log_level = "info";  // a server should say what it does
    if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) { *exit_code = Fail(s); return; }
    auto addr = ParseListen(*listen);
    if (!addr.ok()) { *exit_code = Fail(addr.status()); return; }

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

    server::ServerOptions sopts;
    sopts.host = addr->first;
    sopts.port = addr->second;
    sopts.max_body_bytes = static_cast<size_t>(g.max_file_mb) << 20;
    server::KbServer srv(**kb, **keys, sopts);
    auto port = srv.Bind();
    if (!port.ok()) { *exit_code = Fail(port.status()); return; }
    std::printf("deepkb serving on http://%s:%d  (data: %s)\n", sopts.host.c_str(), *port,
                g.data_dir.c_str());
    std::printf("note: data at rest is NOT encrypted in this build\n");
    std::printf("try:  curl -s -H \"Authorization: Bearer $(cat %s)\" http://%s:%d/v1/collections\n",
                key_path.c_str(), sopts.host.c_str(), *port);
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
  });
}

}  // namespace deepkb::cli
