#include "crypto/encrypted_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/hash.h"

namespace deepkb::crypto {
namespace {

namespace fs = std::filesystem;

DataKey Key() {
  auto k = DataKey::Generate();
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

std::string Payload(size_t n) {
  std::string s;
  while (s.size() < n) s += "SNAPSHOT-MARKER-3c9f0a17 payload bytes; ";
  s.resize(n);
  return s;
}

TEST(EncryptedFile, RoundTripAtChunkBoundaries) {
  DataKey k = Key();
  for (size_t n : {size_t{0}, size_t{1}, kFileChunkBytes - 1, kFileChunkBytes,
                   kFileChunkBytes + 1, 3 * kFileChunkBytes, 3 * kFileChunkBytes + 17}) {
    SCOPED_TRACE(n);
    const std::string plain = Payload(n);
    auto sealed = EncryptBuffer(plain, k, "index/1.hnsw");
    ASSERT_TRUE(sealed.ok());
    EXPECT_TRUE(LooksEncrypted(*sealed));
    if (n >= 16) {
      EXPECT_EQ(sealed->find(plain.substr(0, 16)), std::string::npos);
    }
    auto opened = DecryptBuffer(*sealed, k, "index/1.hnsw");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(EncryptedFile, AnyChangeIsDataLoss) {
  DataKey k = Key(), other = Key();
  const std::string plain = Payload(2 * kFileChunkBytes + 100);
  auto sealed = EncryptBuffer(plain, k, "index/1.hnsw");
  ASSERT_TRUE(sealed.ok());
  const std::string& s = *sealed;
  for (size_t i : {size_t{0}, size_t{12}, size_t{20}, size_t{40}, s.size() / 2, s.size() - 1}) {
    std::string bad = s;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_EQ(DecryptBuffer(bad, k, "index/1.hnsw").status().code(), StatusCode::kDataLoss) << i;
  }
  const size_t rec = kFileChunkBytes + 28;
  // Truncated at a chunk boundary (the final chunk dropped), or mid-chunk.
  EXPECT_EQ(DecryptBuffer(s.substr(0, 32 + 2 * rec), k, "index/1.hnsw").status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecryptBuffer(s.substr(0, s.size() - 5), k, "index/1.hnsw").status().code(),
            StatusCode::kDataLoss);
  // Chunks swapped.
  std::string swapped = s.substr(0, 32) + s.substr(32 + rec, rec) + s.substr(32, rec) +
                        s.substr(32 + 2 * rec);
  EXPECT_EQ(DecryptBuffer(swapped, k, "index/1.hnsw").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecryptBuffer(s, other, "index/1.hnsw").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecryptBuffer(s, k, "index/2.hnsw").status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(DecryptBuffer(s, k, "index/1.hnsw").ok());
}

TEST(EncryptedFile, FilesNeverMixPlainAndEncrypted) {
  const fs::path dir = fs::temp_directory_path() / ("encfile_" + RandomHex(6));
  fs::create_directories(dir);
  DataKey k = Key();
  const std::string enc = (dir / "a").string(), plain = (dir / "b").string();
  ASSERT_TRUE(WriteFileAtomic(enc, Payload(1000), &k, "a").ok());
  ASSERT_TRUE(WriteFileAtomic(plain, Payload(1000), nullptr, "b").ok());
  EXPECT_EQ(*ReadFile(enc, &k, "a"), Payload(1000));
  EXPECT_EQ(*ReadFile(plain, nullptr, "b"), Payload(1000));
  EXPECT_EQ(ReadFile(enc, nullptr, "a").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFile(plain, &k, "b").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadFile((dir / "missing").string(), &k, "x").status().code(),
            StatusCode::kNotFound);
  std::ifstream in(enc, std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(raw.find("SNAPSHOT-MARKER"), std::string::npos);
  fs::remove_all(dir);
}

TEST(EncryptedFile, RamStagingDirIsPrivate) {
  auto d = MakeRamStagingDir();
  if (!d.ok()) GTEST_SKIP() << d.status().ToString();
  EXPECT_EQ(fs::status(*d).permissions() & fs::perms::all, fs::perms::owner_all);
  fs::remove_all(*d);
}

}  // namespace
}  // namespace deepkb::crypto
