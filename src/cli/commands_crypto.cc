// Encryption at rest on the command line (docs/security.md):
//   - UnlockDataDir(): the global --key-file (env DEEPKB_KEY_FILE) or env DEEPKB_PASSPHRASE,
//     applied to the data directory by crypto::UnlockDataDir; used by every command that opens
//     a data directory (OpenDataDir, serve).
//   - `deepkb keys rotate-master --new-key-file FILE` (or env DEEPKB_NEW_PASSPHRASE): rewraps
//     the data key under a new master key; no data is rewritten, a running server keeps going.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "cli/app.h"
#include "common/log.h"
#include "crypto/keyring.h"
#include "crypto/sqlite_vfs.h"

namespace deepkb::cli {
namespace {

// The master key from a key file, else from the passphrase in env `passphrase_env`, else none.
Result<std::optional<crypto::MasterKey>> LoadMasterKey(const std::string& key_file,
                                                       const char* passphrase_env,
                                                       const char* key_file_flag) {
  const char* pass = std::getenv(passphrase_env);
  const bool has_pass = pass != nullptr && *pass != '\0';
  if (!key_file.empty() && has_pass) {
    return InvalidArgumentError(std::string("both ") + key_file_flag + " and " + passphrase_env +
                                " are set; use one of them");
  }
  if (!key_file.empty()) {
    ASSIGN_OR_RETURN(crypto::MasterKey m, crypto::MasterKey::FromKeyFile(key_file));
    return std::optional<crypto::MasterKey>(std::move(m));
  }
  if (has_pass) {
    ASSIGN_OR_RETURN(crypto::MasterKey m, crypto::MasterKey::FromPassphrase(pass));
    return std::optional<crypto::MasterKey>(std::move(m));
  }
  return std::optional<crypto::MasterKey>();
}

CLI::App* FindOrCreateKeys(CLI::App& app) {
  auto found = app.get_subcommands([](CLI::App* s) { return s->get_name() == "keys"; });
  if (!found.empty()) return found.front();
  auto* keys = app.add_subcommand(
      "keys", "manage keys: API keys, and the master key of an encrypted data directory");
  keys->require_subcommand(1);
  return keys;
}

}  // namespace

Result<std::shared_ptr<const crypto::DataKey>> UnlockDataDir(const GlobalOptions& g) {
  ASSIGN_OR_RETURN(auto master, LoadMasterKey(g.key_file, "DEEPKB_PASSPHRASE", "--key-file"));
  const std::string db_path = g.data_dir + "/kb.db";
  ASSIGN_OR_RETURN(auto key,
                   crypto::UnlockDataDir(g.data_dir, master ? &*master : nullptr, db_path));
  if (key) {
    RETURN_IF_ERROR(crypto::EncryptDatabase(db_path, key));
  } else {
    crypto::ForgetDatabase(db_path);
  }
  return key;
}

void RegisterCryptoCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  CLI::App* keys = FindOrCreateKeys(app);
  auto* rotate = keys->add_subcommand(
      "rotate-master",
      "re-wrap the data key of an encrypted data directory under a new master key. The current "
      "key comes from --key-file (or DEEPKB_KEY_FILE / DEEPKB_PASSPHRASE), the new one from "
      "--new-key-file (or env DEEPKB_NEW_PASSPHRASE). No data is rewritten; afterwards only the "
      "new key opens the directory. Safe while a server runs on it.");
  auto new_key_file = std::make_shared<std::string>();
  rotate->add_option("--new-key-file", *new_key_file,
                     "file with the new master key (>= 32 random bytes)");
  rotate->callback([&g, exit_code, new_key_file] {
    if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) {
      *exit_code = Fail(s);
      return;
    }
    if (!crypto::KeyringExists(g.data_dir)) {
      *exit_code = Fail(FailedPreconditionError(
          "data directory " + g.data_dir +
          " is not encrypted (it has no keyring); there is no master key to rotate"));
      return;
    }
    auto old_key = LoadMasterKey(g.key_file, "DEEPKB_PASSPHRASE", "--key-file");
    if (!old_key.ok()) { *exit_code = Fail(old_key.status()); return; }
    if (!*old_key) {
      *exit_code = Fail(InvalidArgumentError(
          "pass the current master key with --key-file FILE (or DEEPKB_KEY_FILE, or "
          "DEEPKB_PASSPHRASE)"));
      return;
    }
    auto new_key = LoadMasterKey(*new_key_file, "DEEPKB_NEW_PASSPHRASE", "--new-key-file");
    if (!new_key.ok()) { *exit_code = Fail(new_key.status()); return; }
    if (!*new_key) {
      *exit_code = Fail(InvalidArgumentError(
          "pass the new master key with --new-key-file FILE (or set DEEPKB_NEW_PASSPHRASE)"));
      return;
    }
    if (Status s = crypto::RotateMasterKey(g.data_dir, **old_key, **new_key); !s.ok()) {
      *exit_code = Fail(s);
      return;
    }
    std::printf("master key rotated for %s: it now opens with the %s; the old key no longer "
                "does (no data was rewritten)\n",
                g.data_dir.c_str(), (*new_key)->origin().c_str());
    *exit_code = 0;
  });
}

}  // namespace deepkb::cli
