// Chunker implementation. See chunker.h for the contract; the choices made here:
//
//  * Text model. ChunkDocument works on one string, the (sanitised) ExtractedText, and every
//    chunk is a byte slice of it, so chunk.text == ExtractedText(doc) sliced by code points
//    [char_start, char_end) holds for every chunk by construction.
//  * Headings. A heading block is the first unit of its section, so the first chunk of a
//    section starts with the heading text ("Intro\n\nFirst paragraph ...") and is
//    self-describing; later chunks of the section carry the heading only in heading_path. A run
//    of headings where each is an ancestor of the next (H1 then H2, nothing in between, same
//    page) forms one section with the deepest heading path; an empty section otherwise (a
//    heading followed by a sibling heading, or a heading at the end) becomes a heading-only
//    chunk so that no text goes unindexed. Headings followed by a sentence too large for one
//    chunk share their chunk with the start of that sentence.
//  * Size bound. Every chunk satisfies count(chunk.text) <= max_tokens, overlap included: the
//    overlap is taken out of the budget, not added on top of it, so overlap never pushes a
//    chunk past max_tokens at all (a stricter bound than max_tokens + overlap_tokens). The
//    only exception is a counter that charges more than max_tokens
//    for a single code point; then that code point alone forms a chunk so chunking still
//    progresses. token_count is the exact count of chunk.text.
//  * Overlap. Chunk i+1 of a section begins with a tail of chunk i whose own count is <=
//    overlap_tokens: whole trailing sentences when they give at least half of overlap_tokens,
//    else the longest code-point-aligned tail that fits, moved forward to a word start or past
//    a Chinese clause break ("，" "、" "：") found in its first half. A chunk too short to give
//    such a tail (the tail would be the chunk minus its first character) gives none. When the
//    next unit would not fit next to the overlap but fits alone, that chunk has no overlap (a
//    unit is never cut just to make room for an overlap).
//  * Searches for "the longest slice that fits" call the counter O(log n) times per chunk,
//    with an interpolation guess that usually lands in one or two calls, so chunking is
//    O(n log n) for any counter and close to linear for the default estimator.
//  * Invalid options (ChunkDocument cannot report a Status) are clamped: max_tokens >= 1 and
//    overlap_tokens <= max_tokens / 2.
#include "text/chunker.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "common/utf8.h"

namespace deepkb::text {
namespace {

constexpr std::string_view kBlockSeparator = "\n\n";

bool IsAsciiSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Letters and digits that BPE vocabularies merge into multi-character tokens: ASCII, Latin-1
// and Latin Extended letters, Greek, Cyrillic, and combining marks (which extend a run).
bool IsRunChar(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  if (c >= 0xC0 && c <= 0x24F) return c != 0xD7 && c != 0xF7;
  if (c >= 0x300 && c <= 0x36F) return true;  // combining diacritics
  if (c >= 0x370 && c <= 0x3FF) return c >= 0x386;  // Greek letters
  return c >= 0x400 && c <= 0x4FF;               // Cyrillic
}

// Code points that take no token: white space and invisible format characters.
bool IsSpaceOrInvisible(char32_t c) {
  if (c < 0x80) return IsAsciiSpace(static_cast<unsigned char>(c));
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x2060: case 0xFEFF:
      return true;
    default:
      break;
  }
  return (c >= 0x2000 && c <= 0x200F) || (c >= 0xFE00 && c <= 0xFE0F) ||
         (c >= 0xE0100 && c <= 0xE01EF);
}

// Ideographs, kana and Hangul syllables (used to accept an ASCII terminator followed directly
// by CJK text, which is common in mixed Chinese/English writing).
bool IsCjkLetter(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF);
}

// Terminators that end a sentence wherever they appear.
bool IsCjkTerminator(char32_t c) {
  switch (c) {
    case 0x3002:  // 。
    case 0xFF61:  // ｡ halfwidth ideographic full stop
    case 0xFF0E:  // ． fullwidth full stop
    case 0xFF01:  // ！
    case 0xFF1F:  // ？
    case 0xFF1B:  // ；
    case 0x2026:  // …
      return true;
    default:
      return false;
  }
}

bool IsAsciiTerminator(char32_t c) { return c == '.' || c == '!' || c == '?'; }

