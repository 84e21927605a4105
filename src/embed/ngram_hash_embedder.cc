// Implementation notes: see the feature description in ngram_hash_embedder.h. This file is
// compiled with -ffp-contract=off (CMakeLists.txt) so no compiler fuses multiply-adds: together
// with the hand-written logarithm it keeps vectors bit-identical across compilers and CPUs.
#include "embed/ngram_hash_embedder.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include "common/hash.h"
#include "common/utf8.h"
#include "index/fulltext/analyzer.h"

namespace deepkb::embed {
namespace {

// ---- hashing ---------------------------------------------------------------------------------

constexpr uint64_t kStepMul = 0x9FB21C651E98DF25ULL;
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// Seeds: one per feature kind, so "abc" as a word, as a 3-gram and as CJK never share a hash.
constexpr uint64_t kSeedWord = 0x243F6A8885A308D3ULL;
constexpr uint64_t kSeedGram = 0x13198A2E03707344ULL;
constexpr uint64_t kSeedCjk = 0xA4093822299F31D0ULL;
constexpr uint64_t kSeedEmpty = 0x082EFA98EC4E6C89ULL;

// Word boundary markers for padded n-grams: outside the Unicode range, so never text.
constexpr uint32_t kBeginOfWord = 0x110000;
constexpr uint32_t kEndOfWord = 0x110001;

constexpr float kWordWeight = 1.0f;
constexpr float kGramWeight = 0.5f;  // each padded 3/4/5-gram of a word
constexpr std::array<float, 4> kCjkWeight = {0.0f, 0.3f, 1.0f, 0.7f};  // by n (1..3)

inline uint64_t Rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

// Absorbs one code point. Bijective in `h` for a fixed `c`, and the rotation carries the high
// product bits back into the low bits the next code point is xored into.
inline uint64_t Step(uint64_t h, uint32_t c) {
  return Rotl((h ^ c) * kStepMul, 27);
}

// splitmix64's finaliser over the state and the feature length.
inline uint64_t Finish(uint64_t h, uint64_t n) { return SplitMix64(h + n * kGolden); }

// Top 32 bits mapped onto [0, dim) by multiply-shift (no modulo bias worth mentioning).
inline size_t BucketOf(uint64_t key, size_t dim) {
  return static_cast<size_t>(((key >> 32) * static_cast<uint64_t>(dim)) >> 32);
}

// ---- deterministic sublinear tf --------------------------------------------------------------

// ln(x) for x >= 1 with only IEEE-exact operations (+ - * /), so the same bits everywhere.
double DeterministicLn(double x) {
  int e = 0;
  while (x >= 2.0) {
    x *= 0.5;  // exact
    ++e;
  }
  // x in [1, 2): ln x = 2 atanh(z), z = (x-1)/(x+1) in [0, 1/3); 21 odd terms reach < 1e-19.
  const double z = (x - 1.0) / (x + 1.0);
  const double z2 = z * z;
  double term = z;
  double sum = 0.0;
  for (int k = 1; k <= 41; k += 2) {
    sum += term / k;
    term *= z2;
  }
  const double scaled = static_cast<double>(e) * 0.69314718055994530942;
  return scaled + 2.0 * sum;
}

// 1 + ln(tf), cached for small tf.
double TfFactor(uint32_t tf) {
  static const std::array<double, 256> kTable = [] {
    std::array<double, 256> t{};
    for (size_t i = 1; i < t.size(); ++i) t[i] = 1.0 + DeterministicLn(static_cast<double>(i));
    return t;
  }();
  if (tf < kTable.size()) return kTable[tf];
  return 1.0 + DeterministicLn(static_cast<double>(tf));
}

// ---- character classes -----------------------------------------------------------------------

enum class CharClass : uint8_t { kSeparator, kWord, kCjk };

constexpr std::array<CharClass, 128> MakeAsciiClasses() {
  std::array<CharClass, 128> t{};
  for (auto& c : t) c = CharClass::kSeparator;
  for (int c = '0'; c <= '9'; ++c) t[c] = CharClass::kWord;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = CharClass::kWord;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = CharClass::kWord;
  return t;
}
constexpr std::array<CharClass, 128> kAsciiClass = MakeAsciiClasses();

bool IsCjk(char32_t c) {
  if (c < 0x3005) return false;
  if (c <= 0x3007) return true;                        // 々 〆 〇
  if (c >= 0x3031 && c <= 0x3035) return true;         // kana repeat marks
  if (c == 0x303B) return true;                        // 〻
  if (c >= 0x3041 && c <= 0x309F) return true;         // Hiragana incl. ゛゜ゝゞ
  if (c >= 0x30A1 && c <= 0x30FF) return c != 0x30FB;  // Katakana incl. ー ヽ ヾ, not ・
  if (c >= 0x31F0 && c <= 0x31FF) return true;         // Katakana phonetic extensions
  if (c >= 0x3400 && c <= 0x4DBF) return true;         // CJK extension A
  if (c >= 0x4E00 && c <= 0x9FFF) return true;         // CJK unified ideographs
  if (c >= 0xF900 && c <= 0xFAFF) return true;         // CJK compatibility ideographs
  if (c >= 0xFF66 && c <= 0xFF9F) return true;         // half-width Katakana (NFKC folds most)
  if (c >= 0x1B000 && c <= 0x1B16F) return true;       // Kana supplement / extended
  if (c >= 0x20000 && c <= 0x323AF) return true;       // extensions B..H, compatibility supplement
  return false;
}

CharClass ClassifyNonAscii(char32_t c) {
  if (IsCjk(c)) return CharClass::kCjk;
  const uint32_t mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  if (mask & (U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK)) return CharClass::kWord;
  return CharClass::kSeparator;
}

// ---- feature counting ------------------------------------------------------------------------

// Open-addressing map from feature hash to (weight, count). Iteration follows first-insertion
// order, so the float sums below happen in the same order every time.
class FeatureTable {
 public:
  FeatureTable() { Allocate(kInitialCapacity); }

