// KeywordIndex snapshots: KeywordIndex::Save / KeywordIndex::Load.
//
// File format (version 1). All integers little-endian, fixed width unless marked varint; f32/f64
// are IEEE-754 little-endian.
//
//   offset  size  field
//   0       8     magic "DKBKWI01"
//   8       4     u32 format version (1)
//   12      4     u32 analyzer version (kAnalyzerVersion; bump when index terms change)
//   16      24    f64 field weights: title, headings, body
//   40      8     u64 live docs (FTS5 row count)
//   48      8     u64 total tokens of live docs
//   56      8     u64 tombstones
//   64      8     u64 doc slots S
//   72      ...   S doc entries: i64 chunk id, u32 length (positions), u8 deleted, u64 fingerprint
//           ...   u64 T, then T term lists: u32 term length, term bytes (UTF-8), List
//           ...   u64 C, then C character lists: u32 code point, List
//           ...   u64 K, then K u32 "tainted" code points (prefix queries refused)
//   end-64  64    lower-case hex SHA-256 of every byte before it
//
//   List     := u32 df, u64 postings, Frontier (global), u32 B, B × Block, u64 N, N bytes
//   Block    := u32 last doc, u32 byte offset, u32 postings, Frontier
//   Frontier := u8 n (<= 4), n × (f32 weighted frequency, u32 length)
//   The N bytes are the posting stream described in postings.h.
//
// Save writes <path>.tmp, fsyncs it, renames it over <path> and fsyncs the directory. Load
// checks the checksum first, then every count, offset and ordinal, so a damaged file is
// reported (DataLoss) and never half-loaded.
#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>

#include "common/hash.h"
#include "index/inverted/keyword_index.h"

