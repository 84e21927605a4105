// keyword_accel_bench: FTS5 (FtsIndex::Search, the product's keyword path before the
// accelerator) vs the in-memory keyword index (index/inverted/keyword_index.h) on the SAME
// database and the SAME queries, in one run.
//
// Opens an existing KB database (e.g. /tmp/deepkb-bench/chunks-1000000/kb.db made by
// keyword_bench) READ-ONLY with src/storage — never through KnowledgeBase, which would migrate
// it — builds the accelerator from the collection's FTS5 content view (fts_src_<id>), then runs
// keyword_bench's query generator (same seed → the same queries and classes as bench/README.md)
// against both, single-threaded, alternating per query. Reports build time, memory, snapshot
// save/load time, P50/P90/P99/max per query class for:
//   fts5     FtsIndex::Search(top_k): bm25 + deepkb_snippet + document id (what Search ran)
//   accel    KeywordIndex::Search(top_k) only
//   accel+hl accel plus what the product adds for its hits: the chunks' body text and
//            document ids from SQLite and fulltext::SnippetForClauses highlights
// and the agreement of the top-k (same ids in the same order, or differing only inside a
// group of equal scores; scores equal within 1e-9 relative).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "corpus_gen.h"
#include "keyword_queries.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "index/fulltext/fts_index.h"
#include "index/fulltext/query_builder.h"
#include "index/inverted/keyword_index.h"
#include "storage/sqlite.h"

namespace deepkb::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Summary {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

Summary Summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) {  // nearest rank
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, r == 0 ? 0 : r - 1)];
  };
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

std::string Fmt(double ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", ms);
  return b;
}

std::string StatsText(const inverted::SearchStats& s) {
  return "candidates " + std::to_string(s.candidates) + ", scored " +
         std::to_string(s.docs_scored) + ", bm25 terms " + std::to_string(s.postings_scored) +
         ", blocks decoded " + std::to_string(s.blocks_decoded) + ", range skips " +
         std::to_string(s.range_skips) + ", probe prunes " + std::to_string(s.probe_prunes) +
         ", driver rejects " + std::to_string(s.driver_rejects) + ", tier drives " +
         std::to_string(s.tier_drives) + ", tier probes " + std::to_string(s.tier_probes);
}

struct Flags {
  std::string db = "/tmp/deepkb-bench/chunks-1000000/kb.db";
  std::string collection = "bench";
  int queries = 1000;
  int warmup = 100;
  int top_k = 10;
  uint64_t query_seed = 7;    // keyword_bench's default
  std::string snapshot;       // where to test save/load ("" = skip)
  std::string from_snapshot;  // load the accelerator from this snapshot instead of building it
  bool accel_only = false;    // skip FTS5 (diagnostics)
  int slowest = 0;            // print the N slowest accelerator queries
  std::vector<std::string> only_queries;    // --query: time just these (accelerator only)
  int repeat = 20;                          // --repeat: runs per --query
  bool no_tiers = false;                    // --no-tiers: build/load without impact tiers
  int tier_share = 0, tier_df_divisor = 0;  // --tier-share / --tier-df-divisor (0: default)
  int updates = 0;                          // --updates: chunks removed and re-added per pass
  int update_passes = 3;                    // --update-passes
};

bool SameTopK(const std::vector<fulltext::FtsHit>& fts, const std::vector<inverted::KeywordHit>& ix,
              bool* scores_ok) {
  *scores_ok = fts.size() == ix.size();
  if (!*scores_ok) return false;
  bool same = true;
  for (size_t i = 0; i < fts.size(); ++i) {
    const double tol = 1e-9 * std::max(1.0, std::fabs(fts[i].score));
    if (std::fabs(fts[i].score - ix[i].score) > tol) *scores_ok = false;
    if (fts[i].chunk_id != ix[i].chunk_id) same = false;
  }
  return same;  // ids may differ only where scores tie (FTS5's order among ties is arbitrary)
}

