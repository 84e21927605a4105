// Per-dimension min/max scalar quantisation to 8-bit codes (the index's int8 mode).
//
// Each coordinate x_d is stored as code c_d = round((x_d - lo_d) / step_d) clamped to [0, 255],
// with lo_d / step_d fitted from the min and max of that dimension over the training vectors
// (step_d = (max_d - min_d) / 255). The decoded value is x̂_d = lo_d + step_d · c_d.
//
// Distances between a float query q and a code vector are asymmetric (the query is never
// quantised) and reduce to one kernel, Σ w_d c_d (distance.h DotU8):
//   <q, x̂>    = Σ q_d lo_d + Σ (q_d step_d) c_d  =  query_offset + DotU8(w, c)
//   |q - x̂|²  = |q|² - 2<q, x̂> + |x̂|²           (|x̂|² is stored per vector)
// PrepareQuery() computes w and query_offset once per query.
//
// Thread safety: a trained quantiser is immutable and may be shared by any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace deepkb::hnsw {

class ScalarQuantizer {
 public:
  ScalarQuantizer() = default;
  // Parameters as stored in a snapshot; the caller validated them (finite, step > 0).
  ScalarQuantizer(std::vector<float> lo, std::vector<float> step);

  size_t dim() const { return lo_.size(); }
  bool empty() const { return lo_.empty(); }
  const std::vector<float>& lo() const { return lo_; }
  const std::vector<float>& step() const { return step_; }

  // Writes dim() codes; returns how many coordinates fell outside the trained range (clamped).
  size_t Encode(const float* v, uint8_t* codes) const;
  void Decode(const uint8_t* codes, float* out) const;
  // |x̂|² of the decoded vector.
  float DecodedNormSq(const uint8_t* codes) const;
  // Fills w (dim() floats) and returns query_offset (see the header comment).
  float PrepareQuery(const float* q, float* w) const;

 private:
  std::vector<float> lo_;
  std::vector<float> step_;
};

// Accumulates per-dimension min/max over training vectors.
class QuantizerTrainer {
 public:
  explicit QuantizerTrainer(size_t dim);
  void Observe(const float* v);
  size_t observed() const { return n_; }
  // Fitted quantiser; with no observations every dimension gets the range [-1, 1].
  ScalarQuantizer Finish() const;

 private:
  std::vector<float> min_;
  std::vector<float> max_;
  size_t n_ = 0;
};

}  // namespace deepkb::hnsw
