// keyword_bench: ingest throughput, index update time and keyword search latency of a
// KnowledgeBase holding a synthetic corpus (corpus_gen.h) of a given size in chunks.
//
// Phases (bench/README.md has the details and the measured results):
//  1. Build: documents of 10 chunks are written through kb::KnowledgeBase::PutDocument — the
//     real write path (Markdown parse → chunk → embed → one SQLite transaction with the
//     document row, chunks, vectors, FTS5 rows and change-log entry, committed with WAL +
//     synchronous=FULL → HNSW insert). Every `--parse-sample`-th document is also parsed,
//     chunked, analysed and embedded on the side (outside PutDocument) to estimate the share of
//     those steps in PutDocument time. Search runs with mode "keyword".
//     With --reuse, a complete KB of the same size and corpus parameters in the work dir is
//     reused (its build figures come from its manifest); an interrupted build is resumed.
//  2. Search: `--warmup` unmeasured queries, then `--queries` measured ones, single-threaded,
//     through KnowledgeBase::Search (query analysis + FTS5 bm25 top-k + chunk/document fetch).
//     Queries come in four classes (rare_single, common_multi, zh_multi, mixed), equally many
//     of each, in a seeded shuffled order.
//  3. Analysis (--analyze N, after the timed run, not part of the latency figures): for the first
//     N measured queries, the number of rows the FTS5 MATCH expression matches — the rows bm25
//     has to score — and the time of three SQL statements that split the search cost (count
//     only; bm25 top-k; the full FtsIndex::Search statement), on a second connection, plus
//     two what-if variants (AND instead of OR; without clauses matching > 50% of rows).
//  4. Update: `--update-docs` existing documents (spread over the corpus) are replaced by
//     different content of the same size and then restored (2 x update-docs PutDocument calls
//     on the update path: unindex old rows + index new rows), measuring index maintenance on an
//     index of the full size. The restore brings the KB back to the corpus content.
//  5. GetCollection latency, sizes, and an fdatasync probe of the work dir's disk.
// --sqlite-cache-mb, --sqlite-mmap-mb and --fts-automerge are what-if switches for tuning
// experiments; they are off by default.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_lock.h"
#include "common/hash.h"
#include "common/status.h"
#include "corpus_gen.h"
#include "keyword_queries.h"
#include "embed/embedder.h"
#include "index/fulltext/analyzer.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/query_builder.h"
#include "kb/kb.h"
#include "storage/schema.h"
#include "storage/sqlite.h"
#include "text/chunker.h"
#include "text/document.h"

namespace deepkb::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr int kManifestFormat = 1;
constexpr const char* kCollection = "bench";

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time of the calling thread in ms. Wall time minus CPU time is time spent waiting: for I/O
// or, on a busy machine, for a core — the report shows both so contention is visible.
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ProcessCpuMs() {  // all threads: the writer plus the KB's background applier
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// What-if SQLite settings (--sqlite-cache-mb, --sqlite-mmap-mb): applied to every connection the
// process opens — the KB's included — through an auto-extension, to measure what a larger page
// cache or memory-mapped I/O would change. Off by default: the headline figures use the KB's own
// settings.

int g_cache_mb = 0;
int g_mmap_mb = 0;
int g_wal_autocheckpoint = -1;

int ApplyWhatIfPragmas(sqlite3* db, char** /*err*/, const sqlite3_api_routines* /*api*/) {
  std::string sql;
  if (g_cache_mb > 0) sql += "PRAGMA cache_size=-" + std::to_string(g_cache_mb * 1024) + ";";
  if (g_mmap_mb > 0) {
    sql += "PRAGMA mmap_size=" + std::to_string(static_cast<int64_t>(g_mmap_mb) << 20) + ";";
  }
  if (g_wal_autocheckpoint >= 0) {
    sql += "PRAGMA wal_autocheckpoint=" + std::to_string(g_wal_autocheckpoint) + ";";
  }
  if (!sql.empty()) sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  return SQLITE_OK;
}

// ---------------------------------------------------------------------------------------------
// Flags

struct Flags {
  int64_t chunks = 10000;
  std::string work_dir = "/tmp/deepkb-bench";
  bool reuse = false;
  int queries = 1000;
  int warmup = 200;
  int top_k = 10;
  uint64_t seed = CorpusOptions{}.seed;
  uint64_t query_seed = 7;
  std::string vocab = DefaultVocabularyPath();
  std::string json_path;  // "" none, "-" stdout
  int analyze = 1000;  // measured queries analysed after the run (matched rows, SQL split)
  int update_docs = 100;
  int parse_sample = 10;  // every Nth document is also parsed+chunked on the side
  bool quiet = false;
  int sqlite_cache_mb = 0;  // what-if: PRAGMA cache_size on every connection (0 = KB default)
  int sqlite_mmap_mb = 0;   // what-if: PRAGMA mmap_size
  int sqlite_wal_autocheckpoint = -1;  // what-if: PRAGMA wal_autocheckpoint (-1 = default)
  int fts_automerge = -1;   // what-if: FTS5 'automerge' of a newly built index (-1 = default)
  int64_t vector_queue = -1;  // KbOptions::vector_queue (-1 = the KB's default)
  bool foreground_checkpoints = false;  // KbOptions::background_checkpoints = false
};

const char* kUsage =
    "usage: keyword_bench [--chunks N] [--work-dir DIR] [--reuse] [--queries N] [--warmup N]\n"
    "                     [--top-k N] [--seed N] [--query-seed N] [--vocab FILE]\n"
    "                     [--update-docs N] [--parse-sample N] [--analyze N] [--json FILE|-]\n"
    "                     [--sqlite-cache-mb N] [--sqlite-mmap-mb N] [--fts-automerge N]\n"
    "                     [--vector-queue N] [--foreground-checkpoints] [--quiet]\n"
    "  --chunks N        KB size in chunks (documents of 10 chunks; default 10000)\n"
    "  --work-dir DIR    KBs live in DIR/chunks-N (default /tmp/deepkb-bench)\n"
    "  --reuse           reuse a complete KB of the same size/corpus, resume a partial one\n"
    "  --queries N       measured queries (default 1000; 0 skips the search phase)\n"
    "  --warmup N        unmeasured warm-up queries (default 200)\n"
    "  --top-k N         hits per query (default 10)\n"
    "  --update-docs N   documents replaced and restored in the update phase (default 100)\n"
    "  --parse-sample N  parse+chunk every Nth document on the side (default 10; 0 = never)\n"
    "  --analyze N       after the timed run, analyse the first N measured queries: rows\n"
    "                    matched and SQL cost split (default 1000; 0 = skip)\n"
    "  --json FILE|-     also write the results as JSON\n"
    "  --sqlite-cache-mb N, --sqlite-mmap-mb N, --sqlite-wal-autocheckpoint N\n"
    "                    what-if: set PRAGMA cache_size / mmap_size / wal_autocheckpoint on\n"
    "                    every connection, the KB's included (default: the KB's own settings)\n"
    "  --fts-automerge N what-if: FTS5 'automerge' setting (0-16) of a newly built index\n"
    "  --vector-queue N  vector changes the KB may queue for its background graph applier\n"
    "                    (default: the KB's, 8192; 0 = each write inserts into the graph\n"
    "                    itself, as before the applier)\n"
    "  --foreground-checkpoints  WAL checkpoints inside the commits (SQLite's default)\n"
    "                    instead of the KB's background checkpoint thread\n";

Result<int64_t> ParseInt(std::string_view name, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi) {
    return InvalidArgumentError(std::string(name) + " must be an integer in [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                                v + "'");
  }
  return static_cast<int64_t>(x);
}

Result<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto value = [&]() -> Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) return InvalidArgumentError(arg + " needs a value");
      return std::string(argv[++i]);
    };
    auto integer = [&](int64_t lo, int64_t hi) -> Result<int64_t> {
      ASSIGN_OR_RETURN(std::string v, value());
      return ParseInt(arg, v, lo, hi);
    };
    if (arg == "--chunks") {
      ASSIGN_OR_RETURN(f.chunks, integer(1, 100'000'000));
    } else if (arg == "--work-dir") {
      ASSIGN_OR_RETURN(f.work_dir, value());
    } else if (arg == "--reuse") {
      f.reuse = true;
    } else if (arg == "--queries") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 10'000'000));
      f.queries = static_cast<int>(v);
    } else if (arg == "--warmup") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 10'000'000));
      f.warmup = static_cast<int>(v);
    } else if (arg == "--top-k") {
      ASSIGN_OR_RETURN(int64_t v, integer(1, 1000));
      f.top_k = static_cast<int>(v);
    } else if (arg == "--seed") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, INT64_MAX));
      f.seed = static_cast<uint64_t>(v);
    } else if (arg == "--query-seed") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, INT64_MAX));
      f.query_seed = static_cast<uint64_t>(v);
    } else if (arg == "--vocab") {
      ASSIGN_OR_RETURN(f.vocab, value());
    } else if (arg == "--json") {
      ASSIGN_OR_RETURN(f.json_path, value());
    } else if (arg == "--analyze") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 10'000'000));
      f.analyze = static_cast<int>(v);
    } else if (arg == "--update-docs") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 1'000'000));
      f.update_docs = static_cast<int>(v);
    } else if (arg == "--parse-sample") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 1'000'000));
      f.parse_sample = static_cast<int>(v);
    } else if (arg == "--sqlite-cache-mb") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 1'000'000));
      f.sqlite_cache_mb = static_cast<int>(v);
    } else if (arg == "--sqlite-wal-autocheckpoint") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 1'000'000'000));
      f.sqlite_wal_autocheckpoint = static_cast<int>(v);
    } else if (arg == "--sqlite-mmap-mb") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 1'000'000));
      f.sqlite_mmap_mb = static_cast<int>(v);
    } else if (arg == "--fts-automerge") {
      ASSIGN_OR_RETURN(int64_t v, integer(0, 16));
      f.fts_automerge = static_cast<int>(v);
    } else if (arg == "--foreground-checkpoints") {
      f.foreground_checkpoints = true;
    } else if (arg == "--vector-queue") {
      ASSIGN_OR_RETURN(f.vector_queue, integer(0, 100'000'000));
    } else if (arg == "--quiet") {
      f.quiet = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      return InvalidArgumentError("unknown argument '" + arg + "'");
    }
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct Summary {
  size_t n = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, sum = 0;
};