// --query mode: the accelerator alone on the given queries, with its work counters, checked
// against exhaustive scoring of every matching row.
int RunOnly(const Flags& f, const inverted::KeywordIndex& ix) {
  int bad = 0;
  for (const std::string& text : f.only_queries) {
    const fulltext::MatchQuery mq = fulltext::BuildMatchQuery(text);
    std::vector<double> wall, cpu;
    inverted::SearchStats ss;
    Result<std::vector<inverted::KeywordHit>> hits = std::vector<inverted::KeywordHit>{};
    for (int i = 0; i < f.repeat + 2; ++i) {
      inverted::SearchStats one;
      const double c0 = ThreadCpuMs();
      const auto t0 = Clock::now();
      hits = ix.Search(mq.clauses, f.top_k, {}, nullptr, &one);
      const double ms = MsSince(t0), cms = ThreadCpuMs() - c0;
      if (!hits.ok()) break;
      if (i >= 2) {
        wall.push_back(ms);
        cpu.push_back(cms);
      }
      ss = one;
    }
    if (!hits.ok()) {
      std::printf("'%s': %s\n", text.c_str(), hits.status().ToString().c_str());
      continue;
    }
    const Summary w = Summarize(wall), c = Summarize(cpu);
    std::printf(
        "'%s' (%zu clauses, %s): wall min %.2f / median %.2f / max %.2f ms; CPU min %.2f / "
        "median %.2f / max %.2f ms\n  %s\n",
        text.c_str(), mq.clauses.size(), mq.expression.c_str(),
        *std::min_element(wall.begin(), wall.end()), w.p50, w.max,
        *std::min_element(cpu.begin(), cpu.end()), c.p50, c.max, StatsText(ss).c_str());
    const double c0 = ThreadCpuMs();
    auto want = ix.SearchExhaustive(mq.clauses, f.top_k);
    bool same = want.ok() && want->size() == hits->size();
    for (size_t i = 0; same && i < hits->size(); ++i) {
      same = (*want)[i].chunk_id == (*hits)[i].chunk_id && (*want)[i].score == (*hits)[i].score;
    }
    std::printf("  exhaustive (%.0f ms CPU): %s; k-th score %.17g\n", ThreadCpuMs() - c0,
                same ? "identical top-k (ids, order, scores bit for bit)" : "MISMATCH",
                hits->empty() ? 0.0 : hits->back().score);
    if (!same) ++bad;
  }
  return bad ? 2 : 0;
}