// Closing quotes and brackets that stay with the sentence they close.
bool IsCloser(char32_t c) {
  switch (c) {
    case '"': case '\'': case ')': case ']': case '}':
    case 0x00BB: case 0x2019: case 0x201D: case 0x203A:                      // » ’ ” ›
    case 0x3009: case 0x300B: case 0x300D: case 0x300F: case 0x3011:         // 〉》」』】
    case 0x3015: case 0x3017: case 0x3019: case 0x301B:                      // 〕〗〙〛
    case 0xFF02: case 0xFF07: case 0xFF09: case 0xFF3D: case 0xFF5D:         // ＂＇）］｝
    case 0xFF63:                                                              // ｣
      return true;
    default:
      return false;
  }
}

// Length of a Chinese clause break ("，" "、" "：") starting at s[i], else 0. A cut right
// after one reads naturally when no sentence end is at hand.
size_t ClauseBreakAt(std::string_view s, size_t i) {
  if (i + 3 > s.size()) return 0;
  const std::string_view c = s.substr(i, 3);
  return (c == "\xEF\xBC\x8C" || c == "\xE3\x80\x81" || c == "\xEF\xBC\x9A") ? 3 : 0;
}

// Smallest code-point boundary >= pos.
size_t CeilBoundary(std::string_view s, size_t pos) {
  while (pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

size_t NextBoundary(std::string_view s, size_t pos) { return CeilBoundary(s, pos + 1); }

// True when the boundary `pos` splits a word (letters/digits on both sides).
bool MidWord(std::string_view s, size_t pos) {
  if (pos == 0 || pos >= s.size()) return false;
  size_t prev = utf8::FloorBoundary(s, pos - 1);
  size_t at = pos;
  return IsRunChar(utf8::Decode(s, prev)) && IsRunChar(utf8::Decode(s, at));
}

size_t SkipSpace(std::string_view s, size_t pos, size_t end) {
  while (pos < end && IsAsciiSpace(static_cast<unsigned char>(s[pos]))) ++pos;
  return pos;
}

size_t TrimBack(std::string_view s, size_t begin, size_t end) {
  while (end > begin && IsAsciiSpace(static_cast<unsigned char>(s[end - 1]))) --end;
  return end;
}

// The document text plus the byte span of every block in it.
struct Layout {
  std::string text;
  std::vector<std::pair<size_t, size_t>> spans;
};

Layout BuildLayout(const ParsedDocument& doc) {
  Layout l;
  size_t total = 0;
  for (const Block& b : doc.blocks) total += b.text.size() + kBlockSeparator.size();
  l.text.reserve(total);
  l.spans.reserve(doc.blocks.size());
  for (size_t i = 0; i < doc.blocks.size(); ++i) {
    if (i > 0) l.text.append(kBlockSeparator);
    const size_t begin = l.text.size();
    const std::string& t = doc.blocks[i].text;
    // Blocks are valid UTF-8 by contract; repair defensively so chunk text always is.
    if (utf8::IsValid(t)) {
      l.text.append(t);
    } else {
      l.text.append(utf8::Sanitize(t));
    }
    l.spans.emplace_back(begin, l.text.size());
  }
  return l;
}

struct Fit {
  size_t k = 0;       // number of steps taken (0: nothing fits)
  size_t tokens = 0;  // count at k
};

// Finds the largest k in [0, n] with tok(k) <= limit, where tok(0) == base <= limit is known
// and tok is expected to be non-decreasing (if it is not, the answer still satisfies the limit
// because only measured values are accepted). `guess` is the first probe. Each probe costs
// one counter call, so the search interpolates from measured densities, falls back to
// bisection when interpolation stalls, and stops early on an exact hit of `limit`.
template <typename TokAt>
Fit LargestFit(size_t n, size_t base, size_t limit, size_t guess, TokAt&& tok) {
  Fit lo{0, base};
  if (n == 0 || base >= limit) return lo;
  size_t hi = n + 1;  // smallest k known not to fit (n + 1: none known)
  size_t hi_tokens = 0;
  size_t k = std::clamp<size_t>(guess, 1, n);
  int undershoots = 0;
  size_t prev_width = SIZE_MAX;
  while (true) {
    const size_t t = tok(k);
    if (t <= limit) {
      lo = {k, t};
      if (t == limit || k == n) break;
    } else {
      hi = k;
      hi_tokens = t;
    }
    if (hi <= lo.k + 1) break;
    if (hi == n + 1) {
      // Not bracketed yet: extrapolate at the measured density, growing geometrically after
      // repeated undershoots so that a poor density estimate costs only O(log n) probes.
      size_t step = 1;
      if (lo.tokens > base) {
        const double per_token = static_cast<double>(lo.k) / static_cast<double>(lo.tokens - base);
        // Aim half a token past the limit so that the next probe tends to bracket.
        step = static_cast<size_t>(per_token * (static_cast<double>(limit - lo.tokens) + 0.5)) + 1;
      } else {
        step = std::max<size_t>(lo.k, 1);
      }
      if (++undershoots >= 2) step = std::max(step, lo.k);
      k = std::min(n, lo.k + step);
    } else {
      // Bracketed: interpolate while that halves the interval, else bisect.
      const size_t width = hi - lo.k;
      const bool stalled = prev_width != SIZE_MAX && width * 2 > prev_width;
      prev_width = width;
      if (stalled) {
        k = lo.k + width / 2;
      } else {
        const double frac = static_cast<double>(limit - lo.tokens) /
                            static_cast<double>(hi_tokens - lo.tokens);
        k = lo.k + static_cast<size_t>(frac * static_cast<double>(width));
      }
      k = std::clamp(k, lo.k + 1, hi - 1);
    }
  }
  return lo;
}

// Byte-offset searches map many k to the same code-point boundary; this remembers the last
// few (position, count) pairs so that such probes cost no extra counter call.
class CountMemo {
 public:
  template <typename CountFn>
  size_t Get(size_t pos, CountFn&& fn) {
    for (size_t i = 0; i < kSize; ++i) {
      if (pos_[i] == pos) return tok_[i];
    }
    const size_t t = fn();
    pos_[next_] = pos;
    tok_[next_] = t;
    next_ = (next_ + 1) % kSize;
    return t;
  }

 private:
  static constexpr size_t kSize = 4;
  size_t pos_[kSize] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
  size_t tok_[kSize] = {};
  size_t next_ = 0;
};

// A packable piece of a section: a whole paragraph/heading or one sentence of an oversized
// paragraph, trimmed of surrounding white space. `tokens` is its standalone count.
struct Unit {
  size_t begin;
  size_t end;
  size_t tokens;
  bool heading;
};

struct Section {
  std::vector<size_t> blocks;
  int page = 0;
  std::string heading_path;
};

std::string JoinPath(const std::vector<std::pair<int, std::string_view>>& stack) {
  std::string out;
  for (const auto& [level, text] : stack) {
    if (!out.empty()) out.append(" > ");
    out.append(text);
  }
  return out;
}

// Groups non-empty blocks into sections (see the file comment for the heading-run rule).
std::vector<Section> BuildSections(const ParsedDocument& doc, const Layout& layout) {
  std::vector<Section> sections;
  std::vector<std::pair<int, std::string_view>> stack;  // (level, heading text)
  Section cur;
  bool has_paragraph = false;
  int last_heading_level = 0;
  auto flush = [&] {
    if (!cur.blocks.empty()) sections.push_back(std::move(cur));
    cur = Section();
    has_paragraph = false;
    last_heading_level = 0;
  };
  const std::string_view text = layout.text;
  for (size_t i = 0; i < doc.blocks.size(); ++i) {
    const Block& block = doc.blocks[i];
    const auto [b0, e0] = layout.spans[i];
    const size_t b = SkipSpace(text, b0, e0);
    const size_t e = TrimBack(text, b, e0);
    if (b == e) continue;
    const bool page_change = !cur.blocks.empty() && block.page != cur.page;
    if (block.kind == Block::Kind::kHeading) {
      const int level = std::clamp(block.level, 1, 6);
      if (!cur.blocks.empty() && (has_paragraph || page_change || level <= last_heading_level)) {
        flush();
      }
      while (!stack.empty() && stack.back().first >= level) stack.pop_back();
      stack.emplace_back(level, text.substr(b, e - b));
      cur.heading_path = JoinPath(stack);
      last_heading_level = level;
    } else {
      if (page_change) flush();
      if (cur.blocks.empty()) cur.heading_path = JoinPath(stack);
      has_paragraph = true;
    }
    cur.page = block.page;
    cur.blocks.push_back(i);
  }
  flush();
  return sections;
}

// Maps byte offsets of a valid UTF-8 string to code-point offsets. Queries may move either
// way; the cost is the distance moved, so monotone query sequences are linear overall.
class CodePointCursor {
 public:
  explicit CodePointCursor(std::string_view s) : s_(s) {}
  size_t At(size_t byte) {
    while (byte_ < byte) {
      if ((static_cast<unsigned char>(s_[byte_]) & 0xC0) != 0x80) ++cp_;
      ++byte_;
    }
    while (byte_ > byte) {
      --byte_;
      if ((static_cast<unsigned char>(s_[byte_]) & 0xC0) != 0x80) --cp_;
    }
    return cp_;
  }

 private:
  std::string_view s_;
  size_t byte_ = 0;
  size_t cp_ = 0;
};

class Chunker {
 public:
  Chunker(std::string_view text, size_t max_tokens, size_t overlap_tokens,
          const TokenCounter& count)
      : text_(text), max_(max_tokens), overlap_(overlap_tokens), count_(count) {}

  // Appends the chunks of one section as (begin, end, tokens) byte ranges.
  struct Range {
    size_t begin;
    size_t end;
    size_t tokens;
  };
  void PackSection(const std::vector<Unit>& units, std::vector<Range>& out);

  std::vector<Unit> MakeUnits(const ParsedDocument& doc, const std::vector<size_t>& blocks,
                              const Layout& layout);

 private:
  size_t Count(size_t begin, size_t end) const {
    return begin >= end ? 0 : count_(text_.substr(begin, end - begin));
  }
  bool Big(const Unit& u) const { return u.tokens > max_; }

  // One attempt to fill a chunk starting at `cs` whose new content starts at `pos` inside or
  // at the start of units[u]. Returns false when nothing at all fits after [cs, pos).
  struct Step {
    size_t end = 0;
    size_t tokens = 0;
    size_t next_pos = 0;
    size_t next_unit = 0;
  };
  bool Fill(const std::vector<Unit>& units, size_t cs, size_t pos, size_t u, Step& step) const;
  // Cuts the oversized units[u] (content from `pos`) at the farthest code point that fits
  // after [cs, pos), whose count is step.tokens; false when not even one code point fits.
  bool CutUnit(const std::vector<Unit>& units, size_t cs, size_t pos, size_t u,
               Step& step) const;
  // Packs whole units units[u..] after [cs, end) (count `tokens`); updates step in place.
  void PackUnits(const std::vector<Unit>& units, size_t cs, size_t u, Step& step) const;
  // Start of the overlap tail of the chunk [cs, end) holding `tokens`; == end for none.
  size_t OverlapStart(size_t cs, size_t end, size_t tokens) const;

  std::string_view text_;
  size_t max_;
  size_t overlap_;
  const TokenCounter& count_;
};

std::vector<Unit> Chunker::MakeUnits(const ParsedDocument& doc, const std::vector<size_t>& blocks,
                                     const Layout& layout) {
  std::vector<Unit> units;
  for (size_t bi : blocks) {
    const bool heading = doc.blocks[bi].kind == Block::Kind::kHeading;
    const auto [b0, e0] = layout.spans[bi];
    const size_t b = SkipSpace(text_, b0, e0);
    const size_t e = TrimBack(text_, b, e0);
    const size_t tokens = Count(b, e);
    if (tokens <= max_) {
      units.push_back({b, e, tokens, heading});
      continue;
    }
    // Oversized paragraph: its sentences become the units.
    size_t at = b;
    for (std::string_view piece : SplitSentences(text_.substr(b, e - b))) {
      const size_t pb = SkipSpace(text_, at, at + piece.size());
      const size_t pe = TrimBack(text_, pb, at + piece.size());
      at += piece.size();
      if (pb < pe) units.push_back({pb, pe, Count(pb, pe), heading});
    }
  }
  return units;
}

void Chunker::PackUnits(const std::vector<Unit>& units, size_t cs, size_t u, Step& step) const {
  // Candidates are the ends of units[u..stop), stopping before the next oversized unit (which
  // then starts a chunk of its own instead of being cut to fill this one).
  size_t stop = u;
  size_t additive = step.tokens;
  size_t guess = 0;
  while (stop < units.size() && !Big(units[stop])) {
    additive += units[stop].tokens;
    if (additive <= max_) guess = stop - u + 1;
    ++stop;
    if (additive > 2 * max_ + 1) break;  // far beyond any fit; keeps the scan bounded
  }
  if (stop == u) return;
  const Fit fit = LargestFit(stop - u, step.tokens, max_, std::max<size_t>(guess, 1),
                             [&](size_t k) { return Count(cs, units[u + k - 1].end); });
  if (fit.k == 0) return;
  step.end = units[u + fit.k - 1].end;
  step.tokens = fit.tokens;
  step.next_unit = u + fit.k;
  step.next_pos = step.next_unit < units.size() ? units[step.next_unit].begin : step.end;
}

bool Chunker::Fill(const std::vector<Unit>& units, size_t cs, size_t pos, size_t u,
                   Step& step) const {
  step = Step{pos, Count(cs, pos), pos, u};
  if (pos != units[u].begin || Big(units[u])) return CutUnit(units, cs, pos, u, step);
  PackUnits(units, cs, u, step);
  if (step.end == pos) return false;
  // Heading(s) directly followed by an oversized unit: rather than a heading-only chunk, fill
  // the rest of the chunk with the start of that unit.
  const size_t next = step.next_unit;
  if (next < units.size() && Big(units[next]) && units[next - 1].heading) {
    Step more = step;
    if (CutUnit(units, cs, units[next].begin, next, more)) step = more;
  }
  return true;
}

bool Chunker::CutUnit(const std::vector<Unit>& units, size_t cs, size_t pos, size_t u,
                      Step& step) const {
  const Unit& unit = units[u];
  const size_t base = step.tokens;
  const size_t span = unit.end - pos;
  const double bytes_per_token =
      unit.tokens > 0 ? static_cast<double>(unit.end - unit.begin) / static_cast<double>(unit.tokens)
                      : 4.0;
  const size_t guess =
      static_cast<size_t>(bytes_per_token * static_cast<double>(max_ - std::min(base, max_)));
  auto cut_at = [&](size_t k) { return k >= span ? unit.end : utf8::FloorBoundary(text_, pos + k); };
  CountMemo memo;
  const Fit fit = LargestFit(span, base, max_, guess, [&](size_t k) {
    const size_t e = cut_at(k);
    return e == pos ? base : memo.Get(e, [&] { return Count(cs, e); });
  });
  const size_t e = cut_at(fit.k);
  if (e == pos) return false;
  if (e == unit.end) {
    // The rest of the unit fits: keep packing whole units behind it.
    step.end = e;
    step.tokens = fit.tokens;
    step.next_unit = u + 1;
    step.next_pos = step.next_unit < units.size() ? units[step.next_unit].begin : e;
    if (step.next_unit < units.size()) PackUnits(units, cs, step.next_unit, step);
    return true;
  }
  // Prefer a natural break in the second half of the new content: white space (Latin words)
  // or just after a Chinese clause break.
  size_t end = e;
  size_t next = e;
  const size_t floor = pos + (e - pos) / 2;
  if (IsAsciiSpace(static_cast<unsigned char>(text_[e])) ||
      IsAsciiSpace(static_cast<unsigned char>(text_[e - 1]))) {
    end = TrimBack(text_, pos, e);
    next = SkipSpace(text_, e, unit.end);
  } else {
    for (size_t i = e; i > floor; --i) {
      const unsigned char c = static_cast<unsigned char>(text_[i - 1]);
      if (IsAsciiSpace(c)) {
        end = TrimBack(text_, pos, i - 1);
        next = SkipSpace(text_, i, unit.end);
        break;
      }
      if (i >= pos + 3 && ClauseBreakAt(text_, i - 3) != 0) {
        end = i;
        next = i;
        break;
      }
    }
  }
  size_t tokens = fit.tokens;
  if (end != e) {
    tokens = Count(cs, end);
    if (end <= pos || tokens > max_) {  // only a misbehaving counter gets here
      end = next = e;
      tokens = fit.tokens;
    }
  }
  step.end = end;
  step.tokens = tokens;
  step.next_pos = next;
  step.next_unit = u;
  return true;
}

size_t Chunker::OverlapStart(size_t cs, size_t end, size_t tokens) const {
  if (overlap_ == 0 || end <= cs) return end;
  const std::string_view chunk = text_.substr(cs, end - cs);
  // Sentence starts strictly after cs.
  std::vector<size_t> starts;
  size_t at = cs;
  for (std::string_view piece : SplitSentences(chunk)) {
    const size_t s = SkipSpace(text_, at, end);
    if (s > cs && s < end) starts.push_back(s);
    at += piece.size();
  }
  const Fit whole = LargestFit(starts.size(), 0, overlap_, 1, [&](size_t k) {
    return Count(starts[starts.size() - k], end);
  });
  if (whole.k > 0 && whole.tokens * 2 >= overlap_) return starts[starts.size() - whole.k];
  const size_t span = end - cs - 1;  // the tail must start after cs
  const double bytes_per_token =
      tokens > 0 ? static_cast<double>(end - cs) / static_cast<double>(tokens) : 4.0;
  auto start_at = [&](size_t k) { return CeilBoundary(text_, end - std::min(k, span)); };
  CountMemo memo;
  // Code-point tail, only when the budget (not the chunk start) limits it: a chunk too short
  // to give a proper tail gets none rather than a fragment of itself.
  const Fit tail = LargestFit(span, 0, overlap_,
                              static_cast<size_t>(bytes_per_token * static_cast<double>(overlap_)),
                              [&](size_t k) {
                                const size_t s = start_at(k);
                                return memo.Get(s, [&] { return Count(s, end); });
                              });
  size_t s = start_at(tail.k);
  if (tail.k == 0 || s == start_at(span) || tail.tokens <= whole.tokens) {
    return whole.k > 0 ? starts[starts.size() - whole.k] : end;
  }
  // Do not begin mid-word or mid-clause: move to the next word start or just past the next
  // clause break if one is in the first half of the tail.
  const bool at_break = IsAsciiSpace(static_cast<unsigned char>(text_[s - 1])) ||
                        (s >= cs + 3 && ClauseBreakAt(text_, s - 3) != 0);
  if (!at_break) {
    const size_t limit = s + (end - s) / 2;
    for (size_t i = s; i < limit; ++i) {
      if (IsAsciiSpace(static_cast<unsigned char>(text_[i]))) {
        s = i;
        break;
      }
      if (const size_t len = ClauseBreakAt(text_, i); len != 0) {
        s = i + len;
        break;
      }
    }
  }
  // Still inside a word: skip its rest unless the whole tail is one word (e.g. a long
  // identifier), where a fragment is the only overlap available.
  if (MidWord(text_, s)) {
    size_t w = s;
    while (w < end) {
      size_t next = w;
      if (!IsRunChar(utf8::Decode(text_, next))) break;
      w = next;
    }
    if (w < end) s = w;
  }
  return SkipSpace(text_, s, end);
}

void Chunker::PackSection(const std::vector<Unit>& units, std::vector<Range>& out) {
  if (units.empty()) return;
  size_t pos = units[0].begin;
  size_t u = 0;
  bool have_prev = false;
  Range prev{0, 0, 0};
  while (u < units.size()) {
    Step step;
    bool ok = false;
    size_t cs = pos;
    if (have_prev) {
      const size_t os = OverlapStart(prev.begin, prev.end, prev.tokens);
      if (os < prev.end && Fill(units, os, pos, u, step)) {
        ok = true;
        cs = os;
      }
    }
    if (!ok) ok = Fill(units, pos, pos, u, step);
    if (!ok) {
      // A single code point is over budget (pathological counter): take it alone.
      step.end = NextBoundary(text_, pos);
      step.tokens = Count(pos, step.end);
      step.next_unit = u;
      step.next_pos = SkipSpace(text_, step.end, units[u].end);
    }
    out.push_back({cs, step.end, step.tokens});
    prev = out.back();
    have_prev = true;
    pos = step.next_pos;
    u = step.next_unit;
    if (u < units.size() && pos >= units[u].end) {
      ++u;
      if (u < units.size()) pos = units[u].begin;
    }
  }
}

}  // namespace

size_t EstimateTokens(std::string_view text) {
  size_t tokens = 0;
  size_t run = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    char32_t c;
    if (b < 0x80) {
      c = b;
      ++i;
    } else {
      c = utf8::Decode(text, i);
    }
    if (IsRunChar(c)) {
      ++run;
      continue;
    }
    if (run > 0) {
      tokens += (run + 3) / 4;
      run = 0;
    }
    // CJK ideographs, kana, Hangul syllables, CJK punctuation (U+3000-303F, ideographic space
    // included), full-width forms, emoji and all other visible symbols: one token each.
    if (!IsSpaceOrInvisible(c)) ++tokens;
  }
  if (run > 0) tokens += (run + 3) / 4;
  return tokens;
}

