// Token counters, source merging, packing and the passages block (rag.h).
#include "gateway/rag.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/utf8.h"
#include "gateway/rag_text.h"
#include "tokenize/tokenizer.h"

namespace deepkb::gateway {
namespace {

using rag_text::CollapseWhitespace;
using rag_text::Trim;

constexpr double kRrfK = 60;
constexpr size_t kHeaderFieldBytes = 200;  // each header field is cut to this
constexpr std::string_view kSeparator = "\n\n";

class BpeCounter final : public TokenCounter {
 public:
  BpeCounter(std::shared_ptr<const tokenize::Tokenizer> tok, std::string name)
      : tok_(std::move(tok)), name_("bpe:" + std::move(name)) {}
  size_t Count(std::string_view text) const override { return tok_->Count(text); }
  std::string_view name() const override { return name_; }

 private:
  std::shared_ptr<const tokenize::Tokenizer> tok_;
  std::string name_;
};

class EstimateCounter final : public TokenCounter {
 public:
  size_t Count(std::string_view text) const override {
    size_t ones = 0, thirds = 0;
    for (size_t i = 0; i < text.size();) {
      const char32_t c = utf8::Decode(text, i);
      const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      // Letters, digits, space, and controls other than line breaks (tab included).
      if (alnum || c == ' ' || c < '\n' || (c > '\r' && c < ' ')) {
        ++thirds;
      } else {
        ++ones;  // CJK, other non-ASCII, punctuation, line breaks
      }
    }
    return ones + (thirds + 2) / 3;
  }
  std::string_view name() const override { return "estimate"; }
};

std::string ChunkKey(const Passage& p) {
  std::string key = p.kb;
  for (const std::string* part : {&p.collection, &p.doc_id}) {
    key.push_back('\0');
    key += *part;
  }
  key.push_back('\0');
  key += std::to_string(p.chunk_id);
  return key;
}

std::string HeaderField(std::string_view s) {
  return std::string(rag_text::CutBytes(CollapseWhitespace(s), kHeaderFieldBytes));
}

// "[n] <title> › <heading> — <source> p.<page>\n" (see ContextBlock).
std::string EntryHeader(const Passage& p, size_t n) {
  const std::string title = HeaderField(p.title.empty() ? p.doc_id : p.title);
  std::string out = "[" + std::to_string(n) + "] " + title;
  if (const std::string heading = HeaderField(p.heading_path); !heading.empty()) {
    out += " › " + heading;
  }
  if (const std::string source = HeaderField(p.source); !source.empty() && source != title) {
    out += " — " + source;
  }
  if (p.page > 0) out += " p." + std::to_string(p.page);
  out += '\n';
  return out;
}

// Packing state: the block rendered so far and its exact token count.
class Packer {
 public:
  Packer(const TokenCounter& counter, const PackOptions& opts) : counter_(counter), opts_(opts) {}

  // Adds `p` whole when it fits. Exact: the whole block is counted.
  bool AddWhole(Passage& p) {
    const std::string entry = Prefix(p) + p.text;
    // Cheap pre-check on the entry alone (BPE counts are additive up to a token or two at the
    // seam); the decision itself is exact.
    if (ctx.tokens + counter_.Count(entry) > opts_.budget_tokens + 4) return false;
    return TryAccept(p, entry);
  }

