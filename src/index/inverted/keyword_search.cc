// KeywordIndex::Search and SearchExhaustive: one query evaluation (the algorithm is described at
// the top of keyword_index.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "index/inverted/bm25.h"
#include "index/inverted/keyword_index.h"

namespace deepkb::inverted {

namespace {

using fulltext::QueryClause;

// Relative inflation of every upper bound, far above the rounding error of summing <= 32
// clause scores in a different order.
constexpr double kBoundSlack = 1.0 + 1e-9;

struct HeapEntry {
  double score;
  int64_t chunk_id;
};
// True when a ranks better than b.
inline bool Better(const HeapEntry& a, const HeapEntry& b) {
  return a.score > b.score || (a.score == b.score && a.chunk_id < b.chunk_id);
}

class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k + 1); }
  bool full() const { return heap_.size() >= k_; }
  double threshold() const { return full() ? heap_.front().score : -INFINITY; }
  void Offer(double score, int64_t chunk_id) {
    const HeapEntry e{score, chunk_id};
    if (!full()) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), Better);  // front = worst
      return;
    }
    if (!Better(e, heap_.front())) return;
    std::pop_heap(heap_.begin(), heap_.end(), Better);
    heap_.back() = e;
    std::push_heap(heap_.begin(), heap_.end(), Better);
  }
  std::vector<KeywordHit> Take() {
    std::sort(heap_.begin(), heap_.end(), Better);
    std::vector<KeywordHit> out;
    out.reserve(heap_.size());
    for (const auto& e : heap_) out.push_back(KeywordHit{e.chunk_id, e.score});
    return out;
  }

 private:
  size_t k_;
  std::vector<HeapEntry> heap_;
};

}  // namespace

// One query evaluation: MaxScore with block-max bounds (see the header for the algorithm).
class SearchRun {
 public:
  struct Cursor {
    const PostingList* list = nullptr;
    double idf = 0;
    double ub = 0;  // global bound, inflated
    uint32_t df = 0;
    int clause = 0;
    size_t block = 0;
    int idx = 0;
    int n = 0;
    uint32_t cur = kEndDoc;
    size_t sblock = 0;      // block of the last bound lookup
    double sbound = -1;     // its bound (-1: not computed)
    bool essential = true;  // gathers the docs' lengths when decoding
    bool started = true;    // a block is decoded (impact-tier cursors start lazily)
    uint32_t docs[kBlockSize];
    double freqs[kBlockSize];
    uint32_t lens[kBlockSize];  // essential: each doc's length, or kSkipLen
  };

  SearchRun(const KeywordIndex& ix, const std::vector<uint8_t>* allowed, int k)
      : ix_(ix), allowed_(allowed), top_(static_cast<size_t>(k)) {
    avgdl_ = static_cast<double>(ix.total_tokens_) / static_cast<double>(ix.live_docs_);
    weights_[0] = ix.weights_.title;
    weights_[1] = ix.weights_.headings;
    weights_[2] = ix.weights_.body;
  }

  const SearchStats& stats() const { return stats_; }

