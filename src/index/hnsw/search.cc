// Graph walks: greedy descent, beam search on one layer, filtered search, exact scans, int8
// re-ranking.
//
// Two layer-0 walks:
//  - PoolWalk (no filter): candidates and results are one sorted array holding every node seen
//    that is closer than the ef-th live one, each flagged once expanded (and when tombstoned);
//    the walk ends when every entry is expanded. Same stopping rule as the paper's two-heap loop
//    (tombstones are walked through but do not count towards ef), less bookkeeping.
//  - HeapWalk (filter): a min-heap of candidates and a max-heap of the ef best *accepted* nodes.
//    A neighbour joins the candidates when it beats the ef-th accepted result, whatever the
//    filter says, so the walk keeps widening until ef allowed results are found or the reachable
//    graph is exhausted (the "adaptive beam"). Once it has computed distances to a third of the
//    graph, it stops and scans every slot exactly instead.
// Both expand a node by first collecting its unvisited neighbours, then prefetching their
// vectors a few nodes ahead of the distance computations.
//
// Exact path for filters with a known cardinality c: the walk costs about (ef/s)·M distance
// computations on random nodes (s = c/N the selectivity), the scan about c, so the scan wins
// when c² <= k·ef·M·N. Measured on 100k × 128-d clustered data, ef 64, M 16 (QPS walk / scan):
// s = 1%: 470 / 27k, 2%: 900 / 11k, 5%: 2.5k / 4.3k, 10%: 5.0k / 1.7k; the crossover near 6.5%
// gives k ≈ 0.4. The scan also always applies at or below options.exact_search_threshold. It is
// exact (recall 1) and, with the slots sorted, prefetches well.
#include "index/hnsw/search.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>

namespace deepkb::hnsw::internal {
namespace {

constexpr uint32_t kExpanded = 0x80000000u;  // pool flags in the top bits of slot ids
constexpr uint32_t kRejected = 0x40000000u;
constexpr uint32_t kIdMask = 0x3FFFFFFFu;
static_assert(kMaxSlots <= kIdMask);
constexpr int kPrefetchAhead = 2;
constexpr size_t kMaxLinks0 = 2 * 1024 + 1;

inline void Prefetch(const void* p) {
  __builtin_prefetch(p, 0, 3);
}

int LinesFor(size_t bytes) {
  return static_cast<int>((bytes + 63) / 64);
}

// ---------------------------------------------------------------------------------------------
// Spaces: distance from the query to a stored slot, and what to prefetch before computing it.

struct SlotFloatSpace {  // float mode, vectors inside the slots
  const Graph& g;
  const float* q;
  FloatKernel fn;
  size_t dim;
  bool l2;
  int lines;
  float Dist(uint32_t s) const {
    float r = fn(q, g.Vec(s), dim);
    return l2 ? r : 1.0f - r;
  }
  void Fetch(uint32_t s) const {
    const char* p = g.Slot(s);
    for (int i = 0; i < lines; ++i) Prefetch(p + 64 * i);
  }
};

struct StoreFloatSpace {  // int8 mode before training, or inserts with floats kept
  const Graph& g;
  const float* q;
  FloatKernel fn;
  size_t dim;
  bool l2;
  int lines;
  bool meta;
  float Dist(uint32_t s) const {
    float r = fn(q, g.StoredFloat(s), dim);
    return l2 ? r : 1.0f - r;
  }
  void Fetch(uint32_t s) const {
    const char* p = reinterpret_cast<const char*>(g.StoredFloat(s));
    for (int i = 0; i < lines; ++i) Prefetch(p + 64 * i);
    if (meta) Prefetch(g.Meta(s));
  }
};

struct CodeSpace {  // int8 codes (asymmetric: float query weights × uint8 codes)
  const Graph& g;
  const float* w;
  float offset;
  float qn2;
  CodeKernel fn;
  size_t dim;
  bool l2;
  int lines;
  float Dist(uint32_t s) const {
    float ip = offset + fn(w, g.Codes(s), dim);
    return l2 ? qn2 - 2 * ip + g.Meta(s)->aux : 1.0f - ip;
  }
  void Fetch(uint32_t s) const {
    const char* p = g.Slot(s);
    for (int i = 0; i < lines; ++i) Prefetch(p + 64 * i);
  }
};

// Owns the per-query buffers a space needs and calls fn(space).
template <class Fn>
auto WithSpace(const Graph& g, const float* q, bool codes, bool need_meta, Fn&& fn) {
  const Kernels& k = g.kernels();
  bool l2 = g.is_l2();
  size_t dim = g.dim();
  if (codes) {
    std::vector<float> w(dim);
    float offset = g.quantizer().PrepareQuery(q, w.data());
    float qn2 = l2 ? k.dot(q, q, dim) : 0;
    // Codes, then the meta (aux for L2, label/state for filters) right after them.
    bool meta = l2 || need_meta;
    int lines = LinesFor(meta ? g.vec_bytes() + sizeof(SlotMeta) : g.vec_bytes());
    CodeSpace sp{g, w.data(), offset, qn2, k.dot_u8, dim, l2, lines};
    return fn(sp);
  }
  if (!g.int8()) {
    int lines = LinesFor(need_meta ? g.vec_bytes() + sizeof(SlotMeta) : g.vec_bytes());
    SlotFloatSpace sp{g, q, l2 ? k.l2_sqr : k.dot, dim, l2, lines};
    return fn(sp);
  }
  StoreFloatSpace sp{g,        q, l2 ? k.l2_sqr : k.dot, dim, l2, LinesFor(dim * sizeof(float)),
                     need_meta};
  return fn(sp);
}

bool ByDist(const Candidate& a, const Candidate& b) {
  return a.dist < b.dist;
}
struct MinFirst {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.dist > b.dist; }
};
struct MaxFirst {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.dist < b.dist; }
};

