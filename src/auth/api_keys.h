// API keys: creation, verification and listing.
//
// Key format: "dkb_<id>_<secret>", id = 8 random bytes (16 hex), secret = 32 random bytes (64 hex,
// 256 bits). Only HMAC-SHA256(server secret, secret) is stored (table api_keys, schema v2); the
// plaintext is returned once by Create() and never again. Verification looks the row up by id
// and compares MACs in constant time (CRYPTO_memcmp). The server secret is 32 random bytes kept in
// the meta table, created on first use.
//
// This build knows one role in practice (admin: the server's first key); roles and collection
// scopes are stored so the access-control issue can enforce them without a migration.
//
// Thread safety: all methods are thread-safe (internal mutex around its own connection).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/sqlite.h"

namespace deepkb::auth {

struct KeyInfo {
  std::string id;
  std::string role;  // admin | writer | reader | guest
  std::vector<std::string> collections;  // empty = all
  int64_t created_at = 0;
  int64_t expires_at = 0;  // unix ms; 0 = never
  bool revoked = false;
};

class ApiKeys {
 public:
  // Opens its own connection to the KB database at `db_path` (already migrated).
  static Result<std::unique_ptr<ApiKeys>> Open(const std::string& db_path);

  // Returns the plaintext key (shown once) and stores its MAC.
  Result<std::string> Create(const std::string& role, const std::vector<std::string>& collections,
                             int64_t expires_at);
  // Unauthenticated for unknown, malformed, revoked or expired keys (one message for all, so
  // callers learn nothing about which).
  Result<KeyInfo> Verify(const std::string& presented);
  Result<std::vector<KeyInfo>> List();
  Result<int64_t> Count();

 private:
  explicit ApiKeys(std::unique_ptr<storage::Database> db) : db_(std::move(db)) {}
  Result<std::string> Secret();  // requires mu_

  std::mutex mu_;
  std::unique_ptr<storage::Database> db_;  // guarded by mu_
  std::string secret_;                     // guarded by mu_; hex, loaded lazily
};

}  // namespace deepkb::auth
