// rebuild_bench: how long an online `index rebuild` takes and what searches and writes see
// while it runs (bench/README.md, "Online index rebuild").
//
// Opens a KB data directory (use a copy: the rebuild rewrites its indexes), then
//  1. baseline: `--baseline-s` seconds of searches alone (the same query loop as below);
//  2. rebuild: RebuildIndexes(collection) while one thread keeps searching (keyword and hybrid
//     queries, alternating) and, with --writes, another thread keeps writing documents;
//  3. prints search latency before and during the rebuild (P50 / P99 / max), the longest write,
//     the rebuild's wall time, and checks Verify() afterwards.
// Usage:
//   rebuild_bench --data-dir DIR --collection NAME [--baseline-s 5] [--writes] [--page N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "kb/kb.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Latencies {
  std::vector<double> ms;
  size_t failures = 0;
  double Pct(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  }
  double Max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

const char* kQueries[] = {"数据库 连接", "配置 文件", "replication lag", "索引 重建", "用户 权限",
                          "backup restore", "查询 性能", "内存 缓存"};

// Searches until `stop`; collects latencies.
Latencies SearchLoop(deepkb::kb::KnowledgeBase& kb, const std::string& coll,
                     const std::atomic<bool>& stop) {
  Latencies l;
  for (size_t i = 0; !stop.load(); ++i) {
    deepkb::kb::SearchRequest req;
    req.collection = coll;
    req.query = kQueries[i % std::size(kQueries)];
    req.mode = i % 2 ? "hybrid" : "keyword";
    const auto t0 = Clock::now();
    auto r = kb.Search(req);
    l.ms.push_back(Ms(Clock::now() - t0));
    if (!r.ok()) ++l.failures;
  }
  return l;
}

void Print(const char* what, const Latencies& l) {
  std::printf("%-28s n=%-6zu P50 %8.1f ms  P99 %8.1f ms  max %8.1f ms  failures %zu\n", what,
              l.ms.size(), l.Pct(0.5), l.Pct(0.99), l.Max(), l.failures);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, coll;
  double baseline_s = 5;
  bool writes = false;
  int page = deepkb::kb::KbOptions{}.rebuild_page_chunks;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data-dir") dir = next();
    else if (a == "--collection") coll = next();
    else if (a == "--baseline-s") baseline_s = std::stod(next());
    else if (a == "--writes") writes = true;
    else if (a == "--page") page = std::stoi(next());
    else {
      std::fprintf(stderr,
                   "usage: rebuild_bench --data-dir DIR --collection NAME [--baseline-s S] "
                   "[--writes] [--page N]\n");
      return 2;
    }
  }
  if (dir.empty() || coll.empty()) {
    std::fprintf(stderr, "--data-dir and --collection are required (use a copy of the data)\n");
    return 2;
  }
  deepkb::kb::KbOptions opts;
  opts.rebuild_page_chunks = page;
  auto opened = deepkb::kb::KnowledgeBase::Open(dir, opts);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto& kb = **opened;
  auto c = kb.GetCollection(coll);
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
    return 1;
  }
  std::printf("collection %s: %lld documents, %lld chunks, embedder %s; page %d chunks\n",
              coll.c_str(), static_cast<long long>(c->documents),
              static_cast<long long>(c->chunks), c->embedder.c_str(), page);

  std::atomic<bool> stop{false};
  Latencies before;
  {
    std::thread t([&] { before = SearchLoop(kb, coll, stop); });
    std::this_thread::sleep_for(std::chrono::duration<double>(baseline_s));
    stop = true;
    t.join();
  }

  stop = false;
  Latencies during, write_lat;
  std::thread searcher([&] { during = SearchLoop(kb, coll, stop); });
  std::thread writer;
  if (writes) {
    writer = std::thread([&] {
      for (int i = 0; !stop.load(); ++i) {
        deepkb::kb::PutDocumentRequest req;
        req.collection = coll;
        req.doc_id = "rebuild-bench-" + std::to_string(i % 50);
        req.file_name = "w.txt";
        req.bytes = "写入 during rebuild " + std::to_string(i) + " 数据库 连接 配置 文件\n";
        const auto t0 = Clock::now();
        auto r = kb.PutDocument(req);
        write_lat.ms.push_back(Ms(Clock::now() - t0));
        if (!r.ok()) ++write_lat.failures;
      }
    });
  }
  const auto t0 = Clock::now();
  deepkb::Status s = kb.RebuildIndexes(coll, "");
  const double rebuild_ms = Ms(Clock::now() - t0);
  stop = true;
  searcher.join();
  if (writer.joinable()) writer.join();
  if (!s.ok()) {
    std::fprintf(stderr, "rebuild failed: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("rebuild: %.0f ms\n", rebuild_ms);
  Print("searches before", before);
  Print("searches during rebuild", during);
  if (writes) Print("writes during rebuild", write_lat);
  deepkb::Status v = kb.Verify();
  std::printf("verify after: %s\n", v.ok() ? "OK" : v.ToString().c_str());
  return v.ok() && during.failures == 0 ? 0 : 1;
}
