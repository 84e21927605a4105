// FAISS adapter for vector_compare: faiss::IndexHNSWFlat (L2) from Debian's libfaiss-dev.
// FAISS's API is batch-oriented, so searches are one search() call over all queries with OpenMP
// held to one thread: the same single core as the others, without per-call overhead (FAISS
// allocates an n-byte visited table per call, which per-query calls would pay every time).
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "compare_systems.h"

namespace deepkb::bench {

namespace {

class FaissSystem : public AnnSystem {
 public:
  explicit FaissSystem(const SystemConfig& c) : c_(c) {}

  std::string Name() const override { return "faiss"; }

  Status Build(const cli::FloatMatrix& base) override {
    try {
      index_ = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(base.dim),
                                                      static_cast<int>(c_.M), faiss::METRIC_L2);
      index_->hnsw.efConstruction = static_cast<int>(c_.ef_construction);
      omp_set_num_threads(static_cast<int>(std::max<size_t>(1, c_.build_threads)));
      index_->add(static_cast<faiss::Index::idx_t>(base.n), base.data.data());
      omp_set_num_threads(1);
    } catch (const std::exception& e) {
      return InternalError(std::string("faiss build: ") + e.what());
    }
    return Status::Ok();
  }

  Status Search(const cli::FloatMatrix& queries, size_t count, size_t k, size_t ef,
                int64_t* out) override {
    omp_set_num_threads(1);
    index_->hnsw.efSearch = static_cast<int>(ef);
    distances_.resize(count * k);
    try {
      index_->search(static_cast<faiss::Index::idx_t>(count), queries.data.data(),
                     static_cast<faiss::Index::idx_t>(k), distances_.data(),
                     reinterpret_cast<faiss::Index::idx_t*>(out));
    } catch (const std::exception& e) {
      return InternalError(std::string("faiss search: ") + e.what());
    }
    return Status::Ok();
  }

  // The flat storage's code array plus the HNSW graph's neighbour, offset and level arrays
  // (vector capacities, i.e. what is allocated).
  size_t MemoryBytes() const override {
    size_t b = 0;
    if (const auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(index_->storage)) {
      b += flat->codes.capacity();
    }
    const faiss::HNSW& h = index_->hnsw;
    b += h.neighbors.capacity() * sizeof(faiss::HNSW::storage_idx_t);
    b += h.offsets.capacity() * sizeof(size_t);
    b += h.levels.capacity() * sizeof(int);
    return b;
  }

  std::string MemoryMethod() const override {
    return "storage codes + hnsw neighbors/offsets/levels (allocated vector capacity)";
  }

 private:
  SystemConfig c_;
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
  std::vector<float> distances_;
};

}  // namespace

std::unique_ptr<AnnSystem> MakeFaiss(const SystemConfig& c) {
  return std::make_unique<FaissSystem>(c);
}

}  // namespace deepkb::bench