// --updates mode: the accelerator's own cost of index maintenance at full size, shaped like
// keyword_bench's update phase. Takes 2 x `updates` live chunks spread evenly over the id range
// (set A, and set B halfway between A's), reads their rows from the content view, and then, in
// groups of 10 chunks (one generated document), removes the group's current chunks
// (KeywordIndex::Remove, given their text) and adds the other set's texts of that group under
// new chunk ids (Add). Odd passes replace A's texts by B's, even passes put A's back. Removing a
// text and adding a DIFFERENT one matters: re-adding the text just removed would find every
// term's entry still in the CPU caches, which no real update does.
int RunUpdates(const Flags& f, storage::Database& db, const std::string& n,
               inverted::KeywordIndex& ix) {
  const std::vector<int64_t> live = ix.LiveChunkIds();
  const size_t want = std::min(live.size() / 2, static_cast<size_t>(f.updates));
  if (want == 0) return 0;
  auto get = db.Prepare("SELECT id, title, headings, body FROM fts_src_" + n + " WHERE id = ?1");
  if (!get.ok()) {
    std::fprintf(stderr, "%s\n", get.status().ToString().c_str());
    return 1;
  }
  auto read = [&](int64_t id, inverted::ChunkText& out) {
    get->Reset();
    get->Bind(1, id);
    auto r = get->Step();
    if (!r.ok() || !*r) {
      std::fprintf(stderr, "chunk %lld: not in the content view\n", static_cast<long long>(id));
      return false;
    }
    out = {get->ColumnInt(0), get->ColumnText(1), get->ColumnText(2), get->ColumnText(3)};
    return true;
  };
  std::vector<inverted::ChunkText> set_a(want), set_b(want);
  const size_t stride = live.size() / want;
  for (size_t i = 0; i < want; ++i) {
    if (!read(live[i * stride], set_a[i]) || !read(live[i * stride + stride / 2], set_b[i])) {
      return 1;
    }
  }
  // The B chunks stay live under their own ids; their texts are added again as new chunks.
  std::vector<inverted::ChunkText> current = set_a;  // what is live in the update set now
  int64_t next_id = live.back() + 1;
  constexpr size_t kGroup = 10;
  std::printf("\nupdates: %zu chunks per pass in groups of %zu (remove a group, add different "
              "texts under new ids), %d passes\n", want, kGroup, f.update_passes);
  for (int pass = 0; pass < f.update_passes; ++pass) {
    const std::vector<inverted::ChunkText>& incoming = pass % 2 == 0 ? set_b : set_a;
    double rm_wall = 0, rm_cpu = 0, add_wall = 0, add_cpu = 0;
    for (size_t g = 0; g < want; g += kGroup) {
      const size_t end = std::min(want, g + kGroup);
      double c0 = ThreadCpuMs();
      auto t0 = Clock::now();
      for (size_t i = g; i < end; ++i) {
        if (Status s = ix.Remove(current[i]); !s.ok()) {
          std::fprintf(stderr, "remove: %s\n", s.ToString().c_str());
          return 1;
        }
      }
      rm_wall += MsSince(t0);
      rm_cpu += ThreadCpuMs() - c0;
      c0 = ThreadCpuMs();
      t0 = Clock::now();
      for (size_t i = g; i < end; ++i) {
        current[i] = incoming[i];
        current[i].chunk_id = next_id++;
        if (Status s = ix.Add(current[i]); !s.ok()) {
          std::fprintf(stderr, "add: %s\n", s.ToString().c_str());
          return 1;
        }
      }
      add_wall += MsSince(t0);
      add_cpu += ThreadCpuMs() - c0;
    }
    const double per = 1e3 / static_cast<double>(want);  // ms in total -> us per chunk
    std::printf("  pass %d: per chunk remove %.1f us (CPU %.1f), add %.1f us (CPU %.1f); "
                "together %.0f ms per 1,000 chunks\n",
                pass + 1, rm_wall * per, rm_cpu * per, add_wall * per, add_cpu * per,
                (rm_wall + add_wall) * per);
  }
  return 0;
}

