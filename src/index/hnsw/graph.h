// Graph: the storage and linking half of the HNSW index (internal; see hnsw_index.cc for the
// locking rules that callers follow and hnsw_index.h for the public contract).
//
// Memory layout
//   Slots live in chunks that never move once allocated (so growth never stops searches).
//   Chunk k holds B·2^k slots (B = a power of two >= initial_capacity), so slot s is found
//   in closed form: t = s/B + 1, k = floor(log2 t), offset = s + B - B·2^k. Chunks are
//   mmap'ed and, when at least 2 MiB, advised to use transparent huge pages; untouched pages
//   cost no RAM. Each slot is `stride` bytes (a multiple of 64), laid out as
//     [ vector: dim float32, or dim uint8 codes in int8 mode ]   64-byte aligned
//     [ SlotMeta: label, upper-link pointer, aux, level, state, lock ]
//     [ level-0 links: uint32 count, uint32 ids[2M] ]
//   so a distance computation touches the vector lines and an expansion reads the links right
//   after them. Upper-layer links (levels >= 1, about 1 node in M) are separate arrays of
//   level × (1 + M) uint32 ([count, ids[M]] per level) owned by the slot.
//   In int8 mode float vectors, when kept, sit in a second chunked array (`float store`) with the
//   same slot numbering, read only for construction and re-ranking.
//
// Slot states: kFree → (Insert) kLive → (MarkDeleted) kDeleted → (Reclaim: unlinked from every
// list) kRetired → (after an RCU grace period) kFree again. Searches traverse kDeleted nodes but
// never return them; nothing links to kRetired/kFree slots, and a slot is only rewritten once it
// is kFree, which is what makes lock-free reads of vectors safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <vector>

#include "common/status.h"
#include "index/hnsw/distance.h"
#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/quantizer.h"
#include "index/hnsw/sync.h"
#include "index/hnsw/visited.h"

namespace deepkb::hnsw::internal {

inline constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
// The top two bits of slot ids are flags inside search pools.
inline constexpr uint32_t kMaxSlots = 0x3FFFFFFFu;
inline constexpr int kMaxLevel = 30;

enum SlotState : uint8_t { kFree = 0, kLive = 1, kDeleted = 2, kRetired = 3 };

struct SlotMeta {
  Label label;
  uint32_t* upper;  // level × (1 + M) uint32, or nullptr at level 0
  float aux;        // int8: |x̂|² of the decoded vector
  uint8_t level;
  uint8_t state;  // SlotState; read and written through std::atomic_ref
  uint8_t lock;   // per-node spinlock guarding this node's link lists
  uint8_t reserved;
};
static_assert(sizeof(SlotMeta) == 24);

struct Candidate {
  float dist;
  uint32_t slot;
};

// A chunked array of fixed-size records addressed by slot number (see the header comment).
class ChunkedArray {
 public:
  ChunkedArray() = default;
  ~ChunkedArray();
  ChunkedArray(const ChunkedArray&) = delete;
  ChunkedArray& operator=(const ChunkedArray&) = delete;

  void Init(size_t record_bytes, uint32_t base_slots);
  // Makes slots [0, n) addressable; ResourceExhausted when memory cannot be mapped.
  Status EnsureCapacity(uint32_t n);
  void FreeAll();

  char* At(uint32_t s) const {
    uint64_t t = (static_cast<uint64_t>(s) >> base_shift_) + 1;
    int k = 63 - __builtin_clzll(t);
    uint64_t off = static_cast<uint64_t>(s) + base_ - (base_ << k);
    return chunks_[k].load(std::memory_order_relaxed) + off * record_bytes_;
  }
  uint32_t capacity() const { return capacity_.load(std::memory_order_acquire); }
  size_t record_bytes() const { return record_bytes_; }
  // Bytes of RAM the first `used` records can occupy (pages they touch).
  size_t ResidentBytes(uint32_t used) const;

 private:
  static constexpr int kMaxChunks = 33;
  size_t record_bytes_ = 0;
  uint64_t base_ = 0;
  int base_shift_ = 0;
  int num_chunks_ = 0;  // guarded by the owner's allocation mutex
  std::atomic<char*> chunks_[kMaxChunks] = {};
  size_t chunk_bytes_[kMaxChunks] = {};
  std::atomic<uint32_t> capacity_{0};
};

class Graph;

// Distance from one float vector (normalised for cosine) to stored slots, in the representation
// inserts use: floats when the graph has them, else int8 codes.
class PointDistance {
 public:
  PointDistance(const Graph& g, const float* q);
  float To(uint32_t s) const;

