// HNSW snapshot files: SaveSnapshot() and LoadSnapshot().
//
// ================================ Snapshot format, version 1 =================================
// All integers little-endian, floats IEEE-754 binary32 (binary64 where noted). Nodes are the
// live and tombstoned slots of the graph, renumbered densely 0..n-1 in slot order; link ids
// refer to these numbers.
//
//   offset size  field
//   0      8     magic "DKBHNSW\0"
//   8      4     version = 1
//   12     4     flags: bit 0 int8, bit 1 keep_float_vectors, bit 2 quantiser trained (codes
//                present), bit 3 float vectors present; other bits 0
//   16     4     metric: 0 = l2, 1 = ip, 2 = cosine
//   20     4     dim (1..65536)
//   24     4     M (2..1024)
//   28     4     ef_construction
//   32     8     seed
//   40     8     compaction_threshold (binary64, in (0, 1])
//   48     8     exact_search_threshold
//   56     8     covered_seq (the change-log seq the contents reflect)
//   64     4     n, number of nodes
//   68     4     entry node (0xFFFFFFFF iff n == 0)
//   72     4     max_level (level of the entry node; 0..30)
//   76     4     reserved, 0
//   80           sections, in this order, sizes implied by the header:
//     quantiser   if trained: lo[dim] f32, then step[dim] f32 (finite, step > 0)
//     labels      n × u64 (unique among live nodes)
//     levels      n × u8 (<= max_level)
//     tombstones  ceil(n / 8) bytes, bit i (LSB first) set when node i is a tombstone;
//                 padding bits 0
//     vectors     if float vectors present: n × dim × f32 (finite; normalised under cosine)
//     codes       if trained: n × dim × u8
//     links0      n × (1 + 2M) u32: count (<= 2M), ids (< n), zero padding
//     upper       for each node with level L >= 1, in node order, for levels 1..L:
//                 (1 + M) u32: count (<= M), ids (< n, of nodes whose level >= that level),
//                 zero padding
//   end-32 32    SHA-256 of every preceding byte
//
// Flag rules: without int8, vectors are present and there is no quantiser; with int8 and no
// trained quantiser, vectors are present; with int8 and a trained quantiser, vectors are present
// exactly when keep_float_vectors is set. The file is written to "<path>.tmp-<random>", fsynced,
// renamed over <path>, and the directory fsynced, so a crash leaves the old or the new file.
// LoadSnapshot checks the size implied by the header before allocating, every field and link id
// while reading, and the digest at the end; any mismatch is DataLoss and nothing is returned.
// =============================================================================================
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/hash.h"
#include "index/hnsw/index_impl.h"