  std::vector<KeywordHit> Run(const std::vector<const KeywordIndex::TermEntry*>& lists) {
    m_ = lists.size();
    cursors_ = std::vector<Cursor>(m_);
    const auto n_rows = static_cast<int64_t>(ix_.live_docs_);
    for (size_t i = 0; i < m_; ++i) {
      Cursor& c = cursors_[i];
      c.list = &lists[i]->list;
      c.clause = static_cast<int>(i);
      c.df = lists[i]->df;
      c.idf = Bm25Idf(n_rows, static_cast<int64_t>(lists[i]->df));
      c.ub = lists[i]->df == 0 ? 0 : Bound(c.list->frontier(), c.idf);
      if (lists[i]->df == 0) {
        c.cur = kEndDoc;  // only tombstones (or nothing) in it
      } else {
        Start(c);
      }
    }
    // Impact tiers: a second cursor per clause over the tier's list, and the bound of a doc
    // that is not in it (infinite without a tier).
    tiers_ = std::vector<Cursor>(m_);
    rest_ub_.assign(m_, INFINITY);
    for (size_t i = 0; i < m_; ++i) {
      const ImpactTier* t = lists[i]->tier.get();
      if (!t || lists[i]->df == 0 || t->high.empty()) continue;
      Cursor& h = tiers_[i];
      h.list = &t->high;
      h.clause = static_cast<int>(i);
      h.df = lists[i]->df;
      h.idf = cursors_[i].idf;
      h.ub = cursors_[i].ub;
      h.essential = false;
      h.started = false;
      double best = 0;
      for (const FrontierPoint& p : t->rest.pts) {
        best = std::max(best, Bm25Term(h.idf, p.freq, p.len, avgdl_));
      }
      rest_ub_[i] = best * kBoundSlack;
    }
    // Order in which clauses become non-essential as the k-th score rises: the most postings per
    // unit of bound first (document frequency / upper bound, descending). For clauses whose
    // bounds differ this is the classic ascending-bound order, since a clause's idf — and so its
    // bound — falls as its frequency rises. Where the bounds are alike, as for clauses matching
    // over half of the rows (FTS5 clamps their idf to 1e-6), it leaves the SHORTEST list
    // essential instead of the one whose bound happens to be largest: on the 1M-chunk bench
    // '如果 文件 命令' walks a 760k-long list whose postings rarely clear the bar instead of a
    // 960k-long one.
    cs_.resize(m_);
    for (size_t i = 0; i < m_; ++i) cs_[i] = &cursors_[i];
    auto key = [](const Cursor* c) {
      return c->ub > 0 ? static_cast<double>(c->df) / c->ub : INFINITY;
    };
    std::sort(cs_.begin(), cs_.end(), [&](const Cursor* a, const Cursor* b) {
      const double ka = key(a), kb = key(b);
      return ka != kb ? ka > kb : a->clause < b->clause;
    });
    // prefix_[i] = bound of a doc that only cs_[0..i] can contribute to.
    prefix_.resize(m_);
    double acc = 0;
    for (size_t i = 0; i < m_; ++i) prefix_[i] = (acc += cs_[i]->ub) * kBoundSlack;
    contrib_.assign(m_, 0.0);

    while (ess_ < m_) {
      if (ess_ + 1 == m_) {
        DriveOne();
        break;
      }
      if (!Step()) break;
    }
    return top_.Take();
  }

 private:
  double Bound(const Frontier& f, double idf) const {
    double best = 0;
    for (uint8_t i = 0; i < f.n; ++i) {
      best = std::max(best, Bm25Term(idf, f.pts[i].freq, f.pts[i].len, avgdl_));
    }
    return best * kBoundSlack;
  }

  // Length of a doc to score, kSkipLen for a tombstone or a doc outside the allowed set.
  static constexpr uint32_t kSkipLen = KeywordIndex::kDeletedLen;