// Nearest-rank percentiles.
Summary Summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  };
  s.sum = std::accumulate(v.begin(), v.end(), 0.0);
  s.mean = s.sum / static_cast<double>(v.size());
  s.p50 = pct(50);
  s.p90 = pct(90);
  s.p99 = pct(99);
  s.max = v.back();
  return s;
}

json ToJson(const Summary& s) {
  return json{{"n", s.n}, {"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90},
              {"p99", s.p99}, {"max", s.max}};
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Environment

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string m = line.substr(colon + 1);
        m.erase(0, m.find_first_not_of(' '));
        return m;
      }
    }
  }
  return "unknown";
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The three load averages from /proc/loadavg ("" when unavailable): other processes on the
// machine skew every figure, so the report records them.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return "";
  return a + " " + b + " " + c;
}

int64_t FileSize(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

// Latency of a 4 KiB write + fdatasync in `dir`, `n` times: the floor of a durable commit
// (every PutDocument commits with synchronous=FULL, i.e. at least one WAL sync).
Result<Summary> ProbeFsync(const fs::path& dir, int n) {
  const fs::path path = dir / "fsync_probe.tmp";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return InternalError("cannot create " + path.string());
  const std::string block(4096, 'x');
  std::vector<double> ms;
  Status st;
  for (int i = 0; i < n && st.ok(); ++i) {
    const auto t0 = Clock::now();
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * 4096) !=
            static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      st = InternalError("write/fdatasync failed on " + path.string());
    }
    ms.push_back(MsSince(t0));
  }
  ::close(fd);
  std::error_code ec;
  fs::remove(path, ec);
  if (!st.ok()) return st;
  return Summarize(std::move(ms));
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------------------------
// Build (ingest)

struct IngestStats {
  int64_t docs = 0;
  int64_t chunks = 0;
  int64_t bytes = 0;
  int64_t resumed_from_doc = 0;
  double put_seconds = 0;   // sum of PutDocument wall times
  double put_cpu_seconds = 0;  // CPU time of this thread inside PutDocument
  double loop_seconds = 0;  // wall time of the whole loop (generation + side parsing included)
  // After the last PutDocument: the wait until the background applier has put every vector into
  // the graph (0 without a queue). Writes are searchable before, but the work is part of the cost.
  double catchup_seconds = 0;
  double process_cpu_seconds = 0;  // CPU of all threads from the loop's start to the catch-up
  size_t max_queue = 0;            // vector changes queued, sampled per 1,000 chunks
  std::vector<double> doc_ms;          // PutDocument wall time per document
  std::vector<double> per_1k_ms;       // PutDocument time of each consecutive 1,000 chunks
  int64_t parse_sample_docs = 0;
  int64_t parse_sample_chunks = 0;
  double parse_sample_ms = 0;          // parse + chunk time of the sampled documents
  double tokenize_sample_ms = 0;       // analyzer time over their chunks' indexed columns
  double embed_sample_ms = 0;          // embedder time over their chunks' texts
  int64_t tokenize_sample_terms = 0;
};

json IngestJson(const IngestStats& s) {
  json j;
  j["docs"] = s.docs;
  j["chunks"] = s.chunks;
  j["bytes"] = s.bytes;
  j["resumed_from_doc"] = s.resumed_from_doc;
  j["put_seconds"] = s.put_seconds;
  j["put_cpu_seconds"] = s.put_cpu_seconds;
  j["loop_seconds"] = s.loop_seconds;
  j["vector_catchup_seconds"] = s.catchup_seconds;
  j["process_cpu_seconds"] = s.process_cpu_seconds;
  j["vector_queue_max_seen"] = s.max_queue;
  if (s.chunks > 0) {
    // Every index complete: the PutDocument time plus the final catch-up, per 1,000 chunks.
    j["complete_ms_per_1k_chunks"] =
        (s.put_seconds + s.catchup_seconds) * 1e6 / static_cast<double>(s.chunks);
  }
  const double secs = std::max(s.put_seconds, 1e-9);
  j["docs_per_s"] = static_cast<double>(s.docs) / secs;
  j["chunks_per_s"] = static_cast<double>(s.chunks) / secs;
  j["mb_per_s"] = static_cast<double>(s.bytes) / 1e6 / secs;
  j["put_ms_per_doc"] = ToJson(Summarize(s.doc_ms));
  j["put_ms_per_1k_chunks"] = ToJson(Summarize(s.per_1k_ms));
  if (s.parse_sample_chunks > 0) {
    const double parse_per_chunk = s.parse_sample_ms / static_cast<double>(s.parse_sample_chunks);
    const double put_per_chunk = s.put_seconds * 1000.0 / static_cast<double>(s.chunks);
    j["parse_chunk_ms_per_1k_chunks"] = parse_per_chunk * 1000.0;
    const double embed_per_chunk = s.embed_sample_ms / static_cast<double>(s.parse_sample_chunks);
    // The rest of PutDocument: collection lookup, the write transaction (rows + FTS5 index) and,
    // with a vector index, the HNSW insert after the commit.
    j["write_tx_ms_per_1k_chunks_est"] =
        (put_per_chunk - parse_per_chunk - embed_per_chunk) * 1000.0;
    j["parse_sample_docs"] = s.parse_sample_docs;
    j["tokenize_ms_per_1k_chunks"] =
        s.tokenize_sample_ms / static_cast<double>(s.parse_sample_chunks) * 1000.0;
    j["terms_per_chunk"] = static_cast<double>(s.tokenize_sample_terms) /
                           static_cast<double>(s.parse_sample_chunks);
    j["embed_ms_per_1k_chunks"] =
        s.embed_sample_ms / static_cast<double>(s.parse_sample_chunks) * 1000.0;
  }
  // Mean PutDocument time per 1,000 chunks in each tenth of the build: how index size changes
  // the cost of adding to it.
  if (s.per_1k_ms.size() >= 10) {
    json deciles = json::array();
    const size_t n = s.per_1k_ms.size();
    for (size_t d = 0; d < 10; ++d) {
      const size_t b = n * d / 10, e = n * (d + 1) / 10;
      double sum = 0;
      for (size_t i = b; i < e; ++i) sum += s.per_1k_ms[i];
      deciles.push_back(sum / static_cast<double>(e - b));
    }
    j["put_ms_per_1k_chunks_by_decile"] = deciles;
  }
  return j;
}

