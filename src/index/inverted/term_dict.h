// TermDict: the keyword accelerator's term dictionary — term bytes to dense ids 0, 1, 2, … in
// insertion order (the index of the term's entry in KeywordIndex::terms_).
//
// Why not std::unordered_map<std::string, uint32_t> (what it replaces): at a million chunks the
// dictionary holds ~870k terms, far beyond the CPU caches, and an update looks up ~150 distinct
// terms per chunk written and as many per chunk removed. A node-based map costs a dependent chain
// of cache misses per look-up (bucket array, node, key bytes) and gives a caller nothing to
// prefetch with, so the look-ups of one chunk wait on memory one after the other — measured as
// the largest single item of an update's time. Here:
//  - open addressing with linear probing over a power-of-two array of 8-byte slots, at most half
//    full; a slot holds 24 bits of the key's hash (a tag) and where the key's record starts in
//    the arena (+ 1; 0 = empty), so a probe reads one cache line and follows a slot into the
//    arena only when its tag matches (a false match has probability 2^-24 per slot compared);
//  - a record is the key's length and id followed by its bytes, so confirming a match and
//    learning the id is ONE more cache line, at an address known from the slot alone;
//  - Hash() is exposed, Prefetch(hash) starts loading the slot a look-up will read and, once that
//    has arrived, PrefetchRecord(hash) the record its tag points at. A caller resolving many keys
//    (KeywordIndex::Add/Remove) computes the hashes first — outside its lock — and keeps several
//    look-ups in flight instead of one.
// Ids are never removed one by one (the index drops empty terms by building a new dictionary
// during compaction). Hash values are not stable across versions and never persisted.
//
// Limits: up to 2^31 keys and 2^40 bytes of records; Insert returns kNone beyond them.
//
// Thread safety: none of its own (KeywordIndex guards it with its lock). Key() views stay valid
// until the next Insert.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace deepkb::inverted {

class TermDict {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  static constexpr size_t kMaxKeys = size_t{1} << 31;
  static constexpr uint64_t kMaxArena = (uint64_t{1} << 40) - 2;

  static uint64_t Hash(std::string_view key);

  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  std::string_view Key(uint32_t id) const {
    const uint64_t at = records_[id];
    return std::string_view(arena_.data() + at + kHeader, Load32(at));
  }

  // The id of `key` (whose Hash() is `hash`), or kNone.
  uint32_t Find(std::string_view key, uint64_t hash) const;
  uint32_t Find(std::string_view key) const { return Find(key, Hash(key)); }
  // The id of `key`, inserting it as id size() when absent (*inserted tells which). kNone when
  // the dictionary is full (see Limits).
  uint32_t Insert(std::string_view key, uint64_t hash, bool* inserted);
  uint32_t Insert(std::string_view key, bool* inserted) { return Insert(key, Hash(key), inserted); }

  // Whether `keys` more keys of `key_bytes` bytes in all can certainly be inserted.
  bool HasRoomFor(size_t keys, size_t key_bytes) const {
    return size() + keys <= kMaxKeys && arena_.size() + key_bytes + keys * kHeader <= kMaxArena;
  }

  // Starts loading the slot a Find/Insert of a key with this hash reads first.
  void Prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }
  // Starts loading the record of the first slot with this hash's tag (reads the slots: call it
  // some time after Prefetch(hash)).
  void PrefetchRecord(uint64_t hash) const;

  // Sizes the table for `n` keys (and the arena for `key_bytes` of key bytes), so inserting them
  // rehashes nothing.
  void Reserve(size_t n, size_t key_bytes = 0);
  void ShrinkToFit();
  void Clear();
  size_t MemoryBytes() const {
    return slots_.capacity() * sizeof(uint64_t) + arena_.capacity() +
           records_.capacity() * sizeof(uint64_t) + sizeof(*this);
  }

 private:
  static constexpr size_t kHeader = 8;  // record: uint32 length, uint32 id, then the bytes
  static size_t SlotsFor(size_t n);     // power of two >= 2n (at least 16)
  static uint64_t Tag(uint64_t hash) { return hash >> 40; }  // 24 bits
  static uint64_t SlotOf(uint64_t hash, uint64_t record) { return Tag(hash) << 40 | (record + 1); }
  uint32_t Load32(uint64_t at) const {
    uint32_t v;
    std::memcpy(&v, arena_.data() + at, sizeof v);
    return v;
  }
  bool Matches(uint64_t record, std::string_view key) const {
    return Load32(record) == key.size() &&
           std::memcmp(arena_.data() + record + kHeader, key.data(), key.size()) == 0;
  }
  void Rehash(size_t slots);
  // Places a record (whose key hashes to `hash`) into the first free slot of its probe sequence.
  void Place(uint64_t hash, uint64_t record);

  std::vector<uint64_t> slots_;    // Tag(hash) << 40 | (record offset + 1); 0 = empty
  uint64_t mask_ = 0;              // slots_.size() - 1
  std::string arena_;              // records, back to back
  std::vector<uint64_t> records_;  // id → record offset
};

}  // namespace deepkb::inverted
