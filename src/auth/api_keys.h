// API keys: creation, verification, listing and revocation.
//
// Key format: "dkb_<id>_<secret>", id = 8 random bytes (16 hex), secret = 32 random bytes (64 hex,
// 256 bits). Only HMAC-SHA256(server secret, secret) is stored (table api_keys, schema v2); the
// plaintext is returned once by CreateKey() and never again. Verification looks the row up by id
// and compares MACs in constant time (CRYPTO_memcmp); an unknown id is compared against a dummy
// MAC so that it costs the same as a wrong secret. The server secret is 32 random bytes kept in
// the meta table, created on first use.
//
// Roles: admin | writer | reader | guest (auth/policy.h says what each may do). A key may be
// scoped to named collections (empty = every collection) and may expire (unix ms; 0 = never).
// Revocation is permanent (the row stays, revoked = 1, so ids are never reused and the audit
// log's key ids stay meaningful).
//
// The last active admin key cannot be revoked (FailedPrecondition): with no admin key left
// nobody could manage keys over HTTP, and because `deepkb serve` only writes a fresh admin.key
// when there are no keys at all, the node would stay without one. Create a new admin key first.
//
// The audit log of the same database is reachable through audit() (its own connection), so the
// server and the CLI, which both hold an ApiKeys, can record security events.
//
// Thread safety: all methods are thread-safe (internal mutex around its own connection).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "auth/audit.h"
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

  // Not revoked and not expired at `now_ms`.
  bool ActiveAt(int64_t now_ms) const { return !revoked && (expires_at == 0 || expires_at > now_ms); }
};

// A freshly created key: the plaintext (shown once) and what was stored.
struct NewKey {
  std::string key;
  KeyInfo info;
};

// Most collections one key may be scoped to.
inline constexpr size_t kMaxScopeCollections = 256;

class ApiKeys {
 public:
  // Opens its own connections (keys and audit log) to the KB database at `db_path` (already
  // migrated).
  static Result<std::unique_ptr<ApiKeys>> Open(const std::string& db_path);

  // Creates a key. InvalidArgument for an unknown role, an admin key with a scope, a collection
  // name that is empty, longer
  // than 256 bytes, not UTF-8 or holding control characters, duplicate names, more than
  // kMaxScopeCollections names, or a negative expires_at. (Callers check names against the KB's
  // naming rule first; a collection need not exist yet.) expires_at in the past is accepted and
  // gives a key that never verifies (tests use it).
  Result<NewKey> CreateKey(const std::string& role, const std::vector<std::string>& collections,
                           int64_t expires_at);
  // CreateKey() returning only the plaintext.
  Result<std::string> Create(const std::string& role, const std::vector<std::string>& collections,
                             int64_t expires_at);

  // Unauthenticated for unknown, malformed, revoked or expired keys (one message for all, so
  // callers learn nothing about which).
  Result<KeyInfo> Verify(const std::string& presented);

  // Revokes key `id`. InvalidArgument for a malformed id, NotFound for an unknown one,
  // FailedPrecondition when it is the last active admin key. Revoking a revoked key is OK (no
  // change). Returns the key as it was before.
  Result<KeyInfo> Revoke(const std::string& id);

  // Every key, revoked and expired ones included, oldest first.
  Result<std::vector<KeyInfo>> List();
  // Keys not revoked (expired ones included).
  Result<int64_t> Count();

  AuditLog& audit() { return *audit_; }

 private:
  ApiKeys(std::unique_ptr<storage::Database> db, std::unique_ptr<AuditLog> audit)
      : db_(std::move(db)), audit_(std::move(audit)) {}
  Result<std::string> Secret();  // requires mu_

  std::mutex mu_;
  std::unique_ptr<storage::Database> db_;  // guarded by mu_
  std::string secret_;                     // guarded by mu_; hex, loaded lazily
  std::unique_ptr<storage::Statement> verify_stmt_;  // guarded by mu_; Verify's lookup
  std::unique_ptr<AuditLog> audit_;        // thread-safe itself
};

// The id part of a presented key when it is shaped like one ("dkb_<16 hex>_..."), else "".
// Key ids are not secret; the secret part is never returned. For audit records of failures.
std::string ClaimedKeyId(std::string_view presented);

// True for a well-formed key id (16 lower-case hex characters).
bool IsKeyId(std::string_view id);

// Durations for key expiry: one or more <positive integer><unit> groups, unit s (seconds),
// m (minutes), h (hours), d (days) or w (weeks): "90d", "12h", "30m", "1d12h". At most 100
// years. Returns milliseconds; InvalidArgument with an example otherwise.
Result<int64_t> ParseDuration(std::string_view text);

// "2025-03-01T12:00:00Z" (UTC, seconds) for unix milliseconds.
std::string FormatUtc(int64_t unix_ms);

// Current wall-clock time in unix milliseconds.
int64_t NowUnixMillis();

}  // namespace deepkb::auth
