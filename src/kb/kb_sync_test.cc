// KnowledgeBase sync API on in-process nodes (real SQLite files, no HTTP): last-writer-wins,
// idempotency, conflicts, tombstones, clock skew, the tombstone horizon.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "common/hash.h"
#include "kb/kb.h"

namespace deepkb::kb {
namespace {

struct Node {
  std::filesystem::path dir;
  std::unique_ptr<KnowledgeBase> kb;
};

class KbSyncTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& n : nodes_) {
      n.kb.reset();
      std::filesystem::remove_all(n.dir);
    }
  }

  KnowledgeBase& Open(KbOptions opts = {}, const std::string& embedder = "ngram-hash") {
    Node n;
    n.dir = std::filesystem::temp_directory_path() / ("kb_sync_" + RandomHex(6));
    auto kb = KnowledgeBase::Open(n.dir.string(), opts);
    EXPECT_TRUE(kb.ok()) << kb.status().ToString();
    n.kb = std::move(kb).value();
    EXPECT_TRUE(n.kb->CreateCollection({.name = "c", .embedder = embedder}).ok());
    nodes_.push_back(std::move(n));
    return *nodes_.back().kb;
  }

  static uint64_t Put(KnowledgeBase& kb, const std::string& id, const std::string& text) {
    PutDocumentRequest req;
    req.collection = "c";
    req.doc_id = id;
    req.bytes = text;
    req.format = text::Format::kText;
    auto r = kb.PutDocument(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->version : 0;
  }

  // Every change of `from` after `since` applied to `to`; returns the results.
  static std::vector<ApplyResult> Sync(KnowledgeBase& from, KnowledgeBase& to,
                                       int64_t since = 0) {
    auto page = from.ChangesSince({.after_seq = since, .limit = 1000, .full = true});
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    auto r = to.ApplyChanges(page->changes);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<ApplyResult>{};
  }

  static std::string Hash(KnowledgeBase& kb) { return kb.StateHash().value(); }

  static std::vector<std::string> Search(KnowledgeBase& kb, const std::string& q,
                                         const std::string& mode = "keyword") {
    auto r = kb.Search({.collection = "c", .query = q, .mode = mode});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const auto& h : r->hits) ids.push_back(h.doc_id);
    }
    return ids;
  }

  std::vector<Node> nodes_;
};

TEST(LwwTest, OrdersByHlcThenNodeThenHash) {
  EXPECT_TRUE(LwwLess(1, "ff", "ff", 2, "00", "00"));  // hlc first
  EXPECT_FALSE(LwwLess(2, "00", "00", 1, "ff", "ff"));
  EXPECT_TRUE(LwwLess(5, "aa", "ff", 5, "bb", "00"));  // equal hlc: node id
  EXPECT_TRUE(LwwLess(5, "aa", "01", 5, "aa", "02"));  // equal both: content hash
  EXPECT_TRUE(LwwLess(5, "aa", "", 5, "aa", "01"));    // a live version beats a tombstone
  EXPECT_FALSE(LwwLess(5, "aa", "01", 5, "aa", "01"));  // the same version
}

TEST_F(KbSyncTest, CopiesDocumentsWithChunksAndVectorsAndIsIdempotent) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open();
  Put(a, "d1", "连接池的最大连接数是 64。");
  Put(a, "d2", "replication lag alert fires after five minutes");
  auto first = Sync(a, b);
  ASSERT_EQ(first.size(), 2u);
  for (const auto& r : first) EXPECT_EQ(r.outcome, ApplyOutcome::kApplied) << r.reason;
  EXPECT_EQ(Hash(a), Hash(b));
  EXPECT_EQ(Search(b, "连接池"), std::vector<std::string>{"d1"});
  EXPECT_EQ(Search(b, "replication lag", "vector").front(), "d2");
  EXPECT_TRUE(b.Verify().ok());
  // The version keeps its origin, and b's change feed carries it on.
  EXPECT_EQ(b.GetDocument("c", "d1")->origin_node, a.node_id());
  auto fed = b.ChangesSince({});
  ASSERT_TRUE(fed.ok());
  ASSERT_EQ(fed->changes.size(), 2u);
  EXPECT_EQ(fed->changes[0].node_id, a.node_id());

  const std::string before = Hash(b);
  for (const auto& r : Sync(a, b)) EXPECT_EQ(r.outcome, ApplyOutcome::kIgnoredDuplicate);
  EXPECT_EQ(Hash(b), before);
  // A local re-put of the same content is still "unchanged".
  PutDocumentRequest same{.collection = "c", .doc_id = "d2",
                          .bytes = "replication lag alert fires after five minutes",
                          .format = text::Format::kText};
  EXPECT_EQ(b.PutDocument(same)->outcome, PutResult::Outcome::kUnchanged);
}