// Collects the unvisited neighbours of `c` on `level` into out; returns how many.
inline size_t Unvisited(const Graph& g, uint32_t c, int level, VisitedTable& vt, uint32_t* out) {
  const uint32_t* list = g.Links(c, level);
  uint32_t cnt = Graph::LoadLink(list);
  cnt = std::min<uint32_t>(cnt, static_cast<uint32_t>(g.MaxLinks(level)));
  size_t m = 0;
  for (uint32_t i = 0; i < cnt; ++i) {
    uint32_t id = Graph::LoadLink(list + 1 + i);
    if (!vt.TestAndSet(id)) out[m++] = id;
  }
  return m;
}

inline void FetchLinks(const Graph& g, uint32_t s) {
  const char* p = reinterpret_cast<const char*>(g.Links(s, 0));
  Prefetch(p);
  Prefetch(p + 64);
}

template <class Space>
uint32_t Greedy(const Graph& g, const Space& sp, uint32_t cur, float& cur_d, int top, int stop,
                uint32_t limit) {
  for (int l = top; l > stop; --l) {
    for (bool changed = true; changed;) {
      changed = false;
      const uint32_t* list = g.Links(cur, l);
      uint32_t cnt = std::min<uint32_t>(Graph::LoadLink(list), static_cast<uint32_t>(g.M()));
      for (uint32_t i = 0; i < cnt; ++i) {
        uint32_t n = Graph::LoadLink(list + 1 + i);
        if (n >= limit) continue;
        float d = sp.Dist(n);
        if (d < cur_d) {
          cur_d = d;
          cur = n;
          changed = true;
        }
      }
    }
  }
  return cur;
}

// The walk's beam: every node seen that is closer than the ef-th *accepted* one (accepted =
// may be returned: live, and allowed by the filter), sorted by distance. Ids carry kExpanded once
// expanded and kRejected when not accepted. Without tombstones or filters every node is
// accepted and this is simply the ef best nodes seen.
class Pool {
 public:
  explicit Pool(size_t ef) : ef_(std::max<size_t>(ef, 1)) { data_.reserve(ef_ + 16); }
  float bound() const {
    return accepted_ < ef_ ? std::numeric_limits<float>::infinity() : data_.back().dist;
  }
  // Caller checked d < bound().
  void Insert(uint32_t id, float d, bool accepted) {
    size_t lo = 0, hi = data_.size();
    while (lo < hi) {
      size_t mid = (lo + hi) >> 1;
      if (data_[mid].dist <= d)
        lo = mid + 1;
      else
        hi = mid;
    }
    data_.insert(data_.begin() + static_cast<std::ptrdiff_t>(lo),
                 Candidate{d, accepted ? id : (id | kRejected)});
    if (lo < cur_) cur_ = lo;
    if (accepted && ++accepted_ >= ef_) {
      // Drop whatever lies beyond the ef-th accepted entry.
      while (true) {
        const Candidate& b = data_.back();
        if (!(b.slot & kRejected)) {
          if (accepted_ == ef_) break;
          --accepted_;
        }
        data_.pop_back();
      }
      cur_ = std::min(cur_, data_.size());
    }
  }
  bool HasNext() const { return cur_ < data_.size(); }
  uint32_t Next() {
    uint32_t id = data_[cur_].slot & kIdMask;
    data_[cur_].slot |= kExpanded;
    while (cur_ < data_.size() && (data_[cur_].slot & kExpanded)) ++cur_;
    return id;
  }
  // Next unexpanded id, or kNoSlot.
  uint32_t Peek() const { return cur_ < data_.size() ? data_[cur_].slot & kIdMask : kNoSlot; }
  // The accepted entries, closest first.
  void Export(std::vector<Candidate>& out) const {
    out.clear();
    for (const Candidate& c : data_) {
      if (!(c.slot & kRejected)) out.push_back(Candidate{c.dist, c.slot & kIdMask});
    }
  }

