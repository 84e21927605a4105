// Shared state of the deepkb command line: global options and helpers every subcommand uses.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "common/file_lock.h"
#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::cli {

struct GlobalOptions {
  std::string data_dir = "./data";
  std::string log_format = "text";
  std::string log_level = "warn";
  int64_t max_file_mb = 100;
  // Encryption at rest (docs/security.md): --key-file / env DEEPKB_KEY_FILE; a passphrase comes
  // from env DEEPKB_PASSPHRASE instead (never from the command line).
  std::string key_file;
};

// A KnowledgeBase opened directly on the data directory, with the directory lock held shared
// (refused while a server holds it exclusively).
struct OpenKb {
  std::unique_ptr<DirLock> lock;
  std::unique_ptr<kb::KnowledgeBase> kb;
};
Result<OpenKb> OpenDataDir(const GlobalOptions& g);

// Encryption at rest (commands_crypto.cc). UnlockDataDir: the master key named by the global
// options (key file, else env DEEPKB_PASSPHRASE, else none) applied to g.data_dir by
// crypto::UnlockDataDir (creates the keyring on first use; refuses wrong keys, encrypted
// directories without a key and plain directories with one); the key is bound to
// <data-dir>/kb.db, so any later storage::Database::Open of that path (e.g. auth::ApiKeys)
// encrypts. Returns null for an unencrypted directory. Call with the directory lock held.
Result<std::shared_ptr<const crypto::DataKey>> UnlockDataDir(const GlobalOptions& g);
// `keys rotate-master` (added to an existing `keys` subcommand, or creating it).
void RegisterCryptoCommands(CLI::App& app, GlobalOptions& g, int* exit_code);

// The Status a deepkb server's error body describes ({"error": {"code", "message"}}), for
// commands that talk to a server (--server).
Status StatusFromHttpResponse(int http_status, const std::string& body);

// Prints "error: <message>" to stderr and returns the contract's exit code for the status.
int Fail(const Status& s);

// One HTTP exchange with a deepkb server or other HTTP service (commands_doctor.cc).
struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string date;  // the Date header ("" when absent)
};
// GET (or POST with a JSON `body`) `path` on `server` (scheme://host[:port], no path), with
// `api_key` as bearer token when non-empty; connect and read timeouts of `timeout_s`. Any HTTP
// status is an answer; Unavailable when the server cannot be reached, InvalidArgument for a bad
// URL.
Result<HttpAnswer> CallServer(const std::string& server, const std::string& api_key,
                              const std::string& method, const std::string& path,
                              const std::string& body, double timeout_s);
// `deepkb doctor` (commands_doctor.cc; docs/doctor.md).
void RegisterDoctorCommand(CLI::App& app, GlobalOptions& g, int* exit_code);

// Registers collections, ingest, search and docs. Each subcommand's callback stores its exit
// code in *exit_code.
void RegisterKbCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterServeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterIndexCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterBenchCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `deepkb tokenize` (commands_tokenize.cc).
void RegisterTokenizeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `deepkb cost depreciation|roi|gpus|compare` (commands_cost.cc; formulas in ops/cost.h).
void RegisterCostCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
// `deepkb ask` (commands_ask.cc): streams a RAG answer, from --server or the local data dir.
void RegisterAskCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `deepkb backup DEST` and `deepkb restore SRC` (commands_backup.cc; ops/backup.h).
void RegisterBackupCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
// `deepkb sync` (commands_sync.cc; docs/sync.md): on --data-dir or via --server.
void RegisterSyncCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `keys create|list|revoke` (commands_keys.cc). Reuses a `keys` subcommand that already exists
// and returns it, so other areas add siblings (e.g. `keys rotate-master`) in any order.
CLI::App* RegisterKeysCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
// The `keys` subcommand of `app`, or nullptr when none is registered yet.
CLI::App* KeysCommand(CLI::App& app);

}  // namespace deepkb::cli
