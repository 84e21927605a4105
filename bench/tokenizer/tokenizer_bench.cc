// Encode throughput of deepkb's tokenizer on a corpus (one JSON string per line), single thread:
// the same corpus and the same measurement as bench.js does for the JavaScript reference.
//   tokenizer_bench --tokenizer F --corpus corpus.jsonl [--passes 5] [--ids]
// Prints one JSON object: {"impl", "load_seconds", "lines", "bytes", "tokens", "passes",
// "first_pass_seconds", "seconds" (best timed pass, wall), "cpu_seconds" (best pass, process CPU
// time), "mb_per_s", "cpu_mb_per_s", "tokens_per_s"}.
// --ids instead prints the ids of every line (a JSON array per line), like `deepkb tokenize
// --jsonl`.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenize/tokenizer.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of this process (user + system): on a shared machine, wall time includes waiting
// for a core, CPU time does not.
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int Usage() {
  std::fprintf(stderr, "usage: tokenizer_bench --tokenizer F --corpus F [--passes N] [--ids]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, corpus_path;
  int passes = 5;
  bool ids_mode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tokenizer" && i + 1 < argc)
      tokenizer_path = argv[++i];
    else if (a == "--corpus" && i + 1 < argc)
      corpus_path = argv[++i];
    else if (a == "--passes" && i + 1 < argc)
      passes = std::max(1, std::atoi(argv[++i]));
    else if (a == "--ids")
      ids_mode = true;
    else
      return Usage();
  }
  if (tokenizer_path.empty() || corpus_path.empty()) return Usage();

  std::vector<std::string> lines;
  size_t bytes = 0;
  {
    std::ifstream in(corpus_path);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", corpus_path.c_str());
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      try {
        lines.push_back(nlohmann::json::parse(line).get<std::string>());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s:%zu: %s\n", corpus_path.c_str(), lines.size() + 1, e.what());
        return 1;
      }
      bytes += lines.back().size();
    }
  }

  const double t0 = Now();
  auto loaded = deepkb::tokenize::Tokenizer::FromFile(tokenizer_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    return 1;
  }
  const double load_seconds = Now() - t0;
  const auto& tok = **loaded;

  if (ids_mode) {
    std::string out;
    for (const auto& l : lines) {
      out.clear();
      out.push_back('[');
      bool first = true;
      for (uint32_t id : tok.Encode(l)) {
        if (!first) out.push_back(',');
        first = false;
        out += std::to_string(id);
      }
      out += "]\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    return 0;
  }

  std::vector<uint32_t> ids;
  size_t tokens = 0;
  auto pass = [&] {
    size_t n = 0;
    for (const auto& l : lines) {
      ids.clear();
      tok.EncodeAppend(l, &ids);
      n += ids.size();
    }
    return n;
  };
  double start = Now();
  double cpu_start = CpuNow();
  tokens = pass();
  const double first = Now() - start;
  double best = first;
  double best_cpu = CpuNow() - cpu_start;
  for (int p = 0; p < passes; ++p) {
    start = Now();
    cpu_start = CpuNow();
    if (pass() != tokens) {
      std::fprintf(stderr, "nondeterministic token count\n");
      return 1;
    }
    best = std::min(best, Now() - start);
    best_cpu = std::min(best_cpu, CpuNow() - cpu_start);
  }
  nlohmann::json j = {{"impl", "deepkb"},
                      {"load_seconds", load_seconds},
                      {"lines", lines.size()},
                      {"bytes", bytes},
                      {"tokens", tokens},
                      {"passes", passes},
                      {"first_pass_seconds", first},
                      {"seconds", best},
                      {"cpu_seconds", best_cpu},
                      {"cpu_mb_per_s", bytes / best_cpu / 1e6},
                      {"mb_per_s", bytes / best / 1e6},
                      {"tokens_per_s", tokens / best}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
