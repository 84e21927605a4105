// vector_compare: deepkb's HNSW index (float32 and int8) against hnswlib and FAISS
// IndexHNSWFlat, in one process on the same data, with the same M and efConstruction.
//
// For each system: build time, index memory per vector (each system's own accounting, see
// MemoryMethod(), plus the process RSS growth across its build as a cross-check), and for each
// ef: recall@k against exact ground truth and single-thread queries per second. Searches are
// interleaved: every round runs every ef on every system (the system order rotates per round),
// each measurement repeats the query set until --min-seconds have passed, and the reported QPS
// is the best round (other processes can only slow a run down, so the fastest round is the
// least disturbed; the median is reported too, and every round is in the JSON).
// QPS at a target recall is interpolated linearly between the two ef points that bracket it.
// See bench/vector/README.md.
#include <CLI/CLI.hpp>
#include <malloc.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "compare_systems.h"
#include "index/hnsw/hnsw_index.h"

namespace deepkb::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

size_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  size_t total = 0, resident = 0;
  f >> total >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

struct Args {
  std::string base, query, gt;
  size_t k = 10;
  std::vector<size_t> efs = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  size_t M = 16, ef_construction = 200, build_threads = 1, rounds = 3;
  double min_seconds = 0.5;
  size_t max_base = cli::kAllRows, max_queries = cli::kAllRows;
  std::vector<std::string> systems = {"deepkb", "deepkb-int8", "hnswlib", "faiss"};
  std::vector<double> targets = {0.90, 0.95, 0.99};
  bool json = false;
  std::string json_out;
};

struct Point {
  size_t ef = 0;
  double recall = 0;
  std::vector<double> qps_rounds;
  double qps = 0;         // best round
  double qps_median = 0;
};

struct Measured {
  std::unique_ptr<AnnSystem> sys;
  double build_seconds = 0;
  size_t memory_bytes = 0;
  long long rss_delta = 0;
  std::vector<Point> points;  // per ef, in --ef order
};

struct AtRecall {
  std::optional<double> qps;
  bool lower_bound = false;  // the smallest ef already exceeded the target
};

// Linear interpolation in (recall, QPS) between the last point below the target and the first
// at or above it, scanning in ef order.
AtRecall QpsAtRecall(const std::vector<Point>& pts, double target) {
  for (size_t i = 0; i < pts.size(); ++i) {
    if (pts[i].recall < target) continue;
    if (i == 0) return {pts[0].qps, true};
    const Point &a = pts[i - 1], &b = pts[i];
    const double t = b.recall > a.recall ? (target - a.recall) / (b.recall - a.recall) : 1.0;
    return {a.qps + t * (b.qps - a.qps), false};
  }
  return {};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

Result<std::vector<std::vector<int64_t>>> LoadOrComputeTruth(const Args& a,
                                                             const cli::FloatMatrix& base,
                                                             const cli::FloatMatrix& queries) {
  std::vector<std::vector<int64_t>> truth(queries.n);
  if (!a.gt.empty()) {
    ASSIGN_OR_RETURN(cli::IntMatrix gt, cli::ReadIvecs(a.gt));
    if (gt.n < queries.n || gt.dim < a.k) {
      return InvalidArgumentError(a.gt + ": needs " + std::to_string(queries.n) + " rows of >= " +
                                  std::to_string(a.k) + " ids, has " + std::to_string(gt.n) +
                                  " × " + std::to_string(gt.dim));
    }
    if (a.max_base != cli::kAllRows) {
      return InvalidArgumentError("--gt cannot be combined with --max-base (its ids refer to all "
                                  "base rows); leave --gt out to compute the truth");
    }
    for (size_t q = 0; q < queries.n; ++q) {
      auto row = gt.Row(q);
      for (size_t j = 0; j < a.k; ++j) {
        if (row[j] < 0 || static_cast<size_t>(row[j]) >= base.n) {
          return InvalidArgumentError(a.gt + ": row " + std::to_string(q) + " names base vector " +
                                      std::to_string(row[j]) + ", not in the base file");
        }
        truth[q].push_back(row[j]);
      }
    }
    return truth;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t q; (q = next.fetch_add(1)) < queries.n;) {
      for (const auto& h :
           hnsw::BruteForce(base.data, base.dim, hnsw::Metric::kL2, queries.Row(q), a.k)) {
        truth[q].push_back(static_cast<int64_t>(h.label));
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, std::thread::hardware_concurrency()); ++t) {
    pool.emplace_back(work);
  }
  work();
  for (auto& t : pool) t.join();
  return truth;
}

double Recall(const std::vector<std::vector<int64_t>>& truth, const std::vector<int64_t>& got,
              size_t k) {
  double sum = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::unordered_set<int64_t> want(truth[q].begin(), truth[q].end());
    size_t found = 0;
    for (size_t j = 0; j < k; ++j) found += want.count(got[q * k + j]);
    sum += static_cast<double>(found) / static_cast<double>(truth[q].size());
  }
  return sum / static_cast<double>(truth.size());
}

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