int Run(const Flags& f) {
  std::printf("keyword_accel_bench: %s (collection '%s')\n", f.db.c_str(), f.collection.c_str());
  std::printf("load average at start: %s; cpus online: %ld\n", LoadAverage().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  storage::OpenOptions oo;
  oo.read_only = true;
  oo.create = false;
  auto db = storage::Database::Open(f.db, oo);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  if (Status s = fulltext::RegisterFts5Tokenizer((*db)->handle()); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  auto stmt = (*db)->Prepare("SELECT id FROM collections WHERE name = ?1");
  stmt->Bind(1, f.collection);
  auto row = stmt->Step();
  if (!row.ok() || !*row) {
    std::fprintf(stderr, "collection '%s' not found\n", f.collection.c_str());
    return 1;
  }
  const int64_t cid = stmt->ColumnInt(0);
  const std::string n = std::to_string(cid);

  // ---- build ----
  const long rss0 = RssKb();
  inverted::TierOptions tiers;
  tiers.enabled = !f.no_tiers;
  if (f.tier_share > 0) tiers.share = static_cast<uint32_t>(f.tier_share);
  if (f.tier_df_divisor > 0) tiers.df_divisor = static_cast<uint32_t>(f.tier_df_divisor);
  inverted::KeywordIndex ix({}, tiers);
  const auto tb = Clock::now();
  const double cpu_b = ThreadCpuMs();
  size_t chunks = 0;
  if (!f.from_snapshot.empty()) {
    if (Status s = ix.Load(f.from_snapshot); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    chunks = ix.Stats().live_docs;
    std::printf("loaded from snapshot %s (not built)\n", f.from_snapshot.c_str());
  } else {
    auto scan = (*db)->Prepare("SELECT id, title, headings, body FROM fts_src_" + n +
                               " ORDER BY id");
    if (!scan.ok()) {
      std::fprintf(stderr, "%s\n", scan.status().ToString().c_str());
      return 1;
    }
    while (true) {
      auto r = scan->Step();
      if (!r.ok()) {
        std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
        return 1;
      }
      if (!*r) break;
      inverted::ChunkText c{scan->ColumnInt(0), scan->ColumnText(1), scan->ColumnText(2),
                            scan->ColumnText(3)};
      if (Status s = ix.Add(c); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      if (++chunks % 100000 == 0) {
        std::printf("  built %zu chunks, %.1f s\n", chunks, MsSince(tb) / 1e3);
        std::fflush(stdout);
      }
    }
  }
  ix.ShrinkToFit();
  const double build_s = MsSince(tb) / 1e3;
  const double build_cpu_s = (ThreadCpuMs() - cpu_b) / 1e3;
  const long rss1 = RssKb();
  const inverted::KeywordStats st = ix.Stats();
  std::printf("\n%s: %zu chunks in %.1f s wall, %.1f s CPU (%.0f chunks/s)\n",
              f.from_snapshot.empty() ? "build" : "snapshot load", chunks, build_s,
              build_cpu_s, static_cast<double>(chunks) / build_s);
  std::printf("index: %zu terms, %zu character lists, %zu postings; %.1f MB by the index's own "
              "count (%.2f bytes/posting); RSS %.1f -> %.1f MB (+%.1f MB, %.2f bytes/posting)\n",
              st.terms, st.char_lists, st.postings, st.memory_bytes / 1e6,
              static_cast<double>(st.memory_bytes) / static_cast<double>(st.postings),
              rss0 / 1e3, rss1 / 1e3, (rss1 - rss0) / 1e3,
              (rss1 - rss0) * 1e3 / static_cast<double>(st.postings));
  std::printf("impact tiers: %zu lists, %zu postings copied (%.1f%% of all)\n", st.tiers,
              st.tier_postings,
              100.0 * static_cast<double>(st.tier_postings) / static_cast<double>(st.postings));
  std::printf("statistics: %zu rows, %llu tokens (avgdl %.2f)\n", st.live_docs,
              static_cast<unsigned long long>(st.total_tokens),
              static_cast<double>(st.total_tokens) / static_cast<double>(st.live_docs));

  if (!f.snapshot.empty()) {
    auto t0 = Clock::now();
    if (Status s = ix.Save(f.snapshot); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    const double save_s = MsSince(t0) / 1e3;
    std::error_code ec;
    const auto size = std::filesystem::file_size(f.snapshot, ec);
    inverted::KeywordIndex loaded;
    t0 = Clock::now();
    if (Status s = loaded.Load(f.snapshot); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("snapshot: %.1f MB, save %.1f s, load (with SHA-256 check) %.1f s\n",
                static_cast<double>(size) / 1e6, save_s, MsSince(t0) / 1e3);
  }

  if (f.updates > 0) {
    if (int rc = RunUpdates(f, **db, n, ix); rc != 0) return rc;
  }
  if (!f.only_queries.empty()) return RunOnly(f, ix);
  if (f.queries <= 0) return 0;

  // ---- queries (keyword_bench's generator) ----
  auto vocab = LoadVocabulary(DefaultVocabularyPath());
  if (!vocab.ok()) {
    std::fprintf(stderr, "%s\n", vocab.status().ToString().c_str());
    return 1;
  }
  CorpusGenerator gen(std::move(vocab).value(), CorpusOptions{});
  const auto warm = MakeKeywordQueries(gen, MixSeed(f.query_seed, 1), f.warmup);
  const auto measured = MakeKeywordQueries(gen, MixSeed(f.query_seed, 2), f.queries);
  fulltext::FtsIndex fts(**db);
  auto hl_stmt = (*db)->Prepare("SELECT text, document_id FROM chunks WHERE id = ?1");
  if (!hl_stmt.ok()) return 1;

  struct Times {
    std::vector<double> fts, accel, accel_hl, fts_cpu, accel_cpu;
    int agree = 0, agree_scores = 0, n = 0, fallback = 0, fts_errors = 0;
  };
  std::map<std::string, Times> by_class;
  std::vector<std::pair<double, std::string>> slow;
  auto run_one = [&](const KeywordQuery& q, Times* t) -> bool {
    const fulltext::MatchQuery mq = fulltext::BuildMatchQuery(q.text);
    double c0 = ThreadCpuMs();
    auto t0 = Clock::now();
    auto fh = f.accel_only ? Result<std::vector<fulltext::FtsHit>>(UnavailableError("skipped"))
                           : fts.Search(cid, mq, f.top_k);
    const double fts_ms = MsSince(t0), fts_cpu = ThreadCpuMs() - c0;
    if (!fh.ok() && !f.accel_only) {
      // Reported and counted, not fatal: on the 1M database FTS5 fails some prefix queries
      // with SQLITE_CORRUPT (see bench/README.md).
      std::fprintf(stderr, "fts5 error for '%s' (%s): %s\n", q.text.c_str(),
                   mq.expression.c_str(), fh.status().ToString().c_str());
      if (t) ++t->fts_errors;
    }
    c0 = ThreadCpuMs();
    t0 = Clock::now();
    inverted::SearchStats ss;
    auto ih = ix.Search(mq.clauses, f.top_k, {}, nullptr, &ss);
    const double accel_ms = MsSince(t0), accel_cpu = ThreadCpuMs() - c0;
    if (!ih.ok()) {
      if (t) ++t->fallback;
      if (ih.status().code() != StatusCode::kFailedPrecondition) {
        std::fprintf(stderr, "accel '%s': %s\n", q.text.c_str(), ih.status().ToString().c_str());
        return false;
      }
      return true;
    }
    for (const auto& h : *ih) {
      hl_stmt->Reset();
      hl_stmt->Bind(1, h.chunk_id);
      auto r = hl_stmt->Step();
      if (r.ok() && *r) {
        const std::string body = hl_stmt->ColumnText(0);
        volatile size_t sink = fulltext::SnippetForClauses(body, mq.clauses).size();
        (void)sink;
      }
    }
    const double accel_hl_ms = MsSince(t0);
    if (t) {
      slow.emplace_back(accel_ms, q.cls + " '" + q.text + "' (" +
                                      std::to_string(mq.clauses.size()) + " clauses; CPU " +
                                      Fmt(accel_cpu) + " ms; " + StatsText(ss) + ")");
      t->accel.push_back(accel_ms);
      t->accel_cpu.push_back(accel_cpu);
      t->accel_hl.push_back(accel_hl_ms);
      ++t->n;
      if (!fh.ok()) return true;  // no FTS5 figures for this query
      t->fts.push_back(fts_ms);
      t->fts_cpu.push_back(fts_cpu);
      bool scores_ok = false;
      t->agree += SameTopK(*fh, *ih, &scores_ok) ? 1 : 0;
      t->agree_scores += scores_ok ? 1 : 0;
    }
    return true;
  };
  std::printf("\nload average before queries: %s\n", LoadAverage().c_str());
  for (const auto& q : warm) {
    if (!run_one(q, nullptr)) return 1;
  }
  Times all;
  for (const auto& q : measured) {
    Times& t = by_class[q.cls];
    if (!run_one(q, &t)) return 1;
  }
  std::printf("load average after queries: %s\n\n", LoadAverage().c_str());
  for (const auto& [cls, t] : by_class) {
    for (double x : t.fts) all.fts.push_back(x);
    for (double x : t.accel) all.accel.push_back(x);
    for (double x : t.accel_hl) all.accel_hl.push_back(x);
    for (double x : t.fts_cpu) all.fts_cpu.push_back(x);
    for (double x : t.accel_cpu) all.accel_cpu.push_back(x);
    all.agree += t.agree;
    all.agree_scores += t.agree_scores;
    all.n += t.n;
    all.fallback += t.fallback;
    all.fts_errors += t.fts_errors;
  }
  std::printf(
      "| class | queries | path | P50 | P90 | P99 | max | mean | CPU P50 | CPU P99 | CPU max "
      "| top-%d agreement (ids / scores) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      f.top_k);
  auto print = [&](const std::string& cls, const Times& t) {
    const Summary a = Summarize(t.fts), b = Summarize(t.accel), c = Summarize(t.accel_hl);
    const Summary ac = Summarize(t.fts_cpu), bc = Summarize(t.accel_cpu);
    const int compared = static_cast<int>(t.fts.size());
    std::printf("| %s | %d | fts5 | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s|\n",
                cls.c_str(), t.n, a.p50, a.p90, a.p99, a.max, a.mean, ac.p50, ac.p99, ac.max,
                t.fts_errors ? (std::to_string(t.fts_errors) + " FTS5 errors ").c_str() : "");
    std::printf(
        "| | | accel | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %d/%d / %d/%d%s |\n",
        b.p50, b.p90, b.p99, b.max, b.mean, bc.p50, bc.p99, bc.max, t.agree, compared,
        t.agree_scores, compared,
        t.fallback ? (" (" + std::to_string(t.fallback) + " fell back)").c_str() : "");
    std::printf("| | | accel+hl | %.3f | %.3f | %.3f | %.3f | %.3f | | | | |\n", c.p50, c.p90,
                c.p99, c.max, c.mean);
  };
  print("all", all);
  for (const auto& [cls, t] : by_class) print(cls, t);
  std::sort(slow.rbegin(), slow.rend());
  for (int i = 0; i < f.slowest && i < static_cast<int>(slow.size()); ++i) {
    std::printf("slow accel: %.2f ms %s\n", slow[static_cast<size_t>(i)].first,
                slow[static_cast<size_t>(i)].second.c_str());
  }
  return all.agree_scores == static_cast<int>(all.fts.size()) ? 0 : 2;
}

}  // namespace
}  // namespace deepkb::bench

int main(int argc, char** argv) {
  deepkb::bench::Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--db") f.db = next();
    else if (a == "--collection") f.collection = next();
    else if (a == "--queries") f.queries = std::atoi(next().c_str());
    else if (a == "--warmup") f.warmup = std::atoi(next().c_str());
    else if (a == "--top-k") f.top_k = std::atoi(next().c_str());
    else if (a == "--query-seed") f.query_seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--snapshot") f.snapshot = next();
    else if (a == "--from-snapshot") f.from_snapshot = next();
    else if (a == "--accel-only") f.accel_only = true;
    else if (a == "--slowest") f.slowest = std::atoi(next().c_str());
    else if (a == "--query") f.only_queries.push_back(next());
    else if (a == "--repeat") f.repeat = std::atoi(next().c_str());
    else if (a == "--no-tiers") f.no_tiers = true;
    else if (a == "--tier-share") f.tier_share = std::atoi(next().c_str());
    else if (a == "--tier-df-divisor") f.tier_df_divisor = std::atoi(next().c_str());
    else if (a == "--updates") f.updates = std::atoi(next().c_str());
    else if (a == "--update-passes") f.update_passes = std::atoi(next().c_str());
    else {
      std::fprintf(stderr,
                   "usage: keyword_accel_bench [--db kb.db] [--collection bench] [--queries N] "
                   "[--warmup N] [--top-k K] [--query-seed S] [--snapshot path.kwi] "
                   "[--from-snapshot path.kwi] [--accel-only] [--slowest N] "
                   "[--query TEXT]... [--repeat N] [--no-tiers] [--tier-share N] "
                   "[--tier-df-divisor N] [--updates N] [--update-passes N]\n"
                   "  --query: time only these queries on the accelerator (--repeat runs each,\n"
                   "  after 2 warm-up runs), print its work counters, and check the top-k against\n"
                   "  exhaustive scoring (KeywordIndex::SearchExhaustive), bit for bit\n"
                   "  --updates: per pass, replace N chunks spread over the index by other chunks'\n"
                   "  texts under new ids, 10 at a time, timing Remove and Add (the accelerator's\n"
                   "  share of an update);\n"
                   "  --queries 0 then skips the query phase\n");
      return 64;
    }
  }
  return deepkb::bench::Run(f);
}