class Bench {
 public:
  Bench(Flags flags, CorpusGenerator gen, std::string vocab_sha)
      : flags_(std::move(flags)), gen_(std::move(gen)), vocab_sha_(std::move(vocab_sha)) {}

  Status Run();

 private:
  int64_t TargetDocs() const {
    const int per = gen_.options().sections_per_doc;
    return (flags_.chunks + per - 1) / per;
  }
  json CorpusParams() const;
  Status PrepareKb();
  Status Ingest(int64_t first_doc);
  Status WriteManifest(bool complete);
  Status SearchPhase();
  Status AnalyzeQueries();
  Status UpdatePhase();
  // Puts back the corpus content of the first `n` documents of the update set.
  Status RestoreUpdateSet(int64_t n, std::vector<double>* doc_ms, int64_t* chunks);
  int64_t UpdateStride(int64_t n) const { return std::max<int64_t>(1, TargetDocs() / n); }
  Status SizePhase();
  void Log(const std::string& line) const {
    if (!flags_.quiet) std::fprintf(stderr, "%s\n", line.c_str());
  }

  Flags flags_;
  CorpusGenerator gen_;
  std::string vocab_sha_;
  fs::path dir_;
  std::unique_ptr<DirLock> lock_;
  std::unique_ptr<kb::KnowledgeBase> kb_;
  std::unique_ptr<embed::Embedder> embedder_;  // for sampling the embedding cost
  int64_t collection_id_ = 0;
  size_t vector_queue_ = 0;  // the KB's KbOptions::vector_queue in this run
  int64_t update_in_progress_ = 0;  // documents of an update phase not yet restored

  std::optional<IngestStats> ingest_;    // measured in this run
  json ingest_json_;                     // this run's, or the manifest's when reused
  std::string ingest_source_ = "none";
  json corpus_json_;
  json search_json_;
  json update_json_;
  json size_json_;
  Summary get_collection_;

  struct QueryRun {
    std::string cls;
    std::string text;
    double ms = 0;      // wall time of KnowledgeBase::Search
    double cpu_ms = 0;  // CPU time of this thread during it
    size_t hits = 0;
    int64_t matches = -1;  // rows the MATCH expression matches (-1: not analysed)
    double count_ms = -1, rank_ms = -1, fts_ms = -1;
    int clauses = 0, prefix_clauses = 0;
    // What-if analysis: bm25 top-k with AND semantics / without clauses matching > 50% of rows.
    double and_rank_ms = -1, pruned_rank_ms = -1;
    int64_t and_matches = -1, pruned_matches = -1;
    int dropped_clauses = 0;
  };
  std::vector<QueryRun> runs_;
};

json Bench::CorpusParams() const {
  const CorpusOptions& o = gen_.options();
  return json{{"format", kManifestFormat},
              {"seed", o.seed},
              {"zipf_s", o.zipf_s},
              {"sections_per_doc", o.sections_per_doc},
              {"min_tokens", o.min_tokens},
              {"max_tokens", o.max_tokens},
              {"zh_sentence_ratio", o.zh_sentence_ratio},
              {"code_switch_ratio", o.code_switch_ratio},
              {"code_switch_id_share", o.code_switch_id_share},
              {"en_identifier_ratio", o.en_identifier_ratio},
              {"vocab_sha256", vocab_sha_},
              // A KB written by another schema (e.g. before chunk vectors existed) is rebuilt,
              // not migrated: its write path was a different one.
              {"kb_schema_version", storage::kSchemaVersion},
              {"docs", TargetDocs()}};
}

