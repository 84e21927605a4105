#include "auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

#include "common/hash.h"

namespace deepkb::auth {

namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status Unauthenticated() {
  return UnauthenticatedError(
      "missing or invalid API key; send 'Authorization: Bearer <key>' (the first admin key is in "
      "<data-dir>/admin.key)");
}

}  // namespace

Result<std::unique_ptr<ApiKeys>> ApiKeys::Open(const std::string& db_path) {
  ASSIGN_OR_RETURN(auto db, storage::Database::Open(db_path, {.create = false}));
  return std::unique_ptr<ApiKeys>(new ApiKeys(std::move(db)));
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

Result<std::string> ApiKeys::Create(const std::string& role,
                                    const std::vector<std::string>& collections,
                                    int64_t expires_at) {
  if (role != "admin" && role != "writer" && role != "reader" && role != "guest") {
    return InvalidArgumentError("unknown role '" + role + "': use admin, writer, reader or guest");
  }
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::string secret, Secret());
  const std::string id = RandomHex(8);
  const std::string key_secret = RandomHex(32);
  ASSIGN_OR_RETURN(auto st, db_->Prepare(
                                "INSERT INTO api_keys(id, mac, role, collections, created_at, "
                                "expires_at, revoked) VALUES(?,?,?,?,?,?,0)"));
  st.Bind(1, id);
  st.Bind(2, Mac(secret, key_secret));
  st.Bind(3, role);
  st.Bind(4, nlohmann::json(collections).dump());
  st.Bind(5, NowMillis());
  st.Bind(6, expires_at);
  RETURN_IF_ERROR(st.Run());
  return "dkb_" + id + "_" + key_secret;
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
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::string secret, Secret());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT mac, role, collections, created_at, expires_at, "
                                         "revoked FROM api_keys WHERE id = ?"));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Unauthenticated();
  const std::string stored = st.ColumnText(0);
  const std::string mac = Mac(secret, key_secret);
  if (stored.size() != mac.size() || CRYPTO_memcmp(stored.data(), mac.data(), mac.size()) != 0) {
    return Unauthenticated();
  }
  KeyInfo info;
  info.id = id;
  info.role = st.ColumnText(1);
  auto cols = nlohmann::json::parse(st.ColumnText(2), nullptr, false);
  if (cols.is_array()) {
    for (const auto& c : cols) {
      if (c.is_string()) info.collections.push_back(c.get<std::string>());
    }
  }
  info.created_at = st.ColumnInt(3);
  info.expires_at = st.ColumnInt(4);
  info.revoked = st.ColumnInt(5) != 0;
  if (info.revoked || (info.expires_at != 0 && info.expires_at <= NowMillis())) {
    return Unauthenticated();
  }
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
    KeyInfo k;
    k.id = st.ColumnText(0);
    k.role = st.ColumnText(1);
    auto cols = nlohmann::json::parse(st.ColumnText(2), nullptr, false);
    if (cols.is_array()) {
      for (const auto& c : cols) {
        if (c.is_string()) k.collections.push_back(c.get<std::string>());
      }
    }
    k.created_at = st.ColumnInt(3);
    k.expires_at = st.ColumnInt(4);
    k.revoked = st.ColumnInt(5) != 0;
    out.push_back(std::move(k));
  }
  return out;
}

Result<int64_t> ApiKeys::Count() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->QueryInt("SELECT count(*) FROM api_keys WHERE revoked = 0");
}

}  // namespace deepkb::auth
