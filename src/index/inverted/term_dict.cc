#include "index/inverted/term_dict.h"

#include <algorithm>

#include "common/hash.h"

namespace deepkb::inverted {

namespace {

inline uint64_t Load64(const char* p, size_t n) {  // n <= 8 bytes, zero-padded
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  return w;
}

inline uint64_t Round(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

}  // namespace

uint64_t TermDict::Hash(std::string_view key) {
  // Eight bytes per multiply-xorshift round, the length folded into the seed, and SplitMix64's
  // finaliser so the low bits (the slot) and high bits (the tag) both depend on every byte.
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(key.size()) * 0xc2b2ae3d27d4eb4full);
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) h = Round(h, Load64(key.data() + i, 8));
  if (i < key.size()) h = Round(h, Load64(key.data() + i, key.size() - i));
  return SplitMix64(h);
}

size_t TermDict::SlotsFor(size_t n) {
  size_t s = 16;
  while (s < 2 * n) s *= 2;
  return s;
}

uint32_t TermDict::Find(std::string_view key, uint64_t hash) const {
  if (slots_.empty()) return kNone;
  const uint64_t tag = Tag(hash);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    const uint64_t s = slots_[i];
    if (s == 0) return kNone;
    if ((s >> 40) == tag) {
      const uint64_t record = (s & ((uint64_t{1} << 40) - 1)) - 1;
      if (Matches(record, key)) return Load32(record + 4);
    }
  }
}

void TermDict::PrefetchRecord(uint64_t hash) const {
  if (slots_.empty()) return;
  const uint64_t tag = Tag(hash);
  // A few slots at most (the table is at most half full, so probe runs are short).
  for (uint64_t i = hash & mask_, n = 0; n < 4; i = (i + 1) & mask_, ++n) {
    const uint64_t s = slots_[i];
    if (s == 0) return;
    if ((s >> 40) == tag) {
      __builtin_prefetch(arena_.data() + (s & ((uint64_t{1} << 40) - 1)) - 1);
      return;
    }
  }
}

void TermDict::Place(uint64_t hash, uint64_t record) {
  uint64_t i = hash & mask_;
  while (slots_[i] != 0) i = (i + 1) & mask_;
  slots_[i] = SlotOf(hash, record);
}

void TermDict::Rehash(size_t slots) {
  slots_.assign(slots, 0);
  mask_ = slots - 1;
  for (uint32_t id = 0; id < size(); ++id) Place(Hash(Key(id)), records_[id]);
}

uint32_t TermDict::Insert(std::string_view key, uint64_t hash, bool* inserted) {
  *inserted = false;
  if (const uint32_t id = Find(key, hash); id != kNone) return id;
  if (!HasRoomFor(1, key.size()) || key.size() > 0xFFFFFFFFu) return kNone;
  if (2 * (size() + 1) > slots_.size()) Rehash(SlotsFor(size() + 1));
  const auto id = static_cast<uint32_t>(size());
  const uint64_t record = arena_.size();
  const auto len = static_cast<uint32_t>(key.size());
  char header[kHeader];
  std::memcpy(header, &len, 4);
  std::memcpy(header + 4, &id, 4);
  arena_.append(header, kHeader);
  arena_.append(key.data(), key.size());
  records_.push_back(record);
  Place(hash, record);
  *inserted = true;
  return id;
}

void TermDict::Reserve(size_t n, size_t key_bytes) {
  n = std::min(n, kMaxKeys);
  records_.reserve(n);
  arena_.reserve(std::min<uint64_t>(key_bytes + n * kHeader, kMaxArena));
  if (SlotsFor(n) > slots_.size()) Rehash(SlotsFor(n));
}

void TermDict::ShrinkToFit() {
  arena_.shrink_to_fit();
  records_.shrink_to_fit();
  if (!slots_.empty() && SlotsFor(size()) < slots_.size()) Rehash(SlotsFor(size()));
}

void TermDict::Clear() {
  slots_.clear();
  mask_ = 0;
  arena_.clear();
  records_.clear();
}

}  // namespace deepkb::inverted
