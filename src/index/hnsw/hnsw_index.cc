// HnswIndex implementation: Add/Remove/Search/Compact orchestration, filters, brute force.
//
// ============================== Locking and memory safety ====================================
// Readers (Search, Contains, size, Stats) never block on writers:
//   - Link lists are read without locks. Every link id and list count is a 32-bit word written
//     with a release store and read with an acquire load (std::atomic_ref; plain moves on x86).
//     A reader racing a writer may see a mix of the old and new list; every id in either is a
//     node whose vector was fully written before the id was published, so the walk is merely
//     slightly different, never wrong.
//   - Slot state (live / deleted / retired / free) is an atomic byte; vectors, labels and levels
//     are written only while a slot is unreachable (before it is first linked, or after it was
//     unlinked and a grace period passed), so readers read them with plain loads.
//   - RCU (sync.h): every search runs inside a read section. Memory a search might still be
//     reading is only reused after Rcu::Synchronize(): retired slots, the old graph after
//     Compact(), the float vectors dropped after int8 training.
//   - Slot storage grows by adding chunks; existing chunks never move, so growth needs no
//     stop-the-world (graph.h).
//   - The label map is guarded by Graph::map_mu (shared_mutex): Contains and the exact filtered
//     scan take it shared, label updates take it exclusive.
// Writers:
//   1. maint_mu_     one maintenance job at a time (int8 training, tombstone reclaim, Compact).
//   2. gate_         WriterGate: Add/Remove hold it shared; training, reclaim, the start and the
//                    swap of Compact() and SaveSnapshot() hold it exclusive. Writer-preferring,
//                    so maintenance cannot be starved by a stream of inserts.
//   3. label stripe  label_locks_[hash(label)]: Add/Remove of the same label are serialised
//                    (the last call wins, and Compact's replay log keeps their order).
//   4. then at most one of: Graph::map_mu, Graph::entry_mu_ (entry point / top level; an insert
//      that raises the top level holds it for its whole insertion), Graph::alloc_mu_ (free list,
//      chunk growth), one per-node spinlock (a byte in the slot guarding that node's link lists;
//      held only while rewriting one list, never two at once, so no lock-order cycles), the RNG
//      mutex, the visited-pool mutex.
// Lock order is top to bottom; nothing is acquired while holding a lock lower in the list,
// except that entry_mu_ is held across the node spinlocks and alloc_mu_ during one insert.
// Counters (live, tombstones, used slots) are atomics.
//
// Tombstones: Remove() (and the old slot of an update) is marked deleted. Inserts never pick
// deleted nodes as neighbours. When an Add finds no free slot and tombstones are >= 1/32 of the
// slots, that Add reclaims them (graph.h): with the gate shared it rebuilds every list that points
// at one (from the list's other neighbours plus the dead node's neighbours, pruned with the
// insert heuristic, under that node's spinlock); then, with the gate exclusive, a quick sweep
// catches links that racing inserts added, moves a dead entry point and marks the slots retired;
// after a grace period they go on the free list. The exclusive part is a scan of the link lists
// (~20 ms per 100k nodes), not the repair work. Compact() rebuilds from scratch; the index never
// calls it itself (NeedsCompaction()).
// =============================================================================================
#include <algorithm>
#include <cmath>
#include <string>
#include <thread>

#include "index/hnsw/index_impl.h"
#include "index/hnsw/search.h"

namespace deepkb::hnsw {

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kCosine:
      return "cosine";
  }
  return "unknown";
}

LabelSetFilter::LabelSetFilter(std::vector<Label> labels) : labels_(std::move(labels)) {
  std::sort(labels_.begin(), labels_.end());
  labels_.erase(std::unique(labels_.begin(), labels_.end()), labels_.end());
}

bool LabelSetFilter::Allows(Label label) const {
  return std::binary_search(labels_.begin(), labels_.end(), label);
}

void LabelSetFilter::ForEach(const std::function<void(Label)>& fn) const {
  for (Label l : labels_) fn(l);
}