 private:
  const Graph& g_;
  const float* q_;
  bool codes_;
  bool in_slot_;
  std::vector<float> w_;
  float offset_ = 0;
  float qn2_ = 0;
};

class Graph {
 public:
  // `opts` must already be validated.
  Graph(const HnswOptions& opts, const Kernels& kernels);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const HnswOptions& opts() const { return opts_; }
  const Kernels& kernels() const { return kernels_; }
  size_t dim() const { return dim_; }
  bool int8() const { return opts_.int8; }
  size_t M() const { return M_; }
  size_t MaxLinks(int level) const { return level == 0 ? M0_ : M_; }

  // ---- slot access -------------------------------------------------------------------------
  char* Slot(uint32_t s) const { return slots_.At(s); }
  const float* Vec(uint32_t s) const { return reinterpret_cast<const float*>(Slot(s)); }
  const uint8_t* Codes(uint32_t s) const { return reinterpret_cast<const uint8_t*>(Slot(s)); }
  SlotMeta* Meta(uint32_t s) const { return reinterpret_cast<SlotMeta*>(Slot(s) + meta_off_); }
  uint32_t* Links(uint32_t s, int level) const {
    if (level == 0) return reinterpret_cast<uint32_t*>(Slot(s) + links_off_);
    return Meta(s)->upper + static_cast<size_t>(level - 1) * (M_ + 1);
  }
  const float* StoredFloat(uint32_t s) const {
    return reinterpret_cast<const float*>(floats_.At(s));
  }
  uint8_t State(uint32_t s) const {
    return std::atomic_ref<uint8_t>(Meta(s)->state).load(std::memory_order_acquire);
  }
  void SetState(uint32_t s, uint8_t st) {
    std::atomic_ref<uint8_t>(Meta(s)->state).store(st, std::memory_order_release);
  }
  static uint32_t LoadLink(const uint32_t* p) {
    return std::atomic_ref<const uint32_t>(*p).load(std::memory_order_acquire);
  }
  static void StoreLink(uint32_t* p, uint32_t v) {
    std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_release);
  }

  size_t stride() const { return stride_; }
  size_t vec_bytes() const { return vec_bytes_; }
  uint32_t used_slots() const { return used_.load(std::memory_order_acquire); }
  uint32_t capacity() const { return slots_.capacity(); }

  // Entry point packed as (level << 32) | slot; slot kNoSlot when the graph is empty.
  uint64_t entry() const { return entry_.load(std::memory_order_acquire); }
  static uint32_t EntrySlot(uint64_t e) { return static_cast<uint32_t>(e); }
  static int EntryLevel(uint64_t e) { return static_cast<int>(e >> 32); }

  // ---- representation ----------------------------------------------------------------------
  // Whether graph walks use int8 codes (int8 mode, quantiser trained).
  bool codes_active() const { return trained_.load(std::memory_order_acquire); }
  // Whether float vectors are in memory for every slot (in the slot or the float store).
  bool has_floats() const { return !opts_.int8 || floats_present_.load(std::memory_order_acquire); }
  const ScalarQuantizer& quantizer() const { return quantizer_; }
  // Copies the best float approximation of slot s into out (exact floats, else decoded codes).
  void FloatsOf(uint32_t s, float* out) const;

  // ---- label map (guarded by map_mu) -------------------------------------------------------
  mutable std::shared_mutex map_mu;
  uint32_t FindLocked(Label label) const;
  // Points label at slot; returns the slot it had or kNoSlot.
  uint32_t UpsertLocked(Label label, uint32_t slot);
  uint32_t EraseLocked(Label label);
  template <class Fn>
  void ForEachLabelLocked(Fn&& fn) const {
    for (const MapEntry& e : map_) {
      if (e.slot != kNoSlot) fn(Meta(e.slot)->label, e.slot);
    }
  }
  size_t live() const { return live_.load(std::memory_order_acquire); }
  size_t deleted() const { return deleted_.load(std::memory_order_acquire); }

