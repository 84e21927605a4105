// Readers and writers for the .fvecs / .ivecs vector files used by SIFT1M and ann-benchmarks
// (http://corpus-texmex.irisa.fr/): each record is a little-endian int32 dimension d followed by
// d float32 (.fvecs) or d int32 (.ivecs) values. Every record of a file has the same d.
//
// Contract:
//  - Read*() returns the whole file (or its first max_rows records) as one row-major matrix.
//  - NotFound when the file cannot be opened; InvalidArgument, naming the file and what is
//    wrong, when it is empty, when its first dimension is not in [1, kMaxDim], when its size is
//    not a whole number of records (truncated, or not an .fvecs/.ivecs file), or when a record's
//    dimension differs from the first one's.
//  - Values are not checked (NaN/Inf are the consumer's business).
//  - Write*() replace the file; InvalidArgument when data.size() != n·dim or dim is 0, Internal
//    on I/O errors.
// Assumes a little-endian host (x86-64, AArch64), like the format itself.
// Thread safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace deepkb::cli {

template <typename T>
struct VecMatrix {
  size_t n = 0;    // rows (vectors)
  size_t dim = 0;  // values per row
  std::vector<T> data;  // n × dim, row-major

  std::span<const T> Row(size_t i) const { return {data.data() + i * dim, dim}; }
};
using FloatMatrix = VecMatrix<float>;
using IntMatrix = VecMatrix<int32_t>;

// Largest dimension accepted when reading (guards against reading garbage as a header).
inline constexpr size_t kMaxVecDim = 1 << 20;

inline constexpr size_t kAllRows = std::numeric_limits<size_t>::max();

Result<FloatMatrix> ReadFvecs(const std::string& path, size_t max_rows = kAllRows);
Result<IntMatrix> ReadIvecs(const std::string& path, size_t max_rows = kAllRows);

Status WriteFvecs(const std::string& path, const FloatMatrix& m);
Status WriteIvecs(const std::string& path, const IntMatrix& m);

}  // namespace deepkb::cli
