// The systems vector_compare measures, behind one small interface so the driver treats them
// alike. Each adapter lives in its own translation unit: hnswlib's header defines non-inline
// functions and is compiled with its own flags (see bench/CMakeLists.txt), FAISS needs OpenMP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/fvecs.h"
#include "common/status.h"

namespace deepkb::bench {

struct SystemConfig {
  size_t M = 16;
  size_t ef_construction = 200;
  size_t build_threads = 1;
  uint64_t seed = 100;
};

class AnnSystem {
 public:
  virtual ~AnnSystem() = default;
  virtual std::string Name() const = 0;
  // Indexes every row of `base` (label = row number). `base` outlives the system.
  virtual Status Build(const cli::FloatMatrix& base) = 0;
  // Searches queries [0, count) one after another on the calling thread (FAISS: one batch call
  // with OpenMP limited to one thread) and writes k labels per query into out[q·k ...]
  // (-1 where fewer were found). This is the timed part.
  virtual Status Search(const cli::FloatMatrix& queries, size_t count, size_t k, size_t ef,
                        int64_t* out) = 0;
  // Resident bytes of the index and how they were obtained (one line for the report).
  virtual size_t MemoryBytes() const = 0;
  virtual std::string MemoryMethod() const = 0;
};

std::unique_ptr<AnnSystem> MakeDeepkb(const SystemConfig& c, bool int8);
std::unique_ptr<AnnSystem> MakeHnswlib(const SystemConfig& c);
std::unique_ptr<AnnSystem> MakeFaiss(const SystemConfig& c);

// How hnswlib was compiled ("AVX-512 (-march=native)", "SSE (x86-64 baseline)", ...).
std::string HnswlibSimdLevel();

}  // namespace deepkb::bench
