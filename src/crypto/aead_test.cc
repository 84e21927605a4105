#include "crypto/aead.h"

#include <gtest/gtest.h>

namespace deepkb::crypto {
namespace {

DataKey Key() {
  auto k = DataKey::Generate();
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

TEST(Aead, SealOpenRoundTrip) {
  DataKey k = Key();
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{4068}, size_t{100000}}) {
    const std::string plain(n, 'p');
    auto sealed = SealString(k, "aad", plain);
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->size(), n + kNonceBytes + kTagBytes);
    if (n >= 16) {
      EXPECT_EQ(sealed->find(plain.substr(0, 16)), std::string::npos);
    }
    auto opened = OpenString(k, "aad", *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(Aead, NonceIsFreshEveryTime) {
  DataKey k = Key();
  auto a = SealString(k, "", "same message");
  auto b = SealString(k, "", "same message");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->substr(0, kNonceBytes), b->substr(0, kNonceBytes));
  EXPECT_NE(*a, *b);
}

TEST(Aead, EveryFlippedByteIsDetected) {
  DataKey k = Key();
  auto sealed = SealString(k, "ctx", "attack at dawn, bring the documents");
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string bad = *sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto opened = OpenString(k, "ctx", bad);
    ASSERT_FALSE(opened.ok()) << "byte " << i;
    EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  }
}

TEST(Aead, WrongKeyOrAadFails) {
  DataKey k = Key(), other = Key();
  auto sealed = SealString(k, "ctx", "secret");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(OpenString(other, "ctx", *sealed).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(OpenString(k, "ctx2", *sealed).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(OpenString(k, "ctx", sealed->substr(0, 10)).status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(OpenString(k, "ctx", *sealed).ok());
}

TEST(Aead, DataKeyFromBytesChecksLength) {
  uint8_t b[32] = {};
  EXPECT_TRUE(DataKey::FromBytes({b, 32}).ok());
  EXPECT_FALSE(DataKey::FromBytes({b, 31}).ok());
}

TEST(Aead, SecretBytesCopyAndMove) {
  SecretBytes a("abc", 3);
  SecretBytes b = a;
  SecretBytes c = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  ASSERT_EQ(b.size(), 3u);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), 3), "abc");
  b = c;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), 3), "abc");
}

}  // namespace
}  // namespace deepkb::crypto
