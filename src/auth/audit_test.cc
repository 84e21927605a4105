#include "auth/audit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/hash.h"
#include "storage/schema.h"

namespace deepkb::auth {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("audit_test_" + RandomHex(6));
    std::filesystem::create_directories(dir_);
    auto db = storage::Database::Open(path());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(storage::Migrate(**db).ok());
    auto log = AuditLog::Open(path());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string path() const { return (dir_ / "kb.db").string(); }

  static AuditEvent Event(std::string action, std::string resource = "") {
    AuditEvent e;
    e.action = std::move(action);
    e.resource = std::move(resource);
    e.result = "ok";
    e.key_id = "0123456789abcdef";
    e.client = "127.0.0.1";
    return e;
  }

  std::filesystem::path dir_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditTest, AppendAndListNewestFirstWithFilters) {
  ASSERT_TRUE(log_->Append(Event("key.create", "k1")).ok());
  ASSERT_TRUE(log_->Append(Event("collection.delete", "docs")).ok());
  ASSERT_TRUE(log_->Append(Event("key.revoke", "k1")).ok());
  auto all = log_->List({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].action, "key.revoke");
  EXPECT_EQ((*all)[2].action, "key.create");
  EXPECT_GT((*all)[0].id, (*all)[1].id);
  EXPECT_GT((*all)[0].time, 0);
  EXPECT_EQ((*all)[1].client, "127.0.0.1");

  auto page = log_->List({.limit = 2});
  ASSERT_EQ(page->size(), 2u);
  auto next = log_->List({.limit = 2, .before_id = page->back().id});
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].action, "key.create");

  auto only = log_->List({.action = "key.revoke"});
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].resource, "k1");
  auto future = log_->List({.since_time = (*all)[0].time + 60'000});
  EXPECT_TRUE(future->empty());
  EXPECT_EQ(log_->List({.limit = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->List({.limit = 1001}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AuditTest, UpdateAndDeleteAreRefusedByTheDatabase) {
  ASSERT_TRUE(log_->Append(Event("key.create", "k1")).ok());
  auto db = storage::Database::Open(path());
  ASSERT_TRUE(db.ok());
  const Status upd = (*db)->Exec("UPDATE audit_log SET result = 'ok', resource = 'forged'");
  EXPECT_FALSE(upd.ok());
  EXPECT_NE(upd.message().find("append-only"), std::string::npos) << upd.message();
  const Status del = (*db)->Exec("DELETE FROM audit_log");
  EXPECT_FALSE(del.ok());
  EXPECT_NE(del.message().find("append-only"), std::string::npos) << del.message();
  EXPECT_EQ((*db)->QueryInt("SELECT count(*) FROM audit_log").value(), 1);
  EXPECT_EQ((*db)->QueryText("SELECT resource FROM audit_log").value(), "k1");
}

TEST_F(AuditTest, RejectsEventsWithoutActionOrResult) {
  AuditEvent e = Event("");
  EXPECT_EQ(log_->Append(e).code(), StatusCode::kInvalidArgument);
  e = Event("key.create");
  e.result.clear();
  EXPECT_EQ(log_->Append(e).code(), StatusCode::kInvalidArgument);
}

TEST_F(AuditTest, FieldsAreCutAndKeptOnOneLine) {
  AuditEvent e = Event("document.delete", std::string(5000, 'x'));
  e.detail = "line1\nline2\r\x1b[31m";
  ASSERT_TRUE(log_->Append(e).ok());
  auto all = log_->List({});
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].resource.size(), 1000u);
  EXPECT_EQ((*all)[0].detail.find('\n'), std::string::npos);
  EXPECT_EQ((*all)[0].detail.find('\x1b'), std::string::npos);
}

TEST_F(AuditTest, AuthFloodIsCountedNotWritten) {
  // Stay inside one wall-clock second so the window does not roll over mid-test.
  while (NowMs() % 1000 > 500) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (int i = 0; i < 500; ++i) log_->Record(Event("auth.failure"));
  log_->Record(Event("key.create"));  // not rate limited
  auto in_window = log_->List({.limit = 1000});
  ASSERT_TRUE(in_window.ok());
  EXPECT_EQ(in_window->size(), static_cast<size_t>(AuditLog::kAuthEventsPerSecond) + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  log_->Record(Event("auth.failure"));
  auto s = log_->List({.action = "audit.suppressed"});
  ASSERT_EQ(s->size(), 1u);
  EXPECT_NE((*s)[0].detail.find(std::to_string(500 - AuditLog::kAuthEventsPerSecond)),
            std::string::npos)
      << (*s)[0].detail;
}

TEST_F(AuditTest, ConcurrentAppendsAllLand) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([this] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(log_->Append(Event("document.delete")).ok());
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(log_->List({.limit = 1000})->size(), 100u);
}

}  // namespace
}  // namespace deepkb::auth
