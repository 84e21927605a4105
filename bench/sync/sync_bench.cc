// Sync benchmark (bench/sync/README.md): time and bytes to push N changed documents from node A
// to an empty node B, then bytes for a push after 1% of A's documents changed, with gzip on and
// off. A and B are in-process KnowledgeBases; B sits behind a real KbServer on loopback and a
// counting proxy (tests/cutting_proxy.h with no budget), which counts every byte on the wire
// (HTTP headers and bodies, both ways). The replicator's own count (JSON before gzip) is printed
// too.
//
//   sync_bench --docs 10000 [--work-dir /tmp/deepkb-bench/sync] [--json out.json]
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "auth/api_keys.h"
#include "corpus_gen.h"
#include "kb/kb.h"
#include "server/kb_server.h"
#include "sync/replicator.h"
#include "tests/cutting_proxy.h"

namespace fs = std::filesystem;
using deepkb::Result;
using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A node B behind a KbServer on loopback with the counting proxy in front.
struct Target {
  explicit Target(const fs::path& dir) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    kb = deepkb::kb::KnowledgeBase::Open(dir.string()).value();
    keys = deepkb::auth::ApiKeys::Open((dir / "kb.db").string()).value();
    key = keys->Create("writer", {}, 0).value();
    deepkb::server::ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.threads = 4;
    so.rate_limit = 0;
    srv = std::make_unique<deepkb::server::KbServer>(*kb, *keys, so);
    port = srv->Bind().value();
    thread = std::thread([this] { (void)srv->Serve(); });
  }
  ~Target() {
    srv->Stop();
    thread.join();
  }
  std::unique_ptr<deepkb::kb::KnowledgeBase> kb;
  std::unique_ptr<deepkb::auth::ApiKeys> keys;
  std::unique_ptr<deepkb::server::KbServer> srv;
  std::thread thread;
  int port = 0;
  std::string key;
};

struct Measured {
  double seconds = 0;
  size_t wire_up = 0, wire_down = 0;
  int64_t json_bytes = 0, applied = 0;
};

Measured Push(deepkb::kb::KnowledgeBase& a, Target& b, bool gzip) {
  deepkb::testing::CuttingProxy proxy(b.port, SIZE_MAX);
  deepkb::sync::SyncOptions o;
  o.peer.url = proxy.url();
  o.peer.api_key = b.key;
  o.peer.compress = gzip;
  o.direction = deepkb::sync::Direction::kPush;
  o.batch = 200;
  const auto t0 = Clock::now();
  auto r = deepkb::sync::SyncOnce(a, o);
  Measured m;
  m.seconds = Since(t0);
  if (!r.ok()) {
    std::fprintf(stderr, "sync failed: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  m.wire_up = proxy.bytes_up();
  m.wire_down = proxy.bytes_down();
  m.json_bytes = r->push.bytes;
  m.applied = r->push.applied;
  return m;
}

nlohmann::json ToJson(const Measured& m) {
  return {{"seconds", m.seconds}, {"wire_bytes_up", m.wire_up}, {"wire_bytes_down", m.wire_down},
          {"wire_bytes", m.wire_up + m.wire_down}, {"json_bytes", m.json_bytes},
          {"applied", m.applied}};
}

}  // namespace

int main(int argc, char** argv) {
  int docs = 10000;
  std::string work = "/tmp/deepkb-bench/sync", json_out;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    if (f == "--docs") docs = std::atoi(argv[i + 1]);
    else if (f == "--work-dir") work = argv[i + 1];
    else if (f == "--json") json_out = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: sync_bench [--docs N] [--work-dir DIR] [--json FILE]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  auto vocab = deepkb::bench::LoadVocabulary(deepkb::bench::DefaultVocabularyPath());
  if (!vocab.ok()) {
    std::fprintf(stderr, "%s\n", vocab.status().ToString().c_str());
    return 1;
  }
  deepkb::bench::CorpusOptions copts;
  copts.sections_per_doc = 1;  // one chunk of 150-400 tokens per document
  deepkb::bench::CorpusGenerator gen(*vocab, copts);

  const fs::path a_dir = fs::path(work) / "a";
  fs::remove_all(a_dir);
  fs::create_directories(a_dir);
  auto a = deepkb::kb::KnowledgeBase::Open(a_dir.string()).value();
  (void)a->CreateCollection({.name = "bench"}).value();
  auto put = [&](uint64_t index, const std::string& suffix) {
    auto d = gen.Document(index);
    deepkb::kb::PutDocumentRequest r;
    r.collection = "bench";
    r.doc_id = d.doc_id;
    r.bytes = d.markdown + suffix;
    r.file_name = d.doc_id + ".md";
    auto res = a->PutDocument(r);
    if (!res.ok()) {
      std::fprintf(stderr, "put: %s\n", res.status().ToString().c_str());
      std::exit(1);
    }
  };
  auto t0 = Clock::now();
  int64_t text_bytes = 0;
  for (int i = 0; i < docs; ++i) {
    put(static_cast<uint64_t>(i), "");
    text_bytes += static_cast<int64_t>(gen.Document(static_cast<uint64_t>(i)).markdown.size());
  }
  const double ingest_s = Since(t0);
  std::printf("A: %d documents (%.1f MB of Markdown, one chunk each, ngram-hash vectors) "
              "ingested in %.1f s\n", docs, static_cast<double>(text_bytes) / 1e6, ingest_s);

  nlohmann::json out{{"docs", docs}, {"markdown_bytes", text_bytes}, {"ingest_seconds", ingest_s}};
  int round = 0;
  for (bool gzip : {true, false}) {
    Target b(fs::path(work) / (gzip ? "b-gzip" : "b-plain"));
    const Measured full = Push(*a, b, gzip);
    // 1% of the documents change (a line appended), spread over the corpus.
    const int step = 100;
    int changed = 0;
    for (int i = round; i < docs; i += step, ++changed) {
      put(static_cast<uint64_t>(i), "\n\nRevised in round " + std::to_string(round) + ".\n");
    }
    ++round;
    const Measured inc = Push(*a, b, gzip);
    const double ratio = static_cast<double>(inc.wire_up + inc.wire_down) /
                         static_cast<double>(full.wire_up + full.wire_down);
    std::printf("gzip %-3s full copy: %lld versions in %.2f s (%.0f docs/s), wire %.2f MB "
                "(up %.2f, down %.2f), JSON %.2f MB\n",
                gzip ? "on" : "off", static_cast<long long>(full.applied), full.seconds,
                static_cast<double>(full.applied) / full.seconds,
                static_cast<double>(full.wire_up + full.wire_down) / 1e6,
                static_cast<double>(full.wire_up) / 1e6, static_cast<double>(full.wire_down) / 1e6,
                static_cast<double>(full.json_bytes) / 1e6);
    std::printf("gzip %-3s 1%% changed: %lld versions in %.2f s, wire %.3f MB = %.2f%% of the "
                "full copy, JSON %.3f MB\n",
                gzip ? "on" : "off", static_cast<long long>(inc.applied), inc.seconds,
                static_cast<double>(inc.wire_up + inc.wire_down) / 1e6, 100 * ratio,
                static_cast<double>(inc.json_bytes) / 1e6);
    out[gzip ? "gzip" : "plain"] = {{"full", ToJson(full)}, {"one_percent", ToJson(inc)},
                                    {"changed_docs", changed}, {"ratio", ratio}};
  }
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}