  // Adds the longest prefix of p.text that fits and ends at a sentence boundary, else at a
  // character boundary, when it keeps at least min_passage_tokens tokens.
  bool AddCut(Passage& p) {
    const std::string prefix = Prefix(p);
    if (ctx.tokens + counter_.Count(prefix) + std::max<size_t>(opts_.min_passage_tokens, 1) >
        opts_.budget_tokens + 4) {
      return false;
    }
    const std::string_view text = p.text;
    const auto fits = [&](std::string_view cut) {
      return !cut.empty() && Count(block_, prefix, cut) <= opts_.budget_tokens;
    };
    const auto enough = [&](std::string_view cut) {
      return !cut.empty() && counter_.Count(cut) >= opts_.min_passage_tokens;
    };
    // Largest index in [0, n) whose cut fits, assuming fit is monotone in the index; every
    // probe is exact, so a returned cut does fit.
    const auto largest = [&](size_t n, auto cut_at) -> std::string_view {
      size_t lo = 0, hi = n;  // answer in [lo, hi): candidates lo..hi-1 untested
      std::string_view best;
      while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const std::string_view cut = cut_at(mid);
        if (fits(cut)) {
          best = cut;
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      return best;
    };
    const std::vector<size_t> ends = rag_text::SentenceEnds(text);
    std::string_view cut =
        largest(ends.size(), [&](size_t k) { return Trim(text.substr(0, ends[k])); });
    if (!enough(cut)) {
      cut = largest(text.size(),
                    [&](size_t k) { return Trim(text.substr(0, utf8::FloorBoundary(text, k))); });
    }
    if (!enough(cut)) return false;
    const std::string kept(cut);
    if (!TryAccept(p, prefix + kept)) return false;
    ctx.passages.back().text = kept;
    ctx.last_truncated = true;
    return true;
  }

  PackedContext ctx;

 private:
  std::string Prefix(const Passage& p) const {
    return std::string(block_.empty() ? "" : kSeparator) + EntryHeader(p, ctx.passages.size() + 1);
  }

  size_t Count(std::string_view a, std::string_view b, std::string_view c) const {
    std::string all;
    all.reserve(a.size() + b.size() + c.size());
    all.append(a).append(b).append(c);
    return counter_.Count(all);
  }

  bool TryAccept(Passage& p, const std::string& entry) {
    const size_t tokens = Count(block_, entry, {});
    if (tokens > opts_.budget_tokens) return false;
    block_ += entry;
    ctx.tokens = tokens;
    ctx.passages.push_back(std::move(p));
    return true;
  }

  const TokenCounter& counter_;
  const PackOptions& opts_;
  std::string block_;
};

}  // namespace

std::unique_ptr<TokenCounter> MakeBpeCounter(std::shared_ptr<const tokenize::Tokenizer> tok,
                                             std::string name) {
  return std::make_unique<BpeCounter>(std::move(tok), std::move(name));
}

std::unique_ptr<TokenCounter> MakeEstimateCounter() {
  return std::make_unique<EstimateCounter>();
}

std::vector<Passage> MergeSources(std::vector<std::vector<Passage>> sources) {
  struct Fused {
    Passage* p;
    double score;
    size_t source, position;
  };
  std::vector<Fused> fused;
  std::unordered_map<std::string, size_t> index;
  for (size_t s = 0; s < sources.size(); ++s) {
    for (size_t pos = 0; pos < sources[s].size(); ++pos) {
      const double score = 1.0 / (kRrfK + static_cast<double>(pos + 1));
      auto [it, inserted] = index.emplace(ChunkKey(sources[s][pos]), fused.size());
      if (inserted) {
        fused.push_back({&sources[s][pos], score, s, pos});
      } else {
        fused[it->second].score += score;
      }
    }
  }
  std::stable_sort(fused.begin(), fused.end(), [](const Fused& a, const Fused& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.source != b.source) return a.source < b.source;
    return a.position < b.position;
  });
  std::vector<Passage> out;
  out.reserve(fused.size());
  for (Fused& f : fused) out.push_back(std::move(*f.p));
  return out;
}

PackedContext Pack(std::vector<Passage> candidates, const TokenCounter& counter,
                   const PackOptions& opts) {
  Packer packer(counter, opts);
  PackedContext& ctx = packer.ctx;
  std::unordered_set<std::string> seen_chunks, seen_texts;
  bool full = false;
  for (Passage& p : candidates) {
    if (ctx.passages.size() >= opts.max_passages) break;
    p.text = std::string(Trim(p.text));
    if (p.text.empty()) continue;
    std::string key = ChunkKey(p);
    std::string norm = CollapseWhitespace(p.text);
    if (seen_chunks.count(key) || seen_texts.count(norm)) {
      ++ctx.duplicates_dropped;
      continue;
    }
    seen_chunks.insert(std::move(key));
    seen_texts.insert(std::move(norm));
    if (!full && packer.AddWhole(p)) continue;
    if (!full && packer.AddCut(p)) {
      full = true;
      continue;
    }
    ++ctx.over_budget_dropped;
  }
  return std::move(packer.ctx);
}

std::string ContextBlock(const PackedContext& ctx) {
  std::string out;
  for (size_t i = 0; i < ctx.passages.size(); ++i) {
    if (i > 0) out += kSeparator;
    out += EntryHeader(ctx.passages[i], i + 1);
    out += ctx.passages[i].text;
  }
  return out;
}

}  // namespace deepkb::gateway
