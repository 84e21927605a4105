// Advisory lock on a data directory (flock on <dir>/LOCK) so that a running server and CLI
// commands working directly on the same directory do not trample each other.
//   - The server takes the lock exclusively; CLI commands take it shared (several CLI commands
//     may run at once; SQLite serialises their writes).
//   - The lock is released when the DirLock is destroyed or the process dies (kernel-managed,
//     so a SIGKILLed process never leaves a stale lock).
// Thread safety: the object is not shared between threads.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace deepkb {

class DirLock {
 public:
  enum class Mode { kShared, kExclusive };
  // Creates `dir` if needed. Fails with Unavailable when the lock is held in a conflicting mode.
  static Result<std::unique_ptr<DirLock>> Acquire(const std::string& dir, Mode mode);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace deepkb
