// Sync between real KbServers on loopback (in_process_server.h): push, pull, both, three nodes,
// an interrupted session that resumes, the tombstone horizon, and hostile input on the routes.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cutting_proxy.h"
#include "in_process_server.h"
#include "test_certs.h"
#include "sync/replicator.h"

namespace deepkb {
namespace {

using json = nlohmann::json;
using testing::InProcessServer;

using testing::CuttingProxy;

class SyncTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<InProcessServer> srv;
    std::string writer, reader, admin, scoped;
    std::string url() const { return "http://127.0.0.1:" + std::to_string(srv->port()); }
    kb::KnowledgeBase& kb() { return srv->kb(); }
  };

  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      Node n;
      n.srv = std::make_unique<InProcessServer>();
      n.writer = n.srv->keys().Create("writer", {}, 0).value();
      n.reader = n.srv->keys().Create("reader", {}, 0).value();
      n.admin = n.srv->keys().Create("admin", {}, 0).value();
      n.scoped = n.srv->keys().Create("writer", {"c"}, 0).value();
      nodes_.push_back(std::move(n));
    }
    ASSERT_TRUE(A().kb().CreateCollection({.name = "c"}).ok());
  }
  Node& A() { return nodes_[0]; }
  Node& B() { return nodes_[1]; }
  Node& C() { return nodes_[2]; }

  static void Put(Node& n, const std::string& id, const std::string& text,
                  const std::string& coll = "c") {
    kb::PutDocumentRequest req;
    req.collection = coll;
    req.doc_id = id;
    req.bytes = text;
    req.format = text::Format::kText;
    auto r = n.kb().PutDocument(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  static Result<sync::SyncReport> Sync(Node& local, const std::string& peer_url,
                                       const std::string& peer_key, sync::Direction d,
                                       int batch = 200, int max_pages = 0, bool full = false) {
    sync::SyncOptions o;
    o.peer.url = peer_url;
    o.peer.api_key = peer_key;
    o.peer.timeout_seconds = 10;
    o.direction = d;
    o.batch = batch;
    o.max_pages = max_pages;
    o.full = full;
    return sync::SyncOnce(local.kb(), o);
  }
  static Result<sync::SyncReport> Sync(Node& local, Node& peer, sync::Direction d) {
    return Sync(local, peer.url(), peer.writer, d);
  }

  static std::string Hash(Node& n) { return n.kb().StateHash().value(); }

  std::vector<Node> nodes_;
};

TEST_F(SyncTest, PushPullAndBothConvergeAcrossThreeNodes) {
  Put(A(), "a1", "alpha document one");
  Put(A(), "a2", "alpha document two");
  // pull: B creates the collection with A's settings and copies everything.
  auto r = Sync(B(), A(), sync::Direction::kPull);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.applied, 2);
  EXPECT_TRUE(r->pull.complete);
  EXPECT_EQ(Hash(A()), Hash(B()));
  // A pull checkpoint exists here, and a copy on the peer.
  const std::string rid = B().kb().node_id() + "->" + A().kb().node_id() + ":pull";
  EXPECT_EQ(B().kb().GetCheckpoint(rid).value()->last_seq, 2);
  EXPECT_EQ(A().kb().GetCheckpoint(rid).value()->last_seq, 2);

  // push: B writes, pushes to C (creating the collection there).
  Put(B(), "b1", "bravo document");
  ASSERT_TRUE(B().kb().DeleteDocument("c", "a1").ok());
  r = Sync(B(), C(), sync::Direction::kPush);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->push.applied, 3);
  EXPECT_EQ(Hash(B()), Hash(C()));

  // both: C and A exchange; A's versions reached C through B with their original stamps.
  Put(C(), "c1", "charlie document");
  Put(A(), "a3", "alpha three");
  r = Sync(C(), A(), sync::Direction::kBoth);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Hash(A()), Hash(C()));
  EXPECT_EQ(C().kb().GetDocument("c", "a2")->origin_node, A().kb().node_id());
  ASSERT_TRUE(Sync(B(), A(), sync::Direction::kBoth).ok());
  EXPECT_EQ(Hash(A()), Hash(B()));
  EXPECT_EQ(A().kb().GetDocument("c", "a1").status().code(), StatusCode::kNotFound);
  // Nothing new: a second round sends no versions back to where they came from.
  r = Sync(B(), A(), sync::Direction::kBoth);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pull.changes + r->push.changes, 0);
  for (auto* n : {&A(), &B(), &C()}) EXPECT_TRUE(n->kb().Verify().ok());
}