  // ---- mutation (see hnsw_index.cc for which locks callers hold) ---------------------------
  // Stores `vec` (already normalised for cosine) in a new slot and links it into the graph.
  // The label map is not touched. Caller: writer gate shared (or sole owner of the graph).
  Result<uint32_t> Insert(Label label, const float* vec);
  // kLive → kDeleted; the caller already removed or repointed the label.
  void MarkDeleted(uint32_t s);
  // Tombstone reclaim, in three steps:
  //   dead = CollectDeleted();
  //   UnlinkFrom(dead, false)  with the writer gate shared (inserts keep running): every list
  //                            that points at a dead slot is rebuilt from its other neighbours
  //                            plus the dead slot's neighbours, pruned with the heuristic;
  //   UnlinkFrom(dead, true)   with the gate exclusive: catches links added meanwhile, moves a
  //                            dead entry point, marks the slots kRetired;
  //   after an RCU grace period, ReleaseRetired(dead) frees them for reuse.
  std::vector<uint32_t> CollectDeleted() const;
  void UnlinkFrom(const std::vector<uint32_t>& dead, bool retire);
  void ReleaseRetired(const std::vector<uint32_t>& slots);
  size_t free_slots() const;

  // int8: fits the quantiser on the live vectors, encodes every slot and switches walks to codes.
  // Caller: writer gate exclusive; after a grace period call DropFloatsIfNotKept().
  // Returns false (nothing changed) when there is no live vector to fit on.
  bool TrainQuantizer();
  // Fitted quantiser for a fresh graph, before any insert (rebuilds, snapshots).
  void SetQuantizer(ScalarQuantizer q, size_t trained_on);
  // int8 && !keep_float_vectors: stop using floats (call with the gate held exclusively), then,
  // after a grace period, FreeFloats() releases them.
  void MarkFloatsAbsent();
  void FreeFloats();
  // Coordinates clamped while encoding since training, and vectors encoded since then.
  uint64_t clamped_coords() const { return clamped_.load(std::memory_order_relaxed); }
  uint64_t encoded_vectors() const { return encoded_.load(std::memory_order_relaxed); }
  size_t trained_on() const { return trained_on_; }

  // ---- snapshot loading (single-threaded, graph not yet shared) ----------------------------
  Result<uint32_t> AppendRawSlot(Label label, int level, uint8_t state);
  float* MutableFloats(uint32_t s);  // float store (int8) or in-slot vector (float mode)
  uint8_t* MutableCodes(uint32_t s);
  void SetEntry(uint32_t slot, int level);
  void FinishLoad();  // recomputes aux and counts after raw loading

  bool is_l2() const { return opts_.metric == Metric::kL2; }

  size_t MemoryBytes() const;
  mutable VisitedPool visited;
  int max_level() const { return EntryLevel(entry()); }

  // Random level for a new node (thread-safe).
  int RandomLevel();

 private:
  friend class SearchCore;
  Result<uint32_t> AllocSlot();
  void WriteVector(uint32_t s, const float* vec);
  // The paper's Algorithm 4 (no candidate extension, pruned connections not kept): keeps a
  // candidate only if it is closer to the base than to every candidate already kept.
  void SelectNeighbors(std::vector<Candidate>& cands, size_t m) const;
  void SetLinks(uint32_t s, int level, const std::vector<Candidate>& sel);
  void AddReverseLink(uint32_t n, uint32_t s, int level);
  void RepairList(uint32_t p, int level, const std::vector<uint8_t>& dead,
                  std::vector<Candidate>& scratch);
  std::vector<Candidate> SearchForInsert(const float* q, uint32_t ep, int level, size_t ef) const;

  HnswOptions opts_;
  Kernels kernels_;
  size_t dim_;
  size_t M_, M0_;
  double level_mult_;
  size_t vec_bytes_, meta_off_, links_off_, stride_;

  ChunkedArray slots_;
  ChunkedArray floats_;  // int8 only
  std::atomic<bool> floats_present_{true};

  mutable std::mutex alloc_mu_;    // guards free_, chunk growth
  std::vector<uint32_t> free_;     // kFree slots below used_
  std::atomic<uint32_t> used_{0};  // high-water mark of slots handed out

  std::atomic<uint64_t> entry_;
  std::mutex entry_mu_;  // serialises entry-point / max-level changes

  std::mutex rng_mu_;
  std::mt19937_64 rng_;

  // Label map: open addressing with linear probing; each entry is (slot, label fingerprint),
  // the full label is checked in the slot. Guarded by map_mu.
  struct MapEntry {
    uint32_t slot;
    uint32_t tag;
  };
  std::vector<MapEntry> map_;
  size_t map_count_ = 0;
  void MapGrow();
  std::atomic<size_t> live_{0};
  std::atomic<size_t> deleted_{0};

  ScalarQuantizer quantizer_;
  std::atomic<bool> trained_{false};
  std::atomic<uint64_t> clamped_{0};
  std::atomic<uint64_t> encoded_{0};
  size_t trained_on_ = 0;

  std::atomic<size_t> upper_bytes_{0};
};

}  // namespace deepkb::hnsw::internal