  void Decode(Cursor& c) {
    if (ix_.integer_weights_) {
      c.n = c.list->DecodeBlockFreqs(c.block, c.docs, c.freqs, weights_);
    } else {
      std::array<uint32_t, 3> tfs[kBlockSize];
      c.n = c.list->DecodeBlock(c.block, c.docs, tfs);
      for (int i = 0; i < c.n; ++i) c.freqs[i] = ix_.Freq(tfs[i]);
    }
    ++stats_.blocks_decoded;
    if (c.essential) {
      // The docs of an essential list are all looked at: fetch their lengths in one pass, so
      // the cache misses overlap (in a sparse list every doc's is on its own cache line).
      const uint32_t* lens = ix_.scan_lens_.data();
      for (int i = 0; i < c.n; ++i) c.lens[i] = lens[c.docs[i]];
      if (allowed_) {
        for (int i = 0; i < c.n; ++i) {
          if (!(*allowed_)[c.docs[i]]) c.lens[i] = kSkipLen;
        }
      }
    }
    c.idx = 0;
    c.cur = c.docs[0];
  }
  void Start(Cursor& c) {
    if (c.list->empty()) {
      c.cur = kEndDoc;
      return;
    }
    c.block = 0;
    Decode(c);
  }
  void NextBlock(Cursor& c) {
    if (++c.block < c.list->blocks().size()) {
      Decode(c);
    } else {
      c.cur = kEndDoc;
    }
  }
  void Next(Cursor& c) {
    if (++c.idx < c.n) {
      c.cur = c.docs[c.idx];
      return;
    }
    NextBlock(c);
  }
  // Positions c (possibly not started) on its first doc >= target, decoding that block anew.
  void Reposition(Cursor& c, uint32_t target) {
    const auto& blocks = c.list->blocks();
    size_t b = c.started ? c.block : 0;
    while (b < blocks.size() && blocks[b].last_doc < target) ++b;
    c.started = true;
    if (b >= blocks.size()) {
      c.block = blocks.size();
      c.cur = kEndDoc;
      return;
    }
    c.block = b;
    Decode(c);
    while (c.docs[c.idx] < target) ++c.idx;
    c.cur = c.docs[c.idx];
  }
  void SeekTo(Cursor& c, uint32_t target) {
    if (!c.started) return Reposition(c, target);
    if (c.cur >= target) return;
    const auto& blocks = c.list->blocks();
    if (blocks[c.block].last_doc < target) {
      do {
        ++c.block;
      } while (c.block < blocks.size() && blocks[c.block].last_doc < target);
      if (c.block >= blocks.size()) {
        c.cur = kEndDoc;
        return;
      }
      Decode(c);
    }
    while (c.docs[c.idx] < target) ++c.idx;  // the block's last doc is >= target
    c.cur = c.docs[c.idx];
  }
  // Bound of the block that may hold `target` and that block's last doc; (0, kEndDoc) when the
  // list has nothing at or after target.
  double BlockBound(Cursor& c, uint32_t target, uint32_t& last) {
    const auto& blocks = c.list->blocks();
    if (c.ub == 0) {  // nothing live in this list
      last = kEndDoc;
      return 0;
    }
    while (c.sblock < blocks.size() && blocks[c.sblock].last_doc < target) {
      ++c.sblock;
      c.sbound = -1;
    }
    if (c.sblock >= blocks.size()) {
      last = kEndDoc;
      return 0;
    }
    if (c.sbound < 0) c.sbound = Bound(blocks[c.sblock].frontier, c.idf);
    last = blocks[c.sblock].last_doc;
    return c.sbound;
  }
  double Score(const Cursor& c, double doc_len) {
    ++stats_.postings_scored;
    return Bm25Term(c.idf, c.freqs[c.idx], doc_len, avgdl_);
  }

  // Doc d (length len) has contributions `partial` (summed) from the essential clauses, recorded
  // in contrib_. Probes the non-essential clauses, highest in the order first, dropping d as soon
  // as its bound falls below the k-th score; offers it to the top-k otherwise.
  void Evaluate(uint32_t d, double len, double partial) {
    bool pruned = false;
    for (size_t j = ess_; j-- > 0;) {
      Cursor& c = *cs_[j];
      if (theta_ > -INFINITY) {
        if (partial * kBoundSlack + prefix_[j] < theta_) {
          pruned = true;
          break;
        }
        const double others = j > 0 ? prefix_[j - 1] : 0.0;
        const auto clause = static_cast<size_t>(c.clause);
        if (partial * kBoundSlack + rest_ub_[clause] + others < theta_) {
          // Only a doc in the clause's impact tier can still qualify: look there (a much
          // shorter list to decode), and drop d when it is not in it.
          Cursor& h = tiers_[clause];
          ++stats_.tier_probes;
          SeekTo(h, d);
          if (h.cur != d) {
            pruned = true;
            break;
          }
          const double x = Score(h, len);
          contrib_[clause] = x;
          partial += x;
          continue;
        }
        uint32_t last;
        const double bb = BlockBound(c, d, last);
        if (partial * kBoundSlack + bb + others < theta_) {
          pruned = true;
          break;
        }
      }
      SeekTo(c, d);
      if (c.cur == d) {
        const double x = Score(c, len);
        contrib_[static_cast<size_t>(c.clause)] = x;
        partial += x;
      }
    }
    if (pruned) {
      ++stats_.probe_prunes;
    } else {
      ++stats_.docs_scored;
      // The exact score: clauses summed in query order, as fts5Bm25Function does.
      double score = 0;
      for (size_t i = 0; i < m_; ++i) score += contrib_[i];
      top_.Offer(score, ix_.docs_[d].chunk_id);
      if (top_.full() && top_.threshold() > theta_) {
        theta_ = top_.threshold();
        while (ess_ < m_ && prefix_[ess_] < theta_) cs_[ess_++]->essential = false;
      }
    }
    std::fill(contrib_.begin(), contrib_.end(), 0.0);
  }

