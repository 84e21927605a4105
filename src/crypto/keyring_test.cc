#include "crypto/keyring.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/hash.h"

namespace deepkb::crypto {
namespace {

namespace fs = std::filesystem;

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("keyring_test_" + RandomHex(6));
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string KeyFile(const std::string& name, size_t n = 32, mode_t mode = 0600) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << RandomHex(n).substr(0, n);
    ::chmod(p.c_str(), mode);
    return p;
  }
  MasterKey Master(const std::string& file) {
    auto m = MasterKey::FromKeyFile(file);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return std::move(m).value();
  }
  std::string data() const { return (dir_ / "data").string(); }
  std::string db() const { return (dir_ / "data" / "kb.db").string(); }

  fs::path dir_;
};

bool SameKey(const DataKey& a, const DataKey& b) {
  return std::memcmp(a.data(), b.data(), kKeyBytes) == 0;
}

TEST_F(KeyringTest, CreateOpenRoundTrip) {
  MasterKey m = Master(KeyFile("k1"));
  auto created = CreateKeyring(data(), m);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(KeyringExists(data()));
  EXPECT_EQ(fs::file_size(KeyringPath(data())), 124u);
  EXPECT_EQ(fs::status(KeyringPath(data())).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto opened = OpenKeyring(data(), m);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(SameKey(*created, *opened));
  // Never replaced.
  EXPECT_EQ(CreateKeyring(data(), m).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(SameKey(*OpenKeyring(data(), m), *created));
}

TEST_F(KeyringTest, WrongKeyIsRefusedClearly) {
  ASSERT_TRUE(CreateKeyring(data(), Master(KeyFile("k1"))).ok());
  auto r = OpenKeyring(data(), Master(KeyFile("k2")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("wrong key file for this data directory"),
            std::string::npos)
      << r.status().message();
}

TEST_F(KeyringTest, RotateRewrapsTheSameDataKey) {
  MasterKey k1 = Master(KeyFile("k1")), k2 = Master(KeyFile("k2"));
  auto created = CreateKeyring(data(), k1);
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(RotateMasterKey(data(), k1, k2).ok());
  EXPECT_EQ(OpenKeyring(data(), k1).status().code(), StatusCode::kUnauthenticated);
  auto opened = OpenKeyring(data(), k2);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(SameKey(*opened, *created));
  // Rotating with the wrong old key changes nothing.
  EXPECT_EQ(RotateMasterKey(data(), k1, k1).code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(OpenKeyring(data(), k2).ok());
  // No temp files left behind.
  for (const auto& e : fs::directory_iterator(data())) {
    EXPECT_EQ(e.path().filename(), "keyring");
  }
}

TEST_F(KeyringTest, PassphraseUsesScryptAndCanRotateToAKeyFile) {
  auto p = MasterKey::FromPassphrase("correct horse battery staple", {.log2_n = 12, .r = 8, .p = 1});
  ASSERT_TRUE(p.ok());
  auto created = CreateKeyring(data(), *p);
  ASSERT_TRUE(created.ok());
  auto wrong = MasterKey::FromPassphrase("correct horse battery stapler", {.log2_n = 12});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(OpenKeyring(data(), *wrong).status().code(), StatusCode::kUnauthenticated);
  // A key file is not accepted where a passphrase was used.
  auto kf = OpenKeyring(data(), Master(KeyFile("k1")));
  EXPECT_EQ(kf.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(kf.status().message().find("passphrase"), std::string::npos);
  // The cost recorded in the keyring is used to unlock (whatever the caller's default).
  auto same = MasterKey::FromPassphrase("correct horse battery staple");
  ASSERT_TRUE(same.ok());
  auto opened = OpenKeyring(data(), *same);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(SameKey(*opened, *created));
  MasterKey k = Master(KeyFile("k1"));
  ASSERT_TRUE(RotateMasterKey(data(), *same, k).ok());
  EXPECT_TRUE(SameKey(*OpenKeyring(data(), k), *created));
}

TEST_F(KeyringTest, ProductionScryptCostIsMemoryHard) {
  EXPECT_EQ(ScryptParams{}.log2_n, 17);  // 2^17 · 128 · r = 128 MiB
  EXPECT_EQ(ScryptParams{}.r, 8);
  auto p = MasterKey::FromPassphrase("a passphrase of some length");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(CreateKeyring(data(), *p).ok());
  EXPECT_TRUE(OpenKeyring(data(), *p).ok());
  EXPECT_FALSE(MasterKey::FromPassphrase("short").ok());
}

TEST_F(KeyringTest, TamperedKeyringIsDetected) {
  MasterKey m = Master(KeyFile("k1"));
  ASSERT_TRUE(CreateKeyring(data(), m).ok());
  const std::string path = KeyringPath(data());
  std::string orig;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    orig = ss.str();
  }
  for (size_t i : {size_t{0}, size_t{10}, size_t{20}, size_t{50}, size_t{70}, size_t{90},
                   size_t{120}}) {
    std::string bad = orig;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    auto r = OpenKeyring(data(), m);
    EXPECT_FALSE(r.ok()) << "byte " << i;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << orig;
  EXPECT_TRUE(OpenKeyring(data(), m).ok());
}

TEST_F(KeyringTest, KeyFileRules) {
  EXPECT_EQ(MasterKey::FromKeyFile(KeyFile("short", 31)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(MasterKey::FromKeyFile((dir_ / "missing").string()).status().code(),
            StatusCode::kNotFound);
  auto ok = MasterKey::FromKeyFile(KeyFile("private", 32, 0600));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->warning().empty());
  auto loose = MasterKey::FromKeyFile(KeyFile("loose", 32, 0644));
  ASSERT_TRUE(loose.ok());  // accepted, with a warning
  EXPECT_NE(loose->warning().find("chmod 600"), std::string::npos);
}

TEST_F(KeyringTest, UnlockDataDirPolicy) {
  MasterKey m = Master(KeyFile("k1"));
  // Plain, no key: fine.
  auto plain = UnlockDataDir(data(), nullptr, db());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, nullptr);
  // Unencrypted data present + a key: refused.
  std::ofstream(db(), std::ios::binary) << "SQLite format 3" << '\0' << std::string(100, 'x');
  auto mixed = UnlockDataDir(data(), &m, db());
  EXPECT_EQ(mixed.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mixed.status().message().find("unencrypted"), std::string::npos);
  EXPECT_FALSE(KeyringExists(data()));
  fs::remove(db());
  // New directory + key: keyring created; reopening gives the same key.
  auto first = UnlockDataDir(data(), &m, db());
  ASSERT_TRUE(first.ok());
  ASSERT_NE(*first, nullptr);
  auto again = UnlockDataDir(data(), &m, db());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(SameKey(**first, **again));
  // Encrypted directory without a key: refused with a hint.
  auto nokey = UnlockDataDir(data(), nullptr, db());
  EXPECT_EQ(nokey.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(nokey.status().message().find("--key-file"), std::string::npos);
  // Encrypted database whose keyring vanished: refused, not read as plain.
  std::ofstream(db(), std::ios::binary) << std::string(4096, '\x7f');
  fs::remove(KeyringPath(data()));
  auto lost = UnlockDataDir(data(), nullptr, db());
  EXPECT_EQ(lost.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(lost.status().message().find("keyring"), std::string::npos);
}

}  // namespace
}  // namespace deepkb::crypto