TEST_F(KbSyncTest, PageShipsOnlyTheLatestVersionOfADocument) {
  KnowledgeBase& a = Open();
  for (int i = 0; i < 5; ++i) Put(a, "d", "version " + std::to_string(i));
  Put(a, "e", "other");
  auto page = a.ChangesSince({.limit = 3});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->changes.empty());  // rows 1-3 were all superseded
  EXPECT_EQ(page->last_seq, 3);
  EXPECT_TRUE(page->more);
  page = a.ChangesSince({.after_seq = 3});
  ASSERT_EQ(page->changes.size(), 2u);
  EXPECT_EQ(page->changes[0].doc_id, "d");
  EXPECT_EQ(page->changes[0].document->chunks.front().text, "version 4");
  EXPECT_EQ(page->last_seq, 6);
  EXPECT_FALSE(page->more);
  // Versions stamped by a node are left out when that node asks.
  EXPECT_TRUE(a.ChangesSince({.exclude_node = a.node_id()})->changes.empty());
  EXPECT_EQ(a.ChangesSince({.limit = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KbSyncTest, ConcurrentWritesConvergeAndTheLoserIsRecorded) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open();
  Put(a, "d", "written on a");
  Put(b, "d", "written on b");
  const auto pa = a.ChangesSince({}).value().changes;
  const auto pb = b.ChangesSince({}).value().changes;
  const auto ab = b.ApplyChanges(pa).value();
  const auto ba = a.ApplyChanges(pb).value();
  EXPECT_EQ(Hash(a), Hash(b));
  const auto winner = a.GetDocument("c", "d").value();
  EXPECT_EQ(winner.content_hash, b.GetDocument("c", "d")->content_hash);
  // The losing version is recorded where it arrived: on the winner's node.
  const bool a_won = winner.origin_node == a.node_id();
  KnowledgeBase& recorder = a_won ? a : b;
  EXPECT_EQ((a_won ? ba : ab)[0].outcome, ApplyOutcome::kConflictRecorded);
  EXPECT_EQ((a_won ? ab : ba)[0].outcome, ApplyOutcome::kApplied);
  auto conflicts = recorder.ListConflicts(0, 10);
  ASSERT_TRUE(conflicts.ok());
  ASSERT_EQ(conflicts->size(), 1u);
  EXPECT_EQ((*conflicts)[0].winner_node, winner.origin_node);
  EXPECT_NE((*conflicts)[0].loser_node, winner.origin_node);
  // Replaying both old batches changes nothing and records nothing new.
  const std::string before = Hash(a);
  EXPECT_EQ(b.ApplyChanges(pa).value()[0].outcome,
            ApplyOutcome::kIgnoredDuplicate);
  EXPECT_NE(a.ApplyChanges(pb).value()[0].outcome, ApplyOutcome::kApplied);
  EXPECT_EQ(recorder.ListConflicts(0, 10)->size(), 1u);
  EXPECT_EQ(Hash(a), before);
  EXPECT_EQ(Hash(b), before);
  EXPECT_EQ(Search(a, a_won ? "written on a" : "written on b").size(), 1u);
}

TEST_F(KbSyncTest, TombstonesTakePartInTheOrdering) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open();
  Put(a, "d", "alpha text");
  Sync(a, b);
  ASSERT_TRUE(a.DeleteDocument("c", "d").ok());  // newer than b's copy: wins there
  Sync(a, b, 1);
  EXPECT_EQ(b.GetDocument("c", "d").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Search(b, "alpha").empty());
  EXPECT_EQ(Hash(a), Hash(b));

  // Re-create after delete: the new version is newer than the tombstone.
  Put(a, "d", "beta text");
  Sync(a, b, 2);
  EXPECT_EQ(Search(b, "beta"), std::vector<std::string>{"d"});
  EXPECT_EQ(Hash(a), Hash(b));

  // An older tombstone loses against a newer live version.
  KnowledgeBase& c = Open();
  Put(c, "x", "gamma");
  Sync(c, a);
  ASSERT_TRUE(c.DeleteDocument("c", "x").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Put(a, "x", "gamma two");  // later than c's delete
  auto r = Sync(a, c);
  EXPECT_EQ(Search(c, "gamma").size(), 1u);
  r = Sync(c, a);
  EXPECT_EQ(Search(a, "gamma").size(), 1u);
  EXPECT_EQ(a.StateHash({"c"}).value(), c.StateHash({"c"}).value());
}

TEST_F(KbSyncTest, RejectsBadChangesWithoutWritingAnything) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open();
  Put(a, "d", "good document");
  auto page = a.ChangesSince({});
  ASSERT_TRUE(page.ok());
  const SyncChange good = page->changes.at(0);
  std::vector<SyncChange> bad(7, good);
  bad[0].collection = "nope";
  bad[1].node_id = "";
  bad[2].content_hash = "xyz";
  bad[3].document.reset();
  bad[4].document->chunks.clear();
  bad[5].hlc = 0;
  bad[6].document->metadata_json = "[1]";
  const std::string before = Hash(b);
  auto r = b.ApplyChanges(bad);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& x : *r) {
    EXPECT_EQ(x.outcome, ApplyOutcome::kRejected);
    EXPECT_FALSE(x.reason.empty());
  }
  EXPECT_NE((*r)[0].reason.find("unknown collection"), std::string::npos);
  EXPECT_EQ(Hash(b), before);
}

