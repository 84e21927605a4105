#include "auth/api_keys.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/hash.h"
#include "storage/schema.h"

namespace deepkb::auth {
namespace {

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("keys_test_" + RandomHex(6));
    std::filesystem::create_directories(dir_);
    auto db = storage::Database::Open((dir_ / "kb.db").string());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(storage::Migrate(**db).ok());
    auto keys = ApiKeys::Open((dir_ / "kb.db").string());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();
  }
  void TearDown() override {
    keys_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<ApiKeys> keys_;
};

TEST_F(ApiKeysTest, CreatedKeyVerifiesAndOthersDoNot) {
  auto key = keys_->Create("admin", {}, 0);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->size(), 85u);
  auto info = keys_->Verify(*key);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->role, "admin");
  std::string tampered = *key;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(keys_->Verify(tampered).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(keys_->Verify("").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(keys_->Verify("Bearer nonsense").status().code(), StatusCode::kUnauthenticated);
}

TEST_F(ApiKeysTest, PlaintextIsNotStored) {
  auto key = keys_->Create("reader", {"docs"}, 0);
  ASSERT_TRUE(key.ok());
  auto db = storage::Database::Open((dir_ / "kb.db").string());
  ASSERT_TRUE(db.ok());
  auto mac = (*db)->QueryText("SELECT mac FROM api_keys");
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(key->find(*mac), std::string::npos);
  EXPECT_EQ(mac->find(key->substr(21)), std::string::npos);
}

TEST_F(ApiKeysTest, ExpiredKeysAreRejectedAndRolesValidated) {
  auto key = keys_->Create("writer", {}, 1);  // expired in 1970
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(keys_->Verify(*key).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(keys_->Create("root", {}, 0).status().code(), StatusCode::kInvalidArgument);
  auto list = keys_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(ApiKeysTest, CreateKeyReturnsWhatWasStored) {
  auto k = keys_->CreateKey("reader", {"a", "手册"}, 0);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->key.substr(4, 16), k->info.id);
  EXPECT_EQ(k->info.role, "reader");
  EXPECT_EQ(k->info.collections, (std::vector<std::string>{"a", "手册"}));
  auto v = keys_->Verify(k->key);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->collections, k->info.collections);
  EXPECT_EQ(v->created_at, k->info.created_at);
}

TEST_F(ApiKeysTest, ScopeNamesAreValidated) {
  EXPECT_EQ(keys_->CreateKey("reader", {""}, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->CreateKey("reader", {"a", "a"}, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->CreateKey("reader", {"a\nb"}, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->CreateKey("reader", {std::string(300, 'x')}, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->CreateKey("reader", {}, -5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->List()->size(), 0u);
}

TEST_F(ApiKeysTest, RevokedKeyFailsWithTheSameMessageAsAnUnknownOne) {
  auto admin = keys_->CreateKey("admin", {}, 0);
  auto k = keys_->CreateKey("writer", {}, 0);
  auto expired = keys_->CreateKey("writer", {}, NowUnixMillis() - 1);
  ASSERT_TRUE(admin.ok() && k.ok() && expired.ok());
  ASSERT_TRUE(keys_->Verify(k->key).ok());
  auto r = keys_->Revoke(k->info.id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->revoked);  // as it was before
  const Status revoked = keys_->Verify(k->key).status();
  EXPECT_EQ(revoked.code(), StatusCode::kUnauthenticated);
  std::string unknown = k->key;
  unknown[4] = unknown[4] == 'a' ? 'b' : 'a';
  EXPECT_EQ(keys_->Verify(unknown).status(), revoked);
  EXPECT_EQ(keys_->Verify(expired->key).status(), revoked);
  // Idempotent; the list shows it revoked.
  EXPECT_TRUE(keys_->Revoke(k->info.id).ok());
  auto list = keys_->List();
  ASSERT_TRUE(list.ok());
  for (const auto& info : *list) {
    if (info.id == k->info.id) {
      EXPECT_TRUE(info.revoked);
    }
    if (info.id == admin->info.id) {
      EXPECT_FALSE(info.revoked);
    }
  }
}

TEST_F(ApiKeysTest, RevokeUnknownOrMalformedId) {
  EXPECT_EQ(keys_->Revoke("0123456789abcdef").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys_->Revoke("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->Revoke("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ApiKeysTest, LastActiveAdminCannotBeRevoked) {
  auto a1 = keys_->CreateKey("admin", {}, 0);
  auto expired_admin = keys_->CreateKey("admin", {}, 1);  // does not count: expired
  ASSERT_TRUE(a1.ok() && expired_admin.ok());
  auto r = keys_->Revoke(a1->info.id);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("last active admin"), std::string::npos);
  EXPECT_TRUE(keys_->Verify(a1->key).ok());
  // With a second admin key the first one can go, but then not the second.
  auto a2 = keys_->CreateKey("admin", {}, 0);
  ASSERT_TRUE(a2.ok());
  EXPECT_TRUE(keys_->Revoke(a1->info.id).ok());
  EXPECT_EQ(keys_->Revoke(a2->info.id).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(keys_->Revoke(expired_admin->info.id).ok());  // inactive admins may go
}

TEST(ClaimedKeyIdTest, OnlyTheIdOfAKeyShapedString) {
  EXPECT_EQ(ClaimedKeyId("dkb_0123456789abcdef_secret"), "0123456789abcdef");
  EXPECT_EQ(ClaimedKeyId("dkb_0123456789ABCDEF_secret"), "");
  EXPECT_EQ(ClaimedKeyId("hunter2"), "");
  EXPECT_EQ(ClaimedKeyId(""), "");
}

TEST(DurationTest, ParsesUnitsAndSums) {
  EXPECT_EQ(ParseDuration("30s").value(), 30'000);
  EXPECT_EQ(ParseDuration("30m").value(), 30 * 60'000);
  EXPECT_EQ(ParseDuration("12h").value(), 12 * 3'600'000);
  EXPECT_EQ(ParseDuration("90d").value(), int64_t{90} * 86'400'000);
  EXPECT_EQ(ParseDuration("2w").value(), int64_t{14} * 86'400'000);
  EXPECT_EQ(ParseDuration("1d12h").value(), int64_t{36} * 3'600'000);
}

TEST(DurationTest, RejectsGarbageWithAClearMessage) {
  for (const char* s : {"", "90", "d", "-1d", "1.5d", "1y", "0d", "0s0m", "12 h", "1d-", "abc",
                        "99999999999999999999d", "36601d", "1e3d"}) {
    auto r = ParseDuration(s);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << s;
    EXPECT_NE(r.status().message().find("e.g. 90d"), std::string::npos) << s;
  }
  EXPECT_TRUE(ParseDuration("36500d").ok());  // 100 years of 365 days
}

TEST(DurationTest, FormatUtc) {
  EXPECT_EQ(FormatUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtc(1'700'000'000'123), "2023-11-14T22:13:20Z");
}

}  // namespace
}  // namespace deepkb::auth
