#include "index/inverted/keyword_index.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <mutex>

#include "common/hash.h"
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

uint64_t Mix(uint64_t x) { return SplitMix64(x); }

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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Analysis

KeywordIndex::KeywordIndex(fulltext::FieldWeights weights, TierOptions tiers)
    : weights_(weights), tier_options_(tiers) {
  tier_options_.share = std::max<uint32_t>(tier_options_.share, 2);
  tier_options_.df_divisor = std::max<uint32_t>(tier_options_.df_divisor, 1);
  auto is_int = [](double w) { return std::isfinite(w) && w == std::floor(w) && std::fabs(w) < 1e6; };
  integer_weights_ = is_int(weights_.title) && is_int(weights_.headings) && is_int(weights_.body);
}

KeywordIndex::Analysed KeywordIndex::Analyse(const ChunkText& chunk) {
  // Every token as (hash, bytes, column), then sorted by hash and counted: no hash map and no
  // string per token, and the sort compares integers (bytes only between equal hashes). This
  // runs for every chunk written and every chunk removed.
  Analysed a;
  struct Token {
    uint64_t hash;
    uint32_t offset, size;
    uint8_t col;
  };
  std::vector<Token> tokens;
  std::vector<std::pair<char32_t, uint8_t>> starts;
  tokens.reserve(chunk.body.size() / 4 + 16);
  a.term_bytes.reserve(chunk.title.size() + chunk.headings.size() + chunk.body.size() + 16);
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
      tokens.push_back(Token{TermDict::Hash(t.text), static_cast<uint32_t>(a.term_bytes.size()),
                             static_cast<uint32_t>(t.text.size()), static_cast<uint8_t>(col)});
      a.term_bytes += t.text;
      const char32_t c0 = FirstCodePoint(t.text);
      if (c0 >= kMinPrefixChar) {
        if (coloc) a.colocated_starts.push_back(c0);
        if (std::find(here.begin(), here.end(), c0) == here.end()) {
          here.push_back(c0);
          starts.emplace_back(c0, static_cast<uint8_t>(col));
        }
      }
      return true;
    });
    a.len += size;
  }
  const char* bytes = a.term_bytes.data();
  auto text = [bytes](const Token& t) { return std::string_view(bytes + t.offset, t.size); };
  std::sort(tokens.begin(), tokens.end(), [&](const Token& x, const Token& y) {
    return x.hash != y.hash ? x.hash < y.hash : text(x) < text(y);
  });
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (i == 0 || t.hash != tokens[i - 1].hash || text(t) != text(tokens[i - 1])) {
      a.terms.emplace_back(t.offset, t.size);
      a.term_hashes.push_back(t.hash);
      a.term_tfs.emplace_back();
    }
    ++a.term_tfs.back()[t.col];
  }
  std::sort(starts.begin(), starts.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [c, col] : starts) {
    if (a.chars.empty() || a.chars.back() != c) {
      a.chars.push_back(c);
      a.char_tfs.emplace_back();
    }
    ++a.char_tfs.back()[col];
  }
  // The fingerprint is a sum over the distinct terms: independent of their order. It is kept in
  // snapshots, so its formula must not change.
  uint64_t fp = Mix(a.len);
  for (size_t i = 0; i < a.terms.size(); ++i) {
    const std::array<uint32_t, 3>& tf = a.term_tfs[i];
    fp += Mix(Fnv1a(a.Term(i)) ^ Mix((uint64_t{tf[0]} << 42) ^ (uint64_t{tf[1]} << 21) ^ tf[2]));
  }
  a.fingerprint = fp;
  return a;
}