TEST_F(KbSyncTest, ClockTooFarAheadIsRejectedAndLocalWritesStayAboveObservedTimes) {
  KnowledgeBase& a = Open();
  std::atomic<uint64_t> b_wall{0};
  KbOptions skewed;
  const uint64_t real = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count());
  b_wall = real - 3'600'000;  // b's clock is an hour behind
  skewed.clock_wall = [&] { return b_wall.load(); };
  KnowledgeBase& b = Open(skewed);
  Put(a, "d", "from the future");
  auto r = Sync(a, b);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, ApplyOutcome::kRejected);
  EXPECT_NE(r[0].reason.find("ahead of the local clock"), std::string::npos);
  EXPECT_EQ(b.GetDocument("c", "d").status().code(), StatusCode::kNotFound);
  EXPECT_LT(Hlc::Millis(Put(b, "own", "local")), real - 3'000'000);  // not adopted

  b_wall = real - 30'000;  // within the 60 s limit: accepted, and the clock moves past it
  r = Sync(a, b);
  EXPECT_EQ(r[0].outcome, ApplyOutcome::kApplied);
  const uint64_t remote = b.GetDocument("c", "d")->version;
  EXPECT_GT(Put(b, "later", "local write"), remote);
}

TEST_F(KbSyncTest, PurgeMovesTheHorizonAndOldPeersMustResync) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open();
  Put(a, "d", "to be deleted");
  Put(a, "keep", "stays");
  Sync(a, b);
  ASSERT_TRUE(a.DeleteDocument("c", "d").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the tombstone is in the past
  auto purged = a.TombstonePurge(0);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(purged->documents, 1);
  EXPECT_EQ(a.PurgedThroughSeq().value(), 3);
  auto behind = a.ChangesSince({.after_seq = 2});
  EXPECT_EQ(behind.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(behind.status().message().find("full resync"), std::string::npos);
  EXPECT_TRUE(a.ChangesSince({.after_seq = 3}).ok());
  auto full = a.ChangesSince({.full = true});
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->changes.size(), 1u);
  EXPECT_EQ(full->changes[0].doc_id, "keep");
  // b still holds the old live version; pushing it back to a does not resurrect the delete.
  auto back = Sync(b, a);
  EXPECT_EQ(a.GetDocument("c", "d").status().code(), StatusCode::kNotFound);
  bool rejected = false;
  for (const auto& r : back) rejected |= r.outcome == ApplyOutcome::kRejected;
  EXPECT_TRUE(rejected);
  EXPECT_EQ(a.TombstonePurge(-1).status().code(), StatusCode::kInvalidArgument);
}

