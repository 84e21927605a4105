#include "embed/batching_embedder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deepkb::embed {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<float> VectorFor(const std::string& text) {
  uint32_t h = 2166136261u;
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return {static_cast<float>(h % 100000), static_cast<float>(text.size()), 1.0f};
}

// Records batch sizes; optional gate (blocks calls until opened), per-call latency, failure on
// the text "fail", and a wrong-count mode.
class FakeInner : public Embedder {
 public:
  const std::string& spec() const override { return spec_; }
  size_t dim() const override { return 3; }

  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      sizes_.push_back(texts.size());
      ++entered_;
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(5), [&] { return open_; });
    }
    if (latency_) std::this_thread::sleep_for(latency_(texts.size()));
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) {
      if (t == "fail") return UnavailableError("fake inner failed");
      out.push_back(VectorFor(t));
    }
    if (wrong_count_) out.pop_back();
    return out;
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  // Notifies under the lock: a test may destroy this object as soon as the gate opens.
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return entered_ >= n; });
  }
  std::vector<size_t> sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_;
  }

  std::function<std::chrono::microseconds(size_t)> latency_;
  bool wrong_count_ = false;

 private:
  const std::string spec_ = "fake";
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int entered_ = 0;
  std::vector<size_t> sizes_;
};

void WaitQueued(const BatchingEmbedder& b, size_t n) {
  for (int i = 0; i < 2500 && b.stats().queued_texts < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(b.stats().queued_texts, n);
}

BatchingOptions Fixed(size_t limit, double max_wait_ms) {
  BatchingOptions o;
  o.max_batch = limit;
  o.initial_batch = limit;
  o.adaptive = false;
  o.max_wait_ms = max_wait_ms;
  return o;
}

TEST(BatchingEmbedderTest, ManyThreads_EachGetsItsOwnVectors) {
  auto inner = std::make_unique<FakeInner>();
  FakeInner* fake = inner.get();
  fake->latency_ = [](size_t) { return std::chrono::microseconds(1000); };
  BatchingEmbedder b(std::move(inner), Fixed(32, 3));
  EXPECT_EQ(b.spec(), "fake");
  EXPECT_EQ(b.dim(), 3u);

  constexpr int kThreads = 16;
  constexpr int kCalls = 25;
  std::atomic<int> bad{0};
  std::atomic<size_t> texts_sent{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::vector<std::string> texts;
        for (int k = 0; k <= (t + i) % 4; ++k) {
          texts.push_back("t" + std::to_string(t) + "c" + std::to_string(i) + "k" +
                          std::to_string(k));
        }
        texts_sent += texts.size();
        auto r = b.Embed(texts);
        if (!r.ok() || r->size() != texts.size()) {
          ++bad;
          continue;
        }
        for (size_t k = 0; k < texts.size(); ++k) {
          if ((*r)[k] != VectorFor(texts[k])) ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  const auto stats = b.stats();
  EXPECT_EQ(stats.calls, static_cast<uint64_t>(kThreads * kCalls));
  EXPECT_EQ(stats.texts, texts_sent.load());
  EXPECT_LT(stats.batches, stats.calls);  // coalesced
  EXPECT_GT(stats.largest_batch, 4u);
  for (size_t s : fake->sizes()) EXPECT_LE(s, 32u);
}

TEST(BatchingEmbedderTest, Coalesce_QueuedCallsBecomeOneBatch) {
  auto inner = std::make_unique<FakeInner>();
  FakeInner* fake = inner.get();
  BatchingEmbedder b(std::move(inner), Fixed(8, 1000));
  fake->Close();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  // A full first call is dispatched at once and then held inside the inner embedder.
  threads.emplace_back([&] {
    if (b.Embed({"w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"}).ok()) ++ok;
  });
  fake->WaitEntered(1);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = b.Embed({"c" + std::to_string(i)});
      if (r.ok() && (*r)[0] == VectorFor("c" + std::to_string(i))) ++ok;
    });
  }
  WaitQueued(b, 8);
  fake->Open();
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 9);
  EXPECT_EQ(fake->sizes(), (std::vector<size_t>{8, 8}));
}

TEST(BatchingEmbedderTest, LargeCall_IsSplitAndReassembledInOrder) {
  auto inner = std::make_unique<FakeInner>();
  FakeInner* fake = inner.get();
  BatchingEmbedder b(std::move(inner), Fixed(4, 0));
  std::vector<std::string> texts;
  for (int i = 0; i < 10; ++i) texts.push_back("text-" + std::to_string(i));
  auto r = b.Embed(texts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 10u);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ((*r)[i], VectorFor(texts[i]));
  EXPECT_EQ(fake->sizes(), (std::vector<size_t>{4, 4, 2}));
}

TEST(BatchingEmbedderTest, Errors_ReachEveryCallerOfTheFailedBatch) {
  auto inner = std::make_unique<FakeInner>();
  FakeInner* fake = inner.get();
  BatchingEmbedder b(std::move(inner), Fixed(5, 1000));
  fake->Close();
  std::vector<std::thread> threads;
  Status first;
  threads.emplace_back([&] { first = b.Embed({"1", "2", "3", "4", "5"}).status(); });
  fake->WaitEntered(1);
  const std::vector<std::vector<std::string>> calls = {{"a"}, {"fail"}, {"b", "c"}, {"d"}};
  std::vector<Status> results(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = b.Embed(calls[i]).status(); });
  }
  WaitQueued(b, 5);
  fake->Open();
  for (auto& th : threads) th.join();
  EXPECT_TRUE(first.ok()) << first.ToString();
  for (const Status& s : results) {
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find("fake inner failed"), std::string::npos);
  }
}

