#include "index/inverted/postings.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "index/inverted/bm25.h"

namespace deepkb::inverted {

void PutVarint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

bool GetVarint(const uint8_t*& p, const uint8_t* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    const uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

namespace {

// Smallest float >= d (d >= 0, finite).
float RoundUp(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) < d) f = std::nextafter(f, INFINITY);
  return f;
}

}  // namespace

void Frontier::Add(double freq_exact, uint32_t len) {
  const float freq = RoundUp(freq_exact);
  for (uint8_t i = 0; i < n; ++i) {
    if (pts[i].freq >= freq && pts[i].len <= len) return;  // dominated
  }
  // Drop the points the new one dominates, insert it in order.
  std::array<FrontierPoint, kMaxFrontier + 1> tmp{};
  int m = 0;
  bool placed = false;
  for (uint8_t i = 0; i < n; ++i) {
    const FrontierPoint& p = pts[i];
    if (freq >= p.freq && len <= p.len) continue;
    if (!placed && freq < p.freq) {
      tmp[m++] = FrontierPoint{freq, len};
      placed = true;
    }
    tmp[m++] = p;
  }
  if (!placed) tmp[m++] = FrontierPoint{freq, len};
  // Too many points: merge the adjacent pair whose lengths are closest (relative), keeping the
  // dominating (max freq, min len) point, so the bound only loosens.
  while (m > kMaxFrontier) {
    int best = 0;
    double best_ratio = INFINITY;
    for (int i = 0; i + 1 < m; ++i) {
      const double r = (tmp[i + 1].len + 1.0) / (tmp[i].len + 1.0);
      if (r < best_ratio) {
        best_ratio = r;
        best = i;
      }
    }
    tmp[best] = FrontierPoint{tmp[best + 1].freq, tmp[best].len};
    for (int i = best + 1; i + 1 < m; ++i) tmp[i] = tmp[i + 1];
    --m;
  }
  for (int i = 0; i < m; ++i) pts[i] = tmp[i];
  n = static_cast<uint8_t>(m);
}

void Frontier::Merge(const Frontier& other) {
  for (uint8_t i = 0; i < other.n; ++i) Add(other.pts[i].freq, other.pts[i].len);
}

void Staircase::Add(double freq_exact, uint32_t len) {
  const float freq = RoundUp(freq_exact);
  // pts is sorted by freq and len ascending; find the first point with freq >= the new one.
  auto it = std::lower_bound(pts.begin(), pts.end(), freq,
                             [](const FrontierPoint& p, float f) { return p.freq < f; });
  if (it != pts.end() && it->len <= len) return;  // dominated (freq >= and len <=)
  // Points with freq <= the new one and len >= it are dominated by it: they sit just before it.
  auto first = it;
  while (first != pts.begin() && std::prev(first)->len >= len) --first;
  if (it != pts.end() && it->freq == freq) ++it;  // same freq, longer len: dominated too
  it = pts.erase(first, it);
  pts.insert(it, FrontierPoint{freq, len});
  while (pts.size() > static_cast<size_t>(kMaxStaircase)) {
    // Merge the adjacent pair whose lengths are closest (relative) into (max freq, min len).
    size_t best = 0;
    double best_ratio = INFINITY;
    for (size_t i = 0; i + 1 < pts.size(); ++i) {
      const double r = (pts[i + 1].len + 1.0) / (pts[i].len + 1.0);
      if (r < best_ratio) {
        best_ratio = r;
        best = i;
      }
    }
    pts[best] = FrontierPoint{pts[best + 1].freq, pts[best].len};
    pts.erase(pts.begin() + static_cast<long>(best) + 1);
  }
}

bool ImpactTier::Admits(double freq, uint32_t len) const {
  return Bm25Term(1.0, freq, static_cast<double>(len), ref_avgdl) >= cut;
}

void PostingList::Append(const Posting& p, double freq, uint32_t len) {
  const int64_t prev = blocks_.empty() ? -1 : static_cast<int64_t>(blocks_.back().last_doc);
  if (blocks_.empty() || blocks_.back().count >= static_cast<uint32_t>(kBlockSize)) {
    BlockMeta m;
    m.offset = static_cast<uint32_t>(bytes_.size());
    blocks_.push_back(m);
  }
  BlockMeta& b = blocks_.back();
  PutVarint(bytes_, static_cast<uint64_t>(static_cast<int64_t>(p.doc) - prev - 1));
  const uint32_t t = p.tf[0], h = p.tf[1];
  PutVarint(bytes_, (static_cast<uint64_t>(p.tf[2]) << 2) | (h ? 2u : 0u) | (t ? 1u : 0u));
  if (h) PutVarint(bytes_, h);
  if (t) PutVarint(bytes_, t);
  b.last_doc = p.doc;
  ++b.count;
  b.frontier.Add(freq, len);
  frontier_.Add(freq, len);
  ++count_;
}