TEST_F(SyncTest, InterruptedSessionResumesFromTheLastCommittedCheckpoint) {
  for (int i = 0; i < 20; ++i) Put(A(), "d" + std::to_string(i), "document number " + std::to_string(i));
  // Two pages of five, then stop (as if the process had been stopped).
  auto r = Sync(B(), A().url(), A().writer, sync::Direction::kPull, 5, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->pull.complete);
  EXPECT_EQ(r->pull.to_seq, 10);
  const std::string rid = B().kb().node_id() + "->" + A().kb().node_id() + ":pull";
  // The connection is cut in the middle of the next page's answer: nothing of it is applied
  // and the checkpoint stays where the last commit left it.
  {
    CuttingProxy proxy(A().srv->port(), 1500);
    auto cut = Sync(B(), proxy.url(), A().writer, sync::Direction::kPull, 5);
    ASSERT_FALSE(cut.ok());
    EXPECT_EQ(cut.status().code(), StatusCode::kUnavailable) << cut.status().ToString();
  }
  EXPECT_EQ(B().kb().GetCheckpoint(rid).value()->last_seq, 10);
  EXPECT_EQ(B().kb().ListDocuments("c", "", 100)->size(), 10u);
  // Resume: the rest arrives; a replay of everything changes nothing.
  r = Sync(B(), A(), sync::Direction::kPull);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.from_seq, 10);
  EXPECT_EQ(r->pull.applied, 10);
  EXPECT_EQ(Hash(A()), Hash(B()));
  const std::string before = Hash(B());
  r = Sync(B(), A().url(), A().writer, sync::Direction::kPull, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pull.ignored, 20);
  EXPECT_EQ(Hash(B()), before);
}

