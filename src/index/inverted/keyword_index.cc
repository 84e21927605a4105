#include "index/inverted/keyword_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "index/inverted/bm25.h"

namespace deepkb::inverted {

namespace {

using fulltext::QueryClause;

// FNV-1a 64 over the term, for fingerprints that are stable across runs and builds.
uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t Mix(uint64_t x) {  // SplitMix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// First code point of a UTF-8 string (0 when empty or ill-formed).
char32_t FirstCodePoint(std::string_view s, size_t* len = nullptr) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  size_t n;
  char32_t cp;
  if (b0 < 0x80) {
    n = 1, cp = b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (len) *len = n;
  return cp;
}

// Code points from which on per-character occurrence lists are kept (CJK radicals onwards:
// Han, kana, and — harmlessly — Hangul, Yi and the rest of the upper BMP and beyond).
constexpr char32_t kMinPrefixChar = 0x2E80;

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

// ---------------------------------------------------------------------------------------------
// Analysis

KeywordIndex::KeywordIndex(fulltext::FieldWeights weights) : weights_(weights) {
  auto is_int = [](double w) { return std::isfinite(w) && w == std::floor(w) && std::fabs(w) < 1e6; };
  integer_weights_ = is_int(weights_.title) && is_int(weights_.headings) && is_int(weights_.body);
}

KeywordIndex::Analysed KeywordIndex::Analyse(const ChunkText& chunk) {
  Analysed a;
  std::unordered_map<std::string, std::array<uint32_t, 3>> terms;
  std::unordered_map<char32_t, std::array<uint32_t, 3>> chars;
  const std::string_view cols[3] = {chunk.title, chunk.headings, chunk.body};
  std::vector<char32_t> here;  // characters already counted at the current position
  for (int col = 0; col < 3; ++col) {
    uint32_t size = 0;
    here.clear();
    fulltext::AnalyzeDocument(cols[col], [&](const fulltext::Term& t) {
      // FTS5 (fts5StorageInsertCallback): a token takes a new position unless it is colocated
      // and the column already has one.
      const bool coloc = t.colocated && size > 0;
      if (!coloc) {
        ++size;
        here.clear();
      }
      ++terms[t.text][col];
      const char32_t c0 = FirstCodePoint(t.text);
      if (c0 >= kMinPrefixChar) {
        if (coloc) a.colocated_starts.push_back(c0);
        if (std::find(here.begin(), here.end(), c0) == here.end()) {
          here.push_back(c0);
          ++chars[c0][col];
        }
      }
      return true;
    });
    a.len += size;
  }
  a.terms.assign(terms.begin(), terms.end());
  std::sort(a.terms.begin(), a.terms.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  a.chars.assign(chars.begin(), chars.end());
  std::sort(a.chars.begin(), a.chars.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  uint64_t fp = Mix(a.len);
  for (const auto& [term, tf] : a.terms) {
    fp += Mix(Fnv1a(term) ^ Mix((uint64_t{tf[0]} << 42) ^ (uint64_t{tf[1]} << 21) ^ tf[2]));
  }
  a.fingerprint = fp;
  return a;
}

double KeywordIndex::Freq(const std::array<uint32_t, 3>& tf) const {
  if (integer_weights_) {
    return weights_.title * tf[0] + weights_.headings * tf[1] + weights_.body * tf[2];
  }
  // FTS5 adds the column weight once per instance, title instances first.
  double f = 0;
  for (uint32_t i = 0; i < tf[0]; ++i) f += weights_.title;
  for (uint32_t i = 0; i < tf[1]; ++i) f += weights_.headings;
  for (uint32_t i = 0; i < tf[2]; ++i) f += weights_.body;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Updates

Status KeywordIndex::Add(const ChunkText& chunk) {
  const Analysed a = Analyse(chunk);  // outside the lock: the expensive part
  auto lock = WriteLock();
  if (ord_of_.count(chunk.chunk_id)) {
    return AlreadyExistsError("keyword index: chunk " + std::to_string(chunk.chunk_id) +
                              " is already indexed");
  }
  if (docs_.size() >= static_cast<size_t>(kEndDoc) - 1) {
    return InvalidArgumentError("keyword index: too many document slots; compact it");
  }
  const auto ord = static_cast<uint32_t>(docs_.size());
  docs_.push_back(DocEntry{chunk.chunk_id, a.len, false, a.fingerprint});
  ord_of_.emplace(chunk.chunk_id, ord);
  for (const auto& [term, tf] : a.terms) {
    auto [it, inserted] = term_ids_.try_emplace(term, static_cast<uint32_t>(terms_.size()));
    if (inserted) terms_.emplace_back();
    TermEntry& e = terms_[it->second];
    e.list.Append(Posting{ord, tf}, Freq(tf), a.len);
    ++e.df;
  }
  for (const auto& [c, tf] : a.chars) {
    auto [it, inserted] = char_ids_.try_emplace(c, static_cast<uint32_t>(chars_.size()));
    if (inserted) chars_.emplace_back();
    TermEntry& e = chars_[it->second];
    e.list.Append(Posting{ord, tf}, Freq(tf), a.len);
    ++e.df;
  }
  for (char32_t c : a.colocated_starts) tainted_.insert(c);
  ++version_;
  ++live_docs_;
  total_tokens_ += a.len;
  return Status::Ok();
}

Status KeywordIndex::Remove(const ChunkText& chunk) {
  const Analysed a = Analyse(chunk);
  auto lock = WriteLock();
  auto it = ord_of_.find(chunk.chunk_id);
  if (it == ord_of_.end()) {
    return NotFoundError("keyword index: chunk " + std::to_string(chunk.chunk_id) +
                         " is not indexed");
  }
  DocEntry& d = docs_[it->second];
  if (d.fingerprint != a.fingerprint || d.len != a.len) {
    return FailedPreconditionError("keyword index: the text given to remove chunk " +
                                   std::to_string(chunk.chunk_id) +
                                   " is not the text it was indexed with");
  }
  std::vector<uint32_t> tids, cids;
  for (const auto& [term, tf] : a.terms) {
    auto t = term_ids_.find(term);
    if (t == term_ids_.end() || terms_[t->second].df == 0) {
      return FailedPreconditionError("keyword index: term of chunk " +
                                     std::to_string(chunk.chunk_id) + " missing");
    }
    tids.push_back(t->second);
  }
  for (const auto& [c, tf] : a.chars) {
    auto t = char_ids_.find(c);
    if (t == char_ids_.end() || chars_[t->second].df == 0) {
      return FailedPreconditionError("keyword index: character of chunk " +
                                     std::to_string(chunk.chunk_id) + " missing");
    }
    cids.push_back(t->second);
  }
  for (uint32_t t : tids) --terms_[t].df;
  for (uint32_t c : cids) --chars_[c].df;
  d.deleted = true;
  ++version_;
  ord_of_.erase(it);
  --live_docs_;
  total_tokens_ -= d.len;
  ++tombstones_;
  return Status::Ok();
}

bool KeywordIndex::NeedsCompaction() const {
  auto lock = ReadLock();
  return tombstones_ > 1000 && tombstones_ * 5 > docs_.size();
}

KeywordIndex::Compacted KeywordIndex::BuildCompacted() const {
  Compacted out;
  std::vector<uint32_t> remap(docs_.size(), kEndDoc);
  out.docs.reserve(live_docs_);
  for (size_t i = 0; i < docs_.size(); ++i) {
    if (docs_[i].deleted) continue;
    remap[i] = static_cast<uint32_t>(out.docs.size());
    out.docs.push_back(docs_[i]);
  }
  uint32_t dbuf[kBlockSize];
  std::array<uint32_t, 3> tbuf[kBlockSize];
  auto rewrite = [&](const PostingList& in) {
    PostingList list;
    for (size_t b = 0; b < in.blocks().size(); ++b) {
      const int n = in.DecodeBlock(b, dbuf, tbuf);
      for (int i = 0; i < n; ++i) {
        const uint32_t nd = remap[dbuf[i]];
        if (nd == kEndDoc) continue;
        list.Append(Posting{nd, tbuf[i]}, Freq(tbuf[i]), out.docs[nd].len);
      }
    }
    list.ShrinkToFit();
    return list;
  };
  auto compact_lists = [&](const auto& ids, const std::vector<TermEntry>& entries, auto& new_ids,
                           std::vector<TermEntry>& kept) {
    for (const auto& [key, id] : ids) {
      const TermEntry& e = entries[id];
      if (e.df == 0) continue;
      TermEntry n;
      n.df = e.df;
      n.list = rewrite(e.list);
      new_ids.emplace(key, static_cast<uint32_t>(kept.size()));
      kept.push_back(std::move(n));
    }
  };
  compact_lists(term_ids_, terms_, out.term_ids, out.terms);
  compact_lists(char_ids_, chars_, out.char_ids, out.chars);
  out.ord_of.reserve(out.docs.size());
  for (size_t i = 0; i < out.docs.size(); ++i) {
    out.ord_of.emplace(out.docs[i].chunk_id, static_cast<uint32_t>(i));
  }
  return out;
}

void KeywordIndex::Install(Compacted c) {
  docs_ = std::move(c.docs);
  ord_of_ = std::move(c.ord_of);
  term_ids_ = std::move(c.term_ids);
  terms_ = std::move(c.terms);
  char_ids_ = std::move(c.char_ids);
  chars_ = std::move(c.chars);
  tombstones_ = 0;
  ++version_;
}

void KeywordIndex::Compact() {
  {
    // Rewrite under the shared lock (searches continue), install if no write came meanwhile.
    auto lock = ReadLock();
    if (tombstones_ == 0) return;
    const uint64_t version = version_;
    Compacted c = BuildCompacted();
    lock.unlock();
    auto wlock = WriteLock();
    if (version_ == version) {
      Install(std::move(c));
      return;
    }
  }
  auto lock = WriteLock();  // a write interleaved: redo under the exclusive lock
  if (tombstones_ == 0) return;
  Install(BuildCompacted());
}

void KeywordIndex::ShrinkToFit() {
  auto lock = WriteLock();
  for (auto& e : terms_) e.list.ShrinkToFit();
  for (auto& e : chars_) e.list.ShrinkToFit();
  terms_.shrink_to_fit();
  chars_.shrink_to_fit();
  docs_.shrink_to_fit();
}

// ---------------------------------------------------------------------------------------------
// Accessors

bool KeywordIndex::Contains(int64_t chunk_id) const {
  auto lock = ReadLock();
  return ord_of_.count(chunk_id) > 0;
}

std::vector<int64_t> KeywordIndex::LiveChunkIds() const {
  auto lock = ReadLock();
  std::vector<int64_t> ids;
  ids.reserve(ord_of_.size());
  for (const auto& [id, ord] : ord_of_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

KeywordStats KeywordIndex::Stats() const {
  auto lock = ReadLock();
  KeywordStats s;
  s.live_docs = live_docs_;
  s.total_tokens = total_tokens_;
  s.doc_slots = docs_.size();
  s.tombstones = tombstones_;
  s.terms = terms_.size();
  s.char_lists = chars_.size();
  size_t mem = docs_.capacity() * sizeof(DocEntry) +
               ord_of_.size() * (sizeof(std::pair<int64_t, uint32_t>) + 24) +
               ord_of_.bucket_count() * sizeof(void*);
  for (const auto& [term, id] : term_ids_) mem += term.capacity() + 48;
  mem += term_ids_.bucket_count() * sizeof(void*) + char_ids_.size() * 32;
  for (const auto& e : terms_) {
    s.postings += e.list.size();
    mem += e.list.MemoryBytes() + sizeof(uint32_t);
  }
  for (const auto& e : chars_) {
    s.postings += e.list.size();
    mem += e.list.MemoryBytes() + sizeof(uint32_t);
  }
  s.memory_bytes = mem;
  return s;
}

size_t KeywordIndex::DocFreq(std::string_view term) const {
  auto lock = ReadLock();
  auto it = term_ids_.find(std::string(term));
  return it == term_ids_.end() ? 0 : terms_[it->second].df;
}

// ---------------------------------------------------------------------------------------------
// Search

Status KeywordIndex::CheckQuery(const std::vector<QueryClause>& clauses,
                                const fulltext::FieldWeights& weights,
                                std::vector<const TermEntry*>& lists) const {
  if (weights.title != weights_.title || weights.headings != weights_.headings ||
      weights.body != weights_.body) {
    return FailedPreconditionError("keyword index: built for other field weights");
  }
  static const TermEntry kEmpty;
  lists.clear();
  for (const QueryClause& c : clauses) {
    if (c.terms.empty()) continue;  // BuildMatchQuery makes no phrase for it
    if (c.terms.size() != 1) {
      return FailedPreconditionError("keyword index: phrase clauses need positions");
    }
    const std::string& t = c.terms[0];
    if (c.kind == QueryClause::Kind::kPrefix) {
      size_t len = 0;
      const char32_t cp = FirstCodePoint(t, &len);
      if (cp < kMinPrefixChar || len != t.size()) {
        return FailedPreconditionError("keyword index: prefix '" + t +
                                       "' is not one character from U+2E80 on");
      }
      if (tainted_.count(cp)) {
        return FailedPreconditionError("keyword index: prefix '" + t +
                                       "' starts colocated tokens; FTS5 counts those differently");
      }
      auto it = char_ids_.find(cp);
      lists.push_back(it == char_ids_.end() ? &kEmpty : &chars_[it->second]);
    } else {
      auto it = term_ids_.find(t);
      lists.push_back(it == term_ids_.end() ? &kEmpty : &terms_[it->second]);
    }
  }
  return Status::Ok();
}

std::vector<uint8_t> KeywordIndex::AllowedBitmap(const AllowedChunks& allowed) const {
  std::vector<uint8_t> bits(docs_.size(), 0);
  for (int64_t id : allowed.sorted_ids) {
    auto it = ord_of_.find(id);
    if (it != ord_of_.end()) bits[it->second] = 1;
  }
  return bits;
}

// One query evaluation (MaxScore with block-max bounds; see the header).
class SearchRun {
 public:
  struct Cursor {
    const PostingList* list = nullptr;
    double idf = 0;
    double ub = 0;  // global bound, inflated
    int clause = 0;
    size_t block = 0;
    int idx = 0;
    int n = 0;
    uint32_t cur = kEndDoc;
    size_t sblock = 0;          // block of the last bound lookup
    double sbound = -1;         // its bound (-1: not computed)
    uint32_t docs[kBlockSize];
    double freqs[kBlockSize];
  };

  SearchRun(const KeywordIndex& ix, const std::vector<uint8_t>* allowed)
      : ix_(ix), allowed_(allowed) {
    avgdl_ = static_cast<double>(ix.total_tokens_) / static_cast<double>(ix.live_docs_);
  }

  double Bound(const Frontier& f, double idf) const {
    double best = 0;
    for (uint8_t i = 0; i < f.n; ++i) {
      best = std::max(best, Bm25Term(idf, f.pts[i].freq, f.pts[i].len, avgdl_));
    }
    return best * kBoundSlack;
  }

  void Decode(Cursor& c) {
    std::array<uint32_t, 3> tfs[kBlockSize];
    c.n = c.list->DecodeBlock(c.block, c.docs, tfs);
    for (int i = 0; i < c.n; ++i) c.freqs[i] = ix_.Freq(tfs[i]);
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
  void Next(Cursor& c) {
    if (++c.idx < c.n) {
      c.cur = c.docs[c.idx];
      return;
    }
    if (++c.block < c.list->blocks().size()) {
      Decode(c);
    } else {
      c.cur = kEndDoc;
    }
  }
  void SeekTo(Cursor& c, uint32_t target) {
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
  double Score(const Cursor& c, double norm_len) const {
    return Bm25Term(c.idf, c.freqs[c.idx], norm_len, avgdl_);
  }

  std::vector<KeywordHit> Run(const std::vector<const KeywordIndex::TermEntry*>& lists, int k) {
    const size_t m = lists.size();
    std::vector<Cursor> cursors(m);
    const auto n_rows = static_cast<int64_t>(ix_.live_docs_);
    for (size_t i = 0; i < m; ++i) {
      Cursor& c = cursors[i];
      c.list = &lists[i]->list;
      c.clause = static_cast<int>(i);
      c.idf = Bm25Idf(n_rows, static_cast<int64_t>(lists[i]->df));
      c.ub = lists[i]->df == 0 ? 0 : Bound(c.list->frontier(), c.idf);
      if (lists[i]->df == 0) {
        c.cur = kEndDoc;  // only tombstones (or nothing) in it
      } else {
        Start(c);
      }
    }
    // Order by upper bound (ascending); prefix[i] = sum of bounds of 0..i.
    std::vector<Cursor*> cs(m);
    for (size_t i = 0; i < m; ++i) cs[i] = &cursors[i];
    std::sort(cs.begin(), cs.end(), [](const Cursor* a, const Cursor* b) { return a->ub < b->ub; });
    std::vector<double> prefix(m);
    double acc = 0;
    for (size_t i = 0; i < m; ++i) prefix[i] = (acc += cs[i]->ub) * kBoundSlack;

    TopK top(static_cast<size_t>(k));
    std::vector<double> contrib(m, 0.0);
    size_t ess = 0;  // cs[0..ess) are non-essential
    double theta = -INFINITY;
    const auto& docs = ix_.docs_;
    while (ess < m) {
      uint32_t d = kEndDoc;
      for (size_t i = ess; i < m; ++i) d = std::min(d, cs[i]->cur);
      if (d == kEndDoc) break;
      if (docs[d].deleted || (allowed_ && !(*allowed_)[d])) {
        for (size_t i = ess; i < m; ++i) {
          if (cs[i]->cur == d) Next(*cs[i]);
        }
        continue;
      }
      if (top.full()) {
        // Block-max check over every clause: skips whole block ranges that cannot qualify.
        double bound = 0;
        uint32_t limit = kEndDoc;
        for (size_t i = 0; i < m; ++i) {
          uint32_t last;
          bound += BlockBound(*cs[i], d, last);
          limit = std::min(limit, last);
        }
        if (bound * kBoundSlack < theta) {
          if (limit == kEndDoc) break;
          for (size_t i = ess; i < m; ++i) SeekTo(*cs[i], limit + 1);
          continue;
        }
      }
      const double len = static_cast<double>(docs[d].len);
      double partial = 0;
      for (size_t i = ess; i < m; ++i) {
        Cursor& c = *cs[i];
        if (c.cur != d) continue;
        const double x = Score(c, len);
        contrib[static_cast<size_t>(c.clause)] = x;
        partial += x;
        Next(c);
      }
      bool pruned = false;
      for (size_t j = ess; j-- > 0;) {
        Cursor& c = *cs[j];
        if (top.full() && partial * kBoundSlack + prefix[j] < theta) {
          pruned = true;
          break;
        }
        if (top.full()) {
          uint32_t last;
          const double bb = BlockBound(c, d, last);
          if (partial * kBoundSlack + bb + (j > 0 ? prefix[j - 1] : 0.0) < theta) {
            pruned = true;
            break;
          }
        }
        SeekTo(c, d);
        if (c.cur == d) {
          const double x = Score(c, len);
          contrib[static_cast<size_t>(c.clause)] = x;
          partial += x;
        }
      }
      if (!pruned) {
        // The exact score: clauses summed in query order, as fts5Bm25Function does.
        double score = 0;
        for (size_t i = 0; i < m; ++i) score += contrib[i];
        top.Offer(score, docs[d].chunk_id);
        if (top.full()) {
          theta = top.threshold();
          while (ess < m && prefix[ess] < theta) ++ess;
        }
      }
      std::fill(contrib.begin(), contrib.end(), 0.0);
    }
    return top.Take();
  }

 private:
  const KeywordIndex& ix_;
  const std::vector<uint8_t>* allowed_;
  double avgdl_ = 0;
};

Result<std::vector<KeywordHit>> KeywordIndex::Search(const std::vector<QueryClause>& clauses,
                                                     int k, const fulltext::FieldWeights& weights,
                                                     const AllowedChunks* allowed) const {
  if (k < 1) return InvalidArgumentError("keyword index: k must be positive");
  auto lock = ReadLock();
  std::vector<const TermEntry*> lists;
  RETURN_IF_ERROR(CheckQuery(clauses, weights, lists));
  if (lists.empty() || live_docs_ == 0) return std::vector<KeywordHit>{};
  std::vector<uint8_t> bits;
  if (allowed) bits = AllowedBitmap(*allowed);
  SearchRun run(*this, allowed ? &bits : nullptr);
  return run.Run(lists, k);
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