namespace deepkb::inverted {

static_assert(std::endian::native == std::endian::little, "snapshot code assumes little-endian");

namespace {

constexpr char kMagic[8] = {'D', 'K', 'B', 'K', 'W', 'I', '0', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kAnalyzerVersion = 1;
constexpr size_t kHashHex = 64;

class Writer {
 public:
  std::string buf;
  template <typename T>
  void Put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    buf.append(b, sizeof(T));
  }
  void Bytes(const void* p, size_t n) { buf.append(static_cast<const char*>(p), n); }
  void Frontier(const inverted::Frontier& f) {
    Put<uint8_t>(f.n);
    for (uint8_t i = 0; i < f.n; ++i) {
      Put<float>(f.pts[i].freq);
      Put<uint32_t>(f.pts[i].len);
    }
  }
  void List(uint32_t df, const PostingList& l) {
    Put<uint32_t>(df);
    Put<uint64_t>(l.size());
    Frontier(l.frontier());
    Put<uint32_t>(static_cast<uint32_t>(l.blocks().size()));
    for (const BlockMeta& b : l.blocks()) {
      Put<uint32_t>(b.last_doc);
      Put<uint32_t>(b.offset);
      Put<uint32_t>(b.count);
      Frontier(b.frontier);
    }
    Put<uint64_t>(l.bytes().size());
    Bytes(l.bytes().data(), l.bytes().size());
  }
};

class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), end_(p + n) {}
  bool ok() const { return ok_; }
  bool done() const { return p_ == end_; }
  template <typename T>
  T Get() {
    T v{};
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  bool Bytes(size_t n, const char** out) {
    if (static_cast<size_t>(end_ - p_) < n) return ok_ = false;
    *out = p_;
    p_ += n;
    return true;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  inverted::Frontier Frontier() {
    inverted::Frontier f;
    const auto n = Get<uint8_t>();
    if (n > kMaxFrontier) {
      ok_ = false;
      return f;
    }
    f.n = n;
    for (uint8_t i = 0; i < n; ++i) {
      f.pts[i].freq = Get<float>();
      f.pts[i].len = Get<uint32_t>();
    }
    return f;
  }
  // Reads a list; false when malformed.
  bool List(uint32_t& df, PostingList& out, uint64_t doc_slots) {
    df = Get<uint32_t>();
    const auto count = Get<uint64_t>();
    const inverted::Frontier global = Frontier();
    const auto nblocks = Get<uint32_t>();
    if (!ok_ || nblocks > left() / 13) return ok_ = false;
    std::vector<BlockMeta> blocks(nblocks);
    for (auto& b : blocks) {
      b.last_doc = Get<uint32_t>();
      b.offset = Get<uint32_t>();
      b.count = Get<uint32_t>();
      b.frontier = Frontier();
    }
    const auto nbytes = Get<uint64_t>();
    const char* data = nullptr;
    if (!ok_ || nbytes > left() || !Bytes(nbytes, &data)) return ok_ = false;
    std::vector<uint8_t> bytes(reinterpret_cast<const uint8_t*>(data),
                               reinterpret_cast<const uint8_t*>(data) + nbytes);
    if (!out.Restore(std::move(blocks), std::move(bytes), global, count)) return ok_ = false;
    if (!out.empty() && out.last_doc() >= doc_slots) return ok_ = false;
    if (df > count) return ok_ = false;
    return true;
  }

 private:
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

Status WriteFileDurably(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return PermissionDeniedError("keyword index snapshot: cannot create " + tmp + ": " +
                                 std::strerror(errno));
  }
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return (err == ENOSPC ? ResourceExhaustedError("keyword index snapshot: disk full writing " +
                                                     tmp)
                            : InternalError("keyword index snapshot: write " + tmp + ": " +
                                            std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return InternalError("keyword index snapshot: fsync " + tmp + ": " + std::strerror(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return InternalError("keyword index snapshot: rename to " + path + ": " + std::strerror(err));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace

Status KeywordIndex::Save(const std::string& path) const {
  return WriteFileDurably(path, SerializeSnapshot());
}

std::string KeywordIndex::SerializeSnapshot() const {
  Writer w;
  {
    auto lock = ReadLock();
    w.Bytes(kMagic, sizeof kMagic);
    w.Put<uint32_t>(kFormatVersion);
    w.Put<uint32_t>(kAnalyzerVersion);
    w.Put<double>(weights_.title);
    w.Put<double>(weights_.headings);
    w.Put<double>(weights_.body);
    w.Put<uint64_t>(live_docs_);
    w.Put<uint64_t>(total_tokens_);
    w.Put<uint64_t>(tombstones_);
    w.Put<uint64_t>(docs_.size());
    for (const DocEntry& d : docs_) {
      w.Put<int64_t>(d.chunk_id);
      w.Put<uint32_t>(d.len);
      w.Put<uint8_t>(d.deleted ? 1 : 0);
      w.Put<uint64_t>(d.fingerprint);
    }
    w.Put<uint64_t>(term_dict_.size());
    for (uint32_t id = 0; id < term_dict_.size(); ++id) {  // in id order: Load gives the same ids
      const std::string_view term = term_dict_.Key(id);
      w.Put<uint32_t>(static_cast<uint32_t>(term.size()));
      w.Bytes(term.data(), term.size());
      w.List(terms_[id].df, terms_[id].list);
    }
    w.Put<uint64_t>(char_ids_.size());
    for (const auto& [c, id] : char_ids_) {
      w.Put<uint32_t>(static_cast<uint32_t>(c));
      w.List(chars_[id].df, chars_[id].list);
    }
    w.Put<uint64_t>(tainted_.size());
    for (char32_t c : tainted_) w.Put<uint32_t>(static_cast<uint32_t>(c));
  }
  w.buf += Sha256Hex(w.buf);
  return std::move(w.buf);
}

Status KeywordIndex::Load(const std::string& path) {
  std::string data;
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return NotFoundError("keyword index snapshot " + path + " not found");
      return PermissionDeniedError("keyword index snapshot: cannot open " + path + ": " +
                                   std::strerror(errno));
    }
    char buf[1 << 16];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        return InternalError("keyword index snapshot: read " + path + ": " + std::strerror(err));
      }
      if (n == 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  }
  return LoadSnapshotBytes(data, path);
}

Status KeywordIndex::LoadSnapshotBytes(std::string_view data, const std::string& path) {
  auto corrupt = [&](const std::string& why) {
    return DataLossError("keyword index snapshot " + path + " is corrupt (" + why + ")");
  };
  if (data.size() < 72 + kHashHex || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    return corrupt("bad magic or truncated");
  }
  const size_t body = data.size() - kHashHex;
  if (Sha256Hex(std::string_view(data.data(), body)) != data.substr(body)) {
    return corrupt("checksum mismatch");
  }
  Reader r(data.data() + sizeof kMagic, body - sizeof kMagic);
  const auto version = r.Get<uint32_t>();
  const auto analyzer = r.Get<uint32_t>();
  if (version != kFormatVersion || analyzer != kAnalyzerVersion) {
    return FailedPreconditionError("keyword index snapshot " + path + " has format " +
                                   std::to_string(version) + "/analyzer " +
                                   std::to_string(analyzer) + "; this build writes " +
                                   std::to_string(kFormatVersion) + "/" +
                                   std::to_string(kAnalyzerVersion));
  }
  fulltext::FieldWeights w;
  w.title = r.Get<double>();
  w.headings = r.Get<double>();
  w.body = r.Get<double>();
  if (w.title != weights_.title || w.headings != weights_.headings || w.body != weights_.body) {
    return FailedPreconditionError("keyword index snapshot " + path +
                                   " was built with other field weights");
  }
  const auto live = r.Get<uint64_t>();
  const auto total = r.Get<uint64_t>();
  const auto tombs = r.Get<uint64_t>();
  const auto slots = r.Get<uint64_t>();
  if (!r.ok() || slots > r.left() / 21 || slots >= kEndDoc) return corrupt("doc table");
  std::vector<DocEntry> docs(slots);
  std::unordered_map<int64_t, uint32_t> ord_of;
  ord_of.reserve(slots);
  uint64_t live_seen = 0, total_seen = 0, tombs_seen = 0;
  for (uint64_t i = 0; i < slots; ++i) {
    DocEntry& d = docs[i];
    d.chunk_id = r.Get<int64_t>();
    d.len = r.Get<uint32_t>();
    const auto del = r.Get<uint8_t>();
    d.fingerprint = r.Get<uint64_t>();
    if (del > 1) return corrupt("doc flag");
    d.deleted = del == 1;
    if (d.deleted) {
      ++tombs_seen;
    } else {
      ++live_seen;
      total_seen += d.len;
      if (!ord_of.emplace(d.chunk_id, static_cast<uint32_t>(i)).second) {
        return corrupt("duplicate chunk id");
      }
    }
  }
  if (!r.ok() || live_seen != live || total_seen != total || tombs_seen != tombs) {
    return corrupt("doc statistics");
  }
  const auto nterms = r.Get<uint64_t>();
  if (!r.ok() || nterms > r.left() / 8) return corrupt("term count");
  TermDict term_dict;
  term_dict.Reserve(nterms);
  std::vector<TermEntry> terms(nterms);
  for (uint64_t i = 0; i < nterms; ++i) {
    const auto len = r.Get<uint32_t>();
    const char* p = nullptr;
    if (!r.ok() || len > fulltext::kMaxTermBytes * 4 || !r.Bytes(len, &p)) return corrupt("term");
    bool inserted = false;
    if (term_dict.Insert(std::string_view(p, len), &inserted) == TermDict::kNone || !inserted) {
      return corrupt("duplicate term");
    }
    if (!r.List(terms[i].df, terms[i].list, slots)) return corrupt("term list");
  }
  const auto nchars = r.Get<uint64_t>();
  if (!r.ok() || nchars > r.left() / 8) return corrupt("character count");
  std::unordered_map<char32_t, uint32_t> char_ids;
  std::vector<TermEntry> chars(nchars);
  for (uint64_t i = 0; i < nchars; ++i) {
    const auto c = static_cast<char32_t>(r.Get<uint32_t>());
    if (!r.ok() || !char_ids.emplace(c, static_cast<uint32_t>(i)).second) {
      return corrupt("character");
    }
    if (!r.List(chars[i].df, chars[i].list, slots)) return corrupt("character list");
  }
  const auto ntainted = r.Get<uint64_t>();
  if (!r.ok() || ntainted > r.left() / 4) return corrupt("tainted count");
  std::unordered_set<char32_t> tainted;
  for (uint64_t i = 0; i < ntainted; ++i) tainted.insert(static_cast<char32_t>(r.Get<uint32_t>()));
  if (!r.ok() || !r.done()) return corrupt("trailing bytes");
  // Impact tiers are derived state, rebuilt here (before the lock: searches continue meanwhile).
  std::vector<uint32_t> scan_lens = ScanLens(docs);
  BuildTiers(terms, scan_lens, live, total);
  BuildTiers(chars, scan_lens, live, total);

  std::vector<char32_t> char_keys = CharKeys(char_ids);

  auto lock = WriteLock();
  docs_ = std::move(docs);
  scan_lens_ = std::move(scan_lens);
  ord_of_ = std::move(ord_of);
  term_dict_ = std::move(term_dict);
  terms_ = std::move(terms);
  char_ids_ = std::move(char_ids);
  char_keys_ = std::move(char_keys);
  chars_ = std::move(chars);
  tainted_ = std::move(tainted);
  live_docs_ = live;
  total_tokens_ = total;
  tombstones_ = tombs;
  ++version_;
  ++generation_;       // a compaction in flight gives up
  log_ = ChangeLog{};
  return Status::Ok();
}

}  // namespace deepkb::inverted
