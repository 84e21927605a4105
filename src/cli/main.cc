// deepkb: one binary for every role. See `deepkb --help`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli/app.h"
#include "common/log.h"

namespace deepkb::cli {

Result<OpenKb> OpenDataDir(const GlobalOptions& g) {
  OpenKb out;
  RETURN_IF_ERROR(deepkb::InitLogging(g.log_format, g.log_level));
  ASSIGN_OR_RETURN(out.lock, DirLock::Acquire(g.data_dir, DirLock::Mode::kShared));
  kb::KbOptions opts;
  opts.parse.max_bytes = static_cast<size_t>(g.max_file_mb) << 20;
  ASSIGN_OR_RETURN(opts.data_key, UnlockDataDir(g));
  ASSIGN_OR_RETURN(out.kb, kb::KnowledgeBase::Open(g.data_dir, opts));
  return out;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

}  // namespace deepkb::cli

int main(int argc, char** argv) {
  using namespace deepkb::cli;
  CLI::App app{
      "deepkb — a private knowledge base with Chinese-aware search and an OpenAI-compatible LLM gateway.\n"
      "Data lives in --data-dir (SQLite, WAL). Run `deepkb <command> --help` for details."};
  app.set_version_flag("--version", "deepkb 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand: `deepkb serve --config f`
  app.set_config("--config", "", "read options from a TOML/INI file (every flag may be set there)");

  GlobalOptions g;
  if (const char* env = std::getenv("DEEPKB_DATA_DIR"); env && *env) g.data_dir = env;
  app.add_option("--data-dir", g.data_dir, "data directory (env DEEPKB_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--log-format", g.log_format, "log format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", g.log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--max-file-size", g.max_file_mb, "largest file accepted for ingest, in MiB")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  if (const char* env = std::getenv("DEEPKB_KEY_FILE"); env && *env) g.key_file = env;
  app.add_option("--key-file", g.key_file,
                 "encrypt data at rest with the key in FILE (>= 32 random bytes; env "
                 "DEEPKB_KEY_FILE; a passphrase may come from env DEEPKB_PASSPHRASE instead)");
  int exit_code = 0;
  RegisterKbCommands(app, g, &exit_code);
  RegisterServeCommand(app, g, &exit_code);
  RegisterIndexCommands(app, g, &exit_code);
  RegisterDoctorCommand(app, g, &exit_code);
  RegisterBenchCommand(app, g, &exit_code);
  RegisterKeysCommands(app, g, &exit_code);
  RegisterTokenizeCommand(app, g, &exit_code);
  RegisterCostCommands(app, g, &exit_code);
  RegisterAskCommand(app, g, &exit_code);
  RegisterBackupCommands(app, g, &exit_code);
  RegisterSyncCommand(app, g, &exit_code);
  RegisterCryptoCommands(app, g, &exit_code);  // after `keys`: adds `keys rotate-master`

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors exit 2 (CONTRACT.md)
  }
  return exit_code;
}
