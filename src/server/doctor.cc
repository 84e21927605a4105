#include "server/doctor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/hash.h"

namespace deepkb::server::doctor {

namespace {
constexpr double kWarnDiskAt = 0.85;  // deploy/prometheus/rules.yml: DiskUsage

Finding Ok(std::string check, std::string detail) {
  return {std::move(check), Level::kOk, std::move(detail), "", Kind::kOther};
}
Finding Bad(Level level, std::string check, std::string detail, std::string fix,
            Kind kind = Kind::kOther) {
  return {std::move(check), level, std::move(detail), std::move(fix), kind};
}
}  // namespace

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kOk: return "OK";
    case Level::kWarn: return "WARN";
    case Level::kFail: return "FAIL";
  }
  return "FAIL";
}

std::string FormatLine(const Finding& f) {
  std::string line(LevelName(f.level));
  line.resize(6, ' ');
  line += f.check + ": " + f.detail;
  if (!f.fix.empty()) line += " — " + f.fix;
  return line;
}

nlohmann::json ToJson(const Finding& f) {
  return {{"check", f.check}, {"status", std::string(LevelName(f.level))},
          {"detail", f.detail}, {"fix", f.fix},
          {"kind", f.kind == Kind::kCorruption     ? "corruption"
                   : f.kind == Kind::kReachability ? "reachability"
                                                   : "other"}};
}

Result<Finding> FromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("check") || !j["check"].is_string() ||
      !j.contains("status") || !j["status"].is_string()) {
    return InvalidArgumentError("a doctor finding must be an object with 'check' and 'status'");
  }
  Finding f;
  f.check = j["check"].get<std::string>();
  const std::string st = j["status"].get<std::string>();
  f.level = st == "OK" ? Level::kOk : st == "WARN" ? Level::kWarn : Level::kFail;
  f.detail = j.value("detail", "");
  f.fix = j.value("fix", "");
  const std::string kind = j.value("kind", "other");
  f.kind = kind == "corruption"     ? Kind::kCorruption
           : kind == "reachability" ? Kind::kReachability
                                    : Kind::kOther;
  return f;
}

int ExitCodeFor(const std::vector<Finding>& findings) {
  bool fail = false, other = false;
  for (const auto& f : findings) {
    if (f.level != Level::kFail) continue;
    if (f.kind == Kind::kCorruption) return 6;
    fail = true;
    if (f.kind != Kind::kReachability) other = true;
  }
  return !fail ? 0 : other ? 1 : 5;
}

Finding DataDirFinding(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Bad(Level::kFail, "data_dir", "'" + dir + "' does not exist or is not a directory",
               "pass the right --data-dir (env DEEPKB_DATA_DIR), or create it with "
               "`deepkb serve`");
  }
  const std::string probe = dir + "/.doctor-probe-" + RandomHex(4);
  FILE* f = std::fopen(probe.c_str(), "w");
  if (!f) {
    return Bad(Level::kFail, "data_dir", "'" + dir + "' is not writable (" +
                                             std::strerror(errno) + ")",
               "give the user running deepkb write access to it (chown/chmod), or remount it "
               "read-write");
  }
  std::fclose(f);
  std::remove(probe.c_str());
  return Ok("data_dir", "'" + dir + "' exists and is writable");
}

Finding DiskFinding(DiskGuard& guard) {
  auto usage = guard.Usage();
  if (!usage.ok()) {
    return Bad(Level::kFail, "disk", usage.status().message(),
               "check that the data directory is mounted");
  }
  const std::string detail = PercentString(*usage) + " used on the filesystem of " + guard.dir();
  if (*usage >= guard.refuse_at()) {
    return Bad(Level::kFail, "disk",
               detail + "; writes are refused (threshold " + PercentString(guard.refuse_at()) +
                   ")",
               "free space (old backups, logs) or grow the volume; reads keep working");
  }
  if (*usage >= kWarnDiskAt) {
    return Bad(Level::kWarn, "disk", detail + " (alert threshold 85%)",
               "free space or grow the volume before it reaches " +
                   PercentString(guard.refuse_at()) + ", when writes are refused");
  }
  return Ok("disk", detail);
}

Finding SecretFileFinding(const std::string& check, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Bad(Level::kFail, check, "'" + path + "' cannot be read (" + std::strerror(errno) + ")",
               "check the path");
  }
  const unsigned mode = st.st_mode & 0777;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode);
  if (mode & 077) {
    return Bad(Level::kFail, check,
               "'" + path + "' has mode " + octal + ": readable or writable by group/others",
               "chmod 600 " + path + " (and keep it owned by the user running deepkb)");
  }
  return Ok(check, "'" + path + "' has mode " + octal);
}

Finding IndexFinding(kb::KnowledgeBase& kb) {
  const auto t0 = std::chrono::steady_clock::now();
  Status s = kb.Verify();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char took[32];
  std::snprintf(took, sizeof took, " (%.2f s)", secs);
  if (s.ok()) {
    return Ok("index_integrity",
              std::string("SQLite, full-text and vector indexes are consistent") + took);
  }
  if (s.code() == StatusCode::kDataLoss) {
    return Bad(Level::kFail, "index_integrity", s.message() + took,
               "`deepkb index rebuild --collection NAME` for an index; restore from a backup "
               "when SQLite itself is damaged",
               Kind::kCorruption);
  }
  return Bad(Level::kFail, "index_integrity", "cannot verify: " + s.message(),
             "see the message");
}

std::vector<Finding> NodeFindings(kb::KnowledgeBase& kb, DiskGuard& guard) {
  std::vector<Finding> out;
  out.push_back(DataDirFinding(kb.data_dir()));
  out.push_back(DiskFinding(guard));
  const std::string admin_key = kb.data_dir() + "/admin.key";
  std::error_code ec;
  if (std::filesystem::exists(admin_key, ec)) {
    out.push_back(SecretFileFinding("admin_key", admin_key));
  }
  out.push_back(IndexFinding(kb));
  return out;
}

}  // namespace deepkb::server::doctor