Status Run(const Args& a) {
  ASSIGN_OR_RETURN(cli::FloatMatrix base, cli::ReadFvecs(a.base, a.max_base));
  ASSIGN_OR_RETURN(cli::FloatMatrix queries, cli::ReadFvecs(a.query, a.max_queries));
  if (base.dim != queries.dim) {
    return InvalidArgumentError("base dimension " + std::to_string(base.dim) +
                                " != query dimension " + std::to_string(queries.dim));
  }
  if (a.k > base.n) return InvalidArgumentError("--k exceeds the number of base vectors");
  auto log = [&](const std::string& s) {
    std::fprintf(stderr, "[vector_compare] %s\n", s.c_str());
  };

  const auto gt_start = Clock::now();
  ASSIGN_OR_RETURN(auto truth, LoadOrComputeTruth(a, base, queries));
  log("ground truth: " + std::string(a.gt.empty() ? "brute force" : a.gt) + " (" +
      Fmt("%.1f", Seconds(gt_start)) + " s)");

  SystemConfig cfg{.M = a.M, .ef_construction = a.ef_construction,
                   .build_threads = a.build_threads, .seed = 100};
  std::vector<Measured> ms;
  for (const auto& name : a.systems) {
    Measured m;
    if (name == "deepkb") m.sys = MakeDeepkb(cfg, false);
    else if (name == "deepkb-int8") m.sys = MakeDeepkb(cfg, true);
    else if (name == "hnswlib") m.sys = MakeHnswlib(cfg);
    else if (name == "faiss") m.sys = MakeFaiss(cfg);
    else return InvalidArgumentError("unknown system '" + name + "'");
    ms.push_back(std::move(m));
  }

  for (auto& m : ms) {
    ::malloc_trim(0);
    const size_t rss0 = ResidentBytes();
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(m.sys->Build(base));
    m.build_seconds = Seconds(t0);
    m.rss_delta = static_cast<long long>(ResidentBytes()) - static_cast<long long>(rss0);
    m.memory_bytes = m.sys->MemoryBytes();
    log(m.sys->Name() + ": built in " + Fmt("%.1f", m.build_seconds) + " s, " +
        Fmt("%.1f", static_cast<double>(m.memory_bytes) / static_cast<double>(base.n)) +
        " bytes/vector");
  }

  // Warm-up, then interleaved rounds.
  std::vector<int64_t> out(queries.n * a.k);
  for (auto& m : ms) {
    RETURN_IF_ERROR(m.sys->Search(queries, std::min<size_t>(queries.n, 200), a.k,
                                  std::max(a.efs.front(), a.k), out.data()));
    for (size_t ef : a.efs) m.points.push_back(Point{.ef = std::max(ef, a.k)});
  }
  for (size_t r = 0; r < a.rounds; ++r) {
    for (size_t e = 0; e < a.efs.size(); ++e) {
      for (size_t s = 0; s < ms.size(); ++s) {
        Measured& m = ms[(s + r) % ms.size()];
        Point& p = m.points[e];
        size_t done = 0;
        double secs = 0;
        const auto t0 = Clock::now();
        do {
          RETURN_IF_ERROR(m.sys->Search(queries, queries.n, a.k, p.ef, out.data()));
          done += queries.n;
          secs = Seconds(t0);
        } while (secs < a.min_seconds);
        p.qps_rounds.push_back(static_cast<double>(done) / secs);
        if (r == 0) p.recall = Recall(truth, out, a.k);
      }
    }
    log("round " + std::to_string(r + 1) + "/" + std::to_string(a.rounds) + " done");
  }
  for (auto& m : ms) {
    for (auto& p : m.points) {
      p.qps = *std::max_element(p.qps_rounds.begin(), p.qps_rounds.end());
      p.qps_median = Median(p.qps_rounds);
    }
  }

  // Report.
  const double n = static_cast<double>(base.n);
  auto find = [&](const std::string& name) -> const Measured* {
    for (const auto& m : ms) {
      if (m.sys->Name() == name) return &m;
    }
    return nullptr;
  };
  json systems = json::array();
  for (const auto& m : ms) {
    json pts = json::array();
    for (const auto& p : m.points) {
      pts.push_back({{"ef", p.ef}, {"recall", p.recall}, {"qps", p.qps},
                     {"qps_median", p.qps_median}, {"qps_rounds", p.qps_rounds}});
    }
    json at = json::object(), at_median = json::object();
    std::vector<Point> medians = m.points;
    for (auto& p : medians) p.qps = p.qps_median;
    for (double t : a.targets) {
      AtRecall q = QpsAtRecall(m.points, t), qm = QpsAtRecall(medians, t);
      at[Fmt("%.2f", t)] = q.qps ? json(*q.qps) : json(nullptr);
      at_median[Fmt("%.2f", t)] = qm.qps ? json(*qm.qps) : json(nullptr);
    }
    systems.push_back({{"name", m.sys->Name()},
                       {"build_seconds", m.build_seconds},
                       {"memory_bytes", m.memory_bytes},
                       {"bytes_per_vector", static_cast<double>(m.memory_bytes) / n},
                       {"memory_method", m.sys->MemoryMethod()},
                       {"rss_delta_bytes_per_vector", static_cast<double>(m.rss_delta) / n},
                       {"results", pts},
                       {"qps_at_recall", at},
                       {"qps_at_recall_median", at_median}});
  }
  json ratios = json::object(), memory_ratios = json::object();
  const double headline = 0.95;
  for (const char* ours : {"deepkb", "deepkb-int8"}) {
    for (const char* other : {"hnswlib", "faiss"}) {
      const Measured *x = find(ours), *y = find(other);
      if (!x || !y) continue;
      auto qx = QpsAtRecall(x->points, headline).qps, qy = QpsAtRecall(y->points, headline).qps;
      ratios[std::string(ours) + "/" + other] = qx && qy ? json(*qx / *qy) : json(nullptr);
    }
  }
  for (const char* other : {"hnswlib", "faiss", "deepkb"}) {
    const Measured *x = find("deepkb-int8"), *y = find(other);
    if (x && y && x != y) {
      memory_ratios[std::string("deepkb-int8/") + other] =
          static_cast<double>(x->memory_bytes) / static_cast<double>(y->memory_bytes);
    }
  }
  if (const Measured *x = find("deepkb"), *y = find("hnswlib"); x && y) {
    memory_ratios["deepkb/hnswlib"] =
        static_cast<double>(x->memory_bytes) / static_cast<double>(y->memory_bytes);
  }

  {
    json j{{"n", base.n},
           {"dim", base.dim},
           {"queries", queries.n},
           {"k", a.k},
           {"M", a.M},
           {"ef_construction", a.ef_construction},
           {"build_threads", a.build_threads},
           {"search_threads", 1},
           {"rounds", a.rounds},
           {"min_seconds", a.min_seconds},
           {"qps_statistic", "best round"},
           {"hnswlib_simd", HnswlibSimdLevel()},
           {"headline_recall", headline},
           {"systems", systems},
           {"qps_ratios_at_headline_recall", ratios},
           {"memory_ratios", memory_ratios}};
    if (!a.json_out.empty()) {
      std::ofstream f(a.json_out);
      f << j.dump(2) << "\n";
      if (!f) return InternalError("cannot write " + a.json_out);
    }
    if (a.json) {
      std::cout << j.dump(2) << "\n";
      return Status::Ok();
    }
  }

  std::printf("data: %s  n=%zu dim=%zu  queries=%zu  k=%zu  M=%zu  efConstruction=%zu\n",
              a.base.c_str(), base.n, base.dim, queries.n, a.k, a.M, a.ef_construction);
  std::printf("build threads %zu; search single-thread, QPS = best of %zu interleaved rounds of "
              ">= %.2g s each (median in --json); hnswlib SIMD: %s\n\n",
              a.build_threads, a.rounds, a.min_seconds, HnswlibSimdLevel().c_str());
  std::printf("%-12s %9s %11s %13s  %s\n", "system", "build s", "bytes/vec", "RSS Δ/vec",
              "memory accounting");
  for (const auto& m : ms) {
    std::printf("%-12s %9.1f %11.1f %13.1f  %s\n", m.sys->Name().c_str(), m.build_seconds,
                static_cast<double>(m.memory_bytes) / n, static_cast<double>(m.rss_delta) / n,
                m.sys->MemoryMethod().c_str());
  }
  std::printf("\nrecall@%zu / QPS per ef\n%6s", a.k, "ef");
  for (const auto& m : ms) std::printf(" | %-18s", m.sys->Name().c_str());
  std::printf("\n");
  for (size_t e = 0; e < a.efs.size(); ++e) {
    std::printf("%6zu", ms.empty() ? 0 : ms[0].points[e].ef);
    for (const auto& m : ms) {
      std::printf(" | %7.4f %10.0f", m.points[e].recall, m.points[e].qps);
    }
    std::printf("\n");
  }
  std::printf("\nQPS at recall@%zu (interpolated; '>=' means the smallest ef already exceeds it)\n",
              a.k);
  std::printf("%8s", "recall");
  for (const auto& m : ms) std::printf(" %14s", m.sys->Name().c_str());
  std::printf("\n");
  for (double t : a.targets) {
    std::printf("%8.2f", t);
    for (const auto& m : ms) {
      AtRecall q = QpsAtRecall(m.points, t);
      std::printf(" %14s", q.qps ? ((q.lower_bound ? ">=" : "") + Fmt("%.0f", *q.qps)).c_str()
                                 : "not reached");
    }
    std::printf("\n");
  }
  auto print_ratios = [](const json& r) {
    for (auto it = r.begin(); it != r.end(); ++it) {
      std::printf("  %s %s", it.key().c_str(),
                  it->is_null() ? "n/a" : (Fmt("%.2f", it->get<double>()) + "x").c_str());
    }
    std::printf("\n");
  };
  std::printf("\nQPS ratios at recall@%zu = %.2f:", a.k, headline);
  print_ratios(ratios);
  std::printf("memory ratios (bytes/vector):");
  print_ratios(memory_ratios);
  return Status::Ok();
}

}  // namespace
}  // namespace deepkb::bench

