// `deepkb index verify|rebuild`: check the indexes against SQLite, or rebuild them from it.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "cli/app.h"
#include "cli/progress.h"

namespace deepkb::cli {

void RegisterIndexCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* index = app.add_subcommand("index", "verify or rebuild the search indexes");
  index->require_subcommand(1);

  auto* verify = index->add_subcommand(
      "verify",
      "check SQLite integrity, the full-text indexes and the vector indexes against the data "
      "(exit 6 on corruption)");
  verify->callback([&g, exit_code] {
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
  rebuild->callback([&g, exit_code, collection, embedder] {
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
