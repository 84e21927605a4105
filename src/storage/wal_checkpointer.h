// WalCheckpointer: copies a WAL-mode database's committed pages back into the main file from its
// own connection and thread, so that the writing connection's commits never pay for a checkpoint.
// (With SQLite's default wal_autocheckpoint of 1,000 pages, the commit that crosses the threshold
// runs the checkpoint itself, fsync included: on a million-chunk KB's update path a few per cent
// up to 15% of the writer's time, bench/README.md "Set C".)
//
// Contract:
//  - Start(path, writer) opens a second connection to `path` (a path bound to a data key opens
//    through the encrypting VFS, see sqlite.h), starts the thread and installs a WAL hook on the
//    `writer` connection in place of its wal_autocheckpoint. After every commit the hook wakes
//    the thread (cheap), which runs PRAGMA wal_checkpoint(PASSIVE): it never blocks writers or
//    readers and copies every frame no reader still needs; at most one per min_interval.
//  - Backstop: when the WAL holds writer_backstop_pages or more after a commit (the thread fell
//    behind, or its checkpoints fail), the hook checkpoints on the writer's thread as SQLite's
//    own auto-checkpoint would, so the WAL stays bounded.
//  - SQLite resets the WAL to its start at the first write after a complete checkpoint, so the
//    file stays about as large as what is written between two checkpoints.
//  - A checkpoint that finds a lock it needs taken (SQLITE_BUSY, e.g. the writer restarting the
//    WAL at that instant) is counted in busy() and retried at the next commit's notification.
//    Other failures (I/O errors) are counted and logged at most once a minute, never fatal. Stop() (also the destructor) removes the hook, restores the
//    writer's default auto-checkpoint, joins the thread and closes its connection; call it
//    before the writer connection closes.
// Thread safety: Start/Stop from the owner; the writer connection may be in use meanwhile (the
// hook runs on the writer's thread; SQLite serialises hook changes on the connection).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "storage/sqlite.h"

namespace deepkb::storage {

class WalCheckpointer {
 public:
  struct Options {
    std::chrono::milliseconds min_interval{50};
    // WAL size (pages) at which a commit checkpoints on the writer's thread anyway: large
    // enough that the thread, not the writer, does the work; small enough to bound the WAL
    // (64 MiB at 4 KiB pages).
    int writer_backstop_pages = 16'384;
  };

  WalCheckpointer() = default;
  ~WalCheckpointer() { Stop(); }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  Status Start(const std::string& path, Database& writer, const Options& opts);
  void Notify();
  void Stop();

  int64_t checkpoints() const { return checkpoints_.load(); }
  int64_t busy() const { return busy_.load(); }
  int64_t failures() const { return failures_.load(); }

 private:
  void Run();
  static int WalHook(void* self, sqlite3* db, const char* schema, int frames);

  Options opts_;
  sqlite3* writer_ = nullptr;     // the connection whose hook we installed
  std::unique_ptr<Database> db_;  // used only by the thread once started
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> busy_{0};
  std::atomic<int64_t> failures_{0};
};

}  // namespace deepkb::storage
