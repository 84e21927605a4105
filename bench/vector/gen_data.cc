// vector_gen: writes a deterministic clustered vector data set as .fvecs (base and queries) and,
// optionally, its exact L2 ground truth as .ivecs.
//
// The data is a Gaussian mixture shaped like real embeddings rather than isotropic noise:
//   - `clusters` centres, uniform in [-1, 1]^dim; cluster j is picked with probability
//     proportional to 1/sqrt(j+1), so cluster sizes are uneven (the largest ~ 20× the smallest
//     at 500 clusters);
//   - each cluster varies mostly inside its own random `rank`-dimensional subspace (random,
//     non-orthogonalised directions) with a decaying spectrum (direction i ∝ 1/sqrt(1+i/4)),
//     of total radius about spread·s_j·sqrt(dim), plus isotropic noise of standard deviation
//     noise·spread·s_j per dimension; s_j is uniform in [0.6, 1.4] per cluster. Centres are
//     about 0.82·sqrt(dim) apart, so at the default spread 0.5 neighbouring clusters overlap.
//   That gives a moderate intrinsic dimension (the thing that makes ANN search hard or easy).
// Queries are fresh draws from the same mixture (not copies of base vectors).
//
// Determinism: all randomness comes from SplitMix64 streams derived from --seed, and normal
// variates use our own Box-Muller, so the same arguments give byte-identical files whatever the
// C++ standard library (libm's log/sin/cos could in principle round differently elsewhere).
// The mixture depends on seed, dim, clusters, rank, spread and noise only, and base and queries
// use separate streams, so --n and --queries can change without changing the distribution or
// the first rows.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "cli/fvecs.h"
#include "index/hnsw/hnsw_index.h"

namespace {

using deepkb::Status;
using deepkb::cli::FloatMatrix;
using deepkb::cli::IntMatrix;

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = Uniform(), u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * M_PI * u2;
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }

 private:
  uint64_t s_;
  bool has_spare_ = false;
  double spare_ = 0;
};

struct Mixture {
  size_t dim = 0, clusters = 0, rank = 0;
  std::vector<float> centres;      // clusters × dim
  std::vector<float> bases;        // clusters × rank × dim: direction i of cluster j, scaled
  std::vector<float> noise;        // per cluster: isotropic noise, standard deviation per dim
  std::vector<double> cumulative;  // cluster pick probabilities, cumulative

  Mixture(size_t dim_in, size_t clusters_in, size_t rank_in, double spread, double noise_frac,
          uint64_t seed)
      : dim(dim_in), clusters(clusters_in), rank(rank_in) {
    Rng rng(seed ^ 0x6d697874757265ull);  // "mixture"
    centres.resize(clusters * dim);
    for (float& x : centres) x = static_cast<float>(2.0 * rng.Uniform() - 1.0);
    // Spectrum: direction i has relative scale 1/sqrt(1 + i/4), normalised to unit energy.
    std::vector<double> decay(rank);
    double energy = 0;
    for (size_t i = 0; i < rank; ++i) {
      decay[i] = 1.0 / std::sqrt(1.0 + static_cast<double>(i) / 4.0);
      energy += decay[i] * decay[i];
    }
    for (double& d : decay) d /= std::sqrt(energy);
    bases.resize(clusters * rank * dim);
    noise.resize(clusters);
    for (size_t j = 0; j < clusters; ++j) {
      // Cluster radius ~ spread·s·sqrt(dim) in its subspace, noise_frac of that in the rest.
      const double s = spread * (0.6 + 0.8 * rng.Uniform());
      noise[j] = static_cast<float>(noise_frac * s);
      for (size_t i = 0; i < rank; ++i) {
        // Entries N(0, (s·decay_i)²): a random direction of length about s·decay_i·sqrt(dim).
        const double scale = s * decay[i];
        float* b = &bases[(j * rank + i) * dim];
        for (size_t d = 0; d < dim; ++d) b[d] = static_cast<float>(rng.Normal() * scale);
      }
    }
    cumulative.resize(clusters);
    double total = 0;
    for (size_t j = 0; j < clusters; ++j) {
      total += 1.0 / std::sqrt(static_cast<double>(j + 1));
      cumulative[j] = total;
    }
    for (double& c : cumulative) c /= total;
  }