namespace {

// Unchecked varint read: the stream was written by Append or validated by Restore.
inline uint64_t ReadVarint(const uint8_t*& p) {
  uint64_t b = *p++;
  if (b < 0x80) return b;
  uint64_t v = b & 0x7F;
  for (int shift = 7;; shift += 7) {
    b = *p++;
    v |= (b & 0x7F) << shift;
    if (b < 0x80) return v;
  }
}

}  // namespace

int PostingList::DecodeBlock(size_t bi, uint32_t* docs, std::array<uint32_t, 3>* tfs) const {
  const BlockMeta& m = blocks_[bi];
  const uint8_t* p = bytes_.data() + m.offset;
  uint32_t prev = bi == 0 ? 0xFFFFFFFFu : blocks_[bi - 1].last_doc;  // -1 wraps to 0 below
  const int n = static_cast<int>(m.count);
  for (int i = 0; i < n; ++i) {
    prev += static_cast<uint32_t>(ReadVarint(p)) + 1;
    docs[i] = prev;
    const uint64_t w = ReadVarint(p);
    const uint32_t h = (w & 2) ? static_cast<uint32_t>(ReadVarint(p)) : 0;
    const uint32_t t = (w & 1) ? static_cast<uint32_t>(ReadVarint(p)) : 0;
    tfs[i] = {t, h, static_cast<uint32_t>(w >> 2)};
  }
  return n;
}

int PostingList::DecodeBlockFreqs(size_t bi, uint32_t* docs, double* freqs,
                                  const double w[3]) const {
  const BlockMeta& m = blocks_[bi];
  const uint8_t* p = bytes_.data() + m.offset;
  uint32_t prev = bi == 0 ? 0xFFFFFFFFu : blocks_[bi - 1].last_doc;
  const int n = static_cast<int>(m.count);
  for (int i = 0; i < n; ++i) {
    prev += static_cast<uint32_t>(ReadVarint(p)) + 1;
    docs[i] = prev;
    const uint64_t x = ReadVarint(p);
    const uint32_t h = (x & 2) ? static_cast<uint32_t>(ReadVarint(p)) : 0;
    const uint32_t t = (x & 1) ? static_cast<uint32_t>(ReadVarint(p)) : 0;
    freqs[i] = w[0] * t + w[1] * h + w[2] * static_cast<uint32_t>(x >> 2);
  }
  return n;
}

bool PostingList::Restore(std::vector<BlockMeta> blocks, std::vector<uint8_t> bytes,
                          Frontier frontier, size_t count) {
  // Validate: offsets increasing, every block decodes within its byte range to its last doc,
  // counts add up.
  size_t total = 0;
  int64_t prev = -1;
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    const BlockMeta& m = blocks[bi];
    if (m.count == 0 || m.count > static_cast<uint32_t>(kBlockSize)) return false;
    if (bi + 1 < blocks.size() && m.count != static_cast<uint32_t>(kBlockSize)) return false;
    if (m.frontier.n > kMaxFrontier) return false;
    const size_t stop = bi + 1 < blocks.size() ? blocks[bi + 1].offset : bytes.size();
    if (m.offset > stop || stop > bytes.size()) return false;
    if (bi == 0 && m.offset != 0) return false;
    const uint8_t* p = bytes.data() + m.offset;
    const uint8_t* end = bytes.data() + stop;
    for (uint32_t i = 0; i < m.count; ++i) {
      uint64_t v = 0, w = 0, x = 0;
      if (!GetVarint(p, end, v) || v > 0xFFFFFFFFull) return false;
      prev += static_cast<int64_t>(v) + 1;
      if (prev >= static_cast<int64_t>(kEndDoc)) return false;
      if (!GetVarint(p, end, w) || (w >> 2) > 0xFFFFFFFFull) return false;
      if ((w & 2) && (!GetVarint(p, end, x) || x > 0xFFFFFFFFull)) return false;
      if ((w & 1) && (!GetVarint(p, end, x) || x > 0xFFFFFFFFull)) return false;
    }
    if (p != end || prev != static_cast<int64_t>(m.last_doc)) return false;
    total += m.count;
  }
  if (total != count || frontier.n > kMaxFrontier) return false;
  if (blocks.empty() && !bytes.empty()) return false;
  blocks_ = std::move(blocks);
  bytes_ = std::move(bytes);
  frontier_ = frontier;
  count_ = count;
  return true;
}

}  // namespace deepkb::inverted
