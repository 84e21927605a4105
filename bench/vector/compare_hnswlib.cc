// hnswlib adapter for vector_compare: hnswlib::HierarchicalNSW<float> over L2Space, from Debian's
// header-only libhnswlib-dev (0.6.x). hnswlib picks its SIMD kernels at compile time (__SSE__,
// __AVX__, __AVX512F__), so this file is built with -march=native when DEEPKB_VECTOR_BENCH_NATIVE
// is on (the default), as hnswlib's own Python build does; otherwise it gets the x86-64 baseline
// (SSE only). The report states which.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "compare_systems.h"

namespace deepkb::bench {

namespace {

class HnswlibSystem : public AnnSystem {
 public:
  explicit HnswlibSystem(const SystemConfig& c) : c_(c) {}

  std::string Name() const override { return "hnswlib"; }

  Status Build(const cli::FloatMatrix& base) override {
    try {
      space_ = std::make_unique<hnswlib::L2Space>(base.dim);
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), base.n, c_.M,
                                                                 c_.ef_construction, c_.seed);
      std::atomic<size_t> next{0};
      auto work = [&] {
        for (size_t i; (i = next.fetch_add(1)) < base.n;) {
          index_->addPoint(base.Row(i).data(), static_cast<hnswlib::labeltype>(i));
        }
      };
      std::vector<std::thread> pool;
      for (size_t t = 1; t < c_.build_threads; ++t) pool.emplace_back(work);
      work();
      for (auto& t : pool) t.join();
    } catch (const std::exception& e) {
      return InternalError(std::string("hnswlib build: ") + e.what());
    }
    return Status::Ok();
  }

  Status Search(const cli::FloatMatrix& queries, size_t count, size_t k, size_t ef,
                int64_t* out) override {
    index_->setEf(ef);
    for (size_t q = 0; q < count; ++q) {
      auto pq = index_->searchKnn(queries.Row(q).data(), k);
      int64_t* row = out + q * k;
      std::fill(row, row + k, -1);
      // The queue pops farthest first.
      for (size_t j = pq.size(); j-- > 0;) {
        row[j] = static_cast<int64_t>(pq.top().second);
        pq.pop();
      }
    }
    return Status::Ok();
  }

  // hnswlib 0.6 has no memory statistic; this adds up what it allocates: the level-0 block
  // (links, vector, label per element), the upper-level link lists with a 16-byte malloc
  // header each, the per-element pointer, level and mutex arrays, the 65,536 update mutexes,
  // one visited list (uint16 per element) and the label hash map (buckets + 32-byte nodes).
  size_t MemoryBytes() const override {
    const auto& h = *index_;
    size_t b = h.max_elements_ * h.size_data_per_element_;
    for (size_t i = 0; i < h.cur_element_count; ++i) {
      if (h.element_levels_[i] > 0) {
        b += static_cast<size_t>(h.element_levels_[i]) * h.size_links_per_element_ + 16;
      }
    }
    b += h.max_elements_ * (sizeof(char*) + sizeof(int) + sizeof(std::mutex));
    b += h.link_list_update_locks_.size() * sizeof(std::mutex);
    b += h.max_elements_ * sizeof(hnswlib::vl_type);
    b += h.label_lookup_.bucket_count() * sizeof(void*) + h.label_lookup_.size() * 32;
    return b;
  }

  std::string MemoryMethod() const override {
    return "sum of hnswlib's allocations (level-0 block, link lists, locks, label map)";
  }

 private:
  SystemConfig c_;
  std::unique_ptr<hnswlib::L2Space> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

}  // namespace

std::unique_ptr<AnnSystem> MakeHnswlib(const SystemConfig& c) {
  return std::make_unique<HnswlibSystem>(c);
}

std::string HnswlibSimdLevel() {
#if defined(USE_AVX512)
  return AVX512Capable() ? "AVX-512" : (AVXCapable() ? "AVX" : "SSE");
#elif defined(USE_AVX)
  return AVXCapable() ? "AVX" : "SSE";
#elif defined(USE_SSE)
  return "SSE";
#else
  return "scalar";
#endif
}

}  // namespace deepkb::bench