int main(int argc, char** argv) {
  deepkb::bench::Args a;
  CLI::App app{"vector_compare: deepkb HNSW vs hnswlib vs FAISS IndexHNSWFlat on one data set"};
  app.add_option("--base", a.base, "base vectors (.fvecs)")->required();
  app.add_option("--query", a.query, "query vectors (.fvecs)")->required();
  app.add_option("--gt", a.gt, "exact neighbours (.ivecs); default: brute force (L2)");
  app.add_option("--k", a.k, "neighbours per query")->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--ef", a.efs, "search ef values, comma-separated")->delimiter(',')
      ->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--M", a.M, "HNSW M (all systems)")->check(CLI::Range(2, 1024))
      ->capture_default_str();
  app.add_option("--ef-construction", a.ef_construction, "HNSW efConstruction (all systems)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--build-threads", a.build_threads, "threads for every build")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--rounds", a.rounds, "interleaved search rounds (best QPS reported)")
      ->check(CLI::Range(1, 100))->capture_default_str();
  app.add_option("--min-seconds", a.min_seconds, "each measurement repeats the queries this long")
      ->check(CLI::Range(0.0, 600.0))->capture_default_str();
  app.add_option("--systems", a.systems, "deepkb,deepkb-int8,hnswlib,faiss")->delimiter(',')
      ->check(CLI::IsMember({"deepkb", "deepkb-int8", "hnswlib", "faiss"}))
      ->capture_default_str();
  app.add_option("--max-base", a.max_base, "use only the first N base vectors");
  app.add_option("--max-queries", a.max_queries, "use only the first N queries");
  app.add_option("--target-recall", a.targets, "recall levels for the QPS-at-recall table")
      ->delimiter(',')->capture_default_str();
  app.add_flag("--json", a.json, "one JSON document on stdout instead of the tables");
  app.add_option("--json-out", a.json_out, "also write the JSON document to this file");
  CLI11_PARSE(app, argc, argv);
  if (a.efs.empty() || a.systems.empty()) {
    std::fprintf(stderr, "error: --ef and --systems must not be empty\n");
    return 2;
  }
  deepkb::Status s = deepkb::bench::Run(a);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return deepkb::ExitCodeFor(s);
  }
  return 0;
}
