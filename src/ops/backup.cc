// Backup and restore (see backup.h; the backup directory layout and manifest are documented
// there and in docs/backup.md).
#include "ops/backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "auth/audit.h"
#include "common/hash.h"
#include "common/file_lock.h"
#include "crypto/encrypted_file.h"
#include "crypto/sqlite_vfs.h"
#include "storage/schema.h"
#include "storage/sqlite.h"

namespace deepkb::ops {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kVersion = "0.1.0";
constexpr int kPagesPerStep = 256;  // 1 MiB per backup step at 4 KiB pages

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status IoError(const std::string& what, const std::error_code& ec) {
  return PermissionDeniedError(what + ": " + ec.message());
}

// SHA-256 of a file, streamed; the file is fsynced too, so a verified copy is on disk.
Result<BackupFile> HashFile(const fs::path& path, const std::string& rel) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFoundError("cannot read " + path.string() + ": " + strerror(errno));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  BackupFile f{rel, 0, ""};
  std::string buf(1 << 16, '\0');
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
    f.bytes += n;
  }
  const bool ok = n == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return InternalError("cannot read or sync " + path.string());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* kHex = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    f.sha256 += kHex[md[i] >> 4];
    f.sha256 += kHex[md[i] & 15];
  }
  return f;
}

bool IsNonEmptyDir(const fs::path& p, const char* ignore = nullptr) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(p, ec)) {
    if (!ignore || e.path().filename() != ignore) return true;
  }
  return false;
}

// Copies kb.db as one committed snapshot: a dedicated source connection opens a read
// transaction first, and every backup step reads inside it, so steps see the same snapshot
// (writers of other connections neither block it nor restart it). The destination is opened by
// path, so an encrypted destination bound to the data key writes ciphertext.
Status CopyDatabase(const std::string& src_path, const std::string& dst_path,
                    const BackupProgress& progress) {
  storage::OpenOptions ro;
  ro.create = false;
  ASSIGN_OR_RETURN(auto src, storage::Database::Open(src_path, ro));
  RETURN_IF_ERROR(src->Exec("BEGIN"));
  RETURN_IF_ERROR(src->QueryInt("SELECT count(*) FROM sqlite_schema").status());
  ASSIGN_OR_RETURN(auto dst, storage::Database::Open(dst_path));
  sqlite3_backup* b = sqlite3_backup_init(dst->handle(), "main", src->handle(), "main");
  if (!b) return storage::SqliteStatus(sqlite3_errcode(dst->handle()), dst->handle(), "backup");
  int rc;
  while ((rc = sqlite3_backup_step(b, kPagesPerStep)) != SQLITE_DONE) {
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (rc != SQLITE_OK) {
      break;
    }
    if (progress) {
      const int total = sqlite3_backup_pagecount(b);
      progress(total - sqlite3_backup_remaining(b), total);
    }
  }
  const int fin = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return storage::SqliteStatus(rc, dst->handle(), "copying the database");
  if (fin != SQLITE_OK) return storage::SqliteStatus(fin, dst->handle(), "finishing the copy");
  RETURN_IF_ERROR(src->Exec("COMMIT"));
  // Fold the WAL into kb.db so the backup is one self-contained file.
  return dst->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Result<BackupManifest> WriteBackup(kb::KnowledgeBase& kb, const fs::path& dest,
                                   const BackupProgress& progress) {
  const fs::path data(kb.data_dir());
  std::error_code ec;
  // Index snapshots first: they then cover at most the database copy's point in time, and
  // KnowledgeBase::Open adds what they lack.
  RETURN_IF_ERROR(kb.SaveIndexes());
  fs::create_directories(dest / "index", ec);
  if (ec) return IoError("cannot create " + (dest / "index").string(), ec);
  for (const auto& e : fs::directory_iterator(data / "index", ec)) {
    if (!e.is_regular_file() || e.path().filename().string().find(".tmp") != std::string::npos) {
      continue;
    }
    fs::copy_file(e.path(), dest / "index" / e.path().filename(), ec);
    if (ec) return IoError("cannot copy " + e.path().string(), ec);
  }
  const bool encrypted = kb.data_key() != nullptr;
  if (encrypted) {
    fs::copy_file(crypto::KeyringPath(data.string()), dest / crypto::kKeyringFileName, ec);
    if (ec) return IoError("cannot copy the keyring", ec);
  }

  const std::string dst_db = (dest / "kb.db").string();
  if (encrypted) {
    // The same data key, bound to the copy's path for the duration of the copy (the KB outlives
    // it, so an aliasing pointer without ownership is enough).
    RETURN_IF_ERROR(crypto::EncryptDatabase(
        dst_db, std::shared_ptr<const crypto::DataKey>(std::shared_ptr<void>(), kb.data_key())));
  }
  Status copied = CopyDatabase(data / "kb.db", dst_db, progress);
  BackupManifest m;
  if (copied.ok()) {
    // What the copy holds, read from the copy itself.
    auto db = storage::Database::Open(dst_db);
    if (!db.ok()) {
      copied = db.status();
    } else {
      auto seq = (*db)->QueryInt("SELECT ifnull(max(seq), 0) FROM changes");
      auto ver = storage::SchemaVersion(**db);
      copied = !seq.ok() ? seq.status() : ver.status();
      if (copied.ok()) {
        m.covered_seq = *seq;
        m.schema_version = *ver;
      }
    }
  }
  crypto::ForgetDatabase(dst_db);
  RETURN_IF_ERROR(copied);
  for (const char* side : {"-wal", "-shm"}) fs::remove(dst_db + side, ec);

  m.deepkb_version = kVersion;
  m.node_id = kb.node_id();
  m.created_ms = NowMs();
  m.encrypted = encrypted;
  for (const auto& e : fs::recursive_directory_iterator(dest, ec)) {
    if (!e.is_regular_file()) continue;
    ASSIGN_OR_RETURN(BackupFile f,
                     HashFile(e.path(), fs::relative(e.path(), dest).generic_string()));
    m.files.push_back(std::move(f));
  }
  if (ec) return IoError("cannot list " + dest.string(), ec);
  RETURN_IF_ERROR(crypto::WriteFileAtomic((dest / kManifestName).string(), ManifestToJson(m),
                                          nullptr, kManifestName));
  return m;
}

}  // namespace

