#include "server/disk_guard.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cmath>
#include <cstring>

namespace deepkb::server {

std::string PercentString(double ratio) {
  return std::to_string(static_cast<int>(std::floor(ratio * 100 + 1e-9))) + "%";
}

DiskGuard::DiskGuard(std::string dir, double refuse_at, UsageSource source)
    : dir_(std::move(dir)), refuse_at_(refuse_at),
      source_(source ? std::move(source) : UsageSource(&DiskGuard::StatvfsUsage)) {}

Result<double> DiskGuard::StatvfsUsage(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) {
    return UnavailableError("cannot measure the disk usage of '" + dir +
                            "' (statvfs: " + std::strerror(errno) + ")");
  }
  const double used = static_cast<double>(st.f_blocks) - static_cast<double>(st.f_bfree);
  const double usable = used + static_cast<double>(st.f_bavail);
  if (st.f_blocks == 0 || usable <= 0) return 0.0;  // pseudo filesystems report no blocks
  return used / usable;
}

Status DiskGuard::ValidateThreshold(double x) {
  if (!(x > 0 && x <= 1)) {
    return InvalidArgumentError("--disk-refuse-writes-at must be a fraction in (0, 1], e.g. 0.95");
  }
  return Status::Ok();
}

Result<double> DiskGuard::Usage() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (have_ && now - measured_ < std::chrono::seconds(1)) return cached_;
  ASSIGN_OR_RETURN(cached_, source_(dir_));
  measured_ = now;
  have_ = true;
  return cached_;
}

Status DiskGuard::CheckWrite() {
  auto usage = Usage();
  if (!usage.ok() || *usage < refuse_at_) return Status::Ok();
  return InsufficientStorageError("disk of " + dir_ + " is " + PercentString(*usage) +
                                  " full (threshold " + PercentString(refuse_at_) +
                                  "); free space or raise --disk-refuse-writes-at; reads keep "
                                  "working");
}

}  // namespace deepkb::server
