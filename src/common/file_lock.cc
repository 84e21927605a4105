#include "common/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace deepkb {

Result<std::unique_ptr<DirLock>> DirLock::Acquire(const std::string& dir, Mode mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return PermissionDeniedError("cannot create data directory '" + dir + "': " + ec.message());
  }
  const std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return PermissionDeniedError("cannot open lock file '" + path + "': " + std::strerror(errno));
  }
  const int op = (mode == Mode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  if (::flock(fd, op) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return UnavailableError(
          mode == Mode::kExclusive
              ? "data directory '" + dir + "' is in use by another deepkb process; stop it first"
              : "data directory '" + dir +
                    "' is held by a running deepkb server; talk to the server instead "
                    "(--server URL --api-key KEY) or stop it first");
    }
    return InternalError("flock '" + path + "': " + std::strerror(err));
  }
  return std::unique_ptr<DirLock>(new DirLock(fd));
}

DirLock::~DirLock() { ::close(fd_); }

}  // namespace deepkb
