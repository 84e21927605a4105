// DiskGuard: refuses writes when the filesystem holding the data directory is nearly full, so a
// full disk degrades a node to read-only instead of failing SQLite writes half-way (or filling
// the disk to 100%, when even WAL checkpoints and index snapshots fail).
//
// Usage is what `df` prints as Use%: used / (used + available to unprivileged processes), with
// used = f_blocks − f_bfree of statvfs(dir) (root's reserve is neither). The metric
// deepkb_disk_usage_ratio and `deepkb doctor` use the same function, so the alert at 85%, the
// doctor's warning and this guard agree with each other and with df. It is measured at most once
// per second; callers in between get the cached value. Tests inject the usage source.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "common/status.h"

namespace deepkb::server {

class DiskGuard {
 public:
  // Returns the used fraction (0..1) of the filesystem holding `dir`.
  using UsageSource = std::function<Result<double>(const std::string& dir)>;

  // `refuse_at` in (0, 1] (ValidateThreshold); `source` null = StatvfsUsage.
  DiskGuard(std::string dir, double refuse_at, UsageSource source = nullptr);

  // statvfs(dir): (f_blocks − f_bfree) / (f_blocks − f_bfree + f_bavail), df's Use%.
  // Unavailable when statvfs fails (names dir and errno).
  static Result<double> StatvfsUsage(const std::string& dir);
  // InvalidArgument unless 0 < x <= 1 (names the flag --disk-refuse-writes-at).
  static Status ValidateThreshold(double x);

  // The usage, measured at most once per second. An error of the source is returned as is
  // (and not cached).
  Result<double> Usage();
  // OK below the threshold; InsufficientStorage ("disk of <dir> is 96% full (threshold 95%);
  // free space or raise --disk-refuse-writes-at; reads keep working") at or above it. When
  // usage cannot be measured, OK (a broken statvfs must not turn the node read-only).
  Status CheckWrite();

  const std::string& dir() const { return dir_; }
  double refuse_at() const { return refuse_at_; }

 private:
  const std::string dir_;
  const double refuse_at_;
  const UsageSource source_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point measured_{};  // guarded by mu_
  double cached_ = 0;                                 // guarded by mu_
  bool have_ = false;                                 // guarded by mu_
};

// "96%" for 0.96 (rounded down to whole percent, so 0.949 never prints as "95%").
std::string PercentString(double ratio);

}  // namespace deepkb::server