namespace {

// How far ahead Add/Remove prefetch while walking a chunk's terms: enough loads in flight to
// cover a memory round trip, few enough that the lines are still cached when their turn comes.
constexpr size_t kPrefetchAhead = 8;

// Calls resolve(i) for every i < hashes.size() in order (stopping when it returns false), with
// the dictionary slot of term i + 2d and then, once that slot has had time to arrive, the record
// of term i + d being loaded meanwhile (d = kPrefetchAhead).
template <typename Resolve>
bool PipelinedLookups(const TermDict& dict, const std::vector<uint64_t>& hashes, Resolve resolve) {
  const size_t n = hashes.size();
  constexpr size_t d = kPrefetchAhead;
  for (size_t i = 0; i < std::min(n, 2 * d); ++i) dict.Prefetch(hashes[i]);
  for (size_t i = 0; i < std::min(n, d); ++i) dict.PrefetchRecord(hashes[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 * d < n) dict.Prefetch(hashes[i + 2 * d]);
    if (i + d < n) dict.PrefetchRecord(hashes[i + d]);
    if (!resolve(i)) return false;
  }
  return true;
}

template <typename Entry>
void PrefetchEntry(const Entry& e) {
  const char* p = reinterpret_cast<const char*>(&e);
  __builtin_prefetch(p, 1);
  __builtin_prefetch(p + 64, 1);
  __builtin_prefetch(p + sizeof(Entry) - 1, 1);
}

}  // namespace

