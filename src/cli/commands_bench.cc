// `deepkb bench vector`: builds deepkb's HNSW index over an .fvecs base set and reports, per ef,
// recall@k against exact ground truth (an .ivecs file, or brute force) and queries per second.
// The side-by-side comparison with hnswlib and FAISS lives in bench/vector/ (vector_compare).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "cli/app.h"
#include "cli/fvecs.h"
#include "cli/progress.h"
#include "index/hnsw/hnsw_index.h"

namespace deepkb::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchVectorArgs {
  std::string base, query, gt;
  size_t k = 10;
  std::vector<size_t> efs = {16, 32, 64, 128, 256};
  size_t M = 16;
  size_t ef_construction = 200;
  size_t threads = 1;
  bool json = false;
  bool int8 = false;
  std::string metric = "l2";
};

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Runs fn(i) for i in [0, n) on `threads` threads (the calling thread included). fn returns a
// Status; the first error stops the others and is returned. `tick` runs on the calling thread
// after each of its items with the number of items claimed so far.
Status ParallelFor(size_t n, size_t threads, const std::function<Status(size_t)>& fn,
                   const std::function<void(size_t)>& tick = nullptr) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Status first;
  std::mutex mu;
  auto work = [&](bool main) {
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (!failed.exchange(true)) first = s;
      }
      if (main && tick) tick(std::min(n, next.load(std::memory_order_relaxed)));
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < std::max<size_t>(1, threads); ++t) pool.emplace_back(work, false);
  work(true);
  for (auto& t : pool) t.join();
  return first;
}

// Serves the loaded base vectors for int8 re-ranking (deepkb proper reads them from SQLite).
class MatrixSource : public hnsw::VectorSource {
 public:
  explicit MatrixSource(const FloatMatrix& m) : m_(m) {}
  bool Fetch(hnsw::Label label, std::span<float> out) const override {
    if (label >= m_.n || out.size() != m_.dim) return false;
    auto row = m_.Row(static_cast<size_t>(label));
    std::copy(row.begin(), row.end(), out.begin());
    return true;
  }

 private:
  const FloatMatrix& m_;
};

Result<hnsw::Metric> ParseMetric(const std::string& s) {
  if (s == "l2") return hnsw::Metric::kL2;
  if (s == "ip") return hnsw::Metric::kInnerProduct;
  if (s == "cosine") return hnsw::Metric::kCosine;
  return InvalidArgumentError("--metric must be l2, ip or cosine");
}

// Ground truth: rows of k base ids per query, from the --gt file or by brute force.
Result<std::vector<std::vector<hnsw::Label>>> GroundTruth(const BenchVectorArgs& a,
                                                          const FloatMatrix& base,
                                                          const FloatMatrix& queries,
                                                          hnsw::Metric metric) {
  std::vector<std::vector<hnsw::Label>> truth(queries.n);
  if (!a.gt.empty()) {
    ASSIGN_OR_RETURN(IntMatrix gt, ReadIvecs(a.gt));
    if (gt.n != queries.n) {
      return InvalidArgumentError(a.gt + ": has " + std::to_string(gt.n) + " rows but " +
                                  a.query + " has " + std::to_string(queries.n) + " queries");
    }
    if (gt.dim < a.k) {
      return InvalidArgumentError(a.gt + ": has " + std::to_string(gt.dim) +
                                  " neighbours per query, fewer than --k " + std::to_string(a.k));
    }
    for (size_t q = 0; q < gt.n; ++q) {
      auto row = gt.Row(q);
      for (size_t j = 0; j < a.k; ++j) {
        if (row[j] < 0 || static_cast<size_t>(row[j]) >= base.n) {
          return InvalidArgumentError(a.gt + ": row " + std::to_string(q) + " names base vector " +
                                      std::to_string(row[j]) + ", outside [0, " +
                                      std::to_string(base.n) + ")");
        }
        truth[q].push_back(static_cast<hnsw::Label>(row[j]));
      }
    }
    return truth;
  }
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  RETURN_IF_ERROR(ParallelFor(queries.n, threads, [&](size_t q) {
    for (const auto& h : hnsw::BruteForce(base.data, base.dim, metric, queries.Row(q), a.k)) {
      truth[q].push_back(h.label);
    }
    return Status::Ok();
  }));
  return truth;
}

