// .fvecs / .ivecs I/O (see fvecs.h). The reader validates the layout from the file size before
// allocating, then reads record by record straight into the matrix.
#include "cli/fvecs.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace deepkb::cli {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

template <typename T>
Result<VecMatrix<T>> ReadVecs(const std::string& path, size_t max_rows, const char* kind) {
  static_assert(sizeof(T) == 4);
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return InvalidArgumentError(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st{};
  if (::fstat(::fileno(f.get()), &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgumentError(path + ": not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) return InvalidArgumentError(path + ": empty file, expected " + kind + " records");
  int32_t d0 = 0;
  if (size < sizeof d0 || std::fread(&d0, sizeof d0, 1, f.get()) != 1) {
    return InvalidArgumentError(path + ": truncated: shorter than one " + kind + " header");
  }
  if (d0 <= 0 || static_cast<size_t>(d0) > kMaxVecDim) {
    return InvalidArgumentError(path + ": first record has dimension " + std::to_string(d0) +
                                "; not a " + kind + " file (dimension must be 1.." +
                                std::to_string(kMaxVecDim) + ")");
  }
  const size_t dim = static_cast<size_t>(d0);
  const uint64_t record = 4 + 4 * static_cast<uint64_t>(dim);
  if (size % record != 0) {
    return InvalidArgumentError(
        path + ": size " + std::to_string(size) + " bytes is not a multiple of the record size " +
        std::to_string(record) + " (dimension " + std::to_string(dim) + "): truncated, or not a " +
        kind + " file");
  }
  const size_t n = static_cast<size_t>(std::min<uint64_t>(size / record, max_rows));
  std::setvbuf(f.get(), nullptr, _IOFBF, 1 << 20);

  VecMatrix<T> m;
  m.n = n;
  m.dim = dim;
  m.data.resize(n * dim);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) {
      int32_t d = 0;
      if (std::fread(&d, sizeof d, 1, f.get()) != 1) {
        return InvalidArgumentError(path + ": read error at record " + std::to_string(i));
      }
      if (d != d0) {
        return InvalidArgumentError(path + ": record " + std::to_string(i) + " has dimension " +
                                    std::to_string(d) + ", the first record has " +
                                    std::to_string(dim) + "; every record must have the same");
      }
    }
    if (std::fread(m.data.data() + i * dim, sizeof(T), dim, f.get()) != dim) {
      return InvalidArgumentError(path + ": read error at record " + std::to_string(i));
    }
  }
  return m;
}

template <typename T>
Status WriteVecs(const std::string& path, const VecMatrix<T>& m) {
  if (m.dim == 0 || m.dim > kMaxVecDim || m.data.size() != m.n * m.dim) {
    return InvalidArgumentError(path + ": matrix shape does not match its data (n=" +
                                std::to_string(m.n) + ", dim=" + std::to_string(m.dim) +
                                ", values=" + std::to_string(m.data.size()) + ")");
  }
  File f(std::fopen(path.c_str(), "wb"));
  if (!f) return InternalError(path + ": cannot create: " + std::strerror(errno));
  std::setvbuf(f.get(), nullptr, _IOFBF, 1 << 20);
  const int32_t d = static_cast<int32_t>(m.dim);
  for (size_t i = 0; i < m.n; ++i) {
    if (std::fwrite(&d, sizeof d, 1, f.get()) != 1 ||
        std::fwrite(m.data.data() + i * m.dim, sizeof(T), m.dim, f.get()) != m.dim) {
      return InternalError(path + ": write failed: " + std::strerror(errno));
    }
  }
  if (std::fflush(f.get()) != 0) return InternalError(path + ": write failed: " + std::strerror(errno));
  if (std::fclose(f.release()) != 0) return InternalError(path + ": close failed");
  return Status::Ok();
}

}  // namespace

Result<FloatMatrix> ReadFvecs(const std::string& path, size_t max_rows) {
  return ReadVecs<float>(path, max_rows, ".fvecs");
}

Result<IntMatrix> ReadIvecs(const std::string& path, size_t max_rows) {
  return ReadVecs<int32_t>(path, max_rows, ".ivecs");
}

Status WriteFvecs(const std::string& path, const FloatMatrix& m) { return WriteVecs(path, m); }

Status WriteIvecs(const std::string& path, const IntMatrix& m) { return WriteVecs(path, m); }

}  // namespace deepkb::cli