std::string ManifestToJson(const BackupManifest& m) {
  json files = json::array();
  for (const auto& f : m.files) {
    files.push_back({{"path", f.path}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  }
  return json{{"format", m.format},         {"deepkb_version", m.deepkb_version},
              {"node_id", m.node_id},       {"created_ms", m.created_ms},
              {"covered_seq", m.covered_seq}, {"schema_version", m.schema_version},
              {"encrypted", m.encrypted},   {"files", files}}
             .dump(2) + "\n";
}

Result<BackupManifest> ParseManifest(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  const auto bad = [](const std::string& why) {
    return DataLossError("backup manifest is malformed (" + why +
                         "); the backup is damaged or incomplete");
  };
  if (!j.is_object()) return bad("not a JSON object");
  BackupManifest m;
  try {
    m.format = j.at("format").get<int>();
    if (m.format != kBackupFormat) {
      return DataLossError("backup format " + std::to_string(m.format) +
                           " is not supported by this deepkb (it reads format " +
                           std::to_string(kBackupFormat) + ")");
    }
    m.deepkb_version = j.at("deepkb_version").get<std::string>();
    m.node_id = j.at("node_id").get<std::string>();
    m.created_ms = j.at("created_ms").get<int64_t>();
    m.covered_seq = j.at("covered_seq").get<int64_t>();
    m.schema_version = j.at("schema_version").get<int>();
    m.encrypted = j.at("encrypted").get<bool>();
    for (const auto& f : j.at("files")) {
      BackupFile bf{f.at("path").get<std::string>(), f.at("bytes").get<int64_t>(),
                    f.at("sha256").get<std::string>()};
      const fs::path p(bf.path);
      if (bf.path.empty() || p.is_absolute() || bf.path.find("..") != std::string::npos) {
        return bad("file path '" + bf.path + "' leaves the backup directory");
      }
      m.files.push_back(std::move(bf));
    }
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  return m;
}

Result<BackupManifest> CreateBackup(kb::KnowledgeBase& kb, const std::string& dest,
                                    const BackupProgress& progress) {
  const fs::path d(dest);
  if (dest.empty() || !d.is_absolute()) {
    return InvalidArgumentError("backup destination must be an absolute path, got '" + dest + "'");
  }
  std::error_code ec;
  const bool existed = fs::exists(d, ec);
  if (existed && (!fs::is_directory(d, ec) || IsNonEmptyDir(d))) {
    return AlreadyExistsError("backup destination " + dest +
                              " exists and is not an empty directory; choose a new one");
  }
  auto m = WriteBackup(kb, d, progress);
  if (!m.ok()) {
    // Leave nothing that looks like a backup behind.
    if (existed) {
      for (const auto& e : fs::directory_iterator(d, ec)) fs::remove_all(e.path(), ec);
    } else {
      fs::remove_all(d, ec);
    }
    return m.status().WithContext("backup to " + dest);
  }
  return m;
}

Result<BackupManifest> VerifyBackupFiles(const std::string& src) {
  const fs::path s(src);
  auto text = crypto::ReadFile((s / kManifestName).string(), nullptr, kManifestName);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return fs::is_directory(s) ? DataLossError(src + " has no manifest.json: not a complete "
                                                       "deepkb backup (was it interrupted?)")
                                 : NotFoundError("backup " + src + " does not exist");
    }
    return text.status();
  }
  ASSIGN_OR_RETURN(BackupManifest m, ParseManifest(*text));
  bool has_db = false;
  for (const auto& f : m.files) {
    has_db |= f.path == "kb.db";
    auto got = HashFile(s / f.path, f.path);
    if (!got.ok()) return DataLossError("backup file " + f.path + " is missing or unreadable");
    if (got->bytes != f.bytes || got->sha256 != f.sha256) {
      return DataLossError("backup file " + f.path +
                           " does not match its checksum in manifest.json: the backup is "
                           "damaged; restore from another one");
    }
  }
  if (!has_db) return DataLossError("backup manifest lists no kb.db");
  return m;
}

Result<RestoreResult> Restore(const std::string& src, const std::string& data_dir,
                              const RestoreOptions& opts) {
  std::error_code ec;
  const fs::path data = fs::absolute(fs::path(data_dir).lexically_normal(), ec);
  if (data.filename().empty()) return InvalidArgumentError("bad data directory '" + data_dir + "'");
  ASSIGN_OR_RETURN(BackupManifest m, VerifyBackupFiles(src));
  if (m.encrypted && !opts.master) {
    return UnauthenticatedError("backup " + src +
                                " is encrypted; pass --key-file FILE (or set DEEPKB_KEY_FILE or "
                                "DEEPKB_PASSPHRASE) with the node's master key");
  }
  // Held exclusively until the swap: no server or command may use the directory meanwhile.
  auto lock = DirLock::Acquire(data.string(), DirLock::Mode::kExclusive);
  if (!lock.ok()) {
    return UnavailableError("data directory " + data.string() +
                            " is in use (a running server or another deepkb command holds it); "
                            "stop it before restoring");
  }
  const bool had_data = IsNonEmptyDir(data, "LOCK");
  if (had_data && !opts.force) {
    return FailedPreconditionError("data directory " + data.string() +
                                   " is not empty; pass --force to replace it (its contents are "
                                   "kept as " + data.filename().string() + ".old-<time>)");
  }

  const int64_t now = NowMs();
  const fs::path staging =
      data.parent_path() / ("." + data.filename().string() + ".restore-" + std::to_string(now));
  const auto fail = [&](Status s) {
    fs::remove_all(staging, ec);
    return s.WithContext("restore from " + src);
  };
  fs::create_directories(staging / "index", ec);
  if (ec) return fail(IoError("cannot create staging directory " + staging.string(), ec));
  for (const auto& f : m.files) {
    fs::copy_file(fs::path(src) / f.path, staging / f.path, ec);
    if (ec) return fail(IoError("cannot copy " + f.path, ec));
  }
  fs::copy_file(fs::path(src) / kManifestName, staging / kManifestName, ec);
  // Verify what will be swapped in: the copies, then the database itself.
  if (auto v = VerifyBackupFiles(staging.string()); !v.ok()) return fail(v.status());
  fs::remove(staging / kManifestName, ec);
  {
    kb::KbOptions ko;
    const std::string db_path = (staging / "kb.db").string();
    if (m.encrypted) {
      auto key = crypto::UnlockDataDir(staging.string(), opts.master, db_path);
      if (!key.ok()) return fail(key.status());
      ko.data_key = *key;
    }
    auto kb = kb::KnowledgeBase::Open(staging.string(), ko);
    if (!kb.ok()) return fail(kb.status());
    if (Status s = (*kb)->Verify(); !s.ok()) return fail(s);
    auto audit = auth::AuditLog::Open(db_path);
    if (!audit.ok()) return fail(audit.status());
    auth::AuditEvent e;
    e.key_id = "cli";
    e.client = "local";
    e.action = "backup.restore";
    e.resource = src;
    e.result = "ok";
    e.detail = "covered_seq=" + std::to_string(m.covered_seq);
    if (Status s = (*audit)->Append(e); !s.ok()) return fail(s);
    audit->reset();
    kb->reset();
    crypto::ForgetDatabase(db_path);
  }

  // The directory exists (the lock created it if needed): move it aside, then move the
  // verified copy in; on failure of the second rename the first is undone.
  RestoreResult r{m, data.string() + ".old-" + std::to_string(now)};
  fs::rename(data, r.old_dir, ec);
  if (ec) return fail(IoError("cannot move " + data.string() + " aside", ec));
  fs::rename(staging, data, ec);
  if (ec) {
    Status s = IoError("cannot move the restored data into " + data.string(), ec);
    fs::rename(r.old_dir, data, ec);
    return fail(s);
  }
  lock->reset();
  fs::remove(fs::path(r.old_dir) / "LOCK", ec);
  if (!had_data || !opts.keep_old) {
    fs::remove_all(r.old_dir, ec);
    r.old_dir.clear();
  }
  return r;
}

}  // namespace deepkb::ops
