// `deepkb sync --peer URL --peer-key KEY [--direction push|pull|both] [--collection C ...]
//               [--full] [--ca-file F] [--batch N] [--json]` (docs/sync.md).
// With --server URL (--api-key KEY / env DEEPKB_API_KEY, an admin key) the server holding the
// data directory runs the session (POST /v1/sync/run); otherwise it runs directly on --data-dir
// (lock held shared, so refused while a server holds the directory).
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>

#include "auth/audit.h"
#include "cli/app.h"
#include "sync/replicator.h"

namespace deepkb::cli {
namespace {

struct SyncArgs {
  std::string peer, peer_key, ca_file, client_cert, client_key, direction = "both", server, api_key;
  std::vector<std::string> collections;
  bool full = false, json = false;
  int batch = 200;
};

Result<nlohmann::json> RunRemote(const SyncArgs& a) {
  std::string key = a.api_key;
  if (key.empty() && std::getenv("DEEPKB_API_KEY")) key = std::getenv("DEEPKB_API_KEY");
  if (key.empty()) return InvalidArgumentError("--server needs an admin key: pass --api-key KEY");
  const nlohmann::json body{{"peer", a.peer},           {"peer_key", a.peer_key},
                            {"direction", a.direction}, {"collections", a.collections},
                            {"full", a.full},           {"ca_file", a.ca_file},
                            {"client_cert", a.client_cert}, {"client_key", a.client_key}};
  ASSIGN_OR_RETURN(HttpAnswer ans, CallServer(a.server, key, "POST", "/v1/sync/run", body.dump(),
                                              24 * 3600.0));
  if (ans.status != 200) return StatusFromHttpResponse(ans.status, ans.body);
  auto j = nlohmann::json::parse(ans.body, nullptr, false);
  if (!j.is_object()) return InternalError("the server sent a malformed sync report");
  return j;
}

Result<nlohmann::json> RunLocal(const GlobalOptions& g, const SyncArgs& a) {
  ASSIGN_OR_RETURN(auto dir, sync::ParseDirection(a.direction));
  ASSIGN_OR_RETURN(OpenKb db, OpenDataDir(g));
  sync::SyncOptions o;
  o.peer.url = a.peer;
  o.peer.api_key = a.peer_key;
  o.peer.ca_file = a.ca_file;
  o.peer.client_cert_file = a.client_cert;
  o.peer.client_key_file = a.client_key;
  o.direction = dir;
  o.collections = a.collections;
  o.full = a.full;
  o.batch = a.batch;
  auto r = sync::SyncOnce(*db.kb, o);
  auth::AuditEvent e{0, 0, "cli", "local", "sync.run", a.peer, r.ok() ? "ok" : "error"};
  e.detail = r.ok() ? sync::ReportToJson(*r).dump() : r.status().message();
  if (auto audit = auth::AuditLog::Open(g.data_dir + "/kb.db"); audit.ok()) (*audit)->Record(e);
  if (!r.ok()) return r.status();
  return sync::ReportToJson(*r);
}

void PrintDirection(const char* name, const nlohmann::json& d) {
  if (d.is_null()) return;
  std::cout << name << ": " << d["changes"] << " changes (applied " << d["applied"]
            << ", ignored " << d["ignored"] << ", conflicts " << d["conflicts"] << ", rejected "
            << d["rejected"] << "), checkpoint " << d["from_seq"] << " → " << d["to_seq"] << ", "
            << d["bytes"] << " bytes\n";
  for (const auto& r : d["rejections"]) std::cout << "  rejected " << r.get<std::string>() << "\n";
  // A complete full pull removes what the peer deleted beyond its tombstone horizon.
  if (d.value("pruned", 0) > 0) {
    std::cout << "  pruned " << d["pruned"] << (d["pruned"] == 1 ? " document" : " documents")
              << " the peer deleted beyond its tombstone horizon";
    const auto& ids = d["pruned_ids"];
    for (size_t i = 0; i < ids.size(); ++i) {
      std::cout << (i ? ", " : ": ") << ids[i].get<std::string>();
    }
    std::cout << (d["pruned"].get<int64_t>() > static_cast<int64_t>(ids.size()) ? ", ...\n" : "\n");
  }
}

}  // namespace

void RegisterSyncCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto a = std::make_shared<SyncArgs>();
  CLI::App* s = app.add_subcommand("sync", "synchronise collections with another KB node (docs/sync.md)");
  s->add_option("--peer", a->peer, "the other node's URL, http(s)://host[:port]")->required();
  s->add_option("--peer-key", a->peer_key, "a writer (or admin) API key of the peer")->required();
  s->add_option("--direction", a->direction, "push, pull or both (default both)")
      ->check(CLI::IsMember({"push", "pull", "both"}));
  s->add_option("--collection", a->collections, "only these collections (repeatable)");
  s->add_flag("--full", a->full,
              "start from the beginning of the feed (needed once a checkpoint is behind the "
              "peer's tombstone horizon); a complete full pull also removes documents the peer "
              "deleted beyond its horizon (docs/sync.md)");
  s->add_option("--ca-file", a->ca_file, "PEM bundle to verify an https peer");
  s->add_option("--client-cert", a->client_cert,
                "PEM client certificate for a peer that requires one (--tls-client-ca)");
  s->add_option("--client-key", a->client_key, "the private key of --client-cert");
  s->add_option("--batch", a->batch, "changes per request (1-1000, default 200)");
  s->add_option("--server", a->server, "ask this running server to sync (POST /v1/sync/run)");
  s->add_option("--api-key", a->api_key, "admin API key for --server (env DEEPKB_API_KEY)");
  s->add_flag("--json", a->json, "print the report as JSON");
  s->callback([&g, a, exit_code] {
    auto r = a->server.empty() ? RunLocal(g, *a) : RunRemote(*a);
    if (!r.ok()) {
      *exit_code = Fail(r.status());
      return;
    }
    if (a->json) {
      std::cout << r->dump() << "\n";
    } else {
      std::cout << "synced with node " << (*r)["peer_node"].get<std::string>() << " in "
                << (*r)["seconds"] << " s\n";
      PrintDirection("pull", (*r)["pull"]);
      PrintDirection("push", (*r)["push"]);
    }
    *exit_code = 0;
  });
}

}  // namespace deepkb::cli
