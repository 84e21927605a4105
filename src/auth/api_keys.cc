#include "auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>
#include <set>

#include "common/hash.h"
#include "common/utf8.h"

namespace deepkb::auth {

namespace {

int64_t NowMillis() { return NowUnixMillis(); }

std::string Mac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  static const char* kDigits = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kDigits[out[i] >> 4];
    hex += kDigits[out[i] & 15];
  }
  return hex;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A MAC compared against when the presented id is unknown, so that an unknown id costs the same
// as a wrong secret. Never equal to a real MAC (not hex).
const std::string kDummyMac(64, 'x');

KeyInfo RowToInfo(storage::Statement& st, int first) {
  KeyInfo k;
  k.role = st.ColumnText(first);
  auto cols = nlohmann::json::parse(st.ColumnText(first + 1), nullptr, false);
  if (cols.is_array()) {
    for (const auto& c : cols) {
      if (c.is_string()) k.collections.push_back(c.get<std::string>());
    }
  }
  k.created_at = st.ColumnInt(first + 2);
  k.expires_at = st.ColumnInt(first + 3);
  k.revoked = st.ColumnInt(first + 4) != 0;
  return k;
}

Status ValidateScope(const std::vector<std::string>& collections) {
  if (collections.size() > kMaxScopeCollections) {
    return InvalidArgumentError("a key may be scoped to at most " +
                                std::to_string(kMaxScopeCollections) + " collections");
  }
  std::set<std::string> seen;
  for (const auto& c : collections) {
    const bool control = std::any_of(c.begin(), c.end(), [](char ch) {
      return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
    });
    if (c.empty() || c.size() > 256 || !utf8::IsValid(c) || control) {
      return InvalidArgumentError("invalid collection name '" + utf8::Sanitize(c.substr(0, 64)) +
                                  "' in the key's scope");
    }
    if (!seen.insert(c).second) {
      return InvalidArgumentError("collection '" + c + "' is named twice in the key's scope");
    }
  }
  return Status::Ok();
}

Status Unauthenticated() {
  return UnauthenticatedError(
      "missing or invalid API key; send 'Authorization: Bearer <key>' (the first admin key is in "
      "<data-dir>/admin.key)");
}

}  // namespace

Result<std::unique_ptr<ApiKeys>> ApiKeys::Open(const std::string& db_path) {
  ASSIGN_OR_RETURN(auto db, storage::Database::Open(db_path, {.create = false}));
  ASSIGN_OR_RETURN(auto audit, AuditLog::Open(db_path));
  return std::unique_ptr<ApiKeys>(new ApiKeys(std::move(db), std::move(audit)));
}

Result<std::string> ApiKeys::Secret() {
  if (!secret_.empty()) return secret_;
  ASSIGN_OR_RETURN(auto get, db_->Prepare("SELECT value FROM meta WHERE key='api_key_secret'"));
  ASSIGN_OR_RETURN(bool row, get.Step());
  if (row) {
    secret_ = get.ColumnText(0);
    return secret_;
  }
  const std::string fresh = RandomHex(32);
  ASSIGN_OR_RETURN(auto put,
                   db_->Prepare("INSERT OR IGNORE INTO meta(key, value) VALUES('api_key_secret', ?)"));
  put.Bind(1, fresh);
  RETURN_IF_ERROR(put.Run());
  // Another process may have won the race: read back what is stored.
  get.Reset();
  ASSIGN_OR_RETURN(row, get.Step());
  if (!row) return InternalError("api key secret missing after insert");
  secret_ = get.ColumnText(0);
  return secret_;
}

Result<NewKey> ApiKeys::CreateKey(const std::string& role,
                                  const std::vector<std::string>& collections,
                                  int64_t expires_at) {
  if (role != "admin" && role != "writer" && role != "reader" && role != "guest") {
    return InvalidArgumentError("unknown role '" + utf8::Sanitize(role.substr(0, 64)) +
                                "': use admin, writer, reader or guest");
  }
  RETURN_IF_ERROR(ValidateScope(collections));
  if (role == "admin" && !collections.empty()) {
    return InvalidArgumentError(
        "admin keys cannot be scoped to collections (an admin may do everything); scope a writer "
        "or reader key instead");
  }
  if (expires_at < 0) return InvalidArgumentError("expiry must not be negative");
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::string secret, Secret());
  NewKey out;
  out.info.id = RandomHex(8);
  out.info.role = role;
  out.info.collections = collections;
  out.info.created_at = NowMillis();
  out.info.expires_at = expires_at;
  const std::string key_secret = RandomHex(32);
  ASSIGN_OR_RETURN(auto st, db_->Prepare(
                                "INSERT INTO api_keys(id, mac, role, collections, created_at, "
                                "expires_at, revoked) VALUES(?,?,?,?,?,?,0)"));
  st.Bind(1, out.info.id);
  st.Bind(2, Mac(secret, key_secret));
  st.Bind(3, role);
  st.Bind(4, nlohmann::json(collections).dump());
  st.Bind(5, out.info.created_at);
  st.Bind(6, expires_at);
  RETURN_IF_ERROR(st.Run());
  out.key = "dkb_" + out.info.id + "_" + key_secret;
  return out;
}

Result<std::string> ApiKeys::Create(const std::string& role,
                                    const std::vector<std::string>& collections,
                                    int64_t expires_at) {
  ASSIGN_OR_RETURN(NewKey k, CreateKey(role, collections, expires_at));
  return std::move(k.key);
}

