#include "auth/audit.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "common/utf8.h"

namespace deepkb::auth {

namespace {

constexpr size_t kMaxField = 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Clean(const std::string& s) {
  std::string out = utf8::Sanitize(s.size() > kMaxField ? s.substr(0, kMaxField) : s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';  // one event, one line
  }
  return out;
}

bool IsAuthEvent(const std::string& action) { return action.rfind("auth.", 0) == 0; }

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& db_path) {
  ASSIGN_OR_RETURN(auto db, storage::Database::Open(db_path, {.create = false}));
  ASSIGN_OR_RETURN(const int64_t has,
                   db->QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name = 'audit_log'"));
  if (has == 0) {
    return FailedPreconditionError("database " + db_path +
                                   " has no audit_log table; open it with this deepkb once to "
                                   "migrate it");
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(db)));
}

Status AuditLog::AppendLocked(AuditEvent e) {
  if (e.action.empty() || e.result.empty()) {
    return InvalidArgumentError("audit event needs an action and a result");
  }
  if (e.time == 0) e.time = NowMs();
  ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO audit_log(time, key_id, client, action, "
                                         "resource, result, detail, request_id) "
                                         "VALUES(?,?,?,?,?,?,?,?)"));
  st.Bind(1, e.time);
  st.Bind(2, Clean(e.key_id));
  st.Bind(3, Clean(e.client));
  st.Bind(4, Clean(e.action));
  st.Bind(5, Clean(e.resource));
  st.Bind(6, Clean(e.result));
  st.Bind(7, Clean(e.detail));
  st.Bind(8, Clean(e.request_id));
  return st.Run();
}

Status AuditLog::Append(AuditEvent e) {
  std::lock_guard<std::mutex> lock(mu_);
  return AppendLocked(std::move(e));
}

void AuditLog::Record(AuditEvent e) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  const int64_t second = now / 1000;
  if (second != window_second_) {
    window_second_ = second;
    window_count_ = 0;
    if (suppressed_ > 0) {
      AuditEvent s;
      s.time = now;
      s.action = "audit.suppressed";
      s.result = "ok";
      s.detail = std::to_string(suppressed_) + " auth.* events not written (over " +
                 std::to_string(kAuthEventsPerSecond) + " per second)";
      if (Status st = AppendLocked(std::move(s)); !st.ok()) {
        spdlog::warn("audit log write failed: {}", st.message());
      }
      suppressed_ = 0;
    }
  }
  if (IsAuthEvent(e.action) && ++window_count_ > kAuthEventsPerSecond) {
    ++suppressed_;
    return;
  }
  const std::string action = e.action;
  if (Status st = AppendLocked(std::move(e)); !st.ok()) {
    spdlog::warn("audit log write failed for {}: {}", action, st.message());
  }
}

Result<std::vector<AuditEvent>> AuditLog::List(const AuditQuery& q) {
  if (q.limit < 1 || q.limit > 1000) {
    return InvalidArgumentError("limit must be an integer from 1 to 1000");
  }
  std::string sql =
      "SELECT id, time, key_id, client, action, resource, result, detail, request_id "
      "FROM audit_log WHERE 1 = 1";
  if (q.before_id > 0) sql += " AND id < ?1";
  if (q.since_time > 0) sql += " AND time >= ?2";
  if (!q.action.empty()) sql += " AND action = ?3";
  sql += " ORDER BY id DESC LIMIT ?4";
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare(sql));
  if (q.before_id > 0) st.Bind(1, q.before_id);
  if (q.since_time > 0) st.Bind(2, q.since_time);
  if (!q.action.empty()) st.Bind(3, q.action);
  st.Bind(4, q.limit);
  std::vector<AuditEvent> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    AuditEvent e;
    e.id = st.ColumnInt(0);
    e.time = st.ColumnInt(1);
    e.key_id = st.ColumnText(2);
    e.client = st.ColumnText(3);
    e.action = st.ColumnText(4);
    e.resource = st.ColumnText(5);
    e.result = st.ColumnText(6);
    e.detail = st.ColumnText(7);
    e.request_id = st.ColumnText(8);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace deepkb::auth
