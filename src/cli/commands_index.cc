// `deepkb index verify|rebuild`: check the indexes against SQLite, or rebuild them from it.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/app.h"
#include "cli/progress.h"

namespace deepkb::cli {

namespace {

struct ServerFlags {
  std::string server, api_key;
};

void AddServerFlags(CLI::App* cmd, ServerFlags& f) {
  if (const char* env = std::getenv("DEEPKB_API_KEY"); env) f.api_key = env;
  cmd->add_option("--server", f.server,
                  "run on this server (admin key) instead of --data-dir; it keeps serving");
  cmd->add_option("--api-key", f.api_key, "admin API key for --server (env DEEPKB_API_KEY)");
}

// The JSON of a 2xx answer of the admin route, else the server's error as a Status.
Result<nlohmann::json> Admin(const ServerFlags& f, const std::string& method,
                             const std::string& path, const std::string& body) {
  if (f.api_key.empty()) {
    return InvalidArgumentError("--server needs an admin API key: --api-key or DEEPKB_API_KEY");
  }
  // No read timeout worth the name: a rebuild re-embeds every chunk of the collection.
  ASSIGN_OR_RETURN(HttpAnswer a, CallServer(f.server, f.api_key, method, path, body, 3600));
  if (a.status < 200 || a.status >= 300) return StatusFromHttpResponse(a.status, a.body);
  auto j = nlohmann::json::parse(a.body, nullptr, false);
  if (j.is_discarded()) return InternalError("server answered with a body that is not JSON");
  return j;
}

}  // namespace

void RegisterIndexCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* index = app.add_subcommand("index", "verify or rebuild the search indexes");
  index->require_subcommand(1);
  auto sf = std::make_shared<ServerFlags>();

  auto* verify = index->add_subcommand(
      "verify",
      "check SQLite integrity, the full-text indexes and the vector indexes against the data "
      "(exit 6 on corruption)");
  AddServerFlags(verify, *sf);
  verify->callback([&g, exit_code, sf] {
    if (!sf->server.empty()) {
      auto r = Admin(*sf, "GET", "/v1/admin/index/verify", "");
      if (!r.ok()) { *exit_code = Fail(r.status()); return; }
      std::printf("ok: database, full-text and vector indexes are consistent (server)\n");
      return;
    }
    auto db = OpenDataDir(g);
    if (!db.ok()) { *exit_code = Fail(db.status()); return; }
    Status s = db->kb->Verify();
    if (!s.ok()) { *exit_code = Fail(s); return; }
    std::printf("ok: database, full-text and vector indexes are consistent\n");
  });

  auto* rebuild = index->add_subcommand(
      "rebuild",
      "rebuild a collection's full-text and vector indexes from SQLite, re-embedding every "
      "chunk (with --embedder, switch the collection to another embedder)");
  auto collection = std::make_shared<std::string>();
  auto embedder = std::make_shared<std::string>();
  rebuild->add_option("--collection,-c", *collection, "collection to rebuild")->required();
  rebuild->add_option("--embedder", *embedder,
                      "new embedder: ngram-hash[:DIM] | openai:MODEL@URL (default: keep)");
  AddServerFlags(rebuild, *sf);
  rebuild->callback([&g, exit_code, collection, embedder, sf] {
    if (!sf->server.empty()) {
      nlohmann::json body{{"collection", *collection}};
      if (!embedder->empty()) body["embedder"] = *embedder;
      auto r = Admin(*sf, "POST", "/v1/admin/index/rebuild", body.dump());
      if (!r.ok()) { *exit_code = Fail(r.status()); return; }
      std::printf("rebuilt collection '%s' online: %lld chunks, embedder %s (%d dimensions)\n",
                  r->value("collection", "").c_str(), r->value("chunks", 0LL),
                  r->value("embedder", "").c_str(), r->value("dim", 0));
      return;
    }
    auto db = OpenDataDir(g);
    if (!db.ok()) { *exit_code = Fail(db.status()); return; }
    ProgressBar bar(ProgressBar::StderrIsTerminal());
    Status s = db->kb->RebuildIndexes(*collection, *embedder, [&bar](size_t done, size_t total) {
      bar.Update(done, total, "chunks embedded", "");
    });
    bar.Finish();
    if (!s.ok()) { *exit_code = Fail(s); return; }
    auto c = db->kb->GetCollection(*collection);
    if (!c.ok()) { *exit_code = Fail(c.status()); return; }
    std::printf("rebuilt collection '%s': %lld chunks, embedder %s (%d dimensions)\n",
                c->name.c_str(), static_cast<long long>(c->chunks), c->embedder.c_str(), c->dim);
  });
}

}  // namespace deepkb::cli
