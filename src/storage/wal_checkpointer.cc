#include "storage/wal_checkpointer.h"

#include <spdlog/spdlog.h>

namespace deepkb::storage {

int WalCheckpointer::WalHook(void* self, sqlite3* db, const char* schema, int frames) {
  auto* cp = static_cast<WalCheckpointer*>(self);
  if (frames >= cp->opts_.writer_backstop_pages) {
    // The thread is behind (or failing): checkpoint here, as SQLite's auto-checkpoint would.
    // Its result does not change the outcome of the commit that has already happened.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else {
    cp->Notify();
  }
  return SQLITE_OK;
}

Status WalCheckpointer::Start(const std::string& path, Database& writer, const Options& opts) {
  if (thread_.joinable()) return FailedPreconditionError("WAL checkpointer already started");
  opts_ = opts;
  OpenOptions o;
  o.create = false;
  ASSIGN_OR_RETURN(db_, Database::Open(path, o));
  // This connection checkpoints explicitly; it never writes, so it never auto-checkpoints.
  RETURN_IF_ERROR(db_->Exec("PRAGMA wal_autocheckpoint=0"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
  writer_ = writer.handle();
  sqlite3_wal_hook(writer_, &WalCheckpointer::WalHook, this);  // replaces its auto-checkpoint
  return Status::Ok();
}

void WalCheckpointer::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (dirty_) return;
    dirty_ = true;
  }
  cv_.notify_one();
}

void WalCheckpointer::Run() {
  auto last_warning = std::chrono::steady_clock::now() - std::chrono::minutes(2);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return dirty_ || stopping_; });
    if (stopping_) return;
    dirty_ = false;
    lock.unlock();
    sqlite3* h = db_->handle();
    int log_frames = 0, done_frames = 0;
    const int rc = sqlite3_wal_checkpoint_v2(h, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                             &done_frames);
    if (rc == SQLITE_OK) {
      checkpoints_.fetch_add(1);
    } else if ((rc & 0xff) == SQLITE_BUSY) {
      // Expected now and then: the writer held a lock the checkpoint needed at that instant
      // (e.g. restarting the WAL). The next commit's notification retries.
      busy_.fetch_add(1);
    } else {
      failures_.fetch_add(1);
      const auto now = std::chrono::steady_clock::now();
      if (now - last_warning > std::chrono::minutes(1)) {
        last_warning = now;
        spdlog::warn("background WAL checkpoint failed ({}); the writer's own checkpoints keep "
                     "the WAL bounded", SqliteStatus(rc, h, "wal_checkpoint").ToString());
      }
    }
    lock.lock();
    // Rate limit: wait out min_interval (a Stop() ends the wait).
    cv_.wait_for(lock, opts_.min_interval, [&] { return stopping_; });
  }
}

void WalCheckpointer::Stop() {
  if (writer_ != nullptr) {
    sqlite3_wal_autocheckpoint(writer_, 1000);  // SQLite's default; removes our hook
    writer_ = nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  db_.reset();
}

}  // namespace deepkb::storage
