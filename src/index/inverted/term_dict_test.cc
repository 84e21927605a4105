#include "index/inverted/term_dict.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace deepkb::inverted {
namespace {

TEST(TermDict, AssignsDenseIdsInInsertionOrder) {
  TermDict d;
  bool ins = false;
  EXPECT_EQ(d.Insert("banana", &ins), 0u);
  EXPECT_TRUE(ins);
  EXPECT_EQ(d.Insert("apple", &ins), 1u);
  EXPECT_TRUE(ins);
  EXPECT_EQ(d.Insert("banana", &ins), 0u);
  EXPECT_FALSE(ins);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.Key(0), "banana");
  EXPECT_EQ(d.Key(1), "apple");
  EXPECT_EQ(d.Find("apple"), 1u);
  EXPECT_EQ(d.Find("cherry"), TermDict::kNone);
  EXPECT_EQ(d.Find("appl"), TermDict::kNone);  // a prefix is another key
}

TEST(TermDict, EmptyDictionaryFindsNothing) {
  TermDict d;
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.Find(""), TermDict::kNone);
  EXPECT_EQ(d.Find("x"), TermDict::kNone);
  d.Prefetch(TermDict::Hash("x"));  // no table yet: must not touch memory
  d.PrefetchRecord(TermDict::Hash("x"));
}

TEST(TermDict, KeysWithEmbeddedZerosAndTheEmptyKey) {
  TermDict d;
  bool ins = false;
  const std::string a("a\0b", 3), b("a\0c", 3), c("a", 1);
  EXPECT_EQ(d.Insert(a, &ins), 0u);
  EXPECT_EQ(d.Insert(b, &ins), 1u);
  EXPECT_EQ(d.Insert(c, &ins), 2u);
  EXPECT_EQ(d.Insert("", &ins), 3u);
  EXPECT_TRUE(ins);
  EXPECT_EQ(d.Find(a), 0u);
  EXPECT_EQ(d.Find(b), 1u);
  EXPECT_EQ(d.Find(c), 2u);
  EXPECT_EQ(d.Find(""), 3u);
  EXPECT_EQ(d.Key(3), "");
  EXPECT_EQ(d.Key(1), b);
}

TEST(TermDict, HashDependsOnEveryByte) {
  // Keys that differ in one byte (in the 8-byte tail and in full words) or only in length.
  std::vector<std::string> keys = {"",
                                   "a",
                                   "b",
                                   "ab",
                                   "ba",
                                   "abcdefgh",
                                   "abcdefgi",
                                   "abcdefghX",
                                   "abcdefghY",
                                   std::string("a\0", 2),
                                   std::string(64, 'z'),
                                   std::string(63, 'z') + "y"};
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = i + 1; j < keys.size(); ++j) {
      EXPECT_NE(TermDict::Hash(keys[i]), TermDict::Hash(keys[j])) << i << " " << j;
    }
  }
}

TEST(TermDict, AgreesWithAReferenceMapThroughGrowth) {
  // Random terms of 1-40 bytes (CJK-like multi-byte ones included), many repeats, checked
  // against std::unordered_map after every growth step and at the end.
  std::mt19937_64 rng(42);
  std::unordered_map<std::string, uint32_t> ref;
  TermDict d;
  const char* syllables[] = {"ka", "to", "中", "文", "x", "9", "-", "ing", "の", "ß"};
  for (int i = 0; i < 200000; ++i) {
    std::string key;
    const int parts = 1 + static_cast<int>(rng() % 12);
    for (int p = 0; p < parts; ++p) key += syllables[rng() % 10];
    bool ins = false;
    const uint32_t id = d.Insert(key, &ins);
    auto [it, fresh] = ref.emplace(key, static_cast<uint32_t>(ref.size()));
    ASSERT_EQ(ins, fresh) << key;
    ASSERT_EQ(id, it->second) << key;
  }
  ASSERT_EQ(d.size(), ref.size());
  for (const auto& [key, id] : ref) {
    ASSERT_EQ(d.Find(key), id);
    ASSERT_EQ(d.Key(id), key);
  }
  // Keys never inserted (the prefetch hints read only the table: checked under ASan).
  for (int i = 0; i < 1000; ++i) {
    const std::string miss = "absent-" + std::to_string(i);
    d.Prefetch(TermDict::Hash(miss));
    d.PrefetchRecord(TermDict::Hash(miss));
    EXPECT_EQ(d.Find(miss), TermDict::kNone);
  }
  for (const auto& [key, id] : ref) d.PrefetchRecord(TermDict::Hash(key));
  d.ShrinkToFit();
  for (const auto& [key, id] : ref) ASSERT_EQ(d.Find(key), id);
}

TEST(TermDict, ReserveAndClear) {
  TermDict d;
  d.Reserve(1000, 8000);
  const size_t before = d.MemoryBytes();
  bool ins = false;
  for (int i = 0; i < 1000; ++i) d.Insert("term" + std::to_string(i), &ins);
  EXPECT_EQ(d.MemoryBytes(), before);  // no rehash or arena growth within the reservation
  EXPECT_EQ(d.Find("term999"), 999u);
  d.Clear();
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.Find("term1"), TermDict::kNone);
  EXPECT_EQ(d.Insert("term1", &ins), 0u);
  EXPECT_TRUE(ins);
}

}  // namespace
}  // namespace deepkb::inverted
