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

}  // namespace
}  // namespace deepkb::auth