namespace deepkb::hnsw {
namespace internal {
namespace {

constexpr char kMagic[8] = {'D', 'K', 'B', 'H', 'N', 'S', 'W', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 80;
constexpr size_t kDigestBytes = 32;
constexpr uint32_t kFlagInt8 = 1, kFlagKeepFloats = 2, kFlagTrained = 4, kFlagFloats = 8;

std::string ErrnoText() {
  return std::strerror(errno);
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  void Final(uint8_t out[kDigestBytes]) {
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
  }

 private:
  EVP_MD_CTX* ctx_;
};

class FileWriter {
 public:
  explicit FileWriter(int fd) : fd_(fd) { buf_.reserve(kBuf); }
  void Put(const void* p, size_t n) {
    sha_.Update(p, n);
    const char* c = static_cast<const char*>(p);
    while (n > 0 && ok_) {
      size_t take = std::min(n, kBuf - buf_.size());
      buf_.insert(buf_.end(), c, c + take);
      c += take;
      n -= take;
      if (buf_.size() == kBuf) Flush();
    }
  }
  template <class T>
  void PutValue(T v) {
    Put(&v, sizeof(v));
  }
  void Flush() {
    size_t off = 0;
    while (ok_ && off < buf_.size()) {
      ssize_t w = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok_ = false;
        error_ = ErrnoText();
        break;
      }
      off += static_cast<size_t>(w);
    }
    buf_.clear();
  }
  // Appends the digest of everything written so far and flushes.
  void FinishWithDigest() {
    uint8_t d[kDigestBytes];
    sha_.Final(d);
    buf_.insert(buf_.end(), d, d + kDigestBytes);
    Flush();
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  static constexpr size_t kBuf = 1 << 20;
  int fd_;
  std::vector<char> buf_;
  Sha256 sha_;
  bool ok_ = true;
  std::string error_;
};

class FileReader {
 public:
  FileReader(int fd, uint64_t size) : fd_(fd), remaining_(size) {}
  // Reads exactly n bytes into p (hashed); false on a short file or I/O error.
  bool Get(void* p, size_t n) {
    if (n > remaining_) return false;
    char* out = static_cast<char*>(p);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, out + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    remaining_ -= n;
    sha_.Update(p, n);
    return true;
  }
  template <class T>
  bool GetValue(T& v) {
    return Get(&v, sizeof(v));
  }
  uint64_t remaining() const { return remaining_; }
  void Digest(uint8_t out[kDigestBytes]) { sha_.Final(out); }
  // Reads the trailing digest without hashing it.
  bool GetRaw(void* p, size_t n) {
    if (n != remaining_) return false;
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, static_cast<char*>(p) + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    remaining_ = 0;
    return true;
  }

 private:
  int fd_;
  uint64_t remaining_;
  Sha256 sha_;
};

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

Status Corrupt(const std::string& path, const std::string& what) {
  return DataLossError("hnsw snapshot " + path + ": " + what +
                       "; delete it and let the index be rebuilt from the database");
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status HnswIndexImpl::SaveSnapshot(const std::string& path, uint64_t covered_seq) const {
  std::unique_lock<WriterGate> gate(gate_);  // no Add/Remove while the image is written
  auto read = rcu_.Read();
  const Graph* g = graph_.load(std::memory_order_acquire);
  const size_t dim = opts_.dim, M = opts_.M, M0 = 2 * opts_.M;

  // Dense renumbering of live and tombstoned slots.
  uint32_t used = g->used_slots();
  std::vector<uint32_t> id_of(used, kNoSlot);
  std::vector<uint32_t> slots;
  for (uint32_t s = 0; s < used; ++s) {
    uint8_t st = g->State(s);
    if (st == kLive || st == kDeleted) {
      id_of[s] = static_cast<uint32_t>(slots.size());
      slots.push_back(s);
    }
  }
  uint32_t n = static_cast<uint32_t>(slots.size());
  uint64_t e = g->entry();
  uint32_t entry = kNoSlot;
  uint32_t max_level = 0;
  if (Graph::EntrySlot(e) != kNoSlot) {
    entry = id_of[Graph::EntrySlot(e)];
    max_level = static_cast<uint32_t>(Graph::EntryLevel(e));
  }
  if ((n == 0) != (entry == kNoSlot)) return InternalError("hnsw snapshot: entry point is stale");

  bool trained = g->codes_active();
  bool floats = g->has_floats();
  uint32_t flags = (opts_.int8 ? kFlagInt8 : 0) | (opts_.keep_float_vectors ? kFlagKeepFloats : 0) |
                   (trained ? kFlagTrained : 0) | (floats ? kFlagFloats : 0);

  std::string tmp = path + ".tmp-" + RandomHex(8);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("hnsw snapshot: cannot create " + tmp + ": " + ErrnoText());
  FdCloser closer{fd};
  FileWriter w(fd);
  w.Put(kMagic, sizeof(kMagic));
  w.PutValue<uint32_t>(kVersion);
  w.PutValue<uint32_t>(flags);
  w.PutValue<uint32_t>(static_cast<uint32_t>(opts_.metric));
  w.PutValue<uint32_t>(static_cast<uint32_t>(dim));
  w.PutValue<uint32_t>(static_cast<uint32_t>(M));
  w.PutValue<uint32_t>(static_cast<uint32_t>(opts_.ef_construction));
  w.PutValue<uint64_t>(opts_.seed);
  w.PutValue<double>(opts_.compaction_threshold);
  w.PutValue<uint64_t>(opts_.exact_search_threshold);
  w.PutValue<uint64_t>(covered_seq);
  w.PutValue<uint32_t>(n);
  w.PutValue<uint32_t>(entry);
  w.PutValue<uint32_t>(max_level);
  w.PutValue<uint32_t>(0);
  if (trained) {
    w.Put(g->quantizer().lo().data(), dim * sizeof(float));
    w.Put(g->quantizer().step().data(), dim * sizeof(float));
  }
  for (uint32_t s : slots) w.PutValue<uint64_t>(g->Meta(s)->label);
  for (uint32_t s : slots) w.PutValue<uint8_t>(g->Meta(s)->level);
  std::vector<uint8_t> bits((n + 7) / 8, 0);
  for (uint32_t i = 0; i < n; ++i) {
    if (g->State(slots[i]) == kDeleted) bits[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  }
  w.Put(bits.data(), bits.size());
  if (floats) {
    for (uint32_t s : slots) w.Put(opts_.int8 ? g->StoredFloat(s) : g->Vec(s), dim * sizeof(float));
  }
  if (trained) {
    for (uint32_t s : slots) w.Put(g->Codes(s), dim);
  }
  std::vector<uint32_t> rec;
  auto put_list = [&](uint32_t s, int level, size_t cap) {
    rec.assign(1 + cap, 0);
    const uint32_t* list = g->Links(s, level);
    uint32_t cnt = std::min<uint32_t>(Graph::LoadLink(list), static_cast<uint32_t>(cap));
    uint32_t out = 0;
    for (uint32_t i = 0; i < cnt; ++i) {
      uint32_t t = Graph::LoadLink(list + 1 + i);
      if (t < used && id_of[t] != kNoSlot) rec[1 + out++] = id_of[t];
    }
    rec[0] = out;
    w.Put(rec.data(), rec.size() * sizeof(uint32_t));
  };
  for (uint32_t s : slots) put_list(s, 0, M0);
  for (uint32_t s : slots) {
    int lv = g->Meta(s)->level;
    for (int l = 1; l <= lv; ++l) put_list(s, l, M);
  }
  w.FinishWithDigest();
  if (!w.ok()) {
    ::unlink(tmp.c_str());
    return UnavailableError("hnsw snapshot: write " + tmp + ": " + w.error());
  }
  if (::fsync(fd) != 0) {
    std::string err = ErrnoText();
    ::unlink(tmp.c_str());
    return UnavailableError("hnsw snapshot: fsync " + tmp + ": " + err);
  }
  ::close(fd);
  closer.fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = ErrnoText();
    ::unlink(tmp.c_str());
    return UnavailableError("hnsw snapshot: rename to " + path + ": " + err);
  }
  int dfd = ::open(DirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

namespace {

Result<LoadedSnapshot> Load(const std::string& path, const VectorSource* source) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("hnsw snapshot " + path + " does not exist");
    return UnavailableError("hnsw snapshot: cannot open " + path + ": " + ErrnoText());
  }
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return UnavailableError("hnsw snapshot: stat " + path);
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  FileReader r(fd, file_size);

  char magic[8];
  uint32_t version, flags, metric, dim, M, efc, n, entry, max_level, reserved;
  uint64_t seed, exact_threshold, covered_seq;
  double compaction_threshold;
  if (file_size < kHeaderBytes + kDigestBytes || !r.Get(magic, 8) || !r.GetValue(version) ||
      !r.GetValue(flags) || !r.GetValue(metric) || !r.GetValue(dim) || !r.GetValue(M) ||
      !r.GetValue(efc) || !r.GetValue(seed) || !r.GetValue(compaction_threshold) ||
      !r.GetValue(exact_threshold) || !r.GetValue(covered_seq) || !r.GetValue(n) ||
      !r.GetValue(entry) || !r.GetValue(max_level) || !r.GetValue(reserved)) {
    return Corrupt(path, "file is truncated");
  }
  if (std::memcmp(magic, kMagic, 8) != 0) return Corrupt(path, "not an hnsw snapshot");
  if (version != kVersion) return Corrupt(path, "unknown version " + std::to_string(version));
  if ((flags & ~(kFlagInt8 | kFlagKeepFloats | kFlagTrained | kFlagFloats)) || reserved) {
    return Corrupt(path, "unknown flags");
  }
  bool int8 = flags & kFlagInt8, trained = flags & kFlagTrained, floats = flags & kFlagFloats;
  bool keep = flags & kFlagKeepFloats;
  if ((!int8 && (trained || !floats)) || (int8 && !trained && !floats) ||
      (int8 && trained && floats != keep)) {
    return Corrupt(path, "inconsistent flags");
  }
  HnswOptions opts;
  opts.dim = dim;
  opts.metric = static_cast<Metric>(metric);
  opts.M = M;
  opts.ef_construction = efc;
  opts.int8 = int8;
  opts.keep_float_vectors = keep;
  opts.rerank_source = source;
  opts.seed = seed;
  opts.compaction_threshold = compaction_threshold;
  opts.exact_search_threshold = exact_threshold;
  opts.initial_capacity = std::max<size_t>(n, 1024);
  if (metric > 2 || !ValidateOptions(opts).ok()) return Corrupt(path, "invalid options");
  if (n > kMaxSlots || max_level > static_cast<uint32_t>(kMaxLevel) ||
      (n == 0) != (entry == kNoSlot) || (n > 0 && entry >= n) || (n == 0 && max_level != 0)) {
    return Corrupt(path, "invalid node count or entry point");
  }
  const uint64_t M0 = 2 * static_cast<uint64_t>(M);
  // Size of everything but the upper links; checked before allocating anything large.
  uint64_t fixed = kHeaderBytes + (trained ? 8ull * dim : 0) + 9ull * n + (n + 7ull) / 8 +
                   (floats ? 4ull * dim * n : 0) + (trained ? uint64_t{dim} * n : 0) +
                   4ull * (1 + M0) * n + kDigestBytes;
  if (fixed > file_size) return Corrupt(path, "file is truncated");

  auto graph = std::make_unique<Graph>(opts, ActiveKernels());
  if (trained) {
    std::vector<float> lo(dim), step(dim);
    if (!r.Get(lo.data(), 4ull * dim) || !r.Get(step.data(), 4ull * dim)) {
      return Corrupt(path, "file is truncated");
    }
    for (uint32_t d = 0; d < dim; ++d) {
      if (!std::isfinite(lo[d]) || !std::isfinite(step[d]) || !(step[d] > 0)) {
        return Corrupt(path, "invalid quantiser");
      }
    }
    graph->SetQuantizer(ScalarQuantizer(std::move(lo), std::move(step)), n);
    graph->MarkFloatsAbsent();  // no-op when floats are kept
  }
  std::vector<uint64_t> labels(n);
  std::vector<uint8_t> levels(n);
  std::vector<uint8_t> bits((n + 7) / 8);
  if (!r.Get(labels.data(), 8ull * n) || !r.Get(levels.data(), n) ||
      !r.Get(bits.data(), bits.size())) {
    return Corrupt(path, "file is truncated");
  }
  uint64_t upper_words = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (levels[i] > max_level) return Corrupt(path, "node level above the top level");
    upper_words += static_cast<uint64_t>(levels[i]) * (1 + M);
  }
  if (n > 0 && levels[entry] != max_level) return Corrupt(path, "entry point level mismatch");
  if (n % 8 && (bits.back() >> (n % 8))) return Corrupt(path, "invalid tombstone padding");
  if (fixed + 4 * upper_words != file_size) return Corrupt(path, "file size does not match");
  auto dead = [&](uint32_t i) { return (bits[i / 8] >> (i % 8)) & 1; };
  {
    std::unordered_set<uint64_t> seen;
    seen.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (!dead(i) && !seen.insert(labels[i]).second) return Corrupt(path, "duplicate label");
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    auto s = graph->AppendRawSlot(labels[i], levels[i], dead(i) ? kDeleted : kLive);
    if (!s.ok()) return s.status();
    if (*s != i) return InternalError("hnsw snapshot: unexpected slot numbering");
  }
  if (floats) {
    for (uint32_t i = 0; i < n; ++i) {
      float* v = graph->MutableFloats(i);
      if (!r.Get(v, 4ull * dim)) return Corrupt(path, "file is truncated");
      for (uint32_t d = 0; d < dim; ++d) {
        if (!std::isfinite(v[d])) return Corrupt(path, "non-finite vector value");
      }
    }
  }
  if (trained) {
    for (uint32_t i = 0; i < n; ++i) {
      if (!r.Get(graph->MutableCodes(i), dim)) return Corrupt(path, "file is truncated");
    }
  }
  std::vector<uint32_t> rec;
  auto get_list = [&](uint32_t i, int level, size_t cap) -> bool {
    rec.resize(1 + cap);
    if (!r.Get(rec.data(), rec.size() * 4)) return false;
    if (rec[0] > cap) return false;
    for (size_t j = 1; j <= cap; ++j) {
      if (j > rec[0]) {
        if (rec[j] != 0) return false;
        continue;
      }
      if (rec[j] >= n || levels[rec[j]] < level) return false;
    }
    uint32_t* list = graph->Links(i, level);
    for (uint32_t j = 1; j <= rec[0]; ++j) Graph::StoreLink(list + j, rec[j]);
    Graph::StoreLink(list, rec[0]);
    return true;
  };
  for (uint32_t i = 0; i < n; ++i) {
    if (!get_list(i, 0, M0)) return Corrupt(path, "invalid level-0 links");
  }
  for (uint32_t i = 0; i < n; ++i) {
    for (int l = 1; l <= levels[i]; ++l) {
      if (!get_list(i, l, M)) return Corrupt(path, "invalid upper links");
    }
  }
  uint8_t want[kDigestBytes], got[kDigestBytes];
  r.Digest(want);
  if (!r.GetRaw(got, kDigestBytes)) return Corrupt(path, "file is truncated");
  if (std::memcmp(want, got, kDigestBytes) != 0) return Corrupt(path, "checksum mismatch");

  for (uint32_t i = 0; i < n; ++i) {
    if (dead(i)) continue;
    std::unique_lock<std::shared_mutex> l(graph->map_mu);
    graph->UpsertLocked(labels[i], i);
  }
  graph->SetEntry(n ? entry : kNoSlot, static_cast<int>(max_level));
  graph->FinishLoad();
  LoadedSnapshot out;
  out.index = std::make_unique<HnswIndexImpl>(opts, std::move(graph));
  out.covered_seq = covered_seq;
  return out;
}

}  // namespace
}  // namespace internal

Result<LoadedSnapshot> LoadSnapshot(const std::string& path) {
  return internal::Load(path, nullptr);
}

Result<LoadedSnapshot> LoadSnapshot(const std::string& path, const VectorSource* source) {
  return internal::Load(path, source);
}

}  // namespace deepkb::hnsw