double KeywordIndex::SlowFreq(const std::array<uint32_t, 3>& tf) const {
  // FTS5 adds the column weight once per instance, title instances first.
  double f = 0;
  for (uint32_t i = 0; i < tf[0]; ++i) f += weights_.title;
  for (uint32_t i = 0; i < tf[1]; ++i) f += weights_.headings;
  for (uint32_t i = 0; i < tf[2]; ++i) f += weights_.body;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Updates

// Add and Remove touch one dictionary slot and one list entry per distinct term of the chunk
// (~150), at a million chunks almost all of them cache misses. They therefore work in passes over
// the chunk's terms — resolve every id, then update every entry — prefetching kPrefetchAhead
// terms ahead in each, so the misses overlap instead of being paid one after the other (the
// hashes were computed by Analyse, before the lock).
Status KeywordIndex::Add(const ChunkText& chunk) {
  const Analysed a = Analyse(chunk);  // outside the lock: the expensive part
  const size_t key_bytes = a.term_bytes.size();  // at least the distinct terms' bytes
  auto lock = WriteLock();
  if (ord_of_.count(chunk.chunk_id)) {
    return AlreadyExistsError("keyword index: chunk " + std::to_string(chunk.chunk_id) +
                              " is already indexed");
  }
  if (docs_.size() >= static_cast<size_t>(kEndDoc) - 1) {
    return InvalidArgumentError("keyword index: too many document slots; compact it");
  }
  if (!term_dict_.HasRoomFor(a.terms.size(), key_bytes)) {
    return InvalidArgumentError("keyword index: the term dictionary is full");
  }
  const auto ord = static_cast<uint32_t>(docs_.size());
  docs_.push_back(DocEntry{chunk.chunk_id, a.len, false, a.fingerprint});
  scan_lens_.push_back(a.len);
  ord_of_.emplace(chunk.chunk_id, ord);
  ++live_docs_;
  total_tokens_ += a.len;
  // Pass 1: term ids (new terms get an entry).
  const size_t n = a.terms.size();
  std::vector<uint32_t>& ids = scratch_ids_;
  ids.resize(n);
  PipelinedLookups(term_dict_, a.term_hashes, [&](size_t i) {
    bool inserted = false;
    ids[i] = term_dict_.Insert(a.Term(i), a.term_hashes[i], &inserted);
    if (inserted) terms_.emplace_back();
    return true;
  });
  // Pass 2: append the postings.
  AppendAll(terms_, ids, a.term_tfs, ord, a.len, log_.active ? &log_.terms : nullptr);
  ids.resize(a.chars.size());
  for (size_t i = 0; i < a.chars.size(); ++i) {
    auto [it, inserted] = char_ids_.try_emplace(a.chars[i], static_cast<uint32_t>(chars_.size()));
    if (inserted) {
      chars_.emplace_back();
      char_keys_.push_back(a.chars[i]);
    }
    ids[i] = it->second;
  }
  AppendAll(chars_, ids, a.char_tfs, ord, a.len, log_.active ? &log_.chars : nullptr);
  for (char32_t c : a.colocated_starts) tainted_.insert(c);
  ++version_;
  return Status::Ok();
}

void KeywordIndex::AppendAll(std::vector<TermEntry>& entries, const std::vector<uint32_t>& ids,
                             const std::vector<std::array<uint32_t, 3>>& tfs, uint32_t ord,
                             uint32_t len, std::vector<uint32_t>* log) {
  // Two prefetch distances: an entry's own lines first, and once they have arrived (half the
  // distance later) the list tail they point at.
  const size_t n = ids.size();
  constexpr size_t kHalf = kPrefetchAhead / 2;
  for (size_t i = 0; i < std::min(n, kPrefetchAhead); ++i) PrefetchEntry(entries[ids[i]]);
  for (size_t i = 0; i < std::min(n, kHalf); ++i) entries[ids[i]].list.PrefetchTail();
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) PrefetchEntry(entries[ids[i + kPrefetchAhead]]);
    if (i + kHalf < n) entries[ids[i + kHalf]].list.PrefetchTail();
    TermEntry& e = entries[ids[i]];
    const std::array<uint32_t, 3>& tf = tfs[i];
    AppendPosting(e, Posting{ord, tf}, Freq(tf), len);
    ++e.df;
    if (log) log->push_back(ids[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Impact tiers

std::vector<uint32_t> KeywordIndex::ScanLens(const std::vector<DocEntry>& docs) {
  std::vector<uint32_t> lens(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) lens[i] = docs[i].deleted ? kDeletedLen : docs[i].len;
  return lens;
}

bool KeywordIndex::WantsTier(size_t postings, size_t live) const {
  return tier_options_.enabled && postings >= tier_options_.min_postings &&
         postings >= live / tier_options_.df_divisor;
}

void KeywordIndex::AppendPosting(TermEntry& e, const Posting& p, double freq, uint32_t len) {
  e.list.Append(p, freq, len);
  if (e.tier) e.tier->Append(p, freq, len);
  const size_t n = e.list.size();
  if ((n & (n - 1)) == 0 && WantsTier(n, live_docs_)) {
    // At every doubling: (re)build, so the split follows the list's distribution and avgdl
    // (amortised: at most twice the list's length in rebuild work).
    BuildTier(e, scan_lens_.data(),
              static_cast<double>(total_tokens_) / static_cast<double>(live_docs_));
  }
}

void KeywordIndex::BuildTier(TermEntry& e, const uint32_t* lens, double avgdl) const {
  const PostingList& list = e.list;
  auto tier = std::make_unique<ImpactTier>();
  tier->ref_avgdl = avgdl;
  // Pass 1: every live posting's saturation h (tombstones: -1; they are dead and left out of
  // the tier altogether) and its doc's length. The lengths are gathered a block at a time so
  // their cache misses overlap.
  std::vector<double> h;
  std::vector<uint32_t> len;
  h.reserve(list.size());
  len.reserve(list.size());
  uint32_t dbuf[kBlockSize];
  std::array<uint32_t, 3> tbuf[kBlockSize];
  double fbuf[kBlockSize];
  const double w[3] = {weights_.title, weights_.headings, weights_.body};
  for (size_t b = 0; b < list.blocks().size(); ++b) {
    int n;
    if (integer_weights_) {
      n = list.DecodeBlockFreqs(b, dbuf, fbuf, w);
    } else {
      n = list.DecodeBlock(b, dbuf, tbuf);
      for (int i = 0; i < n; ++i) fbuf[i] = Freq(tbuf[i]);
    }
    const size_t base = len.size();
    for (int i = 0; i < n; ++i) len.push_back(lens[dbuf[i]]);
    for (int i = 0; i < n; ++i) {
      const uint32_t l = len[base + static_cast<size_t>(i)];
      h.push_back(l == kDeletedLen ? -1.0 : Bm25Term(1.0, fbuf[i], l, avgdl));
    }
  }
  // The cut: the (1 - 1/share) quantile of h, from a sample of every 4th posting.
  std::vector<double> sample;
  sample.reserve(h.size() / 4 + 1);
  for (size_t i = 0; i < h.size(); i += 4) {
    if (h[i] >= 0) sample.push_back(h[i]);
  }
  if (sample.empty()) {
    e.tier.reset();
    return;
  }
  const size_t rank = sample.size() - std::max<size_t>(1, sample.size() / tier_options_.share);
  std::nth_element(sample.begin(), sample.begin() + static_cast<long>(rank), sample.end());
  tier->cut = sample[rank];
  // Pass 2: split. The frontier of the left-out postings is collected as the smallest length
  // per (small, integral) weighted frequency first — the same Pareto set, much cheaper.
  constexpr int kDirect = 1024;
  std::vector<uint32_t> min_len(kDirect, kDeletedLen);
  size_t k = 0;
  for (size_t b = 0; b < list.blocks().size(); ++b) {
    const int n = list.DecodeBlock(b, dbuf, tbuf);
    for (int i = 0; i < n; ++i, ++k) {
      if (h[k] < 0) continue;
      const double f = Freq(tbuf[i]);
      if (h[k] >= tier->cut) {  // the same test as ImpactTier::Admits
        tier->high.Append(Posting{dbuf[i], tbuf[i]}, f, len[k]);
      } else if (integer_weights_ && f >= 0 && f < kDirect) {
        uint32_t& m = min_len[static_cast<size_t>(f)];
        m = std::min(m, len[k]);
      } else {
        tier->rest.Add(f, len[k]);
      }
    }
  }
  for (int f = 0; f < kDirect; ++f) {
    if (min_len[static_cast<size_t>(f)] != kDeletedLen) {
      tier->rest.Add(static_cast<double>(f), min_len[static_cast<size_t>(f)]);
    }
  }
  tier->high.ShrinkToFit();
  e.tier = std::move(tier);
}

void KeywordIndex::BuildTiers(std::vector<TermEntry>& entries, const std::vector<uint32_t>& lens,
                              size_t live, uint64_t total_tokens) const {
  if (live == 0) return;
  const double avgdl = static_cast<double>(total_tokens) / static_cast<double>(live);
  for (TermEntry& e : entries) {
    e.tier.reset();
    if (WantsTier(e.list.size(), live)) BuildTier(e, lens.data(), avgdl);
  }
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
  // Pass 1: term ids; pass 2: check every df (an error must leave the index unchanged);
  // pass 3 below: decrement them (the entries are cached by then).
  const size_t n = a.terms.size();
  std::vector<uint32_t>& tids = scratch_ids_;
  std::vector<uint32_t> cids;
  tids.resize(n);
  if (!PipelinedLookups(term_dict_, a.term_hashes, [&](size_t i) {
        tids[i] = term_dict_.Find(a.Term(i), a.term_hashes[i]);
        return tids[i] != TermDict::kNone;
      })) {
    return FailedPreconditionError("keyword index: term of chunk " +
                                   std::to_string(chunk.chunk_id) + " missing");
  }
  for (size_t i = 0; i < std::min(n, kPrefetchAhead); ++i) {
    __builtin_prefetch(&terms_[tids[i]].df, 1);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) __builtin_prefetch(&terms_[tids[i + kPrefetchAhead]].df, 1);
    if (terms_[tids[i]].df == 0) {
      return FailedPreconditionError("keyword index: term of chunk " +
                                     std::to_string(chunk.chunk_id) + " missing");
    }
  }
  for (const char32_t c : a.chars) {
    auto t = char_ids_.find(c);
    if (t == char_ids_.end() || chars_[t->second].df == 0) {
      return FailedPreconditionError("keyword index: character of chunk " +
                                     std::to_string(chunk.chunk_id) + " missing");
    }
    cids.push_back(t->second);
  }
  for (uint32_t t : tids) --terms_[t].df;
  for (uint32_t c : cids) --chars_[c].df;
  if (log_.active) {
    log_.removed.push_back(it->second);
    log_.terms.insert(log_.terms.end(), tids.begin(), tids.end());
    log_.chars.insert(log_.chars.end(), cids.begin(), cids.end());
  }
  d.deleted = true;
  scan_lens_[it->second] = kDeletedLen;
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

std::vector<char32_t> KeywordIndex::CharKeys(const std::unordered_map<char32_t, uint32_t>& ids) {
  std::vector<char32_t> keys(ids.size());
  for (const auto& [key, id] : ids) keys[id] = key;
  return keys;
}

namespace {
// Blocks rewritten per shared-lock slice of a compaction (≈ 64k postings, ≈ 1-2 ms): the most a
// write waits for the rewrite.
constexpr size_t kSliceBlocks = 512;
}  // namespace

template <typename Keep>
bool KeywordIndex::RewriteLists(uint64_t generation, uint32_t snap_docs,
                                const std::vector<uint32_t>& remap,
                                const std::vector<DocEntry>& new_docs,
                                const std::vector<TermEntry>& live, size_t n, Keep keep,
                                std::vector<TermEntry>& kept, std::vector<uint32_t>& id_map) const {
  id_map.assign(n, kEndDoc);
  uint32_t dbuf[kBlockSize];
  std::array<uint32_t, 3> tbuf[kBlockSize];
  size_t id = 0, blk = 0;
  bool started = false;
  TermEntry cur;
  while (id < n) {
    {
      auto lock = ReadLock();
      if (generation_ != generation) return false;
      size_t budget = kSliceBlocks;
      while (id < n && budget > 0) {
        // Entry `id` may have grown since the snapshot, but only by postings of docs >= snap_docs
        // (appended at its end): its postings below snap_docs are exactly those it had then.
        const TermEntry& e = live[id];
        if (!started) {
          --budget;
          if (e.df == 0) {  // no live doc has it now (it can only come back through new docs)
            ++id;
            continue;
          }
          cur = TermEntry{};
          cur.df = e.df;  // fixed at install if an op changed it meanwhile (logged)
          started = true;
        }
        bool done = false;
        const size_t nblocks = e.list.blocks().size();
        for (; blk < nblocks && budget > 0 && !done; ++blk, --budget) {
          const int m = e.list.DecodeBlock(blk, dbuf, tbuf);
          for (int i = 0; i < m; ++i) {
            if (dbuf[i] >= snap_docs) {
              done = true;
              break;
            }
            const uint32_t nd = remap[dbuf[i]];
            if (nd == kEndDoc) continue;
            cur.list.Append(Posting{nd, tbuf[i]}, Freq(tbuf[i]), new_docs[nd].len);
          }
        }
        if (done || blk >= nblocks) {
          cur.list.ShrinkToFit();
          id_map[id] = static_cast<uint32_t>(kept.size());
          keep(id);
          kept.push_back(std::move(cur));
          started = false;
          blk = 0;
          ++id;
        }
      }
    }
    if (slice_hook_) slice_hook_();
  }
  return true;
}

KeywordIndex::Compacted KeywordIndex::InstallCompacted(Compacted c, uint32_t snap_docs,
                                                       const std::vector<uint32_t>& remap,
                                                       const std::vector<uint32_t>& term_map,
                                                       const std::vector<uint32_t>& char_map) {
  // 1. Docs added meanwhile and still live: the next ordinals of the copy.
  std::vector<uint32_t> tail(docs_.size() - snap_docs, kEndDoc);
  for (size_t i = snap_docs; i < docs_.size(); ++i) {
    const DocEntry& d = docs_[i];
    if (d.deleted) continue;  // added and removed meanwhile: nothing to carry over
    const auto nd = static_cast<uint32_t>(c.docs.size());
    tail[i - snap_docs] = nd;
    c.docs.push_back(d);
    c.scan_lens.push_back(d.len);
    c.ord_of.emplace(d.chunk_id, nd);
  }
  // 2. Docs removed meanwhile that the copy holds: tombstones of the copy.
  size_t tombs = 0;
  for (uint32_t ord : log_.removed) {
    if (ord >= snap_docs || remap[ord] == kEndDoc) continue;
    DocEntry& d = c.docs[remap[ord]];
    if (d.deleted) continue;
    d.deleted = true;
    c.scan_lens[remap[ord]] = kDeletedLen;
    c.ord_of.erase(d.chunk_id);
    ++tombs;
  }
  // 3. Lists whose df changed: the live df, and the postings of the new docs (the live list's
  // tail from the first doc >= snap_docs), appended in doc order like Add would.
  uint32_t dbuf[kBlockSize];
  std::array<uint32_t, 3> tbuf[kBlockSize];
  auto replay = [&](std::vector<uint32_t>& ids, const std::vector<TermEntry>& live,
                    const std::vector<uint32_t>& map, std::vector<TermEntry>& kept,
                    auto new_entry) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (uint32_t id : ids) {
      const TermEntry& src = live[id];
      uint32_t nid = id < map.size() ? map[id] : kEndDoc;
      if (nid == kEndDoc) {  // created, or emptied before the rewrite reached it
        if (src.df == 0) continue;  // no live doc has it: nothing to carry over
        nid = static_cast<uint32_t>(kept.size());
        kept.emplace_back();
        new_entry(id, nid);
      }
      TermEntry& dst = kept[nid];
      dst.df = src.df;
      const auto& blocks = src.list.blocks();
      const auto first = static_cast<size_t>(
          std::partition_point(blocks.begin(), blocks.end(),
                               [&](const BlockMeta& b) { return b.last_doc < snap_docs; }) -
          blocks.begin());
      for (size_t b = first; b < blocks.size(); ++b) {
        const int m = src.list.DecodeBlock(b, dbuf, tbuf);
        for (int i = 0; i < m; ++i) {
          if (dbuf[i] < snap_docs) continue;
          const uint32_t nd = tail[dbuf[i] - snap_docs];
          if (nd == kEndDoc) continue;
          const Posting p{nd, tbuf[i]};
          const double f = Freq(tbuf[i]);
          dst.list.Append(p, f, c.docs[nd].len);
          if (dst.tier) dst.tier->Append(p, f, c.docs[nd].len);
        }
      }
    }
  };
  replay(log_.terms, terms_, term_map, c.terms, [&](uint32_t id, uint32_t nid) {
    // The next id of the copy, i.e. nid (it cannot be full: it holds a subset of term_dict_).
    bool inserted = false;
    [[maybe_unused]] const uint32_t got = c.term_dict.Insert(term_dict_.Key(id), &inserted);
    assert(got == nid && inserted);
  });
  replay(log_.chars, chars_, char_map, c.chars, [&](uint32_t id, uint32_t nid) {
    c.char_ids.emplace(char_keys_[id], nid);
    c.char_keys.push_back(char_keys_[id]);
  });
  log_ = ChangeLog{};
  // 4. Swap in; the caller frees the old structures after the lock.
  std::swap(docs_, c.docs);
  std::swap(scan_lens_, c.scan_lens);
  std::swap(ord_of_, c.ord_of);
  std::swap(term_dict_, c.term_dict);
  std::swap(terms_, c.terms);
  std::swap(char_ids_, c.char_ids);
  std::swap(char_keys_, c.char_keys);
  std::swap(chars_, c.chars);
  tombstones_ = tombs;
  ++version_;
  return c;
}

void KeywordIndex::Compact() {
  std::lock_guard<std::mutex> serial(compact_mu_);
  uint64_t generation;
  uint32_t snap_docs;
  size_t snap_terms, snap_chars;
  {
    auto lock = WriteLock();  // O(1): start logging at a known slot count
    if (tombstones_ == 0) return;
    generation = generation_;
    snap_docs = static_cast<uint32_t>(docs_.size());
    snap_terms = terms_.size();
    snap_chars = chars_.size();
    log_ = ChangeLog{};
    log_.active = true;
  }
  auto give_up = [&] {
    auto lock = WriteLock();
    if (generation_ == generation) log_ = ChangeLog{};
  };
  Compacted c;
  std::vector<uint32_t> remap(snap_docs, kEndDoc);
  size_t live;
  uint64_t total;
  {
    // Docs below snap_docs that are live now (a removal after this point is in the log).
    auto lock = ReadLock();
    if (generation_ != generation) return;
    c.docs.reserve(live_docs_);
    for (uint32_t i = 0; i < snap_docs; ++i) {
      if (docs_[i].deleted) continue;
      remap[i] = static_cast<uint32_t>(c.docs.size());
      c.docs.push_back(docs_[i]);
    }
    live = live_docs_;
    total = total_tokens_;
  }
  if (slice_hook_) slice_hook_();
  std::vector<uint32_t> term_map, char_map;
  // The kept entries' keys get the next ids of the new dictionaries, in the order kept
  // (called under the shared lock: term_dict_'s key bytes cannot move meanwhile).
  if (!RewriteLists(
          generation, snap_docs, remap, c.docs, terms_, snap_terms,
          [&](size_t id) {
            bool inserted = false;
            c.term_dict.Insert(term_dict_.Key(static_cast<uint32_t>(id)), &inserted);
          },
          c.terms, term_map) ||
      !RewriteLists(
          generation, snap_docs, remap, c.docs, chars_, snap_chars,
          [&](size_t id) {
            c.char_ids.emplace(char_keys_[id], static_cast<uint32_t>(c.char_ids.size()));
          },
          c.chars, char_map)) {
    return give_up();
  }
  // No lock: the copy is private until installed.
  c.scan_lens = ScanLens(c.docs);
  BuildTiers(c.terms, c.scan_lens, live, total);
  BuildTiers(c.chars, c.scan_lens, live, total);
  c.ord_of.reserve(c.docs.size());
  for (size_t i = 0; i < c.docs.size(); ++i) {
    c.ord_of.emplace(c.docs[i].chunk_id, static_cast<uint32_t>(i));
  }
  c.char_keys = CharKeys(c.char_ids);
  Compacted old;
  {
    auto lock = WriteLock();
    if (generation_ != generation) return;  // Load replaced the content (and reset the log)
    old = InstallCompacted(std::move(c), snap_docs, remap, term_map, char_map);
  }
  // `old` (the uncompacted structures) is freed here, after the lock.
}

void KeywordIndex::ShrinkToFit() {
  auto lock = WriteLock();
  for (auto* entries : {&terms_, &chars_}) {
    for (auto& e : *entries) {
      e.list.ShrinkToFit();
      if (e.tier) e.tier->high.ShrinkToFit();
    }
  }
  terms_.shrink_to_fit();
  chars_.shrink_to_fit();
  term_dict_.ShrinkToFit();
  docs_.shrink_to_fit();
  scan_lens_.shrink_to_fit();
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
  size_t mem = docs_.capacity() * sizeof(DocEntry) + scan_lens_.capacity() * sizeof(uint32_t) +
               ord_of_.size() * (sizeof(std::pair<int64_t, uint32_t>) + 24) +
               ord_of_.bucket_count() * sizeof(void*);
  mem += term_dict_.MemoryBytes();
  mem += char_keys_.capacity() * sizeof(char32_t) + char_ids_.size() * 32;
  for (const auto* entries : {&terms_, &chars_}) {
    for (const auto& e : *entries) {
      s.postings += e.list.size();
      mem += e.list.MemoryBytes() + sizeof(uint32_t) + sizeof(void*);
      if (e.tier) {
        ++s.tiers;
        s.tier_postings += e.tier->high.size();
        mem += e.tier->high.MemoryBytes() + sizeof(ImpactTier) +
               e.tier->rest.pts.capacity() * sizeof(FrontierPoint);
      }
    }
  }
  s.memory_bytes = mem;
  return s;
}

size_t KeywordIndex::DocFreq(std::string_view term) const {
  auto lock = ReadLock();
  const uint32_t id = term_dict_.Find(term);
  return id == TermDict::kNone ? 0 : terms_[id].df;
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
      const uint32_t id = term_dict_.Find(t);
      lists.push_back(id == TermDict::kNone ? &kEmpty : &terms_[id]);
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

}  // namespace deepkb::inverted
