// The sync scheduler against real KbServers on loopback: --sync-peer parsing, sessions on the
// interval with status and metrics, backoff against an unreachable peer, prompt shutdown while a
// request hangs, and the tombstone purge schedule.
#include "sync/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "tests/in_process_server.h"

namespace deepkb::sync {
namespace {

using Clock = std::chrono::steady_clock;

// Polls `pred` every 10 ms for up to `seconds`.
template <typename Pred>
bool WaitFor(Pred pred, double seconds = 10) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// A listening loopback socket that accepts connections and never answers.
class SilentPeer {
 public:
  SilentPeer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentPeer() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1, port_ = 0;
};

std::string Url(const testing::InProcessServer& s) {
  return "http://127.0.0.1:" + std::to_string(s.port());
}

std::string FreePortUrl() {
  SilentPeer p;  // bound, then closed: nothing listens there afterwards
  return p.url();
}

TEST(ParsePeerSpec, ReadsEverySettingAndMinutes) {
  const std::string key = ::testing::TempDir() + "/peer.key";
  std::ofstream(key) << "dkb_secret \n";
  auto p = ParsePeerSpec("https://replica.example:8443,key-file=" + key +
                         ",ca=/etc/ca.pem,cert=/etc/node.pem,cert-key=/etc/node.key,direction=push,"
                         "collection=a,collection=b,interval=15m");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->options.peer.url, "https://replica.example:8443");
  EXPECT_EQ(p->options.peer.api_key, "dkb_secret");
  EXPECT_EQ(p->options.peer.ca_file, "/etc/ca.pem");
  EXPECT_EQ(p->options.peer.client_cert_file, "/etc/node.pem");
  EXPECT_EQ(p->options.peer.client_key_file, "/etc/node.key");
  EXPECT_EQ(p->options.direction, Direction::kPush);
  EXPECT_EQ(p->options.collections, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p->interval_seconds, 900);
  ::setenv("DEEPKB_TEST_PEER_KEY", "k2", 1);
  p = ParsePeerSpec("http://h,key-env=DEEPKB_TEST_PEER_KEY");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->options.peer.api_key, "k2");
  EXPECT_EQ(p->interval_seconds, 86400);  // daily by default
  EXPECT_EQ(p->options.direction, Direction::kBoth);

  for (const std::string& bad : std::vector<std::string>{"replica:8443,key-file=" + key, "http://h", "http://h,key-file=" + key + ",key-env=X",
        "http://h,key-file=/nonexistent/key", "http://h,key-file=" + key + ",interval=10",
        "http://h,key-file=" + key + ",interval=500ms", "http://h,key-file=" + key + ",color=red",
        "http://h,key-file=" + key + ",direction=sideways", "http://h,key-env=DEEPKB_UNSET_VAR_X"}) {
    auto r = ParsePeerSpec(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--sync-peer"), std::string::npos) << r.status().ToString();
  }
}

TEST(PeerLabel, IsHostAndPort) {
  EXPECT_EQ(PeerLabel("https://replica.example:8443/kb"), "replica.example:8443");
  EXPECT_EQ(PeerLabel("https://replica.example"), "replica.example:443");
  EXPECT_EQ(PeerLabel("http://[::1]:80"), "[::1]:80");
  EXPECT_EQ(PeerLabel("http://a\"b{c}"), "a_b_c_:80");
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    writer_ = a_.keys().Create("writer", {}, 0).value();
    ASSERT_TRUE(a_.kb().CreateCollection({.name = "c"}).ok());
    for (int i = 0; i < 5; ++i) Put(a_, "d" + std::to_string(i));
  }
  static void Put(testing::InProcessServer& s, const std::string& id) {
    kb::PutDocumentRequest r;
    r.collection = "c";
    r.doc_id = id;
    r.bytes = "document " + id;
    r.format = text::Format::kText;
    ASSERT_TRUE(s.kb().PutDocument(r).ok());
  }
  ScheduledPeer Peer(const std::string& url, double interval) {
    ScheduledPeer p;
    p.options.peer.url = url;
    p.options.peer.api_key = writer_;
    p.options.peer.timeout_seconds = 60;
    p.interval_seconds = interval;
    return p;
  }
  static SchedulerOptions Fast() {
    SchedulerOptions o;
    o.first_delay_max_seconds = 0;
    o.retry_initial_seconds = 0.05;
    o.retry_max_seconds = 0.4;
    o.tombstone_horizon_ms = 0;
    o.seed = 7;
    return o;
  }

  testing::InProcessServer a_, b_;
  std::string writer_;
};

TEST_F(SchedulerTest, SyncsOnTheIntervalAndReportsStatusAndMetrics) {
  metrics::Registry reg;
  SchedulerOptions o = Fast();
  o.peers.push_back(Peer(Url(a_), 0.2));
  SyncScheduler s(b_.kb(), o, &reg);
  s.Start();
  ASSERT_TRUE(WaitFor([&] { return s.Status()[0].sessions >= 1; }));
  EXPECT_EQ(b_.kb().StateHash().value(), a_.kb().StateHash().value());
  // A write on A arrives with a later session, without being asked.
  Put(a_, "later");
  ASSERT_TRUE(WaitFor([&] { return s.Status()[0].applied == 6; }));
  EXPECT_TRUE(b_.kb().GetDocument("c", "later").ok());
  auto st = s.Status()[0];
  const std::string label = "127.0.0.1:" + std::to_string(a_.port());
  EXPECT_EQ(st.peer, label);
  EXPECT_EQ(st.peer_node, a_.kb().node_id());
  EXPECT_EQ(st.applied, 6);
  EXPECT_EQ(st.failures, 0);
  EXPECT_TRUE(st.last_error.empty());
  EXPECT_GT(st.last_success, 0);
  EXPECT_LT(st.lag_seconds, 5);
  s.RefreshMetrics();
  const std::string text = reg.Expose();
  EXPECT_NE(text.find("deepkb_sync_changes_total{peer=\"" + label + "\",direction=\"pull\"} 6"),
            std::string::npos) << text;
  EXPECT_NE(text.find("deepkb_sync_lag_seconds{peer=\"" + label + "\"}"), std::string::npos);
  EXPECT_NE(text.find("deepkb_sync_interval_seconds{peer=\"" + label + "\"} 0.2"),
            std::string::npos);
  EXPECT_EQ(text.find("deepkb_sync_last_success_timestamp_seconds{peer=\"" + label + "\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_sync_errors_total{peer=\"" + label + "\"} 0"), std::string::npos);
  s.Stop();
}