std::string ExtractedText(const ParsedDocument& doc) { return BuildLayout(doc).text; }

Status ValidateChunkOptions(const ChunkOptions& opts) {
  if (opts.max_tokens < 16) {
    return InvalidArgumentError("chunk max_tokens must be at least 16 (got " +
                                std::to_string(opts.max_tokens) + "); raise the chunk size");
  }
  if (opts.overlap_tokens >= opts.max_tokens / 2) {
    return InvalidArgumentError("chunk overlap_tokens must be less than max_tokens / 2 (got " +
                                std::to_string(opts.overlap_tokens) + " with max_tokens " +
                                std::to_string(opts.max_tokens) + "); lower the overlap");
  }
  return Status::Ok();
}

std::vector<Chunk> ChunkDocument(const ParsedDocument& doc, const ChunkOptions& opts,
                                 const TokenCounter& count) {
  std::vector<Chunk> chunks;
  if (doc.blocks.empty()) return chunks;
  const TokenCounter fallback = EstimateTokens;
  const TokenCounter& counter = count ? count : fallback;
  const size_t max_tokens = std::max<size_t>(opts.max_tokens, 1);
  const size_t overlap = std::min(opts.overlap_tokens, max_tokens / 2);

  const Layout layout = BuildLayout(doc);
  Chunker chunker(layout.text, max_tokens, overlap, counter);
  CodePointCursor starts(layout.text);
  CodePointCursor ends(layout.text);
  std::vector<Chunker::Range> ranges;
  for (Section& section : BuildSections(doc, layout)) {
    ranges.clear();
    chunker.PackSection(chunker.MakeUnits(doc, section.blocks, layout), ranges);
    for (const auto& r : ranges) {
      Chunk c;
      c.text.assign(layout.text, r.begin, r.end - r.begin);
      c.char_start = starts.At(r.begin);
      c.char_end = ends.At(r.end);
      c.page = section.page;
      c.heading_path = section.heading_path;
      c.token_count = r.tokens;
      chunks.push_back(std::move(c));
    }
  }
  return chunks;
}