// The end of a complete full pull: what the source's feed lacked, at or below its horizon, goes
// (live or tombstone, with its index entries and change rows); the rest stays; the horizon is
// adopted, so the removed version cannot come back.
TEST_F(KbSyncTest, PruneAbsentFromSourceRemovesWhatTheSourcePurgedAndAdoptsItsHorizon) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open();
  Put(a, "gone", "zebra crossing document that the source deletes");
  Put(a, "kept", "stays on both nodes");
  Put(a, "dead", "deleted on both, tombstone purged at the source only");
  Sync(a, b);
  ASSERT_TRUE(a.DeleteDocument("c", "dead").ok());
  Sync(a, b, 3);  // b has the tombstone of "dead"
  ASSERT_TRUE(a.DeleteDocument("c", "gone").ok());  // b never gets this tombstone
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(a.TombstonePurge(0)->documents, 2);
  const uint64_t horizon = a.PurgedHlc().value();
  ASSERT_GT(horizon, 0u);
  const uint64_t fresh = Put(b, "fresh", "written on b after the source's horizon");
  ASSERT_GT(fresh, horizon);
  EXPECT_EQ(Search(b, "zebra"), std::vector<std::string>{"gone"});
  const int64_t seq_before = b.UpdateSeq().value();

  auto feed = a.ChangesSince({.limit = 1000, .full = true});
  ASSERT_TRUE(feed.ok());
  std::set<std::string> carried;
  for (const auto& c : feed->changes) carried.insert(c.doc_id);
  ASSERT_EQ(carried, std::set<std::string>{"kept"});
  const auto in_feed = [&](const std::string& coll, const std::string& id) {
    return coll == "c" && carried.count(id) > 0;
  };
  // A horizon more than the allowed skew ahead of b's clock changes nothing.
  const uint64_t future = Hlc::Pack(Hlc::Millis(horizon) + 3'600'000, 0);
  EXPECT_EQ(b.PruneAbsentFromSource({"c"}, future, in_feed).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(b.PurgedHlc().value(), 0u);
  EXPECT_TRUE(b.GetDocument("c", "gone").ok());

  auto pruned = b.PruneAbsentFromSource({"c", "no-such-collection"}, horizon, in_feed, 1);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->documents, 2);  // "gone" (live) and the tombstone of "dead"
  EXPECT_EQ(pruned->tombstones, 1);
  EXPECT_EQ(pruned->examples, (std::vector<std::string>{"c/dead", "c/gone"}));
  EXPECT_EQ(b.GetDocument("c", "gone").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(b.GetDocument("c", "kept").ok());
  EXPECT_TRUE(b.GetDocument("c", "fresh").ok()) << "above the horizon: never pruned";
  EXPECT_TRUE(Search(b, "zebra").empty());
  EXPECT_TRUE(b.Verify().ok());
  EXPECT_EQ(b.PurgedHlc().value(), horizon);
  // The removed change rows are behind purged_through_seq: peers behind them resync in full.
  EXPECT_GT(b.PurgedThroughSeq().value(), 0);
  EXPECT_LT(b.PurgedThroughSeq().value(), seq_before);
  auto b_feed = b.ChangesSince({.limit = 1000, .full = true});
  ASSERT_TRUE(b_feed.ok());
  ASSERT_EQ(b_feed->changes.size(), 2u);  // kept, fresh: nothing of the pruned documents
  // The source accepts "fresh" (above its horizon); then both hold the same rows.
  for (const auto& r : Sync(b, a)) EXPECT_NE(r.outcome, ApplyOutcome::kRejected) << r.reason;
  EXPECT_EQ(Hash(a), Hash(b));
  // The adopted horizon refuses the removed version when a third node sends it again.
  SyncChange old_gone;
  old_gone.collection = "c";
  old_gone.doc_id = "gone";
  old_gone.hlc = horizon - 1;
  old_gone.node_id = a.node_id();
  old_gone.content_hash = std::string(64, 'a');
  old_gone.document = SyncDocument{.chunks = {ChunkRow{.text = "zebra crossing"}}};
  auto res = b.ApplyChanges({old_gone});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ((*res)[0].outcome, ApplyOutcome::kRejected) << (*res)[0].reason;
  // Running it again finds nothing more.
  EXPECT_EQ(b.PruneAbsentFromSource({"c"}, horizon, in_feed)->documents, 0);
  EXPECT_EQ(b.PruneAbsentFromSource({"c"}, horizon, in_feed, 0).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(KbSyncTest, DifferentEmbedderReembedsInsteadOfUsingShippedVectors) {
  KnowledgeBase& a = Open();
  KnowledgeBase& b = Open({}, "ngram-hash:64");
  Put(a, "d", "vector search over replicated text");
  auto r = Sync(a, b);
  ASSERT_EQ(r[0].outcome, ApplyOutcome::kApplied) << r[0].reason;
  EXPECT_EQ(Search(b, "vector search replicated", "vector").front(), "d");
  EXPECT_TRUE(b.Verify().ok());
}

TEST_F(KbSyncTest, CheckpointsRoundTrip) {
  KnowledgeBase& a = Open();
  EXPECT_FALSE(a.GetCheckpoint("x->y:pull").value().has_value());
  ASSERT_TRUE(a.PutCheckpoint({.replication_id = "x->y:pull", .peer = "http://y",
                               .direction = "pull", .last_seq = 42}).ok());
  auto cp = a.GetCheckpoint("x->y:pull").value();
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->last_seq, 42);
  EXPECT_EQ(a.PutCheckpoint({.replication_id = "", .last_seq = 1}).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deepkb::kb
