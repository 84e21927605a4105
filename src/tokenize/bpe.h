// Byte-level BPE merge engine over token ids. Internal to deepkb::tokenize.
//
// A word (the bytes of one pre-tokenizer piece) starts as one symbol per byte (the id of that
// byte's vocabulary token); then, repeatedly, the adjacent pair with the lowest merge rank is
// replaced by its merged token, the leftmost pair winning ties — the same order as the Rust
// `tokenizers` and transformers.js (priority queue keyed by rank, then position). Short words use
// a quadratic scan on the stack, longer ones a binary heap over a linked list (O(n log n)).
// EncodeWord() remembers recent words (2..48 bytes, up to 16 ids) in a per-thread, direct-mapped
// cache of 8192 entries (about 1.1 MB per thread that encodes), tagged with the BpeMerges
// instance so tokenizers never see each other's entries.
// Thread safety: immutable after the Add*/Set* calls; EncodeWord() is const and reentrant (its
// cache is thread_local, never shared between threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace deepkb::tokenize::internal {

class BpeMerges {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  BpeMerges();

  // byte_ids[b] = id of the token for byte b. Merges are added in rank order (rank = call
  // index); a repeated pair keeps its last rank, as both reference implementations do.
  void SetByteIds(const uint32_t (&byte_ids)[256]);
  void Reserve(size_t merges);
  void AddMerge(uint32_t left, uint32_t right, uint32_t merged);

  // Appends the ids of `word` (non-empty bytes) to *out.
  void EncodeWord(std::string_view word, std::vector<uint32_t>* out) const;

  // The same with the algorithm chosen explicitly (tests compare the two).
  void EncodeWordScan(std::string_view word, std::vector<uint32_t>* out) const;
  void EncodeWordHeap(std::string_view word, std::vector<uint32_t>* out) const;

  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key;  // (left << 32) | right; kEmptyKey when free
    uint32_t rank;
    uint32_t merged;
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};

  // Rank and merged id of (left, right); rank == kNone when the pair does not merge.
  inline void Lookup(uint32_t left, uint32_t right, uint32_t* rank, uint32_t* merged) const {
    const uint64_t key = (uint64_t{left} << 32) | right;
    size_t h = Hash(key) & mask_;
    while (true) {
      const Slot& s = slots_[h];
      if (s.key == key) {
        *rank = s.rank;
        *merged = s.merged;
        return;
      }
      if (s.key == kEmptyKey) {
        *rank = kNone;
        return;
      }
      h = (h + 1) & mask_;
    }
  }
  static inline size_t Hash(uint64_t key) {
    key ^= key >> 29;
    key *= 0xBF58476D1CE4E5B9ull;
    key ^= key >> 32;
    return static_cast<size_t>(key);
  }
  void Grow();

  void EncodeWordUncached(std::string_view word, std::vector<uint32_t>* out) const;

  uint64_t instance_;  // unique per object ever constructed (cache tag)
  uint32_t byte_ids_[256] = {};
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  uint32_t next_rank_ = 0;
};

}  // namespace deepkb::tokenize::internal