 private:
  size_t ef_;
  size_t accepted_ = 0;
  size_t cur_ = 0;
  std::vector<Candidate> data_;
};

template <class Space, class Accept>
void PoolWalk(const Graph& g, const Space& sp, uint32_t ep, float ep_d, size_t ef,
              const Accept& accept, VisitedTable& vt, std::vector<Candidate>& out) {
  Pool pool(ef);
  uint32_t buf[kMaxLinks0];
  vt.TestAndSet(ep);
  pool.Insert(ep, ep_d, accept(ep));
  while (pool.HasNext()) {
    uint32_t c = pool.Next();
    uint32_t nxt = pool.Peek();
    if (nxt != kNoSlot) FetchLinks(g, nxt);
    size_t m = Unvisited(g, c, 0, vt, buf);
    for (size_t j = 0; j < m && j < static_cast<size_t>(kPrefetchAhead); ++j) sp.Fetch(buf[j]);
    for (size_t j = 0; j < m; ++j) {
      if (j + kPrefetchAhead < m) sp.Fetch(buf[j + kPrefetchAhead]);
      float d = sp.Dist(buf[j]);
      if (d < pool.bound()) pool.Insert(buf[j], d, accept(buf[j]));
    }
  }
  pool.Export(out);
}

// Returns false when the expansion budget ran out (caller falls back to an exact scan).
template <class Space, class Accept>
bool HeapWalk(const Graph& g, const Space& sp, uint32_t ep, float ep_d, int level, size_t ef,
              const Accept& accept, VisitedTable& vt, size_t budget, std::vector<Candidate>& out) {
  std::vector<Candidate> cand, res;
  cand.reserve(ef * 2);
  res.reserve(ef + 1);
  uint32_t buf[kMaxLinks0];
  vt.TestAndSet(ep);
  cand.push_back({ep_d, ep});
  if (accept(ep)) res.push_back({ep_d, ep});
  size_t computed = 0;
  while (!cand.empty()) {
    Candidate c = cand.front();
    if (res.size() >= ef && c.dist > res.front().dist) break;
    std::pop_heap(cand.begin(), cand.end(), MinFirst());
    cand.pop_back();
    if (level == 0 && !cand.empty()) FetchLinks(g, cand.front().slot);
    size_t m = Unvisited(g, c.slot, level, vt, buf);
    computed += m;
    if (computed > budget) return false;
    for (size_t j = 0; j < m && j < static_cast<size_t>(kPrefetchAhead); ++j) sp.Fetch(buf[j]);
    for (size_t j = 0; j < m; ++j) {
      if (j + kPrefetchAhead < m) sp.Fetch(buf[j + kPrefetchAhead]);
      uint32_t n = buf[j];
      float d = sp.Dist(n);
      if (res.size() < ef || d < res.front().dist) {
        cand.push_back({d, n});
        std::push_heap(cand.begin(), cand.end(), MinFirst());
        if (accept(n)) {
          res.push_back({d, n});
          std::push_heap(res.begin(), res.end(), MaxFirst());
          if (res.size() > ef) {
            std::pop_heap(res.begin(), res.end(), MaxFirst());
            res.pop_back();
          }
        }
      }
    }
  }
  std::sort(res.begin(), res.end(), ByDist);
  out.swap(res);
  return true;
}