struct EfResult {
  size_t ef = 0;
  double recall = 0;
  double qps = 0;
};

Status RunBenchVector(const BenchVectorArgs& a, std::ostream& out) {
  ASSIGN_OR_RETURN(hnsw::Metric metric, ParseMetric(a.metric));
  ASSIGN_OR_RETURN(FloatMatrix base, ReadFvecs(a.base));
  ASSIGN_OR_RETURN(FloatMatrix queries, ReadFvecs(a.query));
  if (queries.dim != base.dim) {
    return InvalidArgumentError(a.query + ": queries have dimension " + std::to_string(queries.dim) +
                                ", the base vectors " + std::to_string(base.dim));
  }
  if (a.k > base.n) {
    return InvalidArgumentError("--k " + std::to_string(a.k) + " exceeds the " +
                                std::to_string(base.n) + " base vectors");
  }
  const bool progress = !a.json && ProgressBar::StderrIsTerminal();

  // Build.
  MatrixSource source(base);
  hnsw::HnswOptions opts;
  opts.dim = base.dim;
  opts.metric = metric;
  opts.M = a.M;
  opts.ef_construction = a.ef_construction;
  opts.initial_capacity = base.n;
  opts.int8 = a.int8;
  // int8: only codes stay in the index; re-ranking reads floats from the loaded file, as deepkb
  // reads them from its database. Their memory is not the index's and is not counted.
  opts.keep_float_vectors = !a.int8;
  opts.rerank_source = a.int8 ? &source : nullptr;
  ASSIGN_OR_RETURN(std::unique_ptr<hnsw::HnswIndex> index, hnsw::HnswIndex::Create(opts));
  const auto build_start = Clock::now();
  {
    // ProgressBar counts "files"; vectors get their own one-line counter (TTY only).
    auto last_draw = Clock::now();
    RETURN_IF_ERROR(ParallelFor(
        base.n, a.threads,
        [&](size_t i) {
          Status s = index->Add(i, base.Row(i));
          if (!s.ok()) return s.WithContext(a.base + ": vector " + std::to_string(i));
          return s;
        },
        [&](size_t done) {
          if (!progress || Clock::now() - last_draw < std::chrono::milliseconds(200)) return;
          last_draw = Clock::now();
          const double secs = Seconds(build_start);
          const double frac = static_cast<double>(done) / static_cast<double>(base.n);
          std::fprintf(stderr, "\r\033[Kbuilding: %zu/%zu vectors (%.0f%%)  ETA %s", done, base.n,
                       100 * frac, ProgressBar::FormatDuration(secs * (1 - frac) / frac).c_str());
          std::fflush(stderr);
        }));
    if (progress) std::fprintf(stderr, "\r\033[K");
  }
  const double build_seconds = Seconds(build_start);
  const hnsw::IndexStats stats = index->Stats();
  const double bytes_per_vector =
      static_cast<double>(stats.memory_bytes) / static_cast<double>(base.n);

  const auto gt_start = Clock::now();
  if (progress && a.gt.empty()) std::fprintf(stderr, "computing ground truth (brute force)...");
  ASSIGN_OR_RETURN(auto truth, GroundTruth(a, base, queries, metric));
  const double gt_seconds = Seconds(gt_start);
  if (progress) std::fprintf(stderr, "\r\033[K");

  // Search: every query once per ef (after a short warm-up), timed as a whole.
  std::vector<EfResult> results;
  std::vector<std::vector<hnsw::SearchHit>> hits(queries.n);
  auto search_all = [&](size_t ef, size_t count) {
    return ParallelFor(count, a.threads, [&](size_t q) {
      auto r = index->Search(queries.Row(q), a.k, ef);
      if (!r.ok()) return r.status().WithContext(a.query + ": query " + std::to_string(q));
      hits[q] = std::move(r).value();
      return Status::Ok();
    });
  };
  if (!a.efs.empty()) RETURN_IF_ERROR(search_all(a.efs.front(), std::min<size_t>(queries.n, 200)));
  for (size_t ef_in : a.efs) {
    const size_t ef = std::max(ef_in, a.k);
    const auto start = Clock::now();
    RETURN_IF_ERROR(search_all(ef, queries.n));
    const double secs = Seconds(start);
    double recall_sum = 0;
    for (size_t q = 0; q < queries.n; ++q) {
      std::unordered_set<hnsw::Label> want(truth[q].begin(), truth[q].end());
      size_t found = 0;
      for (const auto& h : hits[q]) found += want.count(h.label);
      recall_sum += want.empty() ? 1.0 : static_cast<double>(found) / static_cast<double>(want.size());
    }
    results.push_back(EfResult{ef, recall_sum / static_cast<double>(queries.n),
                               secs > 0 ? static_cast<double>(queries.n) / secs : 0});
  }

  if (a.json) {
    json rows = json::array();
    for (const auto& r : results) rows.push_back({{"ef", r.ef}, {"recall", r.recall}, {"qps", r.qps}});
    json j{{"n", base.n},
           {"dim", base.dim},
           {"build_seconds", build_seconds},
           {"bytes_per_vector", bytes_per_vector},
           {"results", rows},
           {"queries", queries.n},
           {"k", a.k},
           {"M", a.M},
           {"ef_construction", a.ef_construction},
           {"metric", a.metric},
           {"int8", a.int8},
           {"threads", a.threads},
           {"memory_bytes", stats.memory_bytes},
           {"ground_truth", a.gt.empty() ? "brute_force" : "file"}};
    out << j.dump(2) << "\n";
    return Status::Ok();
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "deepkb HNSW: n=%zu dim=%zu metric=%s M=%zu ef_construction=%zu %s threads=%zu\n",
                base.n, base.dim, a.metric.c_str(), a.M, a.ef_construction,
                a.int8 ? "int8" : "float32", a.threads);
  out << line;
  std::snprintf(line, sizeof line,
                "build: %.2f s (%.0f vectors/s), index memory %.1f MB = %.1f bytes/vector%s\n",
                build_seconds, static_cast<double>(base.n) / std::max(build_seconds, 1e-9),
                static_cast<double>(stats.memory_bytes) / 1e6, bytes_per_vector,
                a.int8 ? " (float vectors for re-ranking stay outside the index, not counted)" : "");
  out << line;
  std::snprintf(line, sizeof line, "ground truth: %s, %zu queries (%.2f s)\n",
                a.gt.empty() ? "brute force" : a.gt.c_str(), queries.n, gt_seconds);
  out << line;
  std::snprintf(line, sizeof line, "%8s %10s %12s\n", "ef",
                ("recall@" + std::to_string(a.k)).c_str(), "QPS");
  out << line;
  for (const auto& r : results) {
    std::snprintf(line, sizeof line, "%8zu %10.4f %12.0f\n", r.ef, r.recall, r.qps);
    out << line;
  }
  return Status::Ok();
}

}  // namespace

void RegisterBenchCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  auto a = std::make_shared<BenchVectorArgs>();
  auto* vec = bench->add_subcommand(
      "vector",
      "build deepkb's HNSW index over an .fvecs file and report recall@k and queries per second "
      "for each ef (ground truth from --gt or by brute force)");
  vec->add_option("--base", a->base, "base vectors (.fvecs)")->required();
  vec->add_option("--query", a->query, "query vectors (.fvecs)")->required();
  vec->add_option("--gt", a->gt,
                  "exact neighbours of each query (.ivecs, base row ids); default: brute force");
  vec->add_option("--k", a->k, "neighbours per query")->check(CLI::Range(1, 10000))
      ->capture_default_str();
  vec->add_option("--ef", a->efs, "search beam widths, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  vec->add_option("--M", a->M, "HNSW links per node")->check(CLI::Range(2, 1024))
      ->capture_default_str();
  vec->add_option("--ef-construction", a->ef_construction, "HNSW build beam width")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  vec->add_option("--threads", a->threads, "threads for building and for searching")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  vec->add_option("--metric", a->metric, "distance")
      ->check(CLI::IsMember({"l2", "ip", "cosine"}))
      ->capture_default_str();
  vec->add_flag("--int8", a->int8, "8-bit quantised graph walk with float re-ranking");
  vec->add_flag("--json", a->json, "machine-readable output");
  vec->callback([exit_code, a] {
    Status s = RunBenchVector(*a, std::cout);
    if (!s.ok()) *exit_code = Fail(s);
  });
}

}  // namespace deepkb::cli