// The first session of a replication is a full one: documents the peer deleted beyond its
// tombstone horizon go, and are counted per peer.
TEST_F(SchedulerTest, FirstSessionPrunesWhatThePeerPurgedAndCountsIt) {
  ASSERT_TRUE(b_.kb().CreateCollection({.name = "c"}).ok());
  Put(b_, "d0");  // B had d0 before A deleted it, and never saw the delete
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(a_.kb().DeleteDocument("c", "d0").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(a_.kb().TombstonePurge(0)->documents, 1);
  metrics::Registry reg;
  SchedulerOptions o = Fast();
  ScheduledPeer p = Peer(Url(a_), 3600);
  p.options.direction = Direction::kPull;
  o.peers.push_back(p);
  SyncScheduler s(b_.kb(), o, &reg);
  s.Start();
  ASSERT_TRUE(WaitFor([&] { return s.Status()[0].sessions >= 1; }));
  s.Stop();
  const auto st = s.Status()[0];
  EXPECT_TRUE(st.last_error.empty()) << st.last_error;
  EXPECT_EQ(st.pruned, 1);
  EXPECT_FALSE(b_.kb().GetDocument("c", "d0").ok());
  EXPECT_EQ(b_.kb().StateHash().value(), a_.kb().StateHash().value());
  EXPECT_NE(reg.Expose().find("deepkb_sync_pruned_total{peer=\"" + st.peer + "\"} 1"),
            std::string::npos)
      << reg.Expose();
}

TEST_F(SchedulerTest, UnreachablePeerBacksOffAndLagGrows) {
  metrics::Registry reg;
  SchedulerOptions o = Fast();
  o.peers.push_back(Peer(FreePortUrl(), 0.01));  // an interval far below the backoff
  SyncScheduler s(b_.kb(), o, &reg);
  s.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  s.Stop();
  auto st = s.Status()[0];
  // 0.05 + 0.1 + 0.2 + 0.4 + 0.4 ... s: about 4-5 sessions in 1.2 s, not ~100.
  EXPECT_GE(st.failures, 3);
  EXPECT_LE(st.failures, 7);
  EXPECT_EQ(st.failures, st.consecutive_failures);
  EXPECT_NE(st.last_error.find("unreachable"), std::string::npos) << st.last_error;
  EXPECT_EQ(st.last_success, 0);
  EXPECT_GE(st.lag_seconds, 1.2);
  EXPECT_NE(reg.Expose().find("deepkb_sync_errors_total{peer=\"" + st.peer + "\"} " +
                              std::to_string(st.failures)),
            std::string::npos);
}

TEST_F(SchedulerTest, StopIsPromptWhileARequestHangs) {
  SilentPeer silent;
  SchedulerOptions o = Fast();
  o.peers.push_back(Peer(silent.url(), 3600));
  SyncScheduler s(b_.kb(), o, nullptr);
  s.Start();
  ASSERT_TRUE(WaitFor([&] { return s.Status()[0].running; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // inside the request
  const auto t0 = Clock::now();
  s.Stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
  EXPECT_FALSE(s.Status()[0].running);
  EXPECT_NE(s.Status()[0].last_error.find("aborted"), std::string::npos)
      << s.Status()[0].last_error;
}

TEST_F(SchedulerTest, RunNowStartsASessionAtOnceAndPurgeRunsAtStart) {
  ASSERT_TRUE(b_.kb().CreateCollection({.name = "c"}).ok());
  Put(b_, "gone");
  ASSERT_TRUE(b_.kb().DeleteDocument("c", "gone").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  SchedulerOptions o = Fast();
  o.first_delay_max_seconds = 3600;  // the first session would be far away
  o.tombstone_horizon_ms = 1;
  o.peers.push_back(Peer(Url(a_), 3600));
  SyncScheduler s(b_.kb(), o, nullptr);
  s.Start();
  ASSERT_TRUE(WaitFor([&] { return s.purges() >= 1; }));
  EXPECT_GT(b_.kb().PurgedThroughSeq().value(), 0);
  EXPECT_EQ(s.Status()[0].sessions, 0);
  // (A's d0..d4 are older than B's purged tombstone: B rejects them rather than risk
  // resurrecting a purged delete — docs/sync.md. A write after the purge arrives.)
  Put(a_, "new");
  s.RunNow(0);
  ASSERT_TRUE(WaitFor([&] { return s.Status()[0].sessions == 1; }));
  EXPECT_EQ(s.Status()[0].failures, 0) << s.Status()[0].last_error;
  EXPECT_TRUE(b_.kb().GetDocument("c", "new").ok());
  EXPECT_EQ(s.Status()[0].rejected, 5);
}

}  // namespace
}  // namespace deepkb::sync