  // One candidate of the general case (several essential clauses): the smallest doc among
  // their cursors. False when they are exhausted.
  bool Step() {
    uint32_t d = kEndDoc;
    uint32_t dlen = kSkipLen;
    for (size_t i = ess_; i < m_; ++i) {
      const Cursor& c = *cs_[i];
      if (c.cur < d) {
        d = c.cur;
        dlen = c.lens[c.idx];
      }
    }
    if (d == kEndDoc) return false;
    ++stats_.candidates;
    if (dlen == kSkipLen) {
      for (size_t i = ess_; i < m_; ++i) {
        if (cs_[i]->cur == d) Next(*cs_[i]);
      }
      return true;
    }
    if (theta_ > -INFINITY) {
      // Block-max check over every clause: skips whole block ranges that cannot qualify.
      double bound = 0;
      uint32_t limit = kEndDoc;
      for (size_t i = 0; i < m_; ++i) {
        uint32_t last;
        bound += BlockBound(*cs_[i], d, last);
        limit = std::min(limit, last);
      }
      if (bound * kBoundSlack < theta_) {
        ++stats_.range_skips;
        if (limit == kEndDoc) return false;
        for (size_t i = ess_; i < m_; ++i) SeekTo(*cs_[i], limit + 1);
        return true;
      }
    }
    const double len = static_cast<double>(dlen);
    double partial = 0;
    for (size_t i = ess_; i < m_; ++i) {
      Cursor& c = *cs_[i];
      if (c.cur != d) continue;
      const double x = Score(c, len);
      contrib_[static_cast<size_t>(c.clause)] = x;
      partial += x;
      Next(c);
    }
    Evaluate(d, len, partial);
    return true;
  }

  // One essential clause left (cs_[m_ - 1]): walk its postings block by block. A block whose
  // bound plus the non-essential clauses' bounds cannot reach the k-th score is skipped
  // undecoded; a posting whose own contribution plus those bounds cannot is dropped before
  // anything else is looked at. Returns when the list or the essential set is exhausted.
  void DriveOne() {
    Cursor* cp = cs_[m_ - 1];
    const auto clause = static_cast<size_t>(cp->clause);
    const double rest = m_ > 1 ? prefix_[m_ - 2] : 0.0;
    bool in_tier = false;
    while (cp->cur != kEndDoc) {
      if (!in_tier && (rest_ub_[clause] + rest) * kBoundSlack < theta_) {
        // From here on only docs in the clause's impact tier can qualify: walk the tier instead
        // (typically a quarter of the list), from the first doc not yet looked at.
        in_tier = true;
        ++stats_.tier_drives;
        Cursor& h = tiers_[clause];
        h.essential = true;
        Reposition(h, cp->cur);
        cp = &h;
        continue;
      }
      Cursor& c = *cp;
      if (theta_ > -INFINITY) {
        uint32_t last;
        const double bb = BlockBound(c, c.cur, last);
        if ((bb + rest) * kBoundSlack < theta_) {
          ++stats_.range_skips;
          NextBlock(c);
          continue;
        }
      }
      // Score the rest of the block in one pass (tombstones too: their length is a huge
      // number, so they score low; they are dropped below).
      double xs[kBlockSize];
      for (int i = c.idx; i < c.n; ++i) {
        xs[i] = Bm25Term(c.idf, c.freqs[i], static_cast<double>(c.lens[i]), avgdl_);
      }
      stats_.candidates += static_cast<uint64_t>(c.n - c.idx);
      stats_.postings_scored += static_cast<uint64_t>(c.n - c.idx);
      for (; c.idx < c.n; ++c.idx) {
        const double x = xs[c.idx];
        if (x * kBoundSlack + rest < theta_) {
          ++stats_.driver_rejects;
          continue;
        }
        const uint32_t len = c.lens[c.idx];
        if (len == kSkipLen) continue;
        contrib_[static_cast<size_t>(c.clause)] = x;
        Evaluate(c.docs[c.idx], static_cast<double>(len), x);
        if (ess_ == m_) return;
      }
      NextBlock(c);
    }
  }

