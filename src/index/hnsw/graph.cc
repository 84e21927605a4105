// Graph storage, insertion and tombstone unlinking. See graph.h for the layout and hnsw_index.cc
// for the locking rules.
#include "index/hnsw/graph.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/hash.h"
#include "index/hnsw/search.h"

namespace deepkb::hnsw::internal {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kPage = 4096;

size_t RoundUp(size_t x, size_t a) {
  return (x + a - 1) / a * a;
}

uint64_t Mix64(uint64_t x) { return SplitMix64(x); }

// Anonymous mapping of `bytes`, 2 MiB aligned and advised for huge pages when that large.
char* MapChunk(size_t bytes) {
  if (bytes < kHugePage) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  size_t span = bytes + kHugePage;
  void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(p, aligned - start);
  uintptr_t end = start + span;
  if (end > aligned + bytes)
    munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
#ifdef MADV_HUGEPAGE
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<char*>(aligned);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ChunkedArray

ChunkedArray::~ChunkedArray() {
  FreeAll();
}

void ChunkedArray::Init(size_t record_bytes, uint32_t base_slots) {
  record_bytes_ = record_bytes;
  uint64_t b = 64;
  while (b < base_slots && b < (uint64_t{1} << 30)) b <<= 1;
  base_ = b;
  base_shift_ = __builtin_ctzll(b);
}

Status ChunkedArray::EnsureCapacity(uint32_t n) {
  while (capacity_.load(std::memory_order_relaxed) < n) {
    int k = num_chunks_;
    if (k >= kMaxChunks) return ResourceExhaustedError("hnsw: too many slots");
    size_t slots = static_cast<size_t>(base_) << k;
    size_t bytes = RoundUp(slots * record_bytes_, kPage);
    char* p = MapChunk(bytes);
    if (!p) {
      return ResourceExhaustedError("hnsw: cannot map " + std::to_string(bytes >> 20) +
                                    " MiB for index slots");
    }
    chunk_bytes_[k] = bytes;
    chunks_[k].store(p, std::memory_order_release);
    num_chunks_ = k + 1;
    uint64_t cap = base_ * ((uint64_t{1} << (k + 1)) - 1);
    capacity_.store(static_cast<uint32_t>(std::min<uint64_t>(cap, kMaxSlots)),
                    std::memory_order_release);
  }
  return Status::Ok();
}

void ChunkedArray::FreeAll() {
  for (int k = 0; k < num_chunks_; ++k) {
    char* p = chunks_[k].exchange(nullptr);
    if (p) munmap(p, chunk_bytes_[k]);
    chunk_bytes_[k] = 0;
  }
  num_chunks_ = 0;
  capacity_.store(0);
}

size_t ChunkedArray::ResidentBytes(uint32_t used) const {
  size_t total = 0;
  uint64_t first = 0;
  for (int k = 0; k < num_chunks_ && first < used; ++k) {
    uint64_t slots = base_ << k;
    uint64_t in_chunk = std::min<uint64_t>(slots, used - first);
    size_t page = chunk_bytes_[k] >= kHugePage ? kHugePage : kPage;
    total += std::min(chunk_bytes_[k], RoundUp(in_chunk * record_bytes_, page));
    first += slots;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// PointDistance

PointDistance::PointDistance(const Graph& g, const float* q)
    : g_(g), q_(q), codes_(!g.has_floats()), in_slot_(!g.int8()) {
  if (codes_) {
    w_.resize(g.dim());
    offset_ = g.quantizer().PrepareQuery(q, w_.data());
    qn2_ = g.kernels().dot(q, q, g.dim());
  }
}

float PointDistance::To(uint32_t s) const {
  const Kernels& k = g_.kernels();
  if (codes_) {
    float ip = offset_ + k.dot_u8(w_.data(), g_.Codes(s), g_.dim());
    return g_.is_l2() ? qn2_ - 2 * ip + g_.Meta(s)->aux : 1.0f - ip;
  }
  const float* v = in_slot_ ? g_.Vec(s) : g_.StoredFloat(s);
  return g_.is_l2() ? k.l2_sqr(q_, v, g_.dim()) : 1.0f - k.dot(q_, v, g_.dim());
}

// ---------------------------------------------------------------------------------------------
// Graph

Graph::Graph(const HnswOptions& opts, const Kernels& kernels)
    : opts_(opts), kernels_(kernels), dim_(opts.dim), M_(opts.M), M0_(2 * opts.M), rng_(opts.seed) {
  level_mult_ = 1.0 / std::log(static_cast<double>(M_));
  vec_bytes_ = opts.int8 ? dim_ : dim_ * sizeof(float);
  meta_off_ = RoundUp(vec_bytes_, 8);
  links_off_ = meta_off_ + sizeof(SlotMeta);
  stride_ = RoundUp(links_off_ + sizeof(uint32_t) * (1 + M0_), 64);
  uint32_t base = static_cast<uint32_t>(std::min<size_t>(opts.initial_capacity, kMaxSlots));
  slots_.Init(stride_, base);
  if (opts.int8) floats_.Init(RoundUp(dim_ * sizeof(float), 64), base);
  entry_.store(kNoSlot);
}

Graph::~Graph() {
  uint32_t n = used_slots();
  for (uint32_t s = 0; s < n; ++s) delete[] Meta(s)->upper;
}

int Graph::RandomLevel() {
  double u;
  {
    std::lock_guard<std::mutex> l(rng_mu_);
    u = std::generate_canonical<double, 53>(rng_);
  }
  if (u <= 0) u = 1e-300;
  double level = -std::log(u) * level_mult_;
  return static_cast<int>(std::min<double>(level, kMaxLevel));
}

Result<uint32_t> Graph::AllocSlot() {
  std::lock_guard<std::mutex> l(alloc_mu_);
  if (!free_.empty()) {
    uint32_t s = free_.back();
    free_.pop_back();
    return s;
  }
  uint32_t s = used_.load(std::memory_order_relaxed);
  if (s >= kMaxSlots) return ResourceExhaustedError("hnsw: index is full");
  RETURN_IF_ERROR(slots_.EnsureCapacity(s + 1));
  if (opts_.int8 && floats_present_.load(std::memory_order_relaxed)) {
    RETURN_IF_ERROR(floats_.EnsureCapacity(s + 1));
  }
  used_.store(s + 1, std::memory_order_release);
  return s;
}

size_t Graph::free_slots() const {
  std::lock_guard<std::mutex> l(alloc_mu_);
  return free_.size();
}

void Graph::WriteVector(uint32_t s, const float* vec) {
  if (!opts_.int8) {
    std::memcpy(Slot(s), vec, dim_ * sizeof(float));
    return;
  }
  if (floats_present_.load(std::memory_order_relaxed)) {
    std::memcpy(floats_.At(s), vec, dim_ * sizeof(float));
  }
  if (trained_.load(std::memory_order_relaxed)) {
    uint8_t* codes = reinterpret_cast<uint8_t*>(Slot(s));
    size_t clamped = quantizer_.Encode(vec, codes);
    if (clamped) clamped_.fetch_add(clamped, std::memory_order_relaxed);
    encoded_.fetch_add(1, std::memory_order_relaxed);
    Meta(s)->aux = quantizer_.DecodedNormSq(codes);
  }
}

void Graph::FloatsOf(uint32_t s, float* out) const {
  if (!opts_.int8) {
    std::memcpy(out, Vec(s), dim_ * sizeof(float));
  } else if (has_floats()) {
    std::memcpy(out, StoredFloat(s), dim_ * sizeof(float));
  } else {
    quantizer_.Decode(Codes(s), out);
  }
}

void Graph::SelectNeighbors(std::vector<Candidate>& cands, size_t m) const {
  if (cands.size() <= m) return;
  std::vector<Candidate> kept;
  kept.reserve(m);
  std::vector<float> buf;
  for (const Candidate& c : cands) {
    if (kept.size() >= m) break;
    // Distances from c to the kept ones, in the construction representation.
    const float* cv;
    if (!opts_.int8) {
      cv = Vec(c.slot);
    } else if (has_floats()) {
      cv = StoredFloat(c.slot);
    } else {
      buf.resize(dim_);
      quantizer_.Decode(Codes(c.slot), buf.data());
      cv = buf.data();
    }
    PointDistance pd(*this, cv);
    bool good = true;
    for (const Candidate& r : kept) {
      if (pd.To(r.slot) < c.dist) {
        good = false;
        break;
      }
    }
    if (good) kept.push_back(c);
  }
  cands.swap(kept);
}

void Graph::SetLinks(uint32_t s, int level, const std::vector<Candidate>& sel) {
  SpinGuard guard(&Meta(s)->lock);
  uint32_t* list = Links(s, level);
  size_t n = std::min(sel.size(), MaxLinks(level));
  for (size_t i = 0; i < n; ++i) StoreLink(list + 1 + i, sel[i].slot);
  StoreLink(list, static_cast<uint32_t>(n));
}

void Graph::AddReverseLink(uint32_t n, uint32_t s, int level) {
  SpinGuard guard(&Meta(n)->lock);
  uint32_t* list = Links(n, level);
  size_t cap = MaxLinks(level);
  uint32_t cnt = std::min<uint32_t>(LoadLink(list), static_cast<uint32_t>(cap));
  for (uint32_t i = 0; i < cnt; ++i) {
    if (LoadLink(list + 1 + i) == s) return;
  }
  if (cnt < cap) {
    StoreLink(list + 1 + cnt, s);
    StoreLink(list, cnt + 1);
    return;
  }
  // Full: choose among the current neighbours plus s with the heuristic, dropping tombstones.
  std::vector<float> buf(dim_);
  FloatsOf(n, buf.data());
  PointDistance pd(*this, buf.data());
  std::vector<Candidate> cands;
  cands.reserve(cnt + 1);
  for (uint32_t i = 0; i < cnt; ++i) {
    uint32_t id = LoadLink(list + 1 + i);
    if (State(id) != kLive) continue;
    cands.push_back({pd.To(id), id});
  }
  cands.push_back({pd.To(s), s});
  std::sort(cands.begin(), cands.end(),
            [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
  SelectNeighbors(cands, cap);
  for (size_t i = 0; i < cands.size(); ++i) StoreLink(list + 1 + i, cands[i].slot);
  StoreLink(list, static_cast<uint32_t>(cands.size()));
}

Result<uint32_t> Graph::Insert(Label label, const float* vec) {
  ASSIGN_OR_RETURN(uint32_t s, AllocSlot());
  int level = RandomLevel();
  WriteVector(s, vec);
  SlotMeta* m = Meta(s);
  m->label = label;
  m->level = static_cast<uint8_t>(level);
  m->lock = 0;
  if (level > 0) {
    size_t words = static_cast<size_t>(level) * (M_ + 1);
    m->upper = new uint32_t[words]();
    upper_bytes_.fetch_add(words * sizeof(uint32_t), std::memory_order_relaxed);
  } else {
    m->upper = nullptr;
  }
  StoreLink(Links(s, 0), 0);
  SetState(s, kLive);

  // Inserts that raise the top level hold entry_mu_ throughout, as in the paper's reference
  // implementation, so two of them cannot both believe they are the new entry point.
  std::unique_lock<std::mutex> entry_lock(entry_mu_, std::defer_lock);
  uint64_t e = entry();
  if (EntrySlot(e) == kNoSlot || level > EntryLevel(e)) {
    entry_lock.lock();
    e = entry();
    if (EntrySlot(e) == kNoSlot) {
      entry_.store((static_cast<uint64_t>(level) << 32) | s, std::memory_order_release);
      return s;
    }
    if (level <= EntryLevel(e)) entry_lock.unlock();
  }
  int top = EntryLevel(e);
  uint32_t cur = GreedyForInsert(*this, vec, EntrySlot(e), top, level);
  for (int l = std::min(level, top); l >= 0; --l) {
    std::vector<Candidate> w = SearchLayerForInsert(*this, vec, cur, l, opts_.ef_construction, s);
    if (w.empty()) continue;
    cur = w[0].slot;
    SelectNeighbors(w, M_);
    SetLinks(s, l, w);
    for (const Candidate& c : w) AddReverseLink(c.slot, s, l);
  }
  if (level > top) {
    entry_.store((static_cast<uint64_t>(level) << 32) | s, std::memory_order_release);
  }
  return s;
}

void Graph::MarkDeleted(uint32_t s) {
  SetState(s, kDeleted);
  deleted_.fetch_add(1, std::memory_order_acq_rel);
}

void Graph::RepairList(uint32_t p, int level, const std::vector<uint8_t>& dead,
                       std::vector<Candidate>& scratch) {
  auto is_dead = [&](uint32_t id) { return id < dead.size() && dead[id]; };
  // Held throughout: concurrent inserts may be adding reverse links to p.
  SpinGuard guard(&Meta(p)->lock);
  uint32_t* list = Links(p, level);
  uint32_t cnt = std::min<uint32_t>(LoadLink(list), static_cast<uint32_t>(MaxLinks(level)));
  std::vector<uint32_t> ids;
  bool touched = false;
  for (uint32_t i = 0; i < cnt; ++i) {
    uint32_t id = LoadLink(list + 1 + i);
    if (!is_dead(id)) {
      ids.push_back(id);
      continue;
    }
    touched = true;
    // Replace a dead neighbour by its own neighbours on this level.
    const uint32_t* dl = Links(id, level);
    uint32_t dc = std::min<uint32_t>(LoadLink(dl), static_cast<uint32_t>(MaxLinks(level)));
    for (uint32_t j = 0; j < dc; ++j) ids.push_back(LoadLink(dl + 1 + j));
  }
  if (!touched) return;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<float> buf(dim_);
  FloatsOf(p, buf.data());
  PointDistance pd(*this, buf.data());
  scratch.clear();
  for (uint32_t id : ids) {
    if (id == p || is_dead(id) || State(id) != kLive) continue;
    scratch.push_back({pd.To(id), id});
  }
  std::sort(scratch.begin(), scratch.end(),
            [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
  SelectNeighbors(scratch, MaxLinks(level));
  for (size_t i = 0; i < scratch.size(); ++i) StoreLink(list + 1 + i, scratch[i].slot);
  StoreLink(list, static_cast<uint32_t>(scratch.size()));
}

std::vector<uint32_t> Graph::CollectDeleted() const {
  std::vector<uint32_t> out;
  uint32_t n = used_slots();
  for (uint32_t s = 0; s < n; ++s) {
    if (State(s) == kDeleted) out.push_back(s);
  }
  return out;
}

void Graph::UnlinkFrom(const std::vector<uint32_t>& dead_slots, bool retire) {
  uint32_t n = used_slots();
  std::vector<uint8_t> dead(n, 0);
  for (uint32_t s : dead_slots) dead[s] = 1;
  std::vector<Candidate> scratch;
  // Every node still reachable (live, or tombstoned later than dead_slots were collected) must
  // stop pointing at the dead ones.
  for (uint32_t p = 0; p < n; ++p) {
    if (dead[p]) continue;
    uint8_t st = State(p);
    if (st != kLive && st != kDeleted) continue;
    int lv = Meta(p)->level;
    for (int l = 0; l <= lv; ++l) {
      const uint32_t* list = Links(p, l);
      uint32_t cnt = std::min<uint32_t>(LoadLink(list), static_cast<uint32_t>(MaxLinks(l)));
      bool touched = false;
      for (uint32_t i = 0; i < cnt && !touched; ++i) {
        uint32_t id = LoadLink(list + 1 + i);
        touched = id < n && dead[id];
      }
      if (touched) RepairList(p, l, dead, scratch);
    }
  }
  if (!retire) return;
  // A dead entry point is replaced by the node with the highest level (live ones first).
  uint64_t e = entry();
  if (EntrySlot(e) != kNoSlot && dead[EntrySlot(e)]) {
    uint32_t best = kNoSlot;
    int best_rank = -1;
    for (uint32_t s = 0; s < n; ++s) {
      uint8_t st = State(s);
      if (dead[s] || (st != kLive && st != kDeleted)) continue;
      int rank = Meta(s)->level * 2 + (st == kLive ? 1 : 0);
      if (rank > best_rank) {
        best = s;
        best_rank = rank;
      }
    }
    std::lock_guard<std::mutex> l(entry_mu_);
    SetEntry(best, best == kNoSlot ? 0 : Meta(best)->level);
  }
  for (uint32_t s : dead_slots) SetState(s, kRetired);
  deleted_.fetch_sub(dead_slots.size(), std::memory_order_acq_rel);
}

void Graph::ReleaseRetired(const std::vector<uint32_t>& slots) {
  std::lock_guard<std::mutex> l(alloc_mu_);
  for (uint32_t s : slots) {
    SlotMeta* m = Meta(s);
    if (m->upper) {
      upper_bytes_.fetch_sub(static_cast<size_t>(m->level) * (M_ + 1) * sizeof(uint32_t),
                             std::memory_order_relaxed);
      delete[] m->upper;
      m->upper = nullptr;
    }
    SetState(s, kFree);
    free_.push_back(s);
  }
}

// ---------------------------------------------------------------------------------------------
// int8

bool Graph::TrainQuantizer() {
  uint32_t n = used_slots();
  QuantizerTrainer trainer(dim_);
  for (uint32_t s = 0; s < n; ++s) {
    if (State(s) == kLive) trainer.Observe(StoredFloat(s));
  }
  if (trainer.observed() == 0) return false;
  quantizer_ = trainer.Finish();
  for (uint32_t s = 0; s < n; ++s) {
    uint8_t st = State(s);
    if (st != kLive && st != kDeleted) continue;
    uint8_t* codes = reinterpret_cast<uint8_t*>(Slot(s));
    quantizer_.Encode(StoredFloat(s), codes);
    Meta(s)->aux = quantizer_.DecodedNormSq(codes);
  }
  trained_on_ = trainer.observed();
  clamped_.store(0, std::memory_order_relaxed);
  encoded_.store(0, std::memory_order_relaxed);
  trained_.store(true, std::memory_order_release);
  return true;
}

void Graph::SetQuantizer(ScalarQuantizer q, size_t trained_on) {
  quantizer_ = std::move(q);
  trained_on_ = trained_on;
  trained_.store(true, std::memory_order_release);
}

void Graph::MarkFloatsAbsent() {
  if (opts_.int8 && !opts_.keep_float_vectors && trained_.load()) {
    floats_present_.store(false, std::memory_order_release);
  }
}

void Graph::FreeFloats() {
  if (opts_.int8 && !floats_present_.load(std::memory_order_acquire)) floats_.FreeAll();
}

// ---------------------------------------------------------------------------------------------
// Label map

uint32_t Graph::FindLocked(Label label) const {
  if (map_.empty()) return kNoSlot;
  uint32_t tag = static_cast<uint32_t>(Mix64(label) >> 32);
  size_t mask = map_.size() - 1;
  for (size_t i = tag & mask;; i = (i + 1) & mask) {
    const MapEntry& e = map_[i];
    if (e.slot == kNoSlot) return kNoSlot;
    if (e.tag == tag && Meta(e.slot)->label == label) return e.slot;
  }
}

void Graph::MapGrow() {
  std::vector<MapEntry> old;
  old.swap(map_);
  map_.assign(old.empty() ? 16 : old.size() * 2, MapEntry{kNoSlot, 0});
  size_t mask = map_.size() - 1;
  for (const MapEntry& e : old) {
    if (e.slot == kNoSlot) continue;
    size_t i = e.tag & mask;
    while (map_[i].slot != kNoSlot) i = (i + 1) & mask;
    map_[i] = e;
  }
}

uint32_t Graph::UpsertLocked(Label label, uint32_t slot) {
  if ((map_count_ + 1) * 10 > map_.size() * 7) MapGrow();
  uint32_t tag = static_cast<uint32_t>(Mix64(label) >> 32);
  size_t mask = map_.size() - 1;
  for (size_t i = tag & mask;; i = (i + 1) & mask) {
    MapEntry& e = map_[i];
    if (e.slot == kNoSlot) {
      e = MapEntry{slot, tag};
      ++map_count_;
      live_.store(map_count_, std::memory_order_release);
      return kNoSlot;
    }
    if (e.tag == tag && Meta(e.slot)->label == label) {
      uint32_t old = e.slot;
      e.slot = slot;
      return old;
    }
  }
}

uint32_t Graph::EraseLocked(Label label) {
  if (map_.empty()) return kNoSlot;
  uint32_t tag = static_cast<uint32_t>(Mix64(label) >> 32);
  size_t mask = map_.size() - 1;
  size_t i = tag & mask;
  for (;; i = (i + 1) & mask) {
    const MapEntry& e = map_[i];
    if (e.slot == kNoSlot) return kNoSlot;
    if (e.tag == tag && Meta(e.slot)->label == label) break;
  }
  uint32_t old = map_[i].slot;
  // Backward-shift deletion keeps probe chains intact without tombstones.
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    if (map_[j].slot == kNoSlot) break;
    size_t home = map_[j].tag & mask;
    bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      map_[i] = map_[j];
      i = j;
    }
  }
  map_[i].slot = kNoSlot;
  --map_count_;
  live_.store(map_count_, std::memory_order_release);
  return old;
}

// ---------------------------------------------------------------------------------------------
// Snapshot loading

Result<uint32_t> Graph::AppendRawSlot(Label label, int level, uint8_t state) {
  ASSIGN_OR_RETURN(uint32_t s, AllocSlot());
  SlotMeta* m = Meta(s);
  m->label = label;
  m->level = static_cast<uint8_t>(level);
  m->lock = 0;
  m->aux = 0;
  if (level > 0) {
    size_t words = static_cast<size_t>(level) * (M_ + 1);
    m->upper = new uint32_t[words]();
    upper_bytes_.fetch_add(words * sizeof(uint32_t), std::memory_order_relaxed);
  } else {
    m->upper = nullptr;
  }
  StoreLink(Links(s, 0), 0);
  SetState(s, state);
  if (state == kDeleted) deleted_.fetch_add(1);
  return s;
}

float* Graph::MutableFloats(uint32_t s) {
  return opts_.int8 ? reinterpret_cast<float*>(floats_.At(s)) : reinterpret_cast<float*>(Slot(s));
}

uint8_t* Graph::MutableCodes(uint32_t s) {
  return reinterpret_cast<uint8_t*>(Slot(s));
}

void Graph::SetEntry(uint32_t slot, int level) {
  entry_.store(slot == kNoSlot ? kNoSlot : (static_cast<uint64_t>(level) << 32) | slot,
               std::memory_order_release);
}

void Graph::FinishLoad() {
  if (!opts_.int8 || !trained_.load()) return;
  uint32_t n = used_slots();
  for (uint32_t s = 0; s < n; ++s) Meta(s)->aux = quantizer_.DecodedNormSq(Codes(s));
}

size_t Graph::MemoryBytes() const {
  uint32_t used = used_slots();
  size_t b = slots_.ResidentBytes(used);
  if (opts_.int8 && floats_present_.load(std::memory_order_acquire)) {
    b += floats_.ResidentBytes(used);
  }
  b += upper_bytes_.load(std::memory_order_relaxed);
  {
    std::shared_lock<std::shared_mutex> l(map_mu);
    b += map_.capacity() * sizeof(MapEntry);
  }
  b += free_slots() * sizeof(uint32_t);
  b += visited.MemoryBytes();
  b += sizeof(*this) + quantizer_.dim() * 2 * sizeof(float);
  return b;
}

}  // namespace deepkb::hnsw::internal
