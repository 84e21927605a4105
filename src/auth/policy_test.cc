#include "auth/policy.h"

#include <gtest/gtest.h>

namespace deepkb::auth {
namespace {

// Expected decisions, written out as a table: role × permission × (in scope / out of scope /
// no collection). Scoped principals cover collection "a" only.
struct Case {
  Role role;
  bool scoped;
  Permission need;
  const char* collection;
  bool allowed;
};

TEST(Policy, Authorize_TableOfRolesPermissionsAndScopes) {
  const Case cases[] = {
      // admin: everything, scope ignored
      {Role::kAdmin, false, Permission::kAdmin, "", true},
      {Role::kAdmin, true, Permission::kAdmin, "", true},
      {Role::kAdmin, true, Permission::kWrite, "b", true},
      {Role::kAdmin, true, Permission::kRead, "b", true},
      // writer
      {Role::kWriter, false, Permission::kRead, "b", true},
      {Role::kWriter, false, Permission::kWrite, "b", true},
      {Role::kWriter, false, Permission::kAdmin, "", false},
      {Role::kWriter, true, Permission::kWrite, "a", true},
      {Role::kWriter, true, Permission::kWrite, "b", false},
      {Role::kWriter, true, Permission::kRead, "b", false},
      {Role::kWriter, true, Permission::kRead, "", true},
      // reader
      {Role::kReader, false, Permission::kRead, "b", true},
      {Role::kReader, false, Permission::kWrite, "b", false},
      {Role::kReader, false, Permission::kAdmin, "", false},
      {Role::kReader, true, Permission::kRead, "a", true},
      {Role::kReader, true, Permission::kRead, "b", false},
      {Role::kReader, true, Permission::kWrite, "a", false},
      // guest
      {Role::kGuest, false, Permission::kRead, "a", false},
      {Role::kGuest, false, Permission::kRead, "", false},
      {Role::kGuest, false, Permission::kWrite, "a", false},
      {Role::kGuest, false, Permission::kAdmin, "", false},
      {Role::kGuest, false, Permission::kPublic, "", true},
  };
  for (const Case& c : cases) {
    Principal p{.key_id = "k", .role = c.role, .collections = {}};
    if (c.scoped) p.collections = {"a"};
    Status s = Authorize(p, c.need, c.collection);
    EXPECT_EQ(s.ok(), c.allowed) << RoleName(c.role) << (c.scoped ? " scoped" : "") << " "
                                 << PermissionName(c.need) << " '" << c.collection << "': "
                                 << s.ToString();
    if (!s.ok()) {
      EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
    }
  }
}

TEST(Policy, CanSee_ScopeAndGuest) {
  Principal reader{.key_id = "r", .role = Role::kReader, .collections = {"a", "c"}};
  EXPECT_TRUE(reader.CanSee("a"));
  EXPECT_FALSE(reader.CanSee("b"));
  Principal guest{.key_id = "g", .role = Role::kGuest, .collections = {}};
  EXPECT_FALSE(guest.CanSee("a"));
  Principal admin{.key_id = "x", .role = Role::kAdmin, .collections = {"a"}};
  EXPECT_TRUE(admin.CanSee("b"));
}

TEST(Policy, ParseRole_RejectsUnknown) {
  EXPECT_EQ(*ParseRole("writer"), Role::kWriter);
  EXPECT_EQ(ParseRole("root").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deepkb::auth