Status Bench::WriteManifest(bool complete) {
  json m;
  m["corpus"] = CorpusParams();
  m["complete"] = complete;
  m["written_at"] = UtcNow();
  if (ingest_) {
    m["ingest"] = IngestJson(*ingest_);
  } else if (ingest_json_.is_object()) {
    m["ingest"] = ingest_json_;
  }
  if (update_in_progress_ > 0) m["update_in_progress"] = update_in_progress_;
  const fs::path tmp = dir_ / "bench_manifest.json.tmp";
  {
    std::ofstream out(tmp);
    out << m.dump(2) << "\n";
    if (!out) return InternalError("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, dir_ / "bench_manifest.json", ec);
  if (ec) return InternalError("cannot rename manifest: " + ec.message());
  return Status::Ok();
}

Status Bench::PrepareKb() {
  dir_ = fs::path(flags_.work_dir) / ("chunks-" + std::to_string(flags_.chunks));
  const fs::path manifest_path = dir_ / "bench_manifest.json";
  int64_t first_doc = 0;
  bool complete = false;
  if (flags_.reuse && fs::exists(manifest_path)) {
    auto text = ReadFile(manifest_path.string());
    json m = text.ok() ? json::parse(*text, nullptr, false) : json();
    if (m.is_object() && m.value("corpus", json()) == CorpusParams()) {
      complete = m.value("complete", false);
      update_in_progress_ = m.value("update_in_progress", int64_t{0});
      if (complete && m.contains("ingest")) {
        ingest_json_ = m["ingest"];
        ingest_source_ = "manifest (" + m.value("written_at", std::string("?")) + ")";
      }
    } else {
      Log("manifest in " + dir_.string() + " does not match these corpus parameters: rebuilding");
    }
    if (!m.is_object() || m.value("corpus", json()) != CorpusParams()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) return InternalError("cannot clear " + dir_.string() + ": " + ec.message());
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return InternalError("cannot create " + dir_.string() + ": " + ec.message());
  ASSIGN_OR_RETURN(lock_, DirLock::Acquire(dir_.string(), DirLock::Mode::kExclusive));
  kb::KbOptions kb_opts;
  if (flags_.vector_queue >= 0) kb_opts.vector_queue = static_cast<size_t>(flags_.vector_queue);
  vector_queue_ = kb_opts.vector_queue;
  kb_opts.background_checkpoints = !flags_.foreground_checkpoints;
  ASSIGN_OR_RETURN(kb_, kb::KnowledgeBase::Open(dir_.string(), kb_opts));
  auto coll = kb_->GetCollection(kCollection);
  if (!coll.ok()) {
    if (coll.status().code() != StatusCode::kNotFound) return coll.status();
    kb::CreateCollectionRequest req;
    req.name = kCollection;  // default chunking: 512 tokens, 64 overlap
    ASSIGN_OR_RETURN(coll, kb_->CreateCollection(req));
    if (flags_.fts_automerge >= 0) {
      // A persistent FTS5 setting, stored in the index; the KB's connection picks it up.
      ASSIGN_OR_RETURN(auto db, storage::Database::Open((dir_ / "kb.db").string()));
      RETURN_IF_ERROR(fulltext::RegisterFts5Tokenizer(db->handle()));
      const std::string t = "fts_" + std::to_string(coll->id);
      RETURN_IF_ERROR(db->Exec("INSERT INTO " + t + "(" + t + ", rank) VALUES('automerge', " +
                               std::to_string(flags_.fts_automerge) + ")"));
    }
    RETURN_IF_ERROR(WriteManifest(false));
  }
  collection_id_ = coll->id;
  if (!complete) {
    if (!coll->embedder.empty()) {
      auto e = embed::MakeEmbedder(coll->embedder);
      if (e.ok()) embedder_ = std::move(e).value();
    }
    first_doc = coll->documents;
    if (first_doc > 0) Log("resuming the build at document " + std::to_string(first_doc));
    RETURN_IF_ERROR(Ingest(first_doc));
    RETURN_IF_ERROR(WriteManifest(true));
    ingest_json_ = IngestJson(*ingest_);
    ingest_json_["vector_queue_limit"] = vector_queue_;
    ingest_source_ = first_doc > 0 ? "this run (resumed)" : "this run";
  } else {
    Log("reusing " + dir_.string());
  }
  if (update_in_progress_ > 0) {
    Log("an earlier update phase was interrupted: restoring its documents");
    RETURN_IF_ERROR(RestoreUpdateSet(update_in_progress_, nullptr, nullptr));
    update_in_progress_ = 0;
    RETURN_IF_ERROR(WriteManifest(true));
  }
  ASSIGN_OR_RETURN(coll, kb_->GetCollection(kCollection));
  corpus_json_ = CorpusParams();
  corpus_json_["chunks_in_kb"] = coll->chunks;
  corpus_json_["docs_in_kb"] = coll->documents;
  corpus_json_["vocab_path"] = flags_.vocab;
  corpus_json_["vocab_sizes"] = {{"zh", gen_.vocab().zh.size()},
                                 {"en", gen_.vocab().en.size()},
                                 {"id", gen_.vocab().id.size()}};
  if (coll->documents != TargetDocs()) {
    return InternalError("KB holds " + std::to_string(coll->documents) + " documents, expected " +
                         std::to_string(TargetDocs()));
  }
  return Status::Ok();
}

Status Bench::Ingest(int64_t first_doc) {
  IngestStats s;
  s.resumed_from_doc = first_doc;
  const int64_t docs = TargetDocs();
  const int64_t report_every = std::max<int64_t>(1, (docs - first_doc) / 20);
  const auto loop_start = Clock::now();
  const double process_cpu0 = ProcessCpuMs();
  double batch_ms = 0;
  int64_t batch_chunks = 0;
  int64_t body_tokens = 0;
  for (int64_t i = first_doc; i < docs; ++i) {
    const GeneratedDocument doc = gen_.Document(static_cast<uint64_t>(i));
    body_tokens += doc.body_tokens;
    if (flags_.parse_sample > 0 && i % flags_.parse_sample == 0) {
      const auto t0 = Clock::now();
      ASSIGN_OR_RETURN(text::ParsedDocument parsed,
                       text::Parse(doc.markdown, text::Format::kMarkdown));
      const auto chunks = text::ChunkDocument(parsed, text::ChunkOptions{});
      s.parse_sample_ms += MsSince(t0);
      s.parse_sample_chunks += static_cast<int64_t>(chunks.size());
      ++s.parse_sample_docs;
      // The analysis FTS5 runs on insert: the three indexed columns of every chunk (the
      // document title is indexed with each chunk).
      const auto t1 = Clock::now();
      size_t terms = 0;
      const auto count_term = [&terms](const fulltext::Term&) {
        ++terms;
        return true;
      };
      for (const auto& c : chunks) {
        fulltext::AnalyzeDocument(doc.title, count_term);
        fulltext::AnalyzeDocument(c.heading_path, count_term);
        fulltext::AnalyzeDocument(c.text, count_term);
      }
      s.tokenize_sample_ms += MsSince(t1);
      s.tokenize_sample_terms += static_cast<int64_t>(terms);
      // The embedding PutDocument computes for the collection's embedder (ngram-hash).
      if (embedder_) {
        std::vector<std::string> texts;
        for (const auto& c : chunks) texts.push_back(c.text);
        const auto t2 = Clock::now();
        auto vectors = embedder_->Embed(texts);
        s.embed_sample_ms += MsSince(t2);
        if (!vectors.ok()) return vectors.status().WithContext("sample embedding");
      }
    }
    kb::PutDocumentRequest req;
    req.collection = kCollection;
    req.doc_id = doc.doc_id;
    req.bytes = doc.markdown;
    req.format = text::Format::kMarkdown;
    req.file_name = doc.doc_id + ".md";
    req.source = "keyword_bench";
    const double cpu0 = ThreadCpuMs();
    const auto t0 = Clock::now();
    auto put = kb_->PutDocument(req);
    const double ms = MsSince(t0);
    s.put_cpu_seconds += (ThreadCpuMs() - cpu0) / 1000.0;
    if (!put.ok()) return put.status().WithContext("PutDocument " + doc.doc_id);
    if (put->outcome != kb::PutResult::Outcome::kCreated) {
      return InternalError("PutDocument " + doc.doc_id + ": expected a new document, got " +
                           std::string(kb::OutcomeName(put->outcome)));
    }
    s.doc_ms.push_back(ms);
    s.put_seconds += ms / 1000.0;
    s.chunks += put->chunks;
    s.bytes += static_cast<int64_t>(doc.markdown.size());
    ++s.docs;
    batch_ms += ms;
    batch_chunks += put->chunks;
    if (batch_chunks >= 1000) {
      s.max_queue = std::max(s.max_queue, kb_->VectorQueueLength());
      s.per_1k_ms.push_back(batch_ms * 1000.0 / static_cast<double>(batch_chunks));
      batch_ms = 0;
      batch_chunks = 0;
    }
    if ((i - first_doc + 1) % report_every == 0 || i + 1 == docs) {
      char line[200];
      std::snprintf(line, sizeof(line),
                    "  ingest %lld/%lld docs, %lld chunks, %.0f chunks/s (PutDocument time), "
                    "%.1f s elapsed",
                    static_cast<long long>(i + 1), static_cast<long long>(docs),
                    static_cast<long long>(s.chunks),
                    static_cast<double>(s.chunks) / std::max(s.put_seconds, 1e-9),
                    MsSince(loop_start) / 1000.0);
      Log(line);
    }
  }
  s.loop_seconds = MsSince(loop_start) / 1000.0;
  const auto catchup0 = Clock::now();
  kb_->WaitForVectorIndex();
  s.catchup_seconds = MsSince(catchup0) / 1000.0;
  s.process_cpu_seconds = (ProcessCpuMs() - process_cpu0) / 1000.0;
  if (s.chunks > 0) {
    Log("  mean estimated tokens per chunk body: " +
        Fmt("%.0f", static_cast<double>(body_tokens) / static_cast<double>(s.chunks)));
  }
  ingest_ = std::move(s);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Queries

// The query generator lives in keyword_queries.{h,cc} (shared with keyword_accel_bench).
using Query = KeywordQuery;

std::vector<Query> MakeQueries(const CorpusGenerator& gen, uint64_t seed, int n) {
  return MakeKeywordQueries(gen, seed, n);
}

Status Bench::SearchPhase() {
  const auto warm = MakeQueries(gen_, MixSeed(flags_.query_seed, 1), flags_.warmup);
  const auto measured = MakeQueries(gen_, MixSeed(flags_.query_seed, 2), flags_.queries);
  kb::SearchRequest req;
  req.collection = kCollection;
  req.mode = "keyword";  // this benchmark measures the keyword path only
  req.top_k = flags_.top_k;
  for (const Query& q : warm) {
    req.query = q.text;
    auto r = kb_->Search(req);
    if (!r.ok()) return r.status().WithContext("warm-up query '" + q.text + "'");
  }
  Log("  " + std::to_string(warm.size()) + " warm-up queries done");
  runs_.clear();
  for (const Query& q : measured) {
    req.query = q.text;
    const double cpu0 = ThreadCpuMs();
    const auto t0 = Clock::now();
    auto r = kb_->Search(req);
    const double ms = MsSince(t0);
    const double cpu_ms = ThreadCpuMs() - cpu0;
    if (!r.ok()) return r.status().WithContext("query '" + q.text + "'");
    QueryRun run;
    run.cls = q.cls;
    run.text = q.text;
    run.ms = ms;
    run.cpu_ms = cpu_ms;
    run.hits = r->hits.size();
    runs_.push_back(std::move(run));
  }
  return Status::Ok();
}

// On a second connection, for each measured query: the rows its MATCH expression matches (what
// bm25 has to score) and the time of three SQL statements that split the search cost:
//   count  SELECT count(*) ... MATCH           (doclist reading and merging only)
//   rank   bm25() ORDER BY score LIMIT k        (+ scoring and top-k of every matched row)
//   fts    the statement FtsIndex::Search runs  (+ deepkb_snippet and the document id lookup)
// plus two what-if variants of the bm25 top-k statement (see below).
Status Bench::AnalyzeQueries() {
  ASSIGN_OR_RETURN(auto db, storage::Database::Open((dir_ / "kb.db").string()));
  RETURN_IF_ERROR(fulltext::RegisterFts5Tokenizer(db->handle()));
  const std::string t = "fts_" + std::to_string(collection_id_);
  ASSIGN_OR_RETURN(auto count,
                   db->Prepare("SELECT count(*) FROM " + t + " WHERE " + t + " MATCH ?1"));
  ASSIGN_OR_RETURN(auto rank, db->Prepare("SELECT rowid, bm25(" + t +
                                          ", 4.0, 2.0, 1.0) AS score FROM " + t + " WHERE " + t +
                                          " MATCH ?1 ORDER BY score LIMIT ?2"));
  // Same text as in src/index/fulltext/fts_index.cc (FtsIndex::Search), default weights.
  ASSIGN_OR_RETURN(
      auto fts,
      db->Prepare("SELECT rowid, bm25(" + t + ", 4.0, 2.0, 1.0) AS score, deepkb_snippet(" + t +
                  ", 2, '<mark>', '</mark>', '…', 24, ?3), (SELECT c.document_id FROM chunks c "
                  "WHERE c.id = " + t + ".rowid) FROM " + t + " WHERE " + t +
                  " MATCH ?1 ORDER BY score LIMIT ?2"));
  const size_t n = std::min<size_t>(runs_.size(), static_cast<size_t>(flags_.analyze));
  ASSIGN_OR_RETURN(const int64_t total_rows, db->QueryInt("SELECT count(*) FROM chunks"));
  for (size_t i = 0; i < n; ++i) {
    QueryRun& r = runs_[i];
    const fulltext::MatchQuery mq = fulltext::BuildMatchQuery(r.text);
    if (mq.empty()) {
      r.matches = 0;
      continue;
    }
    std::string prefix_mask;
    for (const auto& c : mq.clauses) {
      if (!c.terms.empty()) {
        prefix_mask.push_back(c.kind == fulltext::QueryClause::Kind::kPrefix ? '1' : '0');
      }
    }
    auto t0 = Clock::now();
    count.Reset();
    count.Bind(1, mq.expression);
    ASSIGN_OR_RETURN(bool row, count.Step());
    r.matches = row ? count.ColumnInt(0) : 0;
    r.count_ms = MsSince(t0);

    t0 = Clock::now();
    rank.Reset();
    rank.Bind(1, mq.expression).Bind(2, static_cast<int64_t>(flags_.top_k));
    RETURN_IF_ERROR(rank.Run());
    r.rank_ms = MsSince(t0);

    t0 = Clock::now();
    fts.Reset();
    fts.Bind(1, mq.expression).Bind(2, static_cast<int64_t>(flags_.top_k)).Bind(3, prefix_mask);
    RETURN_IF_ERROR(fts.Run());
    r.fts_ms = MsSince(t0);
    r.clauses = static_cast<int>(mq.clauses.size());
    for (const auto& c : mq.clauses) {
      if (c.kind == fulltext::QueryClause::Kind::kPrefix) ++r.prefix_clauses;
    }

    // What-if variants (not what the product runs; they quantify alternatives in the README).
    // Clause expressions are built as BuildMatchQuery builds them.
    std::vector<std::string> clause_expr;
    for (const auto& c : mq.clauses) {
      if (c.terms.empty()) continue;
      std::string joined;
      for (const std::string& term : c.terms) {
        if (!joined.empty()) joined.push_back(' ');
        joined += term;
      }
      clause_expr.push_back(fulltext::QuoteFtsString(joined) +
                            (c.kind == fulltext::QueryClause::Kind::kPrefix ? " *" : ""));
    }
    auto join = [](const std::vector<std::string>& parts, const char* op) {
      std::string e;
      for (const std::string& p : parts) e += (e.empty() ? "" : op) + p;
      return e;
    };
    auto time_rank = [&](const std::string& expr, double* ms, int64_t* rows) -> Status {
      count.Reset();
      count.Bind(1, expr);
      ASSIGN_OR_RETURN(bool has, count.Step());
      *rows = has ? count.ColumnInt(0) : 0;
      const auto t1 = Clock::now();
      rank.Reset();
      rank.Bind(1, expr).Bind(2, static_cast<int64_t>(flags_.top_k));
      RETURN_IF_ERROR(rank.Run());
      *ms = MsSince(t1);
      return Status::Ok();
    };
    // (a) AND of all clauses instead of OR.
    RETURN_IF_ERROR(time_rank(join(clause_expr, " AND "), &r.and_rank_ms, &r.and_matches));
    // (b) OR without the clauses that match more than half of all rows: FTS5's bm25 clamps
    //     their IDF to 1e-6, so they do not change the ranking but every row they match is
    //     scored. The rarest clause is kept if all are that common.
    std::vector<std::string> kept;
    std::string rarest;
    int64_t rarest_df = INT64_MAX;
    for (const std::string& e : clause_expr) {
      count.Reset();
      count.Bind(1, e);
      ASSIGN_OR_RETURN(bool has, count.Step());
      const int64_t df = has ? count.ColumnInt(0) : 0;
      if (df * 2 <= total_rows) kept.push_back(e);
      if (df < rarest_df) {
        rarest_df = df;
        rarest = e;
      }
    }
    r.dropped_clauses = static_cast<int>(clause_expr.size() - kept.size());
    if (kept.empty()) kept.push_back(rarest);
    RETURN_IF_ERROR(time_rank(join(kept, " OR "), &r.pruned_rank_ms, &r.pruned_matches));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Update at full size

Status Bench::RestoreUpdateSet(int64_t n, std::vector<double>* doc_ms, int64_t* chunks) {
  const int64_t stride = UpdateStride(n);
  for (int64_t j = 0; j < n; ++j) {
    const GeneratedDocument doc = gen_.Document(static_cast<uint64_t>(j * stride));
    kb::PutDocumentRequest req;
    req.collection = kCollection;
    req.doc_id = doc.doc_id;
    req.bytes = doc.markdown;
    req.format = text::Format::kMarkdown;
    req.file_name = doc.doc_id + ".md";
    req.source = "keyword_bench";
    const auto t0 = Clock::now();
    auto put = kb_->PutDocument(req);
    const double ms = MsSince(t0);
    if (!put.ok()) return put.status().WithContext("restore " + req.doc_id);
    if (doc_ms != nullptr) {
      if (put->outcome != kb::PutResult::Outcome::kUpdated) {
        return InternalError("restore " + req.doc_id + ": expected outcome updated, got " +
                             std::string(kb::OutcomeName(put->outcome)));
      }
      doc_ms->push_back(ms);
      *chunks += put->chunks;
    }
  }
  return Status::Ok();
}

Status Bench::UpdatePhase() {
  const int64_t n = std::min<int64_t>(flags_.update_docs, TargetDocs());
  if (n <= 0) return Status::Ok();
  CorpusOptions variant_opts = gen_.options();
  variant_opts.seed = MixSeed(variant_opts.seed, 0x75706461);  // "upda"
  const CorpusGenerator variant(gen_.vocab(), variant_opts);
  const int64_t stride = UpdateStride(n);
  update_in_progress_ = n;
  RETURN_IF_ERROR(WriteManifest(true));
  std::vector<double> replace_ms, restore_ms;
  int64_t replace_chunks = 0, restore_chunks = 0;
  for (int64_t j = 0; j < n; ++j) {  // replace with different content of the same shape
    const uint64_t index = static_cast<uint64_t>(j * stride);
    GeneratedDocument doc = variant.Document(index);
    kb::PutDocumentRequest req;
    req.collection = kCollection;
    req.doc_id = doc.doc_id;  // same id scheme: doc-<index>
    req.bytes = std::move(doc.markdown);
    req.format = text::Format::kMarkdown;
    req.file_name = req.doc_id + ".md";
    req.source = "keyword_bench";
    const auto t0 = Clock::now();
    auto put = kb_->PutDocument(req);
    const double ms = MsSince(t0);
    if (!put.ok()) return put.status().WithContext("update " + req.doc_id);
    if (put->outcome != kb::PutResult::Outcome::kUpdated) {
      return InternalError("update " + req.doc_id + ": expected outcome updated, got " +
                           std::string(kb::OutcomeName(put->outcome)));
    }
    replace_ms.push_back(ms);
    replace_chunks += put->chunks;
  }
  RETURN_IF_ERROR(RestoreUpdateSet(n, &restore_ms, &restore_chunks));
  const auto catchup0 = Clock::now();
  kb_->WaitForVectorIndex();
  const double catchup_ms = MsSince(catchup0);
  update_in_progress_ = 0;
  RETURN_IF_ERROR(WriteManifest(true));
  std::vector<double> all = replace_ms;
  all.insert(all.end(), restore_ms.begin(), restore_ms.end());
  const double total_ms = std::accumulate(all.begin(), all.end(), 0.0);
  const int64_t chunks = replace_chunks + restore_chunks;
  update_json_ = json{{"docs_updated", static_cast<int64_t>(all.size())},
                      {"chunks_written", chunks},
                      {"ms_per_1k_chunks", total_ms * 1000.0 / static_cast<double>(chunks)},
                      {"vector_catchup_seconds", catchup_ms / 1000.0},
                      {"complete_ms_per_1k_chunks",
                       (total_ms + catchup_ms) * 1000.0 / static_cast<double>(chunks)},
                      {"put_ms_per_doc", ToJson(Summarize(all))}};
  return Status::Ok();
}

Status Bench::SizePhase() {
  ASSIGN_OR_RETURN(auto db, storage::Database::Open((dir_ / "kb.db").string()));
  const std::string data = "fts_" + std::to_string(collection_id_) + "_data";
  ASSIGN_OR_RETURN(int64_t fts_bytes,
                   db->QueryInt("SELECT coalesce(sum(length(block)), 0) FROM " + data));
  ASSIGN_OR_RETURN(int64_t text_bytes,
                   db->QueryInt("SELECT coalesce(sum(length(CAST(text AS BLOB))), 0) FROM chunks"));
  int64_t snapshot_bytes = 0;  // vector index snapshots (<dir>/index/*.hnsw), if any
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ / "index", ec)) {
    snapshot_bytes += FileSize(e.path());
  }
  size_json_ = json{{"kb_db_bytes", FileSize(dir_ / "kb.db")},
                    {"vector_snapshot_bytes", snapshot_bytes},
                    {"wal_bytes", FileSize(dir_ / "kb.db-wal")},
                    {"fts_index_bytes", fts_bytes},
                    {"chunk_text_bytes", text_bytes}};
  return Status::Ok();
}

Status Bench::Run() {
  const auto t_start = Clock::now();
  const std::string load_start = LoadAverage();
  Log("keyword_bench: " + std::to_string(flags_.chunks) + " chunks in " + flags_.work_dir);
  RETURN_IF_ERROR(PrepareKb());

  json out;
  out["benchmark"] = "keyword_bench";
  out["date"] = UtcNow();
  out["cpu"] = CpuModel();
  out["cpus_online"] = sysconf(_SC_NPROCESSORS_ONLN);
  out["sqlite_version"] = sqlite3_libversion();
  out["whatif_sqlite"] = {{"cache_mb", flags_.sqlite_cache_mb},
                          {"mmap_mb", flags_.sqlite_mmap_mb},
                          {"wal_autocheckpoint", flags_.sqlite_wal_autocheckpoint},
                          {"foreground_checkpoints", flags_.foreground_checkpoints},
                          {"fts_automerge", flags_.fts_automerge}};
  out["kb_dir"] = dir_.string();
  out["corpus"] = corpus_json_;
  out["ingest_source"] = ingest_source_;
  out["ingest"] = ingest_json_;

  // KnowledgeBase::GetCollection runs at the start of every PutDocument and Search (it resolves
  // the collection name); its cost is part of both figures and is measured on its own here.
  {
    std::vector<double> ms;
    for (int i = 0; i < 30; ++i) {
      const auto t0 = Clock::now();
      auto c = kb_->GetCollection(kCollection);
      ms.push_back(MsSince(t0));
      if (!c.ok()) return c.status();
    }
    get_collection_ = Summarize(std::move(ms));
    out["get_collection_ms"] = ToJson(get_collection_);
  }

  if (flags_.queries > 0) {
    Log("search: " + std::to_string(flags_.queries) + " queries, top_k " +
        std::to_string(flags_.top_k));
    RETURN_IF_ERROR(SearchPhase());
    if (flags_.analyze > 0) {
      Log("  analysing " + std::to_string(std::min(flags_.analyze, flags_.queries)) +
          " queries (matched rows, SQL cost split)");
      RETURN_IF_ERROR(AnalyzeQueries());
    }
    std::map<std::string, std::vector<const QueryRun*>> by_class;
    for (const QueryRun& r : runs_) {
      by_class["all"].push_back(&r);
      by_class[r.cls].push_back(&r);
    }
    json search;
    search["queries"] = runs_.size();
    search["warmup"] = flags_.warmup;
    search["top_k"] = flags_.top_k;
    for (const auto& [cls, rs] : by_class) {
      std::vector<double> ms, cpu_ms, matches, count_ms, rank_ms, fts_ms, and_ms, pruned_ms,
          and_rows, pruned_rows;
      double hits = 0;
      for (const QueryRun* r : rs) {
        ms.push_back(r->ms);
        cpu_ms.push_back(r->cpu_ms);
        hits += static_cast<double>(r->hits);
        if (r->matches >= 0) matches.push_back(static_cast<double>(r->matches));
        if (r->count_ms >= 0) {
          count_ms.push_back(r->count_ms);
          rank_ms.push_back(r->rank_ms);
          fts_ms.push_back(r->fts_ms);
          and_ms.push_back(r->and_rank_ms);
          pruned_ms.push_back(r->pruned_rank_ms);
          and_rows.push_back(static_cast<double>(r->and_matches));
          pruned_rows.push_back(static_cast<double>(r->pruned_matches));
        }
      }
      json c = ToJson(Summarize(ms));
      c["cpu_ms"] = ToJson(Summarize(cpu_ms));
      c["mean_hits"] = hits / static_cast<double>(rs.size());
      if (!matches.empty()) c["matched_rows"] = ToJson(Summarize(matches));
      if (!count_ms.empty()) {
        c["sql_count_ms"] = ToJson(Summarize(count_ms));
        c["sql_rank_ms"] = ToJson(Summarize(rank_ms));
        c["sql_fts_ms"] = ToJson(Summarize(fts_ms));
        c["whatif_and_rank_ms"] = ToJson(Summarize(and_ms));
        c["whatif_and_rows"] = ToJson(Summarize(and_rows));
        c["whatif_pruned_rank_ms"] = ToJson(Summarize(pruned_ms));
        c["whatif_pruned_rows"] = ToJson(Summarize(pruned_rows));
      }
      search["by_class"][cls] = c;
    }
    std::vector<const QueryRun*> slow;
    for (const QueryRun& r : runs_) slow.push_back(&r);
    std::sort(slow.begin(), slow.end(),
              [](const QueryRun* a, const QueryRun* b) { return a->ms > b->ms; });
    json per_query = json::array();
    for (const QueryRun& r : runs_) {
      per_query.push_back(json{{"class", r.cls},
                               {"query", r.text},
                               {"ms", r.ms},
                               {"cpu_ms", r.cpu_ms},
                               {"hits", r.hits},
                               {"matched_rows", r.matches},
                               {"clauses", r.clauses},
                               {"prefix_clauses", r.prefix_clauses},
                               {"sql_count_ms", r.count_ms},
                               {"sql_rank_ms", r.rank_ms},
                               {"sql_fts_ms", r.fts_ms},
                               {"whatif_and_rank_ms", r.and_rank_ms},
                               {"whatif_and_rows", r.and_matches},
                               {"whatif_pruned_rank_ms", r.pruned_rank_ms},
                               {"whatif_pruned_rows", r.pruned_matches},
                               {"whatif_dropped_clauses", r.dropped_clauses}});
    }
    for (size_t i = 0; i < std::min<size_t>(10, slow.size()); ++i) {
      search["slowest"].push_back(json{{"class", slow[i]->cls}, {"query", slow[i]->text},
                                       {"ms", slow[i]->ms}, {"matched_rows", slow[i]->matches}});
    }
    search_json_ = search;
    out["search"] = search;
    out["per_query"] = per_query;
  }
  if (flags_.update_docs > 0) {
    Log("update: replacing and restoring " + std::to_string(flags_.update_docs) + " documents");
    RETURN_IF_ERROR(UpdatePhase());
    out["update"] = update_json_;
  }
  RETURN_IF_ERROR(SizePhase());
  out["size"] = size_json_;
  ASSIGN_OR_RETURN(const Summary fsync_ms, ProbeFsync(dir_, 50));
  out["fsync_4k_ms"] = ToJson(fsync_ms);
  out["total_seconds"] = MsSince(t_start) / 1000.0;
  out["loadavg_start"] = load_start;
  out["loadavg_end"] = LoadAverage();

  // Human-readable report.
  auto num = [](const json& j, const char* key) { return j.value(key, 0.0); };
  std::printf("== keyword_bench: %lld chunks (%lld documents), %s\n",
              static_cast<long long>(corpus_json_.value("chunks_in_kb", int64_t{0})),
              static_cast<long long>(corpus_json_.value("docs_in_kb", int64_t{0})),
              out["date"].get<std::string>().c_str());
  std::printf("   cpu: %s x%ld, SQLite %s, dir %s\n", out["cpu"].get<std::string>().c_str(),
              static_cast<long>(sysconf(_SC_NPROCESSORS_ONLN)), sqlite3_libversion(),
              dir_.string().c_str());
  if (flags_.sqlite_cache_mb > 0 || flags_.sqlite_mmap_mb > 0 || flags_.fts_automerge >= 0 ||
      flags_.sqlite_wal_autocheckpoint >= 0) {
    std::printf("   WHAT-IF run: PRAGMA cache_size = %d MB, mmap_size = %d MB, wal_autocheckpoint "
                "%d on every connection; FTS5 automerge %d (-1: default)\n",
                flags_.sqlite_cache_mb, flags_.sqlite_mmap_mb, flags_.sqlite_wal_autocheckpoint,
                flags_.fts_automerge);
  }
  std::printf("   load average at start: %s, at end: %s; total %.0f s\n", load_start.c_str(),
              out["loadavg_end"].get<std::string>().c_str(), out["total_seconds"].get<double>());
  if (ingest_json_.is_object()) {
    const json& in = ingest_json_;
    std::printf("-- ingest [%s]: %lld docs, %lld chunks, %.1f MB in %.1f s of PutDocument "
                "(loop %.1f s)\n",
                ingest_source_.c_str(), static_cast<long long>(in.value("docs", int64_t{0})),
                static_cast<long long>(in.value("chunks", int64_t{0})),
                num(in, "bytes") / 1e6, num(in, "put_seconds"), num(in, "loop_seconds"));
    std::printf("   throughput: %.1f docs/s, %.0f chunks/s, %.2f MB/s\n", num(in, "docs_per_s"),
                num(in, "chunks_per_s"), num(in, "mb_per_s"));
    if (in.contains("put_cpu_seconds")) {
      std::printf("   CPU time inside PutDocument: %.1f s of %.1f s wall\n",
                  num(in, "put_cpu_seconds"), num(in, "put_seconds"));
    }
    if (in.contains("vector_catchup_seconds")) {
      std::printf("   vector queue: limit %lld, max seen %lld; graph caught up %.2f s after the "
                  "last write; every index complete: %.0f ms per 1,000 chunks; process CPU "
                  "(all threads) %.1f s\n",
                  static_cast<long long>(in.value("vector_queue_limit", int64_t{-1})),
                  static_cast<long long>(in.value("vector_queue_max_seen", int64_t{0})),
                  num(in, "vector_catchup_seconds"), num(in, "complete_ms_per_1k_chunks"),
                  num(in, "process_cpu_seconds"));
    }
    const json& k = in["put_ms_per_1k_chunks"];
    std::printf("   PutDocument time per 1,000 chunks: mean %.0f ms, p50 %.0f, p99 %.0f, max %.0f"
                " (%zu batches)\n",
                num(k, "mean"), num(k, "p50"), num(k, "p99"), num(k, "max"),
                k.value("n", size_t{0}));
    if (in.contains("parse_chunk_ms_per_1k_chunks")) {
      std::printf("   of which parse+chunk ≈ %.0f ms, embedding ≈ %.0f ms, the rest (collection"
                  " lookup, write transaction, index inserts) ≈ %.0f ms per 1,000 chunks"
                  " (sampled on %lld docs)\n",
                  num(in, "parse_chunk_ms_per_1k_chunks"), num(in, "embed_ms_per_1k_chunks"),
                  num(in, "write_tx_ms_per_1k_chunks_est"),
                  static_cast<long long>(in.value("parse_sample_docs", int64_t{0})));
    }
    if (in.contains("tokenize_ms_per_1k_chunks")) {
      std::printf("   analyzer (tokenizer) time for the indexed columns ≈ %.0f ms per 1,000 chunks"
                  " (%.0f terms per chunk), part of the write transaction\n",
                  num(in, "tokenize_ms_per_1k_chunks"), num(in, "terms_per_chunk"));
    }

    if (in.contains("put_ms_per_1k_chunks_by_decile")) {
      std::printf("   PutDocument ms per 1,000 chunks by tenth of the build:");
      for (const json& d : in["put_ms_per_1k_chunks_by_decile"]) {
        std::printf(" %.0f", d.get<double>());
      }
      std::printf("\n");
    }
    const json& d = in["put_ms_per_doc"];
    std::printf("   PutDocument per 10-chunk doc: p50 %.2f ms, p99 %.2f, max %.1f\n",
                num(d, "p50"), num(d, "p99"), num(d, "max"));
  }
  if (update_json_.is_object()) {
    const json& d = update_json_["put_ms_per_doc"];
    std::printf("-- update at full size: %lld docs replaced+restored, %.0f ms per 1,000 chunks;"
                " per doc p50 %.2f ms, p99 %.2f, max %.1f; with the vector graph's catch-up "
                "(%.2f s) %.0f ms per 1,000 chunks\n",
                static_cast<long long>(update_json_.value("docs_updated", int64_t{0})),
                num(update_json_, "ms_per_1k_chunks"), num(d, "p50"), num(d, "p99"),
                num(d, "max"), num(update_json_, "vector_catchup_seconds"),
                num(update_json_, "complete_ms_per_1k_chunks"));
  }
  std::printf("-- KnowledgeBase::GetCollection (called by every PutDocument and Search): "
              "p50 %.2f ms, max %.2f ms\n",
              get_collection_.p50, get_collection_.max);
  if (search_json_.is_object()) {
    std::printf("-- search: %zu queries after %d warm-up, top_k %d (latency in ms)\n",
                runs_.size(), flags_.warmup, flags_.top_k);
    std::printf("   %-13s %5s %8s %8s %8s %8s %8s %8s %6s %11s %11s\n", "class", "n", "p50",
                "p90", "p99", "max", "mean", "cpu p99", "hits", "rows(mean)", "rows(max)");
    for (const char* cls : {"all", "rare_single", "common_multi", "zh_multi", "mixed"}) {
      if (!search_json_["by_class"].contains(cls)) continue;
      const json& c = search_json_["by_class"][cls];
      const json rows = c.value("matched_rows", json::object());
      std::printf("   %-13s %5zu %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %6.1f %11.0f %11.0f\n",
                  cls, c.value("n", size_t{0}), num(c, "p50"), num(c, "p90"), num(c, "p99"),
                  num(c, "max"), num(c, "mean"), num(c["cpu_ms"], "p99"), num(c, "mean_hits"),
                  num(rows, "mean"), num(rows, "max"));
    }
    if (flags_.analyze > 0) {
      std::printf("   SQL cost split (second connection, after the timed run), ms:\n");
      std::printf("   %-13s %9s %9s %9s %9s | %9s %9s %9s %9s\n", "class", "count", "bm25",
                  "Search", "Search", "AND", "AND", "pruned", "pruned");
      std::printf("   %-13s %9s %9s %9s %9s | %9s %9s %9s %9s\n", "", "mean", "mean", "mean",
                  "p99", "bm25 p99", "rows", "bm25 p99", "rows");
      for (const char* cls : {"all", "rare_single", "common_multi", "zh_multi", "mixed"}) {
        if (!search_json_["by_class"].contains(cls)) continue;
        const json& c = search_json_["by_class"][cls];
        if (!c.contains("sql_count_ms")) continue;
        std::printf("   %-13s %9.2f %9.2f %9.2f %9.2f | %9.2f %9.0f %9.2f %9.0f\n", cls,
                    num(c["sql_count_ms"], "mean"), num(c["sql_rank_ms"], "mean"),
                    num(c["sql_fts_ms"], "mean"), num(c["sql_fts_ms"], "p99"),
                    num(c["whatif_and_rank_ms"], "p99"), num(c["whatif_and_rows"], "mean"),
                    num(c["whatif_pruned_rank_ms"], "p99"), num(c["whatif_pruned_rows"], "mean"));
      }
    }
    std::printf("   slowest:\n");
    for (const json& s : search_json_["slowest"]) {
      std::printf("     %8.2f ms  %-12s rows %-8lld %s\n", s.value("ms", 0.0),
                  s.value("class", std::string()).c_str(),
                  static_cast<long long>(s.value("matched_rows", int64_t{-1})),
                  s.value("query", std::string()).c_str());
    }
  }
  std::printf("-- size: kb.db %.1f MB (+ WAL %.1f MB), FTS5 index %.1f MB, chunk text %.1f MB,"
              " vector snapshots %.1f MB (written at exit; figure from before this run's)\n",
              num(size_json_, "kb_db_bytes") / 1e6, num(size_json_, "wal_bytes") / 1e6,
              num(size_json_, "fts_index_bytes") / 1e6, num(size_json_, "chunk_text_bytes") / 1e6,
              num(size_json_, "vector_snapshot_bytes") / 1e6);
  std::printf("-- disk: 4 KiB write + fdatasync in the work dir: p50 %.2f ms, p99 %.2f ms\n",
              fsync_ms.p50, fsync_ms.p99);
  std::fflush(stdout);

  if (!flags_.json_path.empty()) {
    if (flags_.json_path == "-") {
      std::cout << out.dump(2) << std::endl;
    } else {
      std::ofstream f(flags_.json_path);
      f << out.dump(2) << "\n";
      if (!f) return InternalError("cannot write " + flags_.json_path);
    }
  }
  return Status::Ok();
}

int Main(int argc, char** argv) {
  auto flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "keyword_bench: %s\n%s", flags.status().ToString().c_str(), kUsage);
    return 2;
  }
  auto vocab_text = ReadFile(flags->vocab);
  if (!vocab_text.ok()) {
    std::fprintf(stderr, "keyword_bench: %s\n", vocab_text.status().ToString().c_str());
    return 1;
  }
  auto vocab = LoadVocabulary(flags->vocab);
  if (!vocab.ok()) {
    std::fprintf(stderr, "keyword_bench: %s\n", vocab.status().ToString().c_str());
    return 1;
  }
  if (flags->sqlite_cache_mb > 0 || flags->sqlite_mmap_mb > 0 ||
      flags->sqlite_wal_autocheckpoint >= 0) {
    g_cache_mb = flags->sqlite_cache_mb;
    g_mmap_mb = flags->sqlite_mmap_mb;
    g_wal_autocheckpoint = flags->sqlite_wal_autocheckpoint;
    // void(*)(void) is SQLite's generic entry-point type; the real signature is restored inside.
    if (sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(&ApplyWhatIfPragmas)) !=
        SQLITE_OK) {
      std::fprintf(stderr, "keyword_bench: cannot register the what-if SQLite settings\n");
      return 1;
    }
  }
  CorpusOptions copts;
  copts.seed = flags->seed;
  Bench bench(*flags, CorpusGenerator(std::move(vocab).value(), copts), Sha256Hex(*vocab_text));
  Status s = bench.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "keyword_bench: %s\n", s.ToString().c_str());
    return ExitCodeFor(s);
  }
  return 0;
}

}  // namespace
}  // namespace deepkb::bench

int main(int argc, char** argv) { return deepkb::bench::Main(argc, argv); }
