// Compaction while writes and searches continue (keyword_index.h, "Compaction without stalling
// writers"): the ops made during a compaction are replayed onto the compacted copy, and the
// result scores every query bit-identically to an index built from scratch with the same final
// content; writes are not held for the rewrite.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "index/fulltext/query_builder.h"
#include "index/inverted/keyword_index.h"
#include "index/inverted/test_util.h"

namespace deepkb::inverted {
namespace {

// Random chunks whose vocabulary also has rare words and rare CJK characters, so that terms and
// character lists are created, emptied and refilled while a compaction runs.
ChunkText Chunk(testing::TextGen& gen, int64_t id) {
  static const char* kRareCjk[] = {"龘", "齉", "龖", "靐", "麤", "爩"};
  ChunkText c;
  c.chunk_id = id;
  if (gen.Chance(0.8)) c.title = gen.Text(gen.Between(1, 4));
  if (gen.Chance(0.5)) c.headings = gen.Text(gen.Between(1, 4));
  c.body = gen.Text(gen.Between(0, 40));
  if (gen.Chance(0.3)) c.body += " rare" + std::to_string(gen.Between(0, 60));
  if (gen.Chance(0.2)) c.title += std::string(" ") + kRareCjk[gen.Between(0, 5)] + "中";
  return c;
}

std::vector<std::vector<fulltext::QueryClause>> Queries(uint64_t seed, int n) {
  testing::TextGen gen(seed);
  std::vector<std::vector<fulltext::QueryClause>> qs;
  for (int i = 0; i < n; ++i) qs.push_back(fulltext::BuildMatchQuery(gen.Query()).clauses);
  for (const char* q : {"rare3", "rare17 rare40", "龘", "齉 中", "龖中", "靐 rare5", "麤", "爩"}) {
    qs.push_back(fulltext::BuildMatchQuery(q).clauses);
  }
  return qs;
}

// Bit-identical results (same ids, same scores) and the same statistics as `want`.
void ExpectSameIndex(const KeywordIndex& got, const KeywordIndex& want, const std::string& what) {
  EXPECT_EQ(got.LiveChunkIds(), want.LiveChunkIds()) << what;
  const KeywordStats g = got.Stats(), w = want.Stats();
  EXPECT_EQ(g.live_docs, w.live_docs) << what;
  EXPECT_EQ(g.total_tokens, w.total_tokens) << what;
  for (const char* t : {"rare3", "rare17", "数据", "the", "server", "a"}) {
    EXPECT_EQ(got.DocFreq(t), want.DocFreq(t)) << what << " " << t;
  }
  int compared = 0;
  for (const auto& clauses : Queries(77, 150)) {
    for (int k : {1, 10, 50}) {
      auto a = got.Search(clauses, k);
      auto b = want.Search(clauses, k);
      auto ea = got.SearchExhaustive(clauses, k);
      auto eb = want.SearchExhaustive(clauses, k);
      ASSERT_EQ(a.ok(), b.ok()) << what;
      if (!a.ok()) continue;
      ASSERT_TRUE(ea.ok() && eb.ok()) << what;
      ASSERT_EQ(a->size(), b->size()) << what;
      ASSERT_EQ(ea->size(), eb->size()) << what;
      for (size_t i = 0; i < a->size(); ++i) {
        EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id) << what << " rank " << i;
        EXPECT_EQ((*a)[i].score, (*b)[i].score) << what << " rank " << i;
        EXPECT_EQ((*ea)[i].chunk_id, (*eb)[i].chunk_id) << what << " rank " << i;
        EXPECT_EQ((*ea)[i].score, (*eb)[i].score) << what << " rank " << i;
        EXPECT_EQ((*a)[i].score, (*ea)[i].score) << what << " rank " << i;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 1000) << what;
}

std::unique_ptr<KeywordIndex> FromScratch(const std::map<int64_t, ChunkText>& docs) {
  auto ix = std::make_unique<KeywordIndex>();
  for (const auto& [id, c] : docs) EXPECT_TRUE(ix->Add(c).ok());
  return ix;
}

// Waits (no lock held: called from the slice hook) until `counter` reaches `target`; false after
// a generous deadline — a guard against hanging if writes are blocked, not a timing threshold.
bool WaitFor(const std::atomic<uint64_t>& counter, uint64_t target) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (counter.load() < target) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(KeywordCompactionTest, ConcurrentWritesDuringCompactionAreReplayedExactly) {
  KeywordIndex ix;
  testing::TextGen gen(2024);
  std::map<int64_t, ChunkText> model;  // the writer's view; read by others only after join
  int64_t next_id = 1;
  for (int i = 0; i < 3000; ++i, ++next_id) {
    ChunkText c = Chunk(gen, next_id);
    ASSERT_TRUE(ix.Add(c).ok());
    model.emplace(c.chunk_id, std::move(c));
  }
  std::atomic<uint64_t> ops{0};
  std::atomic<bool> stalled{false}, stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> searches{0};
  // Every slice of every compaction waits until the writer has done a few more ops, so each
  // compaction overlaps adds and removes (of old docs and of docs added during it).
  ix.SetCompactionSliceHookForTesting([&] {
    if (!WaitFor(ops, ops.load() + 7)) stalled = true;
  });
  std::thread writer([&] {
    testing::TextGen wgen(99);
    std::vector<int64_t> recent;
    while (!stop.load()) {
      const int kind = wgen.Between(0, 9);
      if (kind < 5 || model.size() < 100) {
        ChunkText c = Chunk(wgen, next_id++);
        if (!ix.Add(c).ok()) ++failures;
        recent.push_back(c.chunk_id);
        model.emplace(c.chunk_id, std::move(c));
      } else {
        int64_t id;
        if (kind < 7 && !recent.empty()) {  // often a doc added recently (maybe meanwhile)
          id = recent.back();
          recent.pop_back();
          if (!model.count(id)) continue;
        } else {
          auto it = model.lower_bound(wgen.Between(1, static_cast<int>(next_id)));
          if (it == model.end()) it = model.begin();
          id = it->first;
        }
        if (!ix.Remove(model.at(id)).ok()) ++failures;
        model.erase(id);
      }
      ++ops;
    }
  });
  std::thread searcher([&] {
    const auto qs = Queries(5, 60);
    size_t i = 0;
    while (!stop.load()) {
      auto hits = ix.Search(qs[i++ % qs.size()], 10);
      if (!hits.ok()) {
        if (hits.status().code() != StatusCode::kFailedPrecondition) ++failures;
        continue;
      }
      for (size_t j = 1; j < hits->size(); ++j) {
        if ((*hits)[j].score > (*hits)[j - 1].score) ++failures;
      }
      ++searches;
    }
  });
  int compactions = 0;
  for (int round = 0; round < 12; ++round) {
    // Let tombstones accumulate, then compact while the writer keeps going.
    const uint64_t target = ops.load() + 300;
    ASSERT_TRUE(WaitFor(ops, target));
    ix.Compact();
    ++compactions;
  }
  stop = true;
  writer.join();
  searcher.join();
  ix.SetCompactionSliceHookForTesting(nullptr);
  EXPECT_FALSE(stalled.load());
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(searches.load(), 0u);
  EXPECT_EQ(compactions, 12);

  auto want = FromScratch(model);
  // As replayed (tombstones of docs removed during the last compaction may remain).
  ExpectSameIndex(ix, *want, "after concurrent compactions");
  // And once more compacted at rest: the same structure as a fresh build.
  ix.Compact();
  ExpectSameIndex(ix, *want, "after a final compaction");
  const KeywordStats g = ix.Stats(), w = want->Stats();
  EXPECT_EQ(g.doc_slots, w.doc_slots);
  EXPECT_EQ(g.tombstones, 0u);
  EXPECT_EQ(g.terms, w.terms);
  EXPECT_EQ(g.char_lists, w.char_lists);
  EXPECT_EQ(g.postings, w.postings);
  // Writes after the compactions keep working on the installed copy.
  testing::TextGen more(7);
  for (int i = 0; i < 200; ++i, ++next_id) {
    ChunkText c = Chunk(more, next_id);
    ASSERT_TRUE(ix.Add(c).ok());
    ASSERT_TRUE(want->Add(c).ok());
  }
  ExpectSameIndex(ix, *want, "after more adds");
}

TEST(KeywordCompactionTest, WritesAndSearchesProceedWhileTheRewriteIsInProgress) {
  KeywordIndex ix;
  testing::TextGen gen(31);
  std::map<int64_t, ChunkText> model;
  for (int64_t id = 1; id <= 6000; ++id) {
    ChunkText c = Chunk(gen, id);
    ASSERT_TRUE(ix.Add(c).ok());
    model.emplace(id, std::move(c));
  }
  for (int64_t id = 1; id <= 6000; id += 3) {
    ASSERT_TRUE(ix.Remove(model.at(id)).ok());
    model.erase(id);
  }
  // Hold the compaction after its first slice until the writer has done 500 ops and the
  // searcher 50 searches. If a write (or a search) had to wait for the rewrite, the counters
  // could not advance and the hook would give up (`blocked`).
  constexpr uint64_t kOps = 500, kSearches = 50;
  std::atomic<bool> in_rewrite{false}, blocked{false};
  std::atomic<uint64_t> ops{0}, searches{0}, slices{0};
  ix.SetCompactionSliceHookForTesting([&] {
    if (slices++ != 0) return;
    in_rewrite = true;
    if (!WaitFor(ops, kOps) || !WaitFor(searches, kSearches)) blocked = true;
  });
  std::thread compactor([&] { ix.Compact(); });
  std::thread searcher([&] {
    while (!in_rewrite.load()) std::this_thread::yield();
    const auto qs = Queries(3, 20);
    for (uint64_t i = 0; i < kSearches; ++i) {
      if (ix.Search(qs[i % qs.size()], 10).ok()) ++searches;
    }
  });
  while (!in_rewrite.load()) std::this_thread::yield();
  testing::TextGen wgen(8);
  int64_t next_id = 10000;
  for (uint64_t i = 0; i < kOps; ++i) {
    if (i % 3 == 2) {
      const int64_t id = model.begin()->first;
      ASSERT_TRUE(ix.Remove(model.at(id)).ok());
      model.erase(id);
    } else {
      ChunkText c = Chunk(wgen, next_id++);
      ASSERT_TRUE(ix.Add(c).ok());
      model.emplace(c.chunk_id, std::move(c));
    }
    ++ops;
  }
  compactor.join();
  searcher.join();
  EXPECT_FALSE(blocked.load());
  EXPECT_GT(slices.load(), 1u);
  EXPECT_EQ(searches.load(), kSearches);
  // The tombstones of the 2000 removed before are gone; those of the removals made during the
  // rewrite are kept (at most one per removal).
  EXPECT_LE(ix.Stats().tombstones, kOps / 3 + 1);
  ExpectSameIndex(ix, *FromScratch(model), "after the held compaction");
}

TEST(KeywordCompactionTest, LoadDuringCompactionWins) {
  KeywordIndex ix, other;
  testing::TextGen gen(5);
  std::map<int64_t, ChunkText> model;
  for (int64_t id = 1; id <= 1500; ++id) {
    ChunkText c = Chunk(gen, id);
    ASSERT_TRUE(ix.Add(c).ok());
    if (id % 2 == 0) {
      ASSERT_TRUE(other.Add(c).ok());
      model.emplace(id, c);
    }
  }
  // Remove the odd ids (the same texts, regenerated in the same order).
  testing::TextGen regen(5);
  for (int64_t id = 1; id <= 1500; ++id) {
    ChunkText c = Chunk(regen, id);
    if (id % 2 == 1) {
      ASSERT_TRUE(ix.Remove(c).ok());
    }
  }
  const std::string image = other.SerializeSnapshot();
  bool loaded = false;
  ix.SetCompactionSliceHookForTesting([&] {
    if (loaded) return;
    loaded = true;
    EXPECT_TRUE(ix.LoadSnapshotBytes(image, "other").ok());  // replaces the content mid-rewrite
  });
  ix.Compact();  // gives up
  ix.SetCompactionSliceHookForTesting(nullptr);
  EXPECT_TRUE(loaded);
  ExpectSameIndex(ix, other, "after a load during compaction");
  ChunkText extra = Chunk(gen, 5000);
  ASSERT_TRUE(ix.Add(extra).ok());
  ASSERT_TRUE(other.Add(extra).ok());
  ix.Compact();  // no tombstones: nothing to do
  ExpectSameIndex(ix, other, "after a later add");
}

}  // namespace
}  // namespace deepkb::inverted