  SearchStats stats_;
  const KeywordIndex& ix_;
  const std::vector<uint8_t>* allowed_;
  double avgdl_ = 0;
  double weights_[3];  // title, headings, body
  size_t m_ = 0;
  std::vector<Cursor> cursors_;
  std::vector<Cursor> tiers_;    // per clause (query order): cursor over its impact tier
  std::vector<double> rest_ub_;  // per clause: inflated bound of a doc not in its impact tier
  std::vector<Cursor*> cs_;      // clauses in non-essential-first order
  std::vector<double> prefix_;   // prefix_[i]: inflated sum of the bounds of cs_[0..i]
  std::vector<double> contrib_;  // per clause (query order): contribution to the current doc
  TopK top_;
  double theta_ = -INFINITY;  // the k-th score once the top-k is full
  size_t ess_ = 0;            // cs_[0..ess_) are non-essential
};

Result<std::vector<KeywordHit>> KeywordIndex::Search(const std::vector<QueryClause>& clauses,
                                                     int k, const fulltext::FieldWeights& weights,
                                                     const AllowedChunks* allowed,
                                                     SearchStats* stats) const {
  if (k < 1) return InvalidArgumentError("keyword index: k must be positive");
  auto lock = ReadLock();
  std::vector<const TermEntry*> lists;
  RETURN_IF_ERROR(CheckQuery(clauses, weights, lists));
  if (lists.empty() || live_docs_ == 0) return std::vector<KeywordHit>{};
  std::vector<uint8_t> bits;
  if (allowed) bits = AllowedBitmap(*allowed);
  SearchRun run(*this, allowed ? &bits : nullptr, k);
  std::vector<KeywordHit> hits = run.Run(lists);
  if (stats) {
    const SearchStats& s = run.stats();
    stats->candidates += s.candidates;
    stats->docs_scored += s.docs_scored;
    stats->postings_scored += s.postings_scored;
    stats->blocks_decoded += s.blocks_decoded;
    stats->range_skips += s.range_skips;
    stats->probe_prunes += s.probe_prunes;
    stats->driver_rejects += s.driver_rejects;
    stats->tier_drives += s.tier_drives;
    stats->tier_probes += s.tier_probes;
  }
  return hits;
}

Result<std::vector<KeywordHit>> KeywordIndex::SearchExhaustive(
    const std::vector<QueryClause>& clauses, int k, const AllowedChunks* allowed) const {
  if (k < 1) return InvalidArgumentError("keyword index: k must be positive");
  auto lock = ReadLock();
  std::vector<const TermEntry*> lists;
  RETURN_IF_ERROR(CheckQuery(clauses, weights_, lists));
  if (lists.empty() || live_docs_ == 0) return std::vector<KeywordHit>{};
  std::vector<uint8_t> bits;
  if (allowed) bits = AllowedBitmap(*allowed);
  const double avgdl = static_cast<double>(total_tokens_) / static_cast<double>(live_docs_);
  std::map<uint32_t, std::vector<double>> per_doc;
  uint32_t dbuf[kBlockSize];
  std::array<uint32_t, 3> tbuf[kBlockSize];
  for (size_t i = 0; i < lists.size(); ++i) {
    const double idf =
        Bm25Idf(static_cast<int64_t>(live_docs_), static_cast<int64_t>(lists[i]->df));
    const PostingList& pl = lists[i]->list;
    for (size_t b = 0; b < pl.blocks().size(); ++b) {
      const int n = pl.DecodeBlock(b, dbuf, tbuf);
      for (int j = 0; j < n; ++j) {
        const uint32_t d = dbuf[j];
        if (docs_[d].deleted || (allowed && !bits[d])) continue;
        auto& v = per_doc[d];
        v.resize(lists.size(), 0.0);
        v[i] = Bm25Term(idf, Freq(tbuf[j]), static_cast<double>(docs_[d].len), avgdl);
      }
    }
  }
  TopK top(static_cast<size_t>(k));
  for (const auto& [d, v] : per_doc) {
    double score = 0;
    for (double x : v) score += x;
    top.Offer(score, docs_[d].chunk_id);
  }
  return top.Take();
}

}  // namespace deepkb::inverted