  void Add(uint64_t key, float weight) {
    if (key == 0) key = 1;  // 0 marks an empty slot
    size_t i = static_cast<size_t>(key >> 1) & mask_;
    while (true) {
      Slot& s = slots_[i];
      if (s.key == key) {
        ++s.count;
        return;
      }
      if (s.key == 0) {
        s.key = key;
        s.weight = weight;
        s.count = 1;
        order_.push_back(static_cast<uint32_t>(i));
        if (order_.size() * 2 > slots_.size()) Grow();
        return;
      }
      i = (i + 1) & mask_;
    }
  }

  bool empty() const { return order_.empty(); }

  template <typename F>
  void ForEach(F&& f) const {
    for (uint32_t i : order_) f(slots_[i].key, slots_[i].weight, slots_[i].count);
  }

  // Empties the table for the next text; gives back memory after a very large text.
  void Clear() {
    if (slots_.size() > kShrinkAbove) {
      Allocate(kInitialCapacity);
      return;
    }
    for (uint32_t i : order_) slots_[i].key = 0;
    order_.clear();
  }

 private:
  struct Slot {
    uint64_t key = 0;
    float weight = 0;
    uint32_t count = 0;
  };
  static constexpr size_t kInitialCapacity = 1024;
  static constexpr size_t kShrinkAbove = size_t{1} << 18;

  void Allocate(size_t capacity) {
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    order_.clear();
    order_.reserve(capacity / 2 + 1);
  }

  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    std::vector<uint32_t> old_order;
    old_order.swap(order_);
    Allocate(old.size() * 2);
    for (uint32_t oi : old_order) {
      const Slot& s = old[oi];
      size_t i = static_cast<size_t>(s.key >> 1) & mask_;
      while (slots_[i].key != 0) i = (i + 1) & mask_;
      slots_[i] = s;
      order_.push_back(static_cast<uint32_t>(i));
    }
  }

