#include "tokenize/bpe.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>

namespace deepkb::tokenize::internal {
namespace {
constexpr size_t kScanMax = 24;  // words up to this many bytes use the stack-only scan

// The per-thread word cache.
constexpr size_t kCacheSlots = 8192;
constexpr size_t kCacheMaxWord = 48;
constexpr size_t kCacheMaxIds = 16;
struct CacheEntry {
  uint64_t owner = 0;  // BpeMerges instance; 0 = empty
  uint8_t word_len = 0;
  uint8_t n_ids = 0;
  char word[kCacheMaxWord];
  uint32_t ids[kCacheMaxIds];
};

std::atomic<uint64_t> next_instance{1};

inline uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h ^ (h >> 29);
}
}  // namespace

BpeMerges::BpeMerges() : instance_(next_instance.fetch_add(1)) {}

void BpeMerges::SetByteIds(const uint32_t (&byte_ids)[256]) {
  std::copy(std::begin(byte_ids), std::end(byte_ids), std::begin(byte_ids_));
}

void BpeMerges::Reserve(size_t merges) {
  size_t cap = 16;
  while (cap < merges * 2 + 16) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{kEmptyKey, 0, 0});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.key == kEmptyKey) continue;
    size_t h = Hash(s.key) & mask_;
    while (slots_[h].key != kEmptyKey) h = (h + 1) & mask_;
    slots_[h] = s;
  }
}

void BpeMerges::Grow() {
  Reserve(std::max<size_t>(count_ * 2, 64));
}

void BpeMerges::AddMerge(uint32_t left, uint32_t right, uint32_t merged) {
  if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) Grow();
  const uint64_t key = (uint64_t{left} << 32) | right;
  const uint32_t rank = next_rank_++;
  size_t h = Hash(key) & mask_;
  while (slots_[h].key != kEmptyKey && slots_[h].key != key) h = (h + 1) & mask_;
  if (slots_[h].key == kEmptyKey) ++count_;
  slots_[h] = Slot{key, rank, merged};
}

void BpeMerges::EncodeWord(std::string_view word, std::vector<uint32_t>* out) const {
  if (word.size() == 1) {
    out->push_back(byte_ids_[static_cast<unsigned char>(word[0])]);
    return;
  }
  if (word.size() > kCacheMaxWord) {
    EncodeWordUncached(word, out);
    return;
  }
  thread_local std::unique_ptr<CacheEntry[]> cache;
  if (!cache) cache.reset(new CacheEntry[kCacheSlots]);
  CacheEntry& e = cache[HashBytes(word) & (kCacheSlots - 1)];
  if (e.owner == instance_ && e.word_len == word.size() &&
      std::memcmp(e.word, word.data(), word.size()) == 0) {
    out->insert(out->end(), e.ids, e.ids + e.n_ids);
    return;
  }
  const size_t before = out->size();
  EncodeWordUncached(word, out);
  const size_t n = out->size() - before;
  if (n <= kCacheMaxIds) {
    e.owner = instance_;
    e.word_len = static_cast<uint8_t>(word.size());
    e.n_ids = static_cast<uint8_t>(n);
    std::memcpy(e.word, word.data(), word.size());
    std::copy(out->begin() + static_cast<std::ptrdiff_t>(before), out->end(), e.ids);
  }
}

void BpeMerges::EncodeWordUncached(std::string_view word, std::vector<uint32_t>* out) const {
  if (word.size() <= kScanMax) {
    EncodeWordScan(word, out);
  } else {
    EncodeWordHeap(word, out);
  }
}

void BpeMerges::EncodeWordScan(std::string_view word, std::vector<uint32_t>* out) const {
  const size_t n0 = word.size();
  if (n0 > kScanMax) {
    EncodeWordHeap(word, out);
    return;
  }
  uint32_t sym[kScanMax];
  uint32_t rank[kScanMax];    // rank[k]: rank of (sym[k], sym[k+1])
  uint32_t merged[kScanMax];  // merged[k]: the token that pair becomes
  size_t n = n0;
  for (size_t k = 0; k < n; ++k) sym[k] = byte_ids_[static_cast<unsigned char>(word[k])];
  for (size_t k = 0; k + 1 < n; ++k) Lookup(sym[k], sym[k + 1], &rank[k], &merged[k]);
  while (n > 1) {
    size_t best = 0;
    uint32_t best_rank = kNone;
    for (size_t k = 0; k + 1 < n; ++k) {
      if (rank[k] < best_rank) {
        best_rank = rank[k];
        best = k;
      }
    }
    if (best_rank == kNone) break;
    sym[best] = merged[best];
    for (size_t k = best + 1; k + 1 < n; ++k) {
      sym[k] = sym[k + 1];
      rank[k] = rank[k + 1];
      merged[k] = merged[k + 1];
    }
    --n;
    if (best > 0) Lookup(sym[best - 1], sym[best], &rank[best - 1], &merged[best - 1]);
    if (best + 1 < n) Lookup(sym[best], sym[best + 1], &rank[best], &merged[best]);
  }
  out->insert(out->end(), sym, sym + n);
}

void BpeMerges::EncodeWordHeap(std::string_view word, std::vector<uint32_t>* out) const {
  struct Sym {
    uint32_t id;
    int32_t prev;
    int32_t next;
  };
  struct Cand {
    uint32_t rank;
    uint32_t pos;
    uint32_t left;
    uint32_t right;
    uint32_t merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Sym> syms;
  thread_local std::vector<Cand> heap;
  const size_t n = word.size();
  syms.resize(n);
  for (size_t k = 0; k < n; ++k) {
    syms[k] = Sym{byte_ids_[static_cast<unsigned char>(word[k])], static_cast<int32_t>(k) - 1,
                  k + 1 < n ? static_cast<int32_t>(k + 1) : -1};
  }
  heap.clear();
  const auto cmp = std::greater<Cand>();
  auto push_pair = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t nx = syms[pos].next;
    if (nx < 0) return;
    uint32_t r, m;
    Lookup(syms[pos].id, syms[nx].id, &r, &m);
    if (r == kNone) return;
    heap.push_back(Cand{r, static_cast<uint32_t>(pos), syms[pos].id, syms[nx].id, m});
    std::push_heap(heap.begin(), heap.end(), cmp);
  };
  for (size_t k = 0; k + 1 < n; ++k) push_pair(static_cast<int32_t>(k));
  constexpr uint32_t kDead = kNone;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Cand c = heap.back();
    heap.pop_back();
    Sym& s = syms[c.pos];
    if (s.id != c.left || s.next < 0) continue;
    Sym& r = syms[s.next];
    if (r.id != c.right) continue;
    // Merge s and r into s.
    s.id = c.merged;
    const int32_t after = r.next;
    r.id = kDead;
    s.next = after;
    if (after >= 0) syms[after].prev = static_cast<int32_t>(c.pos);
    if (s.prev >= 0) push_pair(s.prev);
    push_pair(static_cast<int32_t>(c.pos));
  }
  for (int32_t k = 0; k >= 0; k = syms[k].next) out->push_back(syms[k].id);
  if (syms.capacity() > (size_t{1} << 20)) {  // do not keep a huge word's buffers
    std::vector<Sym>().swap(syms);
    std::vector<Cand>().swap(heap);
  }
}

}  // namespace deepkb::tokenize::internal
