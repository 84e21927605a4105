// Compressed, append-only posting lists with block-max metadata for the keyword accelerator
// (keyword_index.h).
//
// A PostingList holds (doc, tf_title, tf_headings, tf_body) postings in increasing doc order
// (docs are the index's dense ordinals). Postings are grouped into blocks of kBlockSize; the
// last block is open and grows until it is full, so appending never rewrites sealed bytes.
//
// Encoding of one posting inside the byte stream (all varints are LEB128, 7 bits per byte):
//   varint(doc - previous doc - 1)          previous doc of the list; -1 before the first
//   varint(tf_body << 2 | h << 1 | t)       h/t: headings/title frequency follows
//   [varint(tf_headings)] [varint(tf_title)]
// A block starts at BlockMeta::offset; its first delta is relative to the previous block's
// last doc, so blocks decode independently given the meta.
//
// Block-max without a fixed avgdl: BM25's per-term contribution grows with the weighted
// frequency f and shrinks with the document length D, and avgdl/idf change with every write.
// So each block keeps the Pareto frontier of (f, D) over its postings (at most kMaxFrontier
// points; when there are more, neighbours are merged into the dominating point (max f, min D),
// which only loosens the bound). max over the frontier of bm25(f, D) is then an upper bound of
// every posting in the block for ANY idf and avgdl. The list keeps a global frontier the same
// way. Removed (tombstoned) docs stay in the frontiers until compaction: bounds stay valid, just
// looser.
//
// Thread safety: none; KeywordIndex guards its lists. A PostingCursor reads a list that must not
// change while the cursor is used.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace deepkb::inverted {

inline constexpr int kBlockSize = 128;
inline constexpr int kMaxFrontier = 4;
inline constexpr uint32_t kEndDoc = 0xFFFFFFFFu;

// Weighted frequency f and document length D (token positions over all columns).
struct FrontierPoint {
  float freq = 0;  // rounded up from the exact double, so bounds stay upper bounds
  uint32_t len = 0;
};

// Pareto frontier: points sorted by freq ascending and len ascending; no point dominates another
// (a dominates b when a.freq >= b.freq and a.len <= b.len).
struct Frontier {
  std::array<FrontierPoint, kMaxFrontier> pts{};
  uint8_t n = 0;
  void Add(double freq, uint32_t len);
  void Merge(const Frontier& other);
};

// Exact Pareto frontier without a size limit (up to kMaxStaircase points, then merged like
// Frontier): with integer column weights it has at most one point per distinct weighted
// frequency, so it stays tight where a 4-point Frontier would have to merge. Used for the
// postings an impact tier leaves out.
inline constexpr int kMaxStaircase = 64;
struct Staircase {
  std::vector<FrontierPoint> pts;  // freq ascending, len ascending
  void Add(double freq, uint32_t len);
};

struct BlockMeta {
  uint32_t last_doc = 0;
  uint32_t offset = 0;  // byte offset of the block's first posting
  uint32_t count = 0;
  Frontier frontier;
};

struct Posting {
  uint32_t doc = 0;
  std::array<uint32_t, 3> tf{};  // title, headings, body
};

class PostingList {
 public:
  // Appends a posting; `doc` must be greater than the last doc appended. `freq` is the weighted
  // frequency and `len` the document length (for the block-max frontier).
  void Append(const Posting& p, double freq, uint32_t len);

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Starts loading what the next Append writes (the last block's metadata and the end of the
  // byte stream), for callers appending to many lists in a row (KeywordIndex::Add). A hint only.
  void PrefetchTail() const {
    if (!blocks_.empty()) __builtin_prefetch(&blocks_.back(), 1);
    __builtin_prefetch(bytes_.data() + bytes_.size(), 1);
  }
  const std::vector<BlockMeta>& blocks() const { return blocks_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  const Frontier& frontier() const { return frontier_; }
  uint32_t last_doc() const { return blocks_.empty() ? kEndDoc : blocks_.back().last_doc; }
  size_t MemoryBytes() const {
    return bytes_.capacity() + blocks_.capacity() * sizeof(BlockMeta) + sizeof(*this);
  }
  void ShrinkToFit() {
    bytes_.shrink_to_fit();
    blocks_.shrink_to_fit();
  }

  // Decodes block `b` into docs[] / tfs[] (count entries); returns the count.
  int DecodeBlock(size_t b, uint32_t* docs, std::array<uint32_t, 3>* tfs) const;
  // Decodes block `b` into docs[] and freqs[i] = w[0] * tf_title + w[1] * tf_headings +
  // w[2] * tf_body, evaluated in that order (the weighted frequency for integer weights, see
  // KeywordIndex::Freq); returns the count.
  int DecodeBlockFreqs(size_t b, uint32_t* docs, double* freqs, const double w[3]) const;

  // For snapshots: raw parts. Restore() validates that the bytes decode consistently with the
  // metas (false when not).
  bool Restore(std::vector<BlockMeta> blocks, std::vector<uint8_t> bytes, Frontier frontier,
               size_t count);

 private:
  std::vector<uint8_t> bytes_;
  std::vector<BlockMeta> blocks_;
  Frontier frontier_;
  size_t count_ = 0;
};

// Impact tier of a long list (keyword_index.h, "Impact tiers"): a second, much shorter list
// holding a copy of the postings whose BM25 saturation f / (f + k1 * (1 - b + b * D / avgdl))
// at a reference avgdl is at least `cut`, and the exact Pareto frontier of every other posting.
// A doc missing from `high` therefore scores at most the frontier's bound on this clause, for
// any idf and avgdl. Membership depends only on (f, D) and the two stored numbers, so appends
// keep it consistent; a changed avgdl only makes the split less sharp, never wrong. Derived
// state: rebuilt on load and compaction, not stored in snapshots.
struct ImpactTier {
  double ref_avgdl = 1;
  double cut = 0;
  PostingList high;
  Staircase rest;
  bool Admits(double freq, uint32_t len) const;
  void Append(const Posting& p, double freq, uint32_t len) {
    if (Admits(freq, len)) {
      high.Append(p, freq, len);
    } else {
      rest.Add(freq, len);
    }
  }
};

// Varint helpers (exposed for the snapshot code and tests).
void PutVarint(std::vector<uint8_t>& out, uint64_t v);
// Reads a varint at p (< end); returns false on truncation or overlong input.
bool GetVarint(const uint8_t*& p, const uint8_t* end, uint64_t& v);

}  // namespace deepkb::inverted