  std::vector<Slot> slots_;
  std::vector<uint32_t> order_;  // occupied slot indices in first-insertion order
  size_t mask_ = 0;
};

struct Scratch {
  FeatureTable table;
  std::vector<uint32_t> run;     // code points of the current word or CJK run
  std::vector<uint32_t> padded;  // <word>
  std::vector<double> acc;
};

Scratch& LocalScratch() {
  thread_local Scratch scratch;
  return scratch;
}

void AddWordFeatures(const std::vector<uint32_t>& word, std::vector<uint32_t>& padded,
                     FeatureTable& table) {
  uint64_t h = kSeedWord;
  for (uint32_t c : word) h = Step(h, c);
  table.Add(Finish(h, word.size()), kWordWeight);

  padded.clear();
  padded.push_back(kBeginOfWord);
  padded.insert(padded.end(), word.begin(), word.end());
  padded.push_back(kEndOfWord);
  const size_t len = padded.size();
  for (size_t i = 0; i + 3 <= len; ++i) {
    uint64_t g = Step(Step(kSeedGram, padded[i]), padded[i + 1]);
    const size_t max_n = std::min<size_t>(5, len - i);
    for (size_t n = 3; n <= max_n; ++n) {
      g = Step(g, padded[i + n - 1]);
      table.Add(Finish(g, n), kGramWeight);
    }
  }
}

void AddCjkFeatures(const std::vector<uint32_t>& run, FeatureTable& table) {
  const size_t len = run.size();
  for (size_t i = 0; i < len; ++i) {
    uint64_t g = kSeedCjk;
    const size_t max_n = std::min<size_t>(3, len - i);
    for (size_t n = 1; n <= max_n; ++n) {
      g = Step(g, run[i + n - 1]);
      table.Add(Finish(g, n), kCjkWeight[n]);
    }
  }
}

}  // namespace

Result<std::unique_ptr<NgramHashEmbedder>> NgramHashEmbedder::Create(std::string spec, size_t dim) {
  if (dim < kNgramHashMinDim || dim > kNgramHashMaxDim) {
    return InvalidArgumentError("ngram-hash dimension " + std::to_string(dim) +
                                " is out of range; use " + std::to_string(kNgramHashMinDim) + ".." +
                                std::to_string(kNgramHashMaxDim) + " (default " +
                                std::to_string(kNgramHashDefaultDim) + ")");
  }
  return std::unique_ptr<NgramHashEmbedder>(new NgramHashEmbedder(std::move(spec), dim));
}

Result<std::vector<std::vector<float>>> NgramHashEmbedder::Embed(
    const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EmbedOne(texts[i], out[i]);
  return out;
}

void NgramHashEmbedder::EmbedOne(std::string_view text, std::vector<float>& out) const {
  Scratch& s = LocalScratch();
  FeatureTable& table = s.table;
  table.Clear();

  const std::string norm = fulltext::NormalizeForSearch(text);
  s.run.clear();
  CharClass run_class = CharClass::kSeparator;
  auto flush = [&] {
    if (s.run.empty()) return;
    if (run_class == CharClass::kCjk) {
      AddCjkFeatures(s.run, table);
    } else {
      AddWordFeatures(s.run, s.padded, table);
    }
    s.run.clear();
  };
  size_t i = 0;
  while (i < norm.size()) {
    const auto b = static_cast<unsigned char>(norm[i]);
    char32_t c;
    CharClass cls;
    if (b < 0x80) {
      c = b;
      cls = kAsciiClass[b];
      ++i;
    } else {
      c = utf8::Decode(norm, i);
      cls = ClassifyNonAscii(c);
    }
    if (cls != run_class) {
      flush();
      run_class = cls;
    }
    if (cls != CharClass::kSeparator) s.run.push_back(static_cast<uint32_t>(c));
  }
  flush();

  s.acc.assign(dim_, 0.0);
  table.ForEach([&](uint64_t key, float weight, uint32_t count) {
    const double w = static_cast<double>(weight) * TfFactor(count);
    double& slot = s.acc[BucketOf(key, dim_)];
    if (key & 1) {
      slot -= w;
    } else {
      slot += w;
    }
  });
  double norm2 = 0.0;
  for (double v : s.acc) norm2 += v * v;

  out.assign(dim_, 0.0f);
  if (!(norm2 > 0.0) || !std::isfinite(norm2)) {
    // No features (or an exact cancellation): the documented fixed unit vector.
    out[BucketOf(Finish(kSeedEmpty, 0), dim_)] = 1.0f;
    return;
  }
  const double len = std::sqrt(norm2);  // correctly rounded by IEEE 754
  for (size_t d = 0; d < dim_; ++d) out[d] = static_cast<float>(s.acc[d] / len);
}

}  // namespace deepkb::embed
