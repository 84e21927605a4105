// deepkb adapter for vector_compare: our HnswIndex (float32, or int8 codes with float
// re-ranking).
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "compare_systems.h"
#include "index/hnsw/hnsw_index.h"

namespace deepkb::bench {

namespace {

// int8 re-ranking source: the loaded base vectors. deepkb proper fetches them from its SQLite
// chunk_vectors table, which is slower than this; the bench therefore measures the index, not
// the storage behind it, and does not count these floats as index memory.
class MatrixSource : public hnsw::VectorSource {
 public:
  explicit MatrixSource(const cli::FloatMatrix& m) : m_(m) {}
  bool Fetch(hnsw::Label label, std::span<float> out) const override {
    if (label >= m_.n || out.size() != m_.dim) return false;
    auto row = m_.Row(static_cast<size_t>(label));
    std::copy(row.begin(), row.end(), out.begin());
    return true;
  }

 private:
  const cli::FloatMatrix& m_;
};

class DeepkbSystem : public AnnSystem {
 public:
  DeepkbSystem(const SystemConfig& c, bool int8) : c_(c), int8_(int8) {}

  std::string Name() const override { return int8_ ? "deepkb-int8" : "deepkb"; }

  Status Build(const cli::FloatMatrix& base) override {
    source_ = std::make_unique<MatrixSource>(base);
    hnsw::HnswOptions o;
    o.dim = base.dim;
    o.metric = hnsw::Metric::kL2;
    o.M = c_.M;
    o.ef_construction = c_.ef_construction;
    o.initial_capacity = base.n;
    o.seed = c_.seed;
    o.int8 = int8_;
    o.keep_float_vectors = !int8_;
    o.rerank_source = int8_ ? source_.get() : nullptr;
    ASSIGN_OR_RETURN(index_, hnsw::HnswIndex::Create(o));
    std::atomic<size_t> next{0};
    Status first;
    std::mutex mu;
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < base.n;) {
        Status s = index_->Add(i, base.Row(i));
        if (!s.ok()) {
          std::lock_guard<std::mutex> l(mu);
          if (first.ok()) first = s.WithContext("deepkb add " + std::to_string(i));
          next.store(base.n);
        }
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < c_.build_threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    return first;
  }

  Status Search(const cli::FloatMatrix& queries, size_t count, size_t k, size_t ef,
                int64_t* out) override {
    for (size_t q = 0; q < count; ++q) {
      auto hits = index_->Search(queries.Row(q), k, ef);
      if (!hits.ok()) return hits.status();
      int64_t* row = out + q * k;
      std::fill(row, row + k, -1);
      const size_t m = std::min(k, hits->size());
      for (size_t j = 0; j < m; ++j) row[j] = static_cast<int64_t>((*hits)[j].label);
    }
    return Status::Ok();
  }

  size_t MemoryBytes() const override { return index_->Stats().memory_bytes; }

  std::string MemoryMethod() const override {
    return int8_ ? "HnswIndex::Stats().memory_bytes (codes only; re-rank floats live outside)"
                 : "HnswIndex::Stats().memory_bytes (touched pages of its own allocations)";
  }

 private:
  SystemConfig c_;
  bool int8_;
  std::unique_ptr<MatrixSource> source_;
  std::unique_ptr<hnsw::HnswIndex> index_;
};

}  // namespace

std::unique_ptr<AnnSystem> MakeDeepkb(const SystemConfig& c, bool int8) {
  return std::make_unique<DeepkbSystem>(c, int8);
}

}  // namespace deepkb::bench
