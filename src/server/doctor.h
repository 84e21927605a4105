// The checks of `deepkb doctor` that look at a node's own data directory, shared by the CLI
// (offline, on --data-dir) and the admin route GET /v1/admin/doctor (the server runs them on
// the directory it holds). Network checks (upstreams, remote KBs, clock skew) live in the CLI
// (cli/commands_doctor.cc), which is the only side that knows the gateway flags to check.
//
// Every check yields one Finding: OK, WARN or FAIL, what was found and the fix to apply.
// Exit code of a run (ExitCodeFor below): 0 without FAIL; 6 when any FAIL is data corruption;
// else 1 when any FAIL is not about reachability; else 5 (every FAIL is reachability).
// Thread safety: free functions; IndexFinding calls the thread-safe KnowledgeBase::Verify.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "kb/kb.h"
#include "server/disk_guard.h"

namespace deepkb::server::doctor {

enum class Level { kOk, kWarn, kFail };
// What kind of failure a FAIL is (for the exit code).
enum class Kind { kOther, kCorruption, kReachability };

struct Finding {
  std::string check;   // "disk", "index_integrity", "upstream deepseek", ...
  Level level = Level::kOk;
  std::string detail;  // what was found
  std::string fix;     // what to do (empty for OK)
  Kind kind = Kind::kOther;
};

std::string_view LevelName(Level l);  // "OK", "WARN", "FAIL"
// "OK    disk: 42% used of /data" / "FAIL  disk: 96% used of /data — free space ..."
std::string FormatLine(const Finding& f);
nlohmann::json ToJson(const Finding& f);  // {check, status, detail, fix}
// The inverse of ToJson (for findings a server sent); InvalidArgument on a wrong shape.
Result<Finding> FromJson(const nlohmann::json& j);
int ExitCodeFor(const std::vector<Finding>& findings);

// The data directory exists, is a directory and is writable (a probe file is created and
// removed).
Finding DataDirFinding(const std::string& dir);
// WARN at >= 85% (the DiskUsage alert), FAIL at >= refuse_at (writes are refused from there).
Finding DiskFinding(DiskGuard& guard);
// A secret file must not be readable by group or others: FAIL when it is, or missing.
// `check` names the finding ("admin_key", "key_file"); `flag` how it was given.
Finding SecretFileFinding(const std::string& check, const std::string& path);
// KnowledgeBase::Verify (SQLite integrity_check, FTS5 integrity-check and the vector and keyword
// indexes against SQLite, all collections): FAIL kCorruption on DataLoss. It reads every page, so
// it takes about as long as a full scan of kb.db; the detail says how long it took.
Finding IndexFinding(kb::KnowledgeBase& kb);

// Everything that needs only the data directory and an open KnowledgeBase (the route's set):
// data dir, disk, admin.key, index integrity.
std::vector<Finding> NodeFindings(kb::KnowledgeBase& kb, DiskGuard& guard);

}  // namespace deepkb::server::doctor