std::vector<std::string_view> SplitSentences(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    const char32_t c = utf8::Decode(text, j);
    bool split = false;
    size_t after = j;
    if (c == '\n' || c == '\r') {
      split = true;
    } else if (IsCjkTerminator(c) || IsAsciiTerminator(c)) {
      // Consume the whole run of terminators and closing quotes/brackets: "？！", "……",
      // "?!\"", "。」".
      bool cjk = IsCjkTerminator(c);
      bool only_dots = c == '.';
      size_t k = j;
      while (k < text.size()) {
        size_t t = k;
        const char32_t d = utf8::Decode(text, t);
        if (IsCjkTerminator(d)) {
          cjk = true;
        } else if (IsAsciiTerminator(d)) {
          only_dots = only_dots && d == '.';
        } else if (!IsCloser(d)) {
          break;
        }
        k = t;
      }
      after = k;
      if (cjk || k == text.size()) {
        split = true;
      } else {
        size_t t = k;
        const char32_t d = utf8::Decode(text, t);
        if (d < 0x80 && IsAsciiSpace(static_cast<unsigned char>(d))) {
          split = true;
          if (only_dots) {
            // "e.g. the", "U.S. economy": a period followed by a lower-case word is taken to
            // be an abbreviation, not a sentence end.
            const size_t n = SkipSpace(text, k, text.size());
            if (n < text.size() && text[n] >= 'a' && text[n] <= 'z') split = false;
          }
        } else if (IsCjkLetter(d)) {
          split = true;  // "OK!下一句" in mixed writing
        }
      }
    }
    if (split) {
      const size_t k = SkipSpace(text, after, text.size());
      out.push_back(text.substr(start, k - start));
      start = i = k;
    } else {
      i = after;
    }
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

}  // namespace deepkb::text