// Keeps the `cap` best of (d, s) pairs offered one by one.
class TopK {
 public:
  explicit TopK(size_t cap) : cap_(cap) { heap_.reserve(cap + 1); }
  float worst() const {
    return heap_.size() < cap_ ? std::numeric_limits<float>::infinity() : heap_.front().dist;
  }
  void Offer(uint32_t s, float d) {
    if (heap_.size() >= cap_ && d >= heap_.front().dist) return;
    heap_.push_back({d, s});
    std::push_heap(heap_.begin(), heap_.end(), MaxFirst());
    if (heap_.size() > cap_) {
      std::pop_heap(heap_.begin(), heap_.end(), MaxFirst());
      heap_.pop_back();
    }
  }
  void Finish(std::vector<Candidate>& out) {
    std::sort(heap_.begin(), heap_.end(), ByDist);
    out.swap(heap_);
  }

 private:
  size_t cap_;
  std::vector<Candidate> heap_;
};

template <class Space>
void ScanSlots(const Space& sp, const std::vector<uint32_t>& slots, size_t cap,
               std::vector<Candidate>& out) {
  TopK top(cap);
  size_t n = slots.size();
  for (size_t j = 0; j < n && j < 4; ++j) sp.Fetch(slots[j]);
  for (size_t j = 0; j < n; ++j) {
    if (j + 4 < n) sp.Fetch(slots[j + 4]);
    top.Offer(slots[j], sp.Dist(slots[j]));
  }
  top.Finish(out);
}

// Float distance used for re-ranking int8 candidates; NaN when no float vector is available.
class Reranker {
 public:
  Reranker(const Graph& g, const KnnRequest& req) : g_(g), req_(req) {
    if (!g.has_floats() && req.source) buf_.resize(g.dim());
  }
  bool active() const { return g_.has_floats() || req_.source != nullptr; }
  float Dist(uint32_t s) {
    const Kernels& k = g_.kernels();
    const float* v;
    if (g_.has_floats()) {
      v = g_.StoredFloat(s);
    } else {
      if (!req_.source->Fetch(g_.Meta(s)->label, std::span<float>(buf_.data(), buf_.size()))) {
        return std::numeric_limits<float>::quiet_NaN();
      }
      if (g_.opts().metric == Metric::kCosine) NormalizeInPlace(buf_.data(), buf_.size());
      v = buf_.data();
    }
    return g_.is_l2() ? k.l2_sqr(req_.query, v, g_.dim()) : 1.0f - k.dot(req_.query, v, g_.dim());
  }

 private:
  const Graph& g_;
  const KnnRequest& req_;
  std::vector<float> buf_;
};

void Rerank(const Graph& g, const KnnRequest& req, std::vector<Candidate>& found) {
  Reranker rr(g, req);
  if (!rr.active()) return;
  for (Candidate& c : found) {
    float d = rr.Dist(c.slot);
    if (!std::isnan(d)) c.dist = d;
  }
  std::sort(found.begin(), found.end(), ByDist);
}

// Final k hits: live slots only, one hit per label (an update in flight can briefly have both
// its old and new slot live), filter re-checked.
std::vector<SearchHit> Collect(const Graph& g, const std::vector<Candidate>& found, size_t k,
                               const Filter* filter) {
  std::vector<SearchHit> hits;
  hits.reserve(std::min(k, found.size()));
  std::unordered_set<Label> seen;
  for (const Candidate& c : found) {
    if (hits.size() >= k) break;
    if (g.State(c.slot) != kLive) continue;
    Label label = g.Meta(c.slot)->label;
    if (filter && !filter->Allows(label)) continue;
    bool dup = false;
    if (k <= 32) {
      for (const SearchHit& h : hits) dup |= h.label == label;
    } else {
      dup = !seen.insert(label).second;
    }
    if (dup) continue;
    hits.push_back(SearchHit{label, c.dist});
  }
  return hits;
}

