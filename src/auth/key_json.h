// JSON shape of an API key's public description, shared by GET /v1/keys and `deepkb keys list
// --json`:
//   {"id", "role", "collections": [...] (empty = all), "created": RFC 3339, "expires": RFC 3339 |
//    null (never), "revoked": bool, "active": bool (not revoked, not expired)}
// Never includes the key or its MAC. Thread safety: pure function.
#pragma once

#include <nlohmann/json.hpp>

#include "auth/api_keys.h"

namespace deepkb::auth {

inline nlohmann::json KeyToJson(const KeyInfo& k, int64_t now_ms) {
  using nlohmann::json;
  return json{{"id", k.id},
              {"role", k.role},
              {"collections", k.collections},
              {"created", FormatUtc(k.created_at)},
              {"expires", k.expires_at == 0 ? json(nullptr) : json(FormatUtc(k.expires_at))},
              {"revoked", k.revoked},
              {"active", k.ActiveAt(now_ms)}};
}

// The POST /v1/keys and `deepkb keys create --json` shape: exactly
// {"id", "key", "role", "collections", "expires"} — the only place the key itself appears.
inline nlohmann::json NewKeyToJson(const NewKey& k) {
  using nlohmann::json;
  return json{{"id", k.info.id},
              {"key", k.key},
              {"role", k.info.role},
              {"collections", k.info.collections},
              {"expires",
               k.info.expires_at == 0 ? json(nullptr) : json(FormatUtc(k.info.expires_at))}};
}

}  // namespace deepkb::auth
