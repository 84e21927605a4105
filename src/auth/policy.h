// Access policy: roles, collection scopes and the permission each route declares.
//
// Roles (CONTRACT.md): admin — everything; writer — read, write and delete in its collections;
// reader — search, read and chat over its collections; guest — nothing but /healthz and
// /readyz. A key may be scoped to named collections; an unscoped writer/reader key covers all
// collections. Admin keys are never limited by a scope.
//
// Deny by default: a route that declares no permission cannot be registered (server/http.h), and
// Authorize() denies every combination it does not explicitly allow.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace deepkb::auth {

enum class Role { kAdmin, kWriter, kReader, kGuest };

// What a route needs. Collection permissions are checked against the collection named in the
// request (the route's collection path parameter or body field); kRead/kWrite without a
// collection ("any") pass when the role has that right somewhere, and the handler must then
// filter what it returns with Principal::CanSee().
enum class Permission {
  kPublic,  // no key needed (/healthz, /readyz)
  kRead,    // search, read documents, chat
  kWrite,   // create/update/delete documents; create/delete collections
  kAdmin,   // keys, audit log, sync, backups, node operations
};

std::string_view RoleName(Role r);
Result<Role> ParseRole(std::string_view name);
std::string_view PermissionName(Permission p);

// The authenticated caller.
struct Principal {
  std::string key_id;
  Role role = Role::kGuest;
  std::vector<std::string> collections;  // empty = every collection

  // True when the key's scope covers `collection` (admin: always).
  bool CanSee(std::string_view collection) const;
};

// Ok, or PermissionDenied with a message naming the role, the permission and the collection.
// `collection` empty = the route is not about one collection.
Status Authorize(const Principal& p, Permission need, std::string_view collection);

}  // namespace deepkb::auth