namespace internal {

Status ValidateOptions(const HnswOptions& o) {
  if (o.dim == 0 || o.dim > 65536) {
    return InvalidArgumentError("hnsw: dim must be in [1, 65536], got " + std::to_string(o.dim));
  }
  if (o.metric != Metric::kL2 && o.metric != Metric::kInnerProduct && o.metric != Metric::kCosine) {
    return InvalidArgumentError("hnsw: unknown metric");
  }
  if (o.M < 2 || o.M > 1024) {
    return InvalidArgumentError("hnsw: M must be in [2, 1024], got " + std::to_string(o.M));
  }
  if (o.ef_construction == 0 || o.ef_construction > 100000) {
    return InvalidArgumentError("hnsw: ef_construction must be in [1, 100000]");
  }
  if (!(o.compaction_threshold > 0 && o.compaction_threshold <= 1)) {
    return InvalidArgumentError("hnsw: compaction_threshold must be in (0, 1]");
  }
  return Status::Ok();
}

HnswIndexImpl::HnswIndexImpl(const HnswOptions& opts, std::unique_ptr<Graph> graph)
    : opts_(opts), graph_(graph.release()) {}

HnswIndexImpl::~HnswIndexImpl() {
  delete graph_.load();
}

Status HnswIndexImpl::Prepare(std::span<const float> in, std::vector<float>& out) const {
  if (in.size() != opts_.dim) {
    return InvalidArgumentError("hnsw: vector has " + std::to_string(in.size()) +
                                " dimensions, the index has " + std::to_string(opts_.dim));
  }
  for (float x : in) {
    if (!std::isfinite(x)) return InvalidArgumentError("hnsw: vector contains NaN or Inf");
  }
  out.assign(in.begin(), in.end());
  if (opts_.metric == Metric::kCosine) {
    float norm = NormalizeInPlace(out.data(), out.size());
    if (!(norm > 0) || !std::isfinite(norm)) {
      return InvalidArgumentError("hnsw: zero vector has no direction under the cosine metric");
    }
  }
  return Status::Ok();
}

void HnswIndexImpl::MaybeMaintain() {
  Graph* g = graph_.load(std::memory_order_acquire);
  auto train_due = [&](Graph* gr) {
    return opts_.int8 && !gr->codes_active() && gr->live() >= kTrainSize;
  };
  auto reclaim_due = [&](Graph* gr) {
    size_t batch = std::max<size_t>(32, gr->used_slots() / 32);
    return gr->deleted() >= batch && gr->free_slots() == 0;
  };
  if (!train_due(g) && !reclaim_due(g)) return;
  std::unique_lock<std::mutex> maint(maint_mu_, std::try_to_lock);
  if (!maint.owns_lock()) return;  // someone else is maintaining (or compacting)
  // With maint_mu_ held no Compact() can swap the graph, so g stays valid throughout.
  g = graph_.load(std::memory_order_acquire);
  if (train_due(g)) {
    std::unique_lock<WriterGate> gate(gate_);
    if (!compacting_ && train_due(g) && g->TrainQuantizer()) {
      g->MarkFloatsAbsent();
      rcu_.Synchronize();  // no search still reads the floats; no insert runs (gate held)
      g->FreeFloats();
    }
  }
  // Tombstone reclaim (graph.h): the repairs run alongside Add/Remove; only the final sweep,
  // which finds little left to do, holds the gate exclusively.
  std::vector<uint32_t> dead;
  {
    std::shared_lock<WriterGate> gate(gate_);
    if (compacting_ || !reclaim_due(g)) return;
    dead = g->CollectDeleted();
    g->UnlinkFrom(dead, false);
  }
  {
    std::unique_lock<WriterGate> gate(gate_);
    g->UnlinkFrom(dead, true);
  }
  rcu_.Synchronize();
  g->ReleaseRetired(dead);
}

Status HnswIndexImpl::Add(Label label, std::span<const float> vector) {
  std::vector<float> v;
  RETURN_IF_ERROR(Prepare(vector, v));
  MaybeMaintain();
  std::shared_lock<WriterGate> gate(gate_);
  std::lock_guard<std::mutex> label_lock(LabelLock(label));
  Graph* g = graph_.load(std::memory_order_acquire);
  ASSIGN_OR_RETURN(uint32_t slot, g->Insert(label, v.data()));
  uint32_t old;
  {
    std::unique_lock<std::shared_mutex> map_lock(g->map_mu);
    old = g->UpsertLocked(label, slot);
  }
  if (old != kNoSlot) g->MarkDeleted(old);
  if (compacting_) {
    std::lock_guard<std::mutex> l(delta_mu_);
    delta_.push_back(DeltaOp{label, false, std::move(v)});
  }
  return Status::Ok();
}

Status HnswIndexImpl::Remove(Label label) {
  std::shared_lock<WriterGate> gate(gate_);
  std::lock_guard<std::mutex> label_lock(LabelLock(label));
  Graph* g = graph_.load(std::memory_order_acquire);
  uint32_t old;
  {
    std::unique_lock<std::shared_mutex> map_lock(g->map_mu);
    old = g->EraseLocked(label);
  }
  if (old == kNoSlot) return NotFoundError("hnsw: label " + std::to_string(label) + " not found");
  g->MarkDeleted(old);
  if (compacting_) {
    std::lock_guard<std::mutex> l(delta_mu_);
    delta_.push_back(DeltaOp{label, true, {}});
  }
  return Status::Ok();
}

bool HnswIndexImpl::Contains(Label label) const {
  auto read = rcu_.Read();
  const Graph* g = graph_.load(std::memory_order_acquire);
  std::shared_lock<std::shared_mutex> l(g->map_mu);
  return g->FindLocked(label) != kNoSlot;
}

std::vector<Label> HnswIndexImpl::Labels() const {
  auto read = rcu_.Read();
  const Graph* g = graph_.load(std::memory_order_acquire);
  std::vector<Label> out;
  std::shared_lock<std::shared_mutex> l(g->map_mu);
  out.reserve(g->live());
  g->ForEachLabelLocked([&](Label label, uint32_t) { out.push_back(label); });
  return out;
}

size_t HnswIndexImpl::size() const {
  auto read = rcu_.Read();
  return graph_.load(std::memory_order_acquire)->live();
}

Result<std::vector<SearchHit>> HnswIndexImpl::Search(std::span<const float> query, size_t k,
                                                     size_t ef, const Filter* filter) const {
  std::vector<float> q;
  RETURN_IF_ERROR(Prepare(query, q));
  auto read = rcu_.Read();
  const Graph* g = graph_.load(std::memory_order_acquire);
  KnnRequest req;
  req.query = q.data();
  req.k = k;
  req.ef = ef;
  req.filter = filter;
  req.source = opts_.rerank_source;
  return SearchKnn(*g, req);
}

bool HnswIndexImpl::NeedsCompaction() const {
  auto read = rcu_.Read();
  const Graph* g = graph_.load(std::memory_order_acquire);
  size_t live = g->live(), dead = g->deleted();
  if (dead > 0 && static_cast<double>(dead) >= opts_.compaction_threshold * (live + dead)) {
    return true;
  }
  if (!opts_.int8 || !g->codes_active()) return false;
  // Refit the quantiser when the index has grown well past the data it was fitted on, or when
  // new vectors keep falling outside its ranges (over 1% of their coordinates clamped).
  uint64_t encoded = g->encoded_vectors();
  return live >= 4 * std::max<size_t>(g->trained_on(), kTrainSize) ||
         (encoded >= kTrainSize && g->clamped_coords() * 100 > encoded * opts_.dim);
}

IndexStats HnswIndexImpl::Stats() const {
  auto read = rcu_.Read();
  const Graph* g = graph_.load(std::memory_order_acquire);
  IndexStats s;
  s.live = g->live();
  s.tombstones = g->deleted();
  s.capacity = g->capacity();
  s.memory_bytes = g->MemoryBytes();
  s.max_level = g->EntrySlot(g->entry()) == kNoSlot ? 0 : g->max_level();
  return s;
}

Status HnswIndexImpl::ApplyOp(Graph& g, const DeltaOp& op) {
  uint32_t old;
  if (op.remove) {
    std::unique_lock<std::shared_mutex> l(g.map_mu);
    old = g.EraseLocked(op.label);
  } else {
    ASSIGN_OR_RETURN(uint32_t slot, g.Insert(op.label, op.vec.data()));
    std::unique_lock<std::shared_mutex> l(g.map_mu);
    old = g.UpsertLocked(op.label, slot);
  }
  if (old != kNoSlot) g.MarkDeleted(old);
  return Status::Ok();
}

// Inserts the live vectors of `old` into `fresh` (fitting the int8 quantiser first). `old` is
// stable meanwhile: its live slots are not rewritten while maint_mu_ is held.
Status HnswIndexImpl::BuildFrom(Graph& old, Graph& fresh) {
  std::vector<std::pair<Label, uint32_t>> items;
  {
    std::shared_lock<std::shared_mutex> l(old.map_mu);
    old.ForEachLabelLocked([&](Label label, uint32_t s) { items.emplace_back(label, s); });
  }
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  size_t dim = opts_.dim;
  const VectorSource* source = opts_.rerank_source;
  auto fetch = [&](size_t i, float* out) {
    if (!old.has_floats() && source && source->Fetch(items[i].first, std::span<float>(out, dim))) {
      bool finite = std::all_of(out, out + dim, [](float x) { return std::isfinite(x); });
      bool ok = finite && (opts_.metric != Metric::kCosine || NormalizeInPlace(out, dim) > 0);
      if (ok) return;
    }
    old.FloatsOf(items[i].second, out);
  };
  if (opts_.int8 && items.size() > 0) {
    QuantizerTrainer trainer(dim);
    std::vector<float> buf(dim);
    for (size_t i = 0; i < items.size(); ++i) {
      fetch(i, buf.data());
      trainer.Observe(buf.data());
    }
    if (items.size() >= kTrainSize || old.codes_active()) {
      fresh.SetQuantizer(trainer.Finish(), items.size());
      fresh.MarkFloatsAbsent();
    }
  }
  size_t threads = opts_.compact_threads ? opts_.compact_threads
                                         : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<size_t>(1, items.size() / 256));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Status first_error;
  std::mutex err_mu;
  auto worker = [&] {
    std::vector<float> buf(dim);
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < items.size();) {
      fetch(i, buf.data());
      Status st = ApplyOp(fresh, DeltaOp{items[i].first, false, buf});
      if (!st.ok()) {
        std::lock_guard<std::mutex> l(err_mu);
        if (!failed.exchange(true)) first_error = st;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first_error;
}

Status HnswIndexImpl::Compact() {
  std::lock_guard<std::mutex> maint(maint_mu_);
  Graph* old;
  {
    std::unique_lock<WriterGate> gate(gate_);
    old = graph_.load(std::memory_order_acquire);
    compacting_ = true;
  }
  auto fresh = std::make_unique<Graph>(opts_, old->kernels());
  Status st = BuildFrom(*old, *fresh);
  // Replay what Add/Remove did meanwhile: once without the gate, then the rest under it.
  auto replay = [&](bool final_pass) {
    for (;;) {
      std::vector<DeltaOp> ops;
      {
        std::lock_guard<std::mutex> l(delta_mu_);
        ops.swap(delta_);
      }
      if (ops.empty()) return;
      for (const DeltaOp& op : ops) {
        if (st.ok()) st = ApplyOp(*fresh, op);
      }
      if (!final_pass) return;
    }
  };
  if (st.ok()) replay(false);
  {
    std::unique_lock<WriterGate> gate(gate_);
    if (st.ok()) replay(true);
    compacting_ = false;
    std::lock_guard<std::mutex> l(delta_mu_);
    delta_.clear();
    if (!st.ok()) return st.WithContext("hnsw compact");
    graph_.store(fresh.release(), std::memory_order_release);
  }
  rcu_.Synchronize();
  delete old;
  return Status::Ok();
}

}  // namespace internal

Result<std::unique_ptr<HnswIndex>> HnswIndex::Create(const HnswOptions& opts) {
  RETURN_IF_ERROR(internal::ValidateOptions(opts));
  auto graph = std::make_unique<internal::Graph>(opts, ActiveKernels());
  return std::unique_ptr<HnswIndex>(
      std::make_unique<internal::HnswIndexImpl>(opts, std::move(graph)));
}

std::vector<SearchHit> BruteForce(std::span<const float> data, size_t dim, Metric metric,
                                  std::span<const float> query, size_t k,
                                  const std::function<bool(size_t)>& allow) {
  std::vector<SearchHit> all;
  if (dim == 0 || query.size() != dim) return all;
  const Kernels& kern = ActiveKernels();
  std::vector<float> q(query.begin(), query.end()), row(dim);
  if (metric == Metric::kCosine) NormalizeInPlace(q.data(), dim);
  size_t n = data.size() / dim;
  for (size_t i = 0; i < n; ++i) {
    if (allow && !allow(i)) continue;
    const float* v = data.data() + i * dim;
    float d;
    if (metric == Metric::kL2) {
      d = kern.l2_sqr(q.data(), v, dim);
    } else {
      if (metric == Metric::kCosine) {
        std::copy(v, v + dim, row.begin());
        NormalizeInPlace(row.data(), dim);
        v = row.data();
      }
      d = 1.0f - kern.dot(q.data(), v, dim);
    }
    all.push_back(SearchHit{static_cast<Label>(i), d});
  }
  size_t kk = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + kk, all.end(), [](const auto& a, const auto& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
  });
  all.resize(kk);
  return all;
}

}  // namespace deepkb::hnsw