TEST(BatchingEmbedderTest, WrongCountFromInner_IsInternal) {
  auto inner = std::make_unique<FakeInner>();
  inner->wrong_count_ = true;
  BatchingEmbedder b(std::move(inner), Fixed(4, 0));
  auto r = b.Embed({"a", "b"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(BatchingEmbedderTest, Destructor_FailsQueuedCallsAndFinishesInFlight) {
  auto inner = std::make_unique<FakeInner>();
  FakeInner* fake = inner.get();
  auto b = std::make_unique<BatchingEmbedder>(std::move(inner), Fixed(4, 10000));
  fake->Close();
  Status in_flight, queued_a, queued_b;
  std::thread t1([&] { in_flight = b->Embed({"1", "2", "3", "4"}).status(); });
  fake->WaitEntered(1);
  std::thread t2([&] { queued_a = b->Embed({"x"}).status(); });
  std::thread t3([&] { queued_b = b->Embed({"y"}).status(); });
  WaitQueued(*b, 2);
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fake->Open();
  });
  const auto start = Clock::now();
  b.reset();  // must not wait for max_wait (10 s) or the queued texts
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  t1.join();
  t2.join();
  t3.join();
  opener.join();
  EXPECT_LT(took, 2.0);
  EXPECT_TRUE(in_flight.ok()) << in_flight.ToString();
  EXPECT_EQ(queued_a.code(), StatusCode::kUnavailable);
  EXPECT_EQ(queued_b.code(), StatusCode::kUnavailable);
}

TEST(BatchingEmbedderTest, Shutdown_IdleIsFastAndLaterCallsFail) {
  BatchingEmbedder b(std::make_unique<FakeInner>(), Fixed(64, 10000));
  const auto start = Clock::now();
  b.Shutdown();
  b.Shutdown();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
  auto r = b.Embed({"a"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(b.Embed({}).ok());
}

TEST(BatchingEmbedderTest, Adaptive_LimitGrowsWhenBiggerBatchesAreCheaperPerText) {
  auto inner = std::make_unique<FakeInner>();
  // 2 ms fixed cost per call plus 10 us per text: per-text cost falls with batch size.
  inner->latency_ = [](size_t n) { return std::chrono::microseconds(2000 + 10 * n); };
  BatchingOptions o;
  o.max_batch = 64;
  o.initial_batch = 4;
  o.max_wait_ms = 1;
  BatchingEmbedder b(std::move(inner), o);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 48; ++t) {
    threads.emplace_back([&] {
      while (!stop) (void)b.Embed({"x"});
    });
  }
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < deadline && b.stats().batch_limit < 32) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_GE(b.stats().batch_limit, 32u);
}

// ---- BatchSizeController, deterministic -------------------------------------------------------

// Feeds full batches with latency model `ms(n)` until the limit settles.
size_t Settle(BatchSizeController& c, const std::function<double(size_t)>& ms, int rounds = 200) {
  for (int i = 0; i < rounds; ++i) c.Observe(c.limit(), true, ms(c.limit()));
  return c.limit();
}

BatchingOptions Adaptive(size_t initial, size_t max, double target = 0) {
  BatchingOptions o;
  o.initial_batch = initial;
  o.max_batch = max;
  o.target_latency_ms = target;
  return o;
}

TEST(BatchSizeControllerTest, Grows_WhilePerItemLatencyFalls) {
  BatchSizeController c(Adaptive(4, 256));
  EXPECT_EQ(c.limit(), 4u);
  EXPECT_EQ(Settle(c, [](size_t n) { return 20.0 + 0.1 * n; }), 256u);
}

TEST(BatchSizeControllerTest, StepsBack_WhenGrowthDoesNotPay) {
  BatchSizeController c(Adaptive(8, 256));
  // Linear cost: per-item latency never falls, so the probe to 16 is undone.
  for (int i = 0; i < BatchSizeController::kSamplesPerDecision; ++i) c.Observe(8, true, 8.0);
  EXPECT_EQ(c.limit(), 16u);  // first decision probes upward
  for (int i = 0; i < BatchSizeController::kSamplesPerDecision; ++i) c.Observe(16, true, 16.0);
  EXPECT_EQ(c.limit(), 8u);  // no gain: back, and hold
  for (int i = 0; i < 30; ++i) c.Observe(8, true, 8.0);
  EXPECT_EQ(c.limit(), 8u);
}

TEST(BatchSizeControllerTest, Shrinks_WhenABatchExceedsTheTarget) {
  BatchSizeController c(Adaptive(64, 256, /*target=*/10));
  c.Observe(64, true, 64.0);  // 1 ms per text, 64 ms > 10 ms
  EXPECT_EQ(c.limit(), 32u);
  // Keeps shrinking until batches fit the target; growth is capped by the target too.
  const size_t settled = Settle(c, [](size_t n) { return 1.0 * n; });
  EXPECT_LE(settled, 10u);
  EXPECT_GE(settled, 4u);
}

TEST(BatchSizeControllerTest, IgnoresBatchesThatWereNotFull) {
  BatchSizeController c(Adaptive(8, 256));
  for (int i = 0; i < 50; ++i) c.Observe(3, false, 1.0);
  EXPECT_EQ(c.limit(), 8u);
}

TEST(BatchSizeControllerTest, FixedWhenNotAdaptive) {
  BatchingOptions o = Adaptive(8, 256, 1);
  o.adaptive = false;
  BatchSizeController c(o);
  EXPECT_EQ(Settle(c, [](size_t n) { return 100.0 * n; }), 8u);
}

}  // namespace
}  // namespace deepkb::embed