  void Draw(Rng& rng, float* out) const {
    const double u = rng.Uniform();
    size_t j = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                   cumulative.begin());
    j = std::min(j, clusters - 1);
    const float* c = &centres[j * dim];
    for (size_t d = 0; d < dim; ++d) out[d] = c[d] + static_cast<float>(rng.Normal()) * noise[j];
    for (size_t i = 0; i < rank; ++i) {
      const float z = static_cast<float>(rng.Normal());
      const float* b = &bases[(j * rank + i) * dim];
      for (size_t d = 0; d < dim; ++d) out[d] += z * b[d];
    }
  }
};

FloatMatrix Sample(const Mixture& mix, size_t n, uint64_t seed) {
  FloatMatrix m;
  m.n = n;
  m.dim = mix.dim;
  m.data.resize(n * mix.dim);
  Rng rng(seed);
  for (size_t i = 0; i < n; ++i) mix.Draw(rng, m.data.data() + i * mix.dim);
  return m;
}

IntMatrix GroundTruth(const FloatMatrix& base, const FloatMatrix& queries, size_t k,
                      size_t threads) {
  IntMatrix gt;
  gt.n = queries.n;
  gt.dim = k;
  gt.data.assign(queries.n * k, -1);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t q; (q = next.fetch_add(1)) < queries.n;) {
      auto hits = deepkb::hnsw::BruteForce(base.data, base.dim, deepkb::hnsw::Metric::kL2,
                                           queries.Row(q), k);
      for (size_t j = 0; j < hits.size(); ++j) {
        gt.data[q * k + j] = static_cast<int32_t>(hits[j].label);
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return gt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vector_gen: deterministic clustered vectors (Gaussian mixture) as .fvecs"};
  size_t n = 100000, nq = 1000, dim = 128, clusters = 500, rank = 0, gt_k = 100, threads = 0;
  double spread = 0.5, noise_frac = 0.75;
  uint64_t seed = 1;
  std::string base_path, query_path, gt_path;
  app.add_option("--n", n, "base vectors")->check(CLI::Range(1, 100000000))->capture_default_str();
  app.add_option("--queries", nq, "query vectors")->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--dim", dim, "dimension")->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--clusters", clusters, "mixture components")->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--rank", rank, "directions each cluster varies along (0: min(dim/4, 32))")
      ->capture_default_str();
  app.add_option("--spread", spread, "cluster scale relative to the centre box [-1,1]^dim")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--noise", noise_frac, "isotropic noise relative to the cluster scale")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--base", base_path, "output: base vectors (.fvecs)")->required();
  app.add_option("--query", query_path, "output: query vectors (.fvecs)")->required();
  app.add_option("--gt", gt_path, "output: exact L2 neighbours of each query (.ivecs)");
  app.add_option("--gt-k", gt_k, "neighbours per query in --gt")->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--threads", threads, "threads for --gt (0: all cores)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (rank == 0) rank = std::clamp<size_t>(dim / 4, 1, 32);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const auto t0 = std::chrono::steady_clock::now();
  Mixture mix(dim, clusters, rank, spread, noise_frac, seed);
  FloatMatrix base = Sample(mix, n, seed * 0x9E3779B97F4A7C15ull + 1);
  FloatMatrix queries = Sample(mix, nq, seed * 0x9E3779B97F4A7C15ull + 2);
  auto check = [](const Status& s) {
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      std::exit(1);
    }
  };
  check(deepkb::cli::WriteFvecs(base_path, base));
  check(deepkb::cli::WriteFvecs(query_path, queries));
  if (!gt_path.empty()) {
    if (n > static_cast<size_t>(INT32_MAX)) check(deepkb::InvalidArgumentError("--n too large for .ivecs ids"));
    check(deepkb::cli::WriteIvecs(gt_path, GroundTruth(base, queries, std::min(gt_k, n), threads)));
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "vector_gen: %zu base + %zu queries, dim %zu, %zu clusters, rank %zu, spread %.3g, "
               "noise %.3g, seed %llu%s (%.1f s)\n",
               n, nq, dim, clusters, rank, spread, noise_frac,
               static_cast<unsigned long long>(seed), gt_path.empty() ? "" : ", ground truth written",
               secs);
  return 0;
}