Result<KeyInfo> ApiKeys::Verify(const std::string& presented) {
  // dkb_ + 16 hex + _ + 64 hex
  if (presented.size() != 4 + 16 + 1 + 64 || presented.compare(0, 4, "dkb_") != 0 ||
      presented[20] != '_') {
    return Unauthenticated();
  }
  const std::string id = presented.substr(4, 16);
  const std::string key_secret = presented.substr(21);
  if (!IsHex(id) || !IsHex(key_secret)) return Unauthenticated();
  // The row is read under the lock with a statement prepared once; the MAC is computed outside
  // it (every authenticated request comes here: bench/gateway measured Verify at 17% of a chat
  // request's CPU when it re-prepared the statement under the lock).
  std::string secret, stored;
  bool row = false;
  KeyInfo info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(secret, Secret());
    if (!verify_stmt_) {
      ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT mac, role, collections, created_at, "
                                             "expires_at, revoked FROM api_keys WHERE id = ?"));
      verify_stmt_ = std::make_unique<storage::Statement>(std::move(st));
    }
    storage::Statement& st = *verify_stmt_;
    st.Reset();
    st.Bind(1, id);
    auto stepped = st.Step();
    if (stepped.ok() && *stepped) {
      row = true;
      stored = st.ColumnText(0);
      info = RowToInfo(st, 1);
    }
    st.Reset();  // ends the read (a held statement would pin the WAL snapshot)
    RETURN_IF_ERROR(stepped.status());
  }
  // The MAC is computed and compared whether or not the id exists (same work either way).
  if (!row) stored = kDummyMac;
  const std::string mac = Mac(secret, key_secret);
  const bool equal =
      stored.size() == mac.size() && CRYPTO_memcmp(stored.data(), mac.data(), mac.size()) == 0;
  if (!row || !equal) return Unauthenticated();
  info.id = id;
  if (!info.ActiveAt(NowMillis())) return Unauthenticated();
  return info;
}

Result<KeyInfo> ApiKeys::Revoke(const std::string& id) {
  if (!IsKeyId(id)) {
    return InvalidArgumentError("invalid key id '" + utf8::Sanitize(id.substr(0, 64)) +
                                "': a key id is 16 hex characters (see `deepkb keys list`)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  // One write transaction: the last-admin check and the update cannot interleave with another
  // revocation (from this process or a CLI on the same data directory).
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  ASSIGN_OR_RETURN(auto get, db_->Prepare("SELECT role, collections, created_at, expires_at, "
                                          "revoked FROM api_keys WHERE id = ?"));
  get.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, get.Step());
  if (!row) return NotFoundError("no API key with id " + id + " (see `deepkb keys list`)");
  KeyInfo info = RowToInfo(get, 0);
  info.id = id;
  if (info.revoked) return info;  // idempotent
  const int64_t now = NowMillis();
  if (info.role == "admin" && info.ActiveAt(now)) {
    ASSIGN_OR_RETURN(auto count, db_->Prepare("SELECT count(*) FROM api_keys WHERE role = 'admin' "
                                              "AND revoked = 0 AND (expires_at = 0 OR "
                                              "expires_at > ?) AND id <> ?"));
    count.Bind(1, now);
    count.Bind(2, id);
    ASSIGN_OR_RETURN(bool has, count.Step());
    if (!has || count.ColumnInt(0) == 0) {
      return FailedPreconditionError(
          "key " + id +
          " is the last active admin key; create another admin key first "
          "(`deepkb keys create --role admin`), then revoke this one");
    }
  }
  ASSIGN_OR_RETURN(auto upd, db_->Prepare("UPDATE api_keys SET revoked = 1 WHERE id = ?"));
  upd.Bind(1, id);
  RETURN_IF_ERROR(upd.Run());
  RETURN_IF_ERROR(tx.Commit());
  return info;
}

Result<std::vector<KeyInfo>> ApiKeys::List() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT id, role, collections, created_at, expires_at, "
                                         "revoked FROM api_keys ORDER BY created_at, id"));
  std::vector<KeyInfo> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    KeyInfo k = RowToInfo(st, 1);
    k.id = st.ColumnText(0);
    out.push_back(std::move(k));
  }
  return out;
}

Result<int64_t> ApiKeys::Count() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->QueryInt("SELECT count(*) FROM api_keys WHERE revoked = 0");
}

std::string ClaimedKeyId(std::string_view presented) {
  if (presented.size() < 21 || presented.substr(0, 4) != "dkb_" || presented[20] != '_') return "";
  const std::string_view id = presented.substr(4, 16);
  return IsKeyId(id) ? std::string(id) : std::string();
}

bool IsKeyId(std::string_view id) { return id.size() == 16 && IsHex(id); }

Result<int64_t> ParseDuration(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return InvalidArgumentError("invalid duration '" + utf8::Sanitize(text.substr(0, 64)) +
                                "': " + why +
                                "; use a number and a unit s, m, h, d or w, e.g. 90d, 12h, 30m "
                                "or 1d12h");
  };
  constexpr int64_t kMaxMs = int64_t{100} * 366 * 24 * 3600 * 1000;  // 100 years
  if (text.empty()) return bad("empty");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > kMaxMs / 10) return bad("too long (at most 100 years)");
      n = n * 10 + (text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0) return bad("expected a number");
    if (i == text.size()) return bad("missing unit after " + std::to_string(n));
    int64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1000; break;
      case 'm': unit = 60 * 1000; break;
      case 'h': unit = 3600 * 1000; break;
      case 'd': unit = 24 * 3600 * 1000; break;
      case 'w': unit = 7 * 24 * 3600 * 1000; break;
      default: return bad("unknown unit '" + utf8::Sanitize(text.substr(i, 1)) + "'");
    }
    ++i;
    if (n > (kMaxMs - total) / unit) return bad("too long (at most 100 years)");
    total += n * unit;
  }
  if (total <= 0) return bad("must be longer than zero");
  return total;
}

std::string FormatUtc(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace deepkb::auth
