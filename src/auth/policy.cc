#include "auth/policy.h"

#include <algorithm>

namespace deepkb::auth {

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kWriter: return "writer";
    case Role::kReader: return "reader";
    case Role::kGuest: return "guest";
  }
  return "guest";
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "writer") return Role::kWriter;
  if (name == "reader") return Role::kReader;
  if (name == "guest") return Role::kGuest;
  return InvalidArgumentError("unknown role '" + std::string(name) +
                              "': use admin, writer, reader or guest");
}

std::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kPublic: return "public";
    case Permission::kRead: return "read";
    case Permission::kWrite: return "write";
    case Permission::kAdmin: return "admin";
  }
  return "admin";
}

bool Principal::CanSee(std::string_view collection) const {
  if (role == Role::kAdmin || collections.empty()) return role != Role::kGuest;
  return std::find(collections.begin(), collections.end(), collection) != collections.end();
}

Status Authorize(const Principal& p, Permission need, std::string_view collection) {
  if (need == Permission::kPublic) return Status::Ok();
  const auto deny = [&](const std::string& why) {
    return PermissionDeniedError("this API key (role " + std::string(RoleName(p.role)) +
                                 ") may not " + why);
  };
  bool role_ok = false;
  switch (p.role) {
    case Role::kAdmin: return Status::Ok();
    case Role::kWriter: role_ok = need == Permission::kRead || need == Permission::kWrite; break;
    case Role::kReader: role_ok = need == Permission::kRead; break;
    case Role::kGuest: role_ok = false; break;
  }
  if (!role_ok) {
    switch (need) {
      case Permission::kAdmin: return deny("use administrative routes; an admin key is needed");
      case Permission::kWrite: return deny("change data; a writer or admin key is needed");
      default: return deny("read collections; a reader, writer or admin key is needed");
    }
  }
  if (!collection.empty() && !p.CanSee(collection)) {
    return deny("access collection '" + std::string(collection) +
                "': it is outside the key's collection scope");
  }
  return Status::Ok();
}

}  // namespace deepkb::auth