template <class Space>
std::vector<SearchHit> Walk(const Graph& g, const Space& sp, const KnnRequest& req, bool codes) {
  size_t ef = std::max(req.ef, req.k);
  uint64_t e = g.entry();
  uint32_t ep = Graph::EntrySlot(e);
  if (ep == kNoSlot) return {};
  uint32_t limit = g.used_slots();
  auto vt = g.visited.Get(limit);
  float ep_d = sp.Dist(ep);
  ep = Greedy(g, sp, ep, ep_d, Graph::EntryLevel(e), 0, limit);

  std::vector<Candidate> found;
  if (req.filter == nullptr) {
    // Tombstones are walked through but not counted in the beam's ef results.
    if (g.deleted() == 0) {
      PoolWalk(
          g, sp, ep, ep_d, ef, [](uint32_t) { return true; }, *vt, found);
    } else {
      PoolWalk(
          g, sp, ep, ep_d, ef, [&g](uint32_t s) { return g.State(s) == kLive; }, *vt, found);
    }
  } else {
    const Filter* filter = req.filter;
    auto accept = [&g, filter](uint32_t s) {
      return g.State(s) == kLive && filter->Allows(g.Meta(s)->label);
    };
    // Budget in distance computations: beyond a third of the graph a full scan is cheaper.
    size_t budget = std::max<size_t>(limit / 3, 2000);
    if (!HeapWalk(g, sp, ep, ep_d, 0, ef, accept, *vt, budget, found)) {
      std::vector<uint32_t> slots;
      for (uint32_t s = 0; s < limit; ++s) {
        if (accept(s)) slots.push_back(s);
      }
      ScanSlots(sp, slots, ef, found);
    }
  }
  if (codes) Rerank(g, req, found);
  return Collect(g, found, req.k, req.filter);
}

std::vector<SearchHit> ExactFiltered(const Graph& g, const KnnRequest& req) {
  // The filter's callback runs without index locks held (it may do anything); the label map is
  // then read under its shared lock, held through the scan so no allowed label is being
  // re-pointed (updated) halfway.
  std::vector<Label> labels;
  req.filter->ForEach([&](Label label) { labels.push_back(label); });
  std::vector<uint32_t> slots;
  slots.reserve(labels.size());
  std::shared_lock<std::shared_mutex> lock(g.map_mu);
  for (Label label : labels) {
    uint32_t s = g.FindLocked(label);
    if (s != kNoSlot) slots.push_back(s);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  // With floats in memory the scan is exact; with codes only, scan on codes and re-rank the
  // best ef from the source.
  bool codes = g.codes_active() && !g.has_floats();
  size_t cap = codes ? std::max(req.ef, req.k) : req.k;
  std::vector<Candidate> found;
  WithSpace(g, req.query, codes, false, [&](const auto& sp) {
    ScanSlots(sp, slots, cap, found);
    return 0;
  });
  if (codes) Rerank(g, req, found);
  return Collect(g, found, req.k, nullptr);
}

}  // namespace

uint32_t GreedyForInsert(const Graph& g, const float* q, uint32_t entry, int top, int stop_level) {
  bool codes = !g.has_floats();
  return WithSpace(g, q, codes, false, [&](const auto& sp) {
    float d = sp.Dist(entry);
    return Greedy(g, sp, entry, d, top, stop_level, g.used_slots());
  });
}

std::vector<Candidate> SearchLayerForInsert(const Graph& g, const float* q, uint32_t ep, int level,
                                            size_t ef, uint32_t exclude) {
  bool codes = !g.has_floats();
  uint32_t limit = g.used_slots();
  auto vt = g.visited.Get(limit);
  std::vector<Candidate> out;
  vt->TestAndSet(exclude);
  auto accept = [&g, exclude](uint32_t s) { return s != exclude && g.State(s) == kLive; };
  WithSpace(g, q, codes, true, [&](const auto& sp) {
    HeapWalk(g, sp, ep, sp.Dist(ep), level, ef, accept, *vt, SIZE_MAX, out);
    return 0;
  });
  return out;
}

bool UseExactPath(const Graph& g, size_t cardinality, size_t ef) {
  constexpr double kScanVsWalk = 0.4;  // see the header comment
  if (cardinality <= g.opts().exact_search_threshold) return true;
  double c = static_cast<double>(cardinality);
  return c * c <= kScanVsWalk * static_cast<double>(ef) * static_cast<double>(g.M()) *
                      static_cast<double>(g.live());
}

std::vector<SearchHit> SearchKnn(const Graph& g, const KnnRequest& req) {
  if (req.k == 0 || g.live() == 0) return {};
  KnnRequest r = req;
  r.ef = std::max(req.ef, req.k);
  if (r.filter) {
    size_t c = r.filter->Cardinality();
    if (c != std::numeric_limits<size_t>::max() && UseExactPath(g, c, r.ef)) {
      return ExactFiltered(g, r);
    }
  }
  bool codes = g.codes_active();
  bool need_meta = r.filter != nullptr || g.deleted() != 0;
  return WithSpace(g, r.query, codes, need_meta,
                   [&](const auto& sp) { return Walk(g, sp, r, codes); });
}

}  // namespace deepkb::hnsw::internal
