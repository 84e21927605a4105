#include "index/hnsw/quantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace deepkb::hnsw {

ScalarQuantizer::ScalarQuantizer(std::vector<float> lo, std::vector<float> step)
    : lo_(std::move(lo)), step_(std::move(step)) {}

size_t ScalarQuantizer::Encode(const float* v, uint8_t* codes) const {
  size_t clamped = 0;
  for (size_t d = 0; d < lo_.size(); ++d) {
    float c = std::nearbyint((v[d] - lo_[d]) / step_[d]);
    if (c < 0) {
      c = 0;
      ++clamped;
    } else if (c > 255) {
      c = 255;
      ++clamped;
    }
    codes[d] = static_cast<uint8_t>(c);
  }
  return clamped;
}

void ScalarQuantizer::Decode(const uint8_t* codes, float* out) const {
  for (size_t d = 0; d < lo_.size(); ++d) out[d] = lo_[d] + step_[d] * static_cast<float>(codes[d]);
}

float ScalarQuantizer::DecodedNormSq(const uint8_t* codes) const {
  double s = 0;
  for (size_t d = 0; d < lo_.size(); ++d) {
    double x = lo_[d] + step_[d] * static_cast<float>(codes[d]);
    s += x * x;
  }
  return static_cast<float>(s);
}

float ScalarQuantizer::PrepareQuery(const float* q, float* w) const {
  double offset = 0;
  for (size_t d = 0; d < lo_.size(); ++d) {
    w[d] = q[d] * step_[d];
    offset += static_cast<double>(q[d]) * lo_[d];
  }
  return static_cast<float>(offset);
}

QuantizerTrainer::QuantizerTrainer(size_t dim)
    : min_(dim, std::numeric_limits<float>::infinity()),
      max_(dim, -std::numeric_limits<float>::infinity()) {}

void QuantizerTrainer::Observe(const float* v) {
  for (size_t d = 0; d < min_.size(); ++d) {
    min_[d] = std::min(min_[d], v[d]);
    max_[d] = std::max(max_[d], v[d]);
  }
  ++n_;
}

ScalarQuantizer QuantizerTrainer::Finish() const {
  size_t dim = min_.size();
  std::vector<float> lo(dim), step(dim);
  for (size_t d = 0; d < dim; ++d) {
    float mn = n_ ? min_[d] : -1.0f;
    float mx = n_ ? max_[d] : 1.0f;
    float range = mx - mn;
    lo[d] = mn;
    // A constant dimension decodes exactly to lo with any positive step.
    step[d] = range > 0 && std::isfinite(range) ? range / 255.0f : 1.0f;
    if (!(step[d] > 0)) step[d] = 1.0f;  // denormal range underflowed to 0
  }
  return ScalarQuantizer(std::move(lo), std::move(step));
}

}  // namespace deepkb::hnsw