TEST_F(SyncTest, PeerBehindTheTombstoneHorizonIsToldToResync) {
  Put(A(), "x", "to delete");
  Put(A(), "y", "to keep");
  ASSERT_TRUE(Sync(B(), A(), sync::Direction::kPull).ok());
  ASSERT_TRUE(A().kb().DeleteDocument("c", "x").ok());
  Put(A(), "z", "after");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(A().kb().TombstonePurge(0)->documents, 1);
  auto r = Sync(B(), A(), sync::Direction::kPull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("full resync"), std::string::npos) << r.status().ToString();
  auto raw = A().srv->Client(A().writer).Get("/v1/sync/changes?since=1");
  EXPECT_EQ(raw->status, 412);
  r = Sync(B(), A().url(), A().writer, sync::Direction::kPull, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(B().kb().GetDocument("c", "z").ok());
}

// Issue 6's last gap: a full pull removes, on the receiver, what the source deleted and purged
// (its feed no longer carries the tombstone), so the two nodes end up equal; the receiver adopts
// the source's horizon, so a third node cannot bring the document back to it.
TEST_F(SyncTest, FullPullRemovesDocumentsTheSourceDeletedAndPurged) {
  Put(A(), "x", "xylophone lessons, deleted later");
  Put(A(), "y", "to keep");
  Put(A(), "z", "also kept");
  ASSERT_TRUE(Sync(B(), A(), sync::Direction::kPull).ok());  // the first sync: a full one
  ASSERT_TRUE(Sync(C(), A(), sync::Direction::kPull).ok());  // a third node with x too
  ASSERT_TRUE(B().kb().GetDocument("c", "x").ok());
  ASSERT_TRUE(A().kb().DeleteDocument("c", "x").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(A().kb().TombstonePurge(0)->documents, 1);
  const uint64_t horizon = A().kb().PurgedHlc().value();
  ASSERT_GT(horizon, 0u);
  // The horizon travels in /v1/sync/info as a decimal string, like every HLC.
  const json info = json::parse(A().srv->Client(A().writer).Get("/v1/sync/info")->body);
  EXPECT_EQ(info["purged_hlc"], std::to_string(horizon));
  EXPECT_EQ(info["purged_through_seq"], 4);

  auto r = Sync(B(), A().url(), A().writer, sync::Direction::kPull, 2, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->pull.complete);
  EXPECT_EQ(r->pull.pruned, 1);
  EXPECT_EQ(r->pull.pruned_ids, std::vector<std::string>{"c/x"});
  EXPECT_EQ(sync::ReportToJson(*r)["pull"]["pruned"], 1);
  EXPECT_EQ(B().kb().GetDocument("c", "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Hash(A()), Hash(B()));
  EXPECT_EQ(B().kb().PurgedHlc().value(), horizon);
  EXPECT_TRUE(
      B().kb().Search({.collection = "c", .query = "xylophone", .mode = "keyword"})->hits.empty());
  EXPECT_TRUE(B().kb().Verify().ok());

  // C still has x; pushing it to B is refused by the adopted horizon (as A refuses it).
  r = Sync(C(), B().url(), B().writer, sync::Direction::kPush, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->push.rejected, 1);
  EXPECT_EQ(Hash(A()), Hash(B()));
  // C's own full pull from B removes it there too: the horizon passes on with the prune.
  r = Sync(C(), B().url(), B().writer, sync::Direction::kPull, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.pruned, 1);
  EXPECT_EQ(Hash(C()), Hash(A()));
  // Nothing left to do: another full pull prunes nothing.
  r = Sync(B(), A().url(), A().writer, sync::Direction::kPull, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pull.pruned, 0);
}

// Only versions at or below the source's horizon that its feed lacked go, and only in the
// collections the session pulled: a document written here after the horizon and never sent
// stays (a later push delivers it), one in a collection the session did not cover stays.
TEST_F(SyncTest, FullPullPrunesOnlyTheCoveredCollectionsAndVersionsAtOrBelowTheHorizon) {
  ASSERT_TRUE(A().kb().CreateCollection({.name = "other"}).ok());
  Put(A(), "x", "deleted and purged on A");
  ASSERT_TRUE(Sync(B(), A(), sync::Direction::kPull).ok());  // creates "other" on B too
  Put(B(), "never-sent-old", "written on B before A's horizon, never sent");
  Put(B(), "o1", "in a collection A's scoped key does not cover", "other");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // A's delete stamps later
  ASSERT_TRUE(A().kb().DeleteDocument("c", "x").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(A().kb().TombstonePurge(0)->documents, 1);
  Put(B(), "never-sent-new", "written on B after A's horizon, never sent");
  ASSERT_GT(B().kb().GetDocument("c", "never-sent-new")->version, A().kb().PurgedHlc().value());

  // A's key scoped to "c": the session covers "c" only.
  auto r = Sync(B(), A().url(), A().scoped, sync::Direction::kPull, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.pruned, 2);
  EXPECT_EQ(B().kb().GetDocument("c", "x").status().code(), StatusCode::kNotFound);
  // Older than A's horizon and never on A: A refuses it (its apply rule), so it goes here too.
  EXPECT_EQ(B().kb().GetDocument("c", "never-sent-old").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(B().kb().GetDocument("c", "never-sent-new").ok());
  EXPECT_TRUE(B().kb().GetDocument("other", "o1").ok());
  // An explicit --collection list covers only those collections as well.
  sync::SyncOptions o;
  o.peer.url = A().url();
  o.peer.api_key = A().writer;
  o.direction = sync::Direction::kPull;
  o.collections = {"c"};
  o.full = true;
  auto only_c = sync::SyncOnce(B().kb(), o);
  ASSERT_TRUE(only_c.ok()) << only_c.status().ToString();
  EXPECT_EQ(only_c->pull.pruned, 0);
  EXPECT_TRUE(B().kb().GetDocument("other", "o1").ok());
  // The push then delivers the new document; A accepts it (above its horizon).
  r = Sync(B(), A(), sync::Direction::kPush);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(A().kb().GetDocument("c", "never-sent-new").ok());
  EXPECT_EQ(A().kb().StateHash({"c"}).value(), B().kb().StateHash({"c"}).value());
}

// Only a complete feed proves that a document is absent: a full pull cut mid-feed, or stopped
// after some pages, removes nothing and adopts no horizon.
TEST_F(SyncTest, InterruptedFullPullPrunesNothing) {
  for (int i = 0; i < 12; ++i) Put(A(), "d" + std::to_string(i), "document " + std::to_string(i));
  Put(A(), "x", "deleted and purged on A");
  ASSERT_TRUE(Sync(B(), A(), sync::Direction::kPull).ok());
  ASSERT_TRUE(A().kb().DeleteDocument("c", "x").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(A().kb().TombstonePurge(0)->documents, 1);
  // How many answer bytes a whole full pull takes (C pulls through a counting proxy).
  size_t total = 0;
  {
    CuttingProxy counter(A().srv->port(), SIZE_MAX);
    ASSERT_TRUE(Sync(C(), counter.url(), A().writer, sync::Direction::kPull, 2).ok());
    total = counter.bytes_down();
  }
  ASSERT_GT(total, 0u);
  sync::SyncOptions o;
  o.peer.url = A().url();
  o.peer.api_key = A().writer;
  o.peer.timeout_seconds = 10;
  o.direction = sync::Direction::kPull;
  o.batch = 2;
  o.full = true;
  {
    CuttingProxy proxy(A().srv->port(), total / 2);
    sync::SyncOptions cut = o;
    cut.peer.url = proxy.url();
    sync::SyncReport report;
    const Status s = sync::SyncOnce(B().kb(), cut, report);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_GT(report.pull.pages, 0) << "the cut should land mid-feed";
    EXPECT_FALSE(report.pull.complete);
    EXPECT_EQ(report.pull.pruned, 0);
  }
  EXPECT_TRUE(B().kb().GetDocument("c", "x").ok());
  EXPECT_EQ(B().kb().PurgedHlc().value(), 0u);
  sync::SyncOptions paged = o;
  paged.max_pages = 2;
  auto r = sync::SyncOnce(B().kb(), paged);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->pull.complete);
  EXPECT_EQ(r->pull.pruned, 0);
  EXPECT_TRUE(B().kb().GetDocument("c", "x").ok());
  EXPECT_EQ(B().kb().PurgedHlc().value(), 0u);
  // The whole feed (asked of B's server, as `deepkb sync --server ... --full` does): now x goes,
  // and the report says so.
  auto run = B().srv->Client(B().admin).Post(
      "/v1/sync/run",
      json{{"peer", A().url()}, {"peer_key", A().writer}, {"direction", "pull"}, {"full", true}}
          .dump(),
      "application/json");
  ASSERT_EQ(run->status, 200) << run->body;
  const json report = json::parse(run->body);
  EXPECT_EQ(report["pull"]["pruned"], 1);
  EXPECT_EQ(report["pull"]["pruned_ids"], json::array({"c/x"}));
  EXPECT_EQ(B().kb().GetDocument("c", "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Hash(A()), Hash(B()));
}

// direction both: the pull (with its prune) and the push leave both nodes with the same rows.
TEST_F(SyncTest, FullBothAfterAPurgeLeavesEqualNodes) {
  Put(A(), "x", "deleted and purged on A");
  Put(A(), "y", "kept");
  ASSERT_TRUE(Sync(B(), A(), sync::Direction::kPull).ok());
  Put(B(), "b-old", "written on B before A's horizon, never sent");
  ASSERT_TRUE(B().kb().DeleteDocument("c", "y").ok());        // a delete A has not seen yet
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // A's delete stamps later
  ASSERT_TRUE(A().kb().DeleteDocument("c", "x").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(A().kb().TombstonePurge(0)->documents, 1);
  Put(B(), "b-new", "written on B after A's horizon");
  Put(A(), "a-new", "written on A after its purge");
  auto r = Sync(B(), A().url(), A().writer, sync::Direction::kBoth, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.pruned, 2);  // x, b-old
  EXPECT_EQ(r->push.rejected, 0) << "pruned before the push: nothing A would refuse is sent";
  EXPECT_EQ(Hash(A()), Hash(B()));
  EXPECT_TRUE(A().kb().GetDocument("c", "b-new").ok());
  EXPECT_EQ(A().kb().GetDocument("c", "y").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(B().kb().GetDocument("c", "a-new").ok());
  for (const char* id : {"x", "b-old"}) {
    EXPECT_EQ(A().kb().GetDocument("c", id).status().code(), StatusCode::kNotFound) << id;
    EXPECT_EQ(B().kb().GetDocument("c", id).status().code(), StatusCode::kNotFound) << id;
  }
  // Both agree: an incremental round changes nothing, and A pruning from B finds nothing.
  r = Sync(B(), A(), sync::Direction::kBoth);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.applied + r->push.applied + r->pull.pruned, 0);
  r = Sync(A(), B().url(), B().writer, sync::Direction::kBoth, 200, 0, /*full=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pull.applied + r->push.applied + r->pull.pruned, 0);
  EXPECT_EQ(Hash(A()), Hash(B()));
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST_F(SyncTest, ApplyRouteRejectsBadInputCleanly) {
  Put(A(), "d", "the only document");
  ASSERT_TRUE(B().kb().CreateCollection({.name = "c"}).ok());
  ASSERT_TRUE(B().kb().CreateCollection({.name = "other"}).ok());
  auto page = json::parse(A().srv->Client(A().writer).Get("/v1/sync/changes?since=0")->body);
  ASSERT_EQ(page["changes"].size(), 1u);
  EXPECT_TRUE(page["changes"][0]["hlc"].is_string());  // 64-bit values travel as strings
  const json good = page["changes"][0];
  auto b = B().srv->Client(B().writer);
  const std::string empty_hash = Hash(B());

  for (const char* body : {"{not json", "[]", R"({"changes": 3})", R"({"changes": [], "x": 1})"}) {
    auto r = b.Post("/v1/sync/apply", body, "application/json");
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_TRUE(testing::IsErrorShape(r->body)) << r->body;
  }
  json bad = json::array();
  bad.push_back(json{{"collection", "c"}});                        // missing fields
  json c1 = good; c1["hlc"] = "12x";                               bad.push_back(c1);
  json c2 = good; c2["collection"] = "nope";                       bad.push_back(c2);
  json c3 = good; c3["document"]["chunks"] = json::array();        bad.push_back(c3);
  json c4 = good; c4["document"]["vectors"] = json::array({"!!"}); bad.push_back(c4);
  json c5 = good; c5["hlc"] = std::to_string(~0ull);               bad.push_back(c5);  // far future
  auto r = b.Post("/v1/sync/apply", json{{"node_id", "x"}, {"changes", bad}}.dump(),
                  "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  auto res = json::parse(r->body);
  EXPECT_EQ(res["rejected"], 6);
  for (const auto& x : res["results"]) {
    EXPECT_EQ(x["outcome"], "rejected");
    EXPECT_FALSE(x["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(Hash(B()), empty_hash);

  // A reader key may not read or apply changes.
  auto reader = B().srv->Client(B().reader);
  EXPECT_EQ(reader.Post("/v1/sync/apply", R"({"changes": []})", "application/json")->status, 403);
  EXPECT_EQ(reader.Get("/v1/sync/changes")->status, 403);
  EXPECT_EQ(reader.Get("/v1/sync/info")->status, 403);
  // A writer scoped to "c" cannot apply to "other" nor read its changes.
  auto scoped = B().srv->Client(B().scoped);
  json other = good;
  other["collection"] = "other";
  r = scoped.Post("/v1/sync/apply", json{{"changes", {other}}}.dump(), "application/json");
  EXPECT_EQ(json::parse(r->body)["results"][0]["outcome"], "rejected");
  EXPECT_EQ(scoped.Get("/v1/sync/changes?collection=other")->status, 403);

  // The good change, gzip-compressed; then the same batch replayed: ignored, nothing changes.
  httplib::Headers gz = {{"Content-Encoding", "gzip"}};
  const std::string batch = json{{"changes", {good}}}.dump();
  r = b.Post("/v1/sync/apply", gz, Gzip(batch), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["applied"], 1);
  const std::string after = Hash(B());
  EXPECT_EQ(after, Hash(A()));
  r = b.Post("/v1/sync/apply", batch, "application/json");
  EXPECT_EQ(json::parse(r->body)["ignored"], 1);
  EXPECT_EQ(Hash(B()), after);
  // Answers are compressed for clients that accept it.
  httplib::Client raw("127.0.0.1", B().srv->port());
  raw.set_decompress(false);
  raw.set_bearer_token_auth(B().writer.c_str());
  auto zipped = raw.Get("/v1/sync/changes", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(zipped->get_header_value("Content-Encoding"), "gzip");

  // Conflicts are for admins; checkpoints round-trip for writers.
  EXPECT_EQ(b.Get("/v1/sync/conflicts")->status, 403);
  EXPECT_EQ(B().srv->Client(B().admin).Get("/v1/sync/conflicts")->status, 200);
  EXPECT_EQ(b.Get("/v1/sync/checkpoints/x-%3Ey:pull")->status, 404);
  EXPECT_EQ(b.Put("/v1/sync/checkpoints/x-%3Ey:pull", R"({"last_seq": 7})", "application/json")->status, 200);
  EXPECT_EQ(json::parse(b.Get("/v1/sync/checkpoints/x-%3Ey:pull")->body)["last_seq"], 7);
  EXPECT_EQ(b.Put("/v1/sync/checkpoints/x", R"({"last_seq": -1})", "application/json")->status, 400);
}

TEST_F(SyncTest, RunRouteSyncsOnTheServersBehalf) {
  Put(A(), "d", "run by the server");
  auto admin = B().srv->Client(B().admin);
  auto r = admin.Post("/v1/sync/run",
                      json{{"peer", A().url()}, {"peer_key", A().writer}, {"direction", "pull"}}.dump(),
                      "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["pull"]["applied"], 1);
  EXPECT_EQ(Hash(A()), Hash(B()));
  r = admin.Post("/v1/sync/run", json{{"peer", A().url()}, {"peer_key", A().reader}}.dump(),
                 "application/json");
  EXPECT_EQ(r->status, 403) << r->body;  // the peer refused a reader key
  EXPECT_EQ(B().srv->Client(B().writer).Post("/v1/sync/run", "{}", "application/json")->status, 403);
}

// Node-to-node traffic over TLS with client certificates: a peer started with a client CA
// (--tls-client-ca) syncs with a node that presents a certificate signed by it, and refuses one
// that presents none.
TEST_F(SyncTest, PeerRequiringClientCertificatesSyncsOverMutualTls) {
  const auto dir = std::filesystem::temp_directory_path() / ("sync_mtls_" + RandomHex(6));
  std::filesystem::create_directories(dir / "peer");
  ASSERT_NO_FATAL_FAILURE(testing::MakeCertificates(dir));
  auto kb = kb::KnowledgeBase::Open((dir / "peer").string()).value();
  auto keys = auth::ApiKeys::Open((dir / "peer" / "kb.db").string()).value();
  const std::string writer = keys->Create("writer", {}, 0).value();
  ASSERT_TRUE(kb->CreateCollection({.name = "c"}).ok());
  kb::PutDocumentRequest req;
  req.collection = "c";
  req.doc_id = "tls-doc";
  req.bytes = "Replicated over mutual TLS.";
  req.format = text::Format::kText;
  ASSERT_TRUE(kb->PutDocument(req).ok());
  server::ServerOptions so;
  so.port = 0;
  so.rate_limit = 0;
  so.tls.cert_file = (dir / "server.pem").string();
  so.tls.key_file = (dir / "server.key").string();
  so.tls.client_ca_file = (dir / "ca.pem").string();
  auto srv = std::make_unique<server::KbServer>(*kb, *keys, so);
  const int port = srv->Bind().value();
  std::thread serving([&] { (void)srv->Serve(); });

  sync::SyncOptions o;
  o.peer.url = "https://127.0.0.1:" + std::to_string(port);
  o.peer.api_key = writer;
  o.peer.ca_file = (dir / "ca.pem").string();
  o.peer.timeout_seconds = 10;
  o.direction = sync::Direction::kPull;
  EXPECT_FALSE(sync::SyncOnce(B().kb(), o).ok()) << "no client certificate: refused";
  EXPECT_FALSE(B().kb().GetDocument("c", "tls-doc").ok());

  o.peer.client_cert_file = (dir / "client.pem").string();
  o.peer.client_key_file = (dir / "client.key").string();
  auto r = sync::SyncOnce(B().kb(), o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(B().kb().GetDocument("c", "tls-doc").ok());
  EXPECT_EQ(kb->StateHash({"c"}).value(), B().kb().StateHash({"c"}).value());

  // A certificate without its key, or on plain http, is a configuration error up front.
  sync::SyncOptions half = o;
  half.peer.client_key_file.clear();
  EXPECT_EQ(sync::SyncOnce(B().kb(), half).status().code(), StatusCode::kInvalidArgument);
  sync::SyncOptions plain = o;
  plain.peer.url = A().url();
  EXPECT_EQ(sync::SyncOnce(B().kb(), plain).status().code(), StatusCode::kInvalidArgument);

  srv->Stop();
  serving.join();
  srv.reset();
  keys.reset();
  kb.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deepkb
