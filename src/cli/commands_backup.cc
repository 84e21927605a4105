// `deepkb backup DEST` and `deepkb restore SRC` (docs/backup.md; ops/backup.h).
//   backup: with --server URL (--api-key KEY / env DEEPKB_API_KEY, an admin key) the server
//           writes the backup to DEST on its own machine (POST /v1/admin/backup) while it keeps
//           serving; otherwise directly on --data-dir (lock held shared, so refused while a
//           server holds the directory). Prints the manifest with --json.
//   restore: verifies SRC (checksums, then KnowledgeBase::Open + Verify on a staging copy with
//           the master key of --key-file / DEEPKB_PASSPHRASE when encrypted) and swaps it in
//           for --data-dir. Refuses a directory a server holds, and a non-empty one without
//           --force (the old contents are kept as <data-dir>.old-<ms> unless --remove-old).
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "auth/audit.h"
#include "cli/app.h"
#include "cli/progress.h"
#include "ops/backup.h"

namespace deepkb::cli {
namespace {

struct BackupArgs {
  std::string dest, server, api_key;
  bool json = false;
};

Result<ops::BackupManifest> RemoteBackup(const BackupArgs& a) {
  std::string key = a.api_key;
  if (key.empty() && std::getenv("DEEPKB_API_KEY")) key = std::getenv("DEEPKB_API_KEY");
  if (key.empty()) return InvalidArgumentError("--server needs an admin key: pass --api-key KEY");
  httplib::Client c(a.server);
  if (!c.is_valid()) return InvalidArgumentError("cannot use server URL '" + a.server + "'");
  c.set_bearer_token_auth(key.c_str());
  c.set_read_timeout(24 * 3600, 0);  // a large backup takes as long as it takes
  const nlohmann::json body{{"dest", a.dest}};
  auto res = c.Post("/v1/admin/backup", body.dump(), "application/json");
  if (!res) {
    return UnavailableError("cannot reach " + a.server + ": " + httplib::to_string(res.error()));
  }
  if (res->status != 201) return StatusFromHttpResponse(res->status, res->body);
  return ops::ParseManifest(res->body);
}

Result<ops::BackupManifest> LocalBackup(const GlobalOptions& g, const std::string& dest) {
  ASSIGN_OR_RETURN(OpenKb db, OpenDataDir(g));
  ProgressBar bar(ProgressBar::StderrIsTerminal());
  auto m = ops::CreateBackup(*db.kb, dest, [&](int64_t done, int64_t total) {
    bar.Update(done, total, "pages", "kb.db");
  });
  bar.Finish();
  auth::AuditEvent e{0, 0, "cli", "local", "backup.create", dest, m.ok() ? "ok" : "error"};
  e.detail = m.ok() ? "covered_seq=" + std::to_string(m->covered_seq) : m.status().message();
  if (auto audit = auth::AuditLog::Open(g.data_dir + "/kb.db"); audit.ok()) (*audit)->Record(e);
  return m;
}

// The master key named by --key-file, else env DEEPKB_PASSPHRASE; none → nullopt.
Result<std::optional<crypto::MasterKey>> MasterFromOptions(const GlobalOptions& g) {
  if (!g.key_file.empty()) {
    ASSIGN_OR_RETURN(auto m, crypto::MasterKey::FromKeyFile(g.key_file));
    return std::optional(std::move(m));
  }
  if (const char* p = std::getenv("DEEPKB_PASSPHRASE"); p && *p) {
    ASSIGN_OR_RETURN(auto m, crypto::MasterKey::FromPassphrase(p));
    return std::optional(std::move(m));
  }
  return std::optional<crypto::MasterKey>();
}

}  // namespace

void RegisterBackupCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto ba = std::make_shared<BackupArgs>();
  CLI::App* b = app.add_subcommand(
      "backup", "write a consistent backup of the data directory to a new directory DEST");
  b->add_option("dest", ba->dest, "new (or empty) directory; with --server, a path on the server")
      ->required();
  b->add_option("--server", ba->server, "ask this running server to write the backup");
  b->add_option("--api-key", ba->api_key, "admin API key for --server (env DEEPKB_API_KEY)");
  b->add_flag("--json", ba->json, "print the manifest as JSON");
  b->callback([&g, ba, exit_code] {
    Result<ops::BackupManifest> m = InvalidArgumentError("");
    if (!ba->server.empty()) {
      m = RemoteBackup(*ba);
    } else {
      m = LocalBackup(g, std::filesystem::absolute(ba->dest).lexically_normal().string());
    }
    if (!m.ok()) {
      *exit_code = Fail(m.status());
      return;
    }
    if (ba->json) {
      std::cout << ops::ManifestToJson(*m);
    } else {
      std::cout << "backup written to " << ba->dest << ": " << m->files.size()
                << " files, changes up to seq " << m->covered_seq
                << (m->encrypted ? ", encrypted" : "") << "\n";
    }
    *exit_code = 0;
  });

  struct RestoreArgs {
    std::string src;
    bool force = false, remove_old = false, json = false;
  };
  auto ra = std::make_shared<RestoreArgs>();
  CLI::App* r = app.add_subcommand(
      "restore", "verify the backup SRC and replace --data-dir with it (no server may hold it)");
  r->add_option("src", ra->src, "backup directory written by `deepkb backup`")->required();
  r->add_flag("--force", ra->force, "replace a non-empty data directory");
  r->add_flag("--remove-old", ra->remove_old,
              "delete the replaced data instead of keeping it as <data-dir>.old-<ms>");
  r->add_flag("--json", ra->json, "print the result as JSON");
  r->callback([&g, ra, exit_code] {
    auto master = MasterFromOptions(g);
    if (!master.ok()) {
      *exit_code = Fail(master.status());
      return;
    }
    ops::RestoreOptions o{ra->force, !ra->remove_old, *master ? &**master : nullptr};
    auto res = ops::Restore(ra->src, g.data_dir, o);
    if (!res.ok()) {
      *exit_code = Fail(res.status());
      return;
    }
    if (ra->json) {
      std::cout << nlohmann::json{{"data_dir", g.data_dir},
                                  {"covered_seq", res->manifest.covered_seq},
                                  {"old_dir", res->old_dir}}
                       .dump()
                << "\n";
    } else {
      std::cout << "restored " << ra->src << " into " << g.data_dir << " (changes up to seq "
                << res->manifest.covered_seq << ")"
                << (res->old_dir.empty() ? "" : "; previous data kept in " + res->old_dir) << "\n";
    }
    *exit_code = 0;
  });
}

}  // namespace deepkb::cli
