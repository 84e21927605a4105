// BM25 exactly as SQLite 3.40's FTS5 computes it (ext/fts5/fts5_aux.c, fts5Bm25Function and
// fts5Bm25GetData): the same constants and the same expression shapes, so the same doubles come
// out. Do not "simplify" these expressions: a reordered product changes the last bits.
#pragma once

#include <cmath>
#include <cstdint>

namespace deepkb::inverted {

inline constexpr double kBm25K1 = 1.2;
inline constexpr double kBm25B = 0.75;

// idf = log((nRow - nHit + 0.5) / (nHit + 0.5)), clamped to 1e-6 when <= 0.
inline double Bm25Idf(int64_t n_rows, int64_t n_hit) {
  double idf = std::log((static_cast<double>(n_rows - n_hit) + 0.5) / (static_cast<double>(n_hit) + 0.5));
  if (idf <= 0.0) idf = 1e-6;
  return idf;
}

// One phrase's term of the score: idf * (freq * (k1 + 1)) / (freq + k1 * (1 - b + b * D / avgdl)).
inline double Bm25Term(double idf, double freq, double doc_len, double avgdl) {
  const double k1 = kBm25K1;
  const double b = kBm25B;
  return idf * ((freq * (k1 + 1.0)) / (freq + k1 * (1 - b + b * doc_len / avgdl)));
}

}  // namespace deepkb::inverted
