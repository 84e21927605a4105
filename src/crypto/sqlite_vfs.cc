// The encrypting SQLite VFS "deepkb-aes" (see sqlite_vfs.h).
//
// ============================== Encrypted page format, version 1 =============================
// Page size P = 4096 (fixed; enforced), reserved bytes R = 28 at the end of every page (set
// with SQLITE_FCNTL_RESERVE_BYTES on a new database; SQLite never stores data there, keeps the
// value in the header byte 20 and carries it through VACUUM). Usable U = P - R = 4068.
//
// Every page image, wherever it is stored, is written as
//   bytes 0..U-1     AES-256-GCM ciphertext of the page's first U bytes
//   bytes U..U+11    96-bit nonce, fresh from RAND_bytes at every write
//   bytes U+12..P-1  128-bit GCM tag
// under the data key of the directory (keyring.h). SQLite sees the plaintext, with the
// reserved bytes reading as zeros; the VFS refuses (SQLITE_IOERR_WRITE) a page whose reserved
// bytes are not zero, and a page 1 whose header does not say P = 4096 and R = 28, so nothing
// SQLite stores is ever overwritten by a nonce or tag.
//
// Associated data (21 bytes) binds each image to its place:
//   0  8  "DKBPAGE1"
//   8  1  file kind: 'D' database, 'W' WAL, 'J' rollback journal
//   9  8  position (big-endian): D page number; W frame index (0-based); J byte offset
//   17 4  page number (big-endian): D and W the page's number; J 0
// so a page moved to another page number, frame or journal slot, or copied between the
// database, its WAL and its journal, fails authentication. (The WAL salts are not bound: SQLite
// writes frames with zero salts and checksums while a transaction rewrites a page it already
// logged, and fills them in at commit.)
//
// Files:
//   <db>          nothing but encrypted pages (even the 100-byte header is inside page 1). A
//                 read of part of a page (the header read at open) decrypts the whole page.
//   <db>-wal      SQLite's WAL layout: the 32-byte WAL header and each frame's 24-byte header
//                 (page number, commit size, salts, checksums) stay plaintext, the page image
//                 that follows each frame header is encrypted as above. SQLite writes a frame
//                 as two writes (header, then page) and may rewrite headers (checksums) later;
//                 the tag does not cover the checksums, the page write takes the page number
//                 from the header (just written, cached, or read back). SQLite's
//                 checksums are over plaintext and keep working.
//   <db>-journal  SQLite's rollback-journal layout (used only while a new database is being
//                 created, before it switches to WAL): headers, page numbers and the 32-bit
//                 page checksums stay plaintext; the 4096-byte page images (at offsets
//                 ≡ 4 mod 8, after the 4-byte page number) are encrypted as above.
//   <db>-shm      the WAL index, passed through: page numbers and frame numbers, no content.
//   temporary files (sorter, temp tables, statement journals, VACUUM's temp database) are
//                 kept in memory by this VFS and never written to disk.
//
// Reads that fail authentication:
//   - database, journal, and WAL reads of a page alone: SQLITE_IOERR_CORRUPTFS (→ DataLoss).
//   - WAL reads of a whole frame (header included: SQLite's recovery after a crash) are the
//     one place a torn write is legitimate: the last transaction may have been cut short before
//     its fsync. Such a frame is handed back with a zeroed page, so SQLite's checksum rejects
//     it and recovery ends the WAL there (as SQLite does for a torn frame of a plain database)
//     — but only when no later transaction of the same WAL generation follows its commit
//     frame; otherwise the frame belonged to a transaction that was synced (synchronous=FULL
//     syncs each commit before the next one starts), and the read fails as corruption.
//
// Not covered (see docs/security.md): file sizes and access patterns; the plaintext WAL and
// frame headers (modifying them makes SQLite drop the WAL tail, i.e. un-checkpointed recent
// transactions, as after a crash); replaying an older, authentic version of a whole file or
// page at the same position (rollback); the 32-bit journal page checksums.
// =============================================================================================
#include "crypto/sqlite_vfs.h"

#include <openssl/crypto.h>
#include <sqlite3.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace deepkb::crypto {
namespace {

constexpr int kP = kEncryptedPageSize;
constexpr int kR = kPageReserveBytes;
constexpr int kU = kP - kR;
constexpr int64_t kWalHeader = 32;
constexpr int64_t kFrameHeader = 24;
constexpr int64_t kFrame = kFrameHeader + kP;
constexpr size_t kAadBytes = 21;

enum class Kind { kMainDb, kWal, kJournal };

std::atomic<uint64_t> g_sealed{0}, g_opened{0}, g_auth_failures{0}, g_torn{0}, g_memfiles{0};

// ---- key registry ---------------------------------------------------------------------------

std::mutex g_mu;
std::map<std::string, std::shared_ptr<const DataKey>>& Registry() {  // guarded by g_mu
  static auto* m = new std::map<std::string, std::shared_ptr<const DataKey>>();
  return *m;
}

sqlite3_vfs* g_base = nullptr;  // "unix"; set once by RegisterEncryptedVfs
sqlite3_vfs g_vfs;

std::string FullPath(const std::string& path) {
  if (g_base == nullptr) return path;
  std::vector<char> buf(static_cast<size_t>(g_base->mxPathname) + 1);
  if (g_base->xFullPathname(g_base, path.c_str(), static_cast<int>(buf.size()), buf.data()) !=
      SQLITE_OK) {
    return path;
  }
  return std::string(buf.data());
}

std::shared_ptr<const DataKey> LookupKey(const char* db_full_path) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = Registry().find(db_full_path);
  return it == Registry().end() ? nullptr : it->second;
}

// ---- helpers --------------------------------------------------------------------------------

void PutBe(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

uint32_t GetBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void MakeAad(uint8_t* aad, char kind, uint64_t position, uint32_t pgno) {
  std::memcpy(aad, "DKBPAGE1", 8);
  aad[8] = static_cast<uint8_t>(kind);
  PutBe(aad + 9, position, 8);
  PutBe(aad + 17, pgno, 4);
}

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// ---- encrypted files ------------------------------------------------------------------------

struct State {
  Kind kind;
  std::string name;
  std::shared_ptr<const DataKey> key;
  AeadContext aead;
  std::vector<uint8_t> raw = std::vector<uint8_t>(kFrame);
  std::vector<uint8_t> plain = std::vector<uint8_t>(kP);
  std::vector<uint8_t> wbuf;
  int64_t cached_hdr_off = -1;  // WAL: offset of the frame header in cached_hdr
  uint8_t cached_hdr[kFrameHeader] = {};
};

struct EncFile {
  sqlite3_file base;  // must be first
  State* st;
};

constexpr int RoundUp8(int n) { return (n + 7) & ~7; }

sqlite3_file* Real(sqlite3_file* f) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) +
                                         RoundUp8(static_cast<int>(sizeof(EncFile))));
}

State& St(sqlite3_file* f) { return *reinterpret_cast<EncFile*>(f)->st; }

int Corrupt(State& s, const std::string& what) {
  g_auth_failures.fetch_add(1);
  spdlog::error("deepkb-aes: {} of {} failed authentication: the file is corrupt or was "
                "tampered with (or the data key is wrong)", what, s.name);
  return SQLITE_IOERR_CORRUPTFS;
}

// Seals plain[0..kP) (reserved bytes must be zero) into out[0..kP).
int SealPage(State& s, const uint8_t* plain, uint8_t* out, const uint8_t* aad) {
  if (!AllZero(plain + kU, kR)) {
    spdlog::error("deepkb-aes: refusing to write {}: a page uses the {} reserved bytes that hold "
                  "the nonce and tag", s.name, kR);
    return SQLITE_IOERR_WRITE;
  }
  Status st = s.aead.Seal(s.key->data(), {aad, kAadBytes}, plain, kU, out, out + kU,
                          out + kU + kNonceBytes);
  if (!st.ok()) {
    spdlog::error("deepkb-aes: {}", st.message());
    return SQLITE_IOERR_WRITE;
  }
  g_sealed.fetch_add(1);
  return SQLITE_OK;
}

// Opens raw[0..kP) into out[0..kP) (reserved bytes zeroed). false when it does not verify.
bool OpenPage(State& s, const uint8_t* raw, uint8_t* out, const uint8_t* aad) {
  Status st = s.aead.Open(s.key->data(), {aad, kAadBytes}, raw, kU, out, raw + kU,
                          raw + kU + kNonceBytes);
  std::memset(out + kU, 0, kR);
  if (!st.ok()) return false;
  g_opened.fetch_add(1);
  return true;
}

int RealSize(sqlite3_file* f, int64_t* size) {
  sqlite3_int64 sz = 0;
  const int rc = Real(f)->pMethods->xFileSize(Real(f), &sz);
  *size = sz;
  return rc;
}

// -- main database ----------------------------------------------------------------------------

int ReadDb(sqlite3_file* f, uint8_t* out, int amt, int64_t off) {
  State& s = St(f);
  int64_t size = 0;
  if (int rc = RealSize(f, &size); rc != SQLITE_OK) return rc;
  const int64_t end = off + amt;
  bool short_read = false;
  uint8_t aad[kAadBytes];
  for (int64_t pg = off / kP; pg * kP < end; ++pg) {
    const int64_t start = pg * kP;
    const int64_t from = std::max(off, start), to = std::min(end, start + kP);
    if (start >= size) {
      std::memset(out + (from - off), 0, static_cast<size_t>(to - from));
      short_read = true;
      continue;
    }
    if (start + kP > size) return Corrupt(s, "truncated page " + std::to_string(pg + 1));
    int rc = Real(f)->pMethods->xRead(Real(f), s.raw.data(), kP, start);
    if (rc != SQLITE_OK) return rc == SQLITE_IOERR_SHORT_READ ? Corrupt(s, "short page") : rc;
    MakeAad(aad, 'D', static_cast<uint64_t>(pg + 1), static_cast<uint32_t>(pg + 1));
    if (!OpenPage(s, s.raw.data(), s.plain.data(), aad)) {
      return Corrupt(s, "page " + std::to_string(pg + 1));
    }
    std::memcpy(out + (from - off), s.plain.data() + (from - start),
                static_cast<size_t>(to - from));
  }
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int WriteDb(sqlite3_file* f, const uint8_t* in, int amt, int64_t off) {
  State& s = St(f);
  if (off % kP != 0 || amt % kP != 0 || amt == 0) {
    spdlog::error("deepkb-aes: unaligned write of {} bytes at {} to {} (page size must be {})",
                  amt, off, s.name, kP);
    return SQLITE_IOERR_WRITE;
  }
  if (off == 0) {
    // Page 1 carries the header: page size (big-endian u16 at 16) and reserved bytes (at 20).
    const int page_size = (in[16] << 8) | in[17];
    if (page_size != kP || in[20] != kR) {
      spdlog::error("deepkb-aes: refusing to write {}: its header says page size {} with {} "
                    "reserved bytes; an encrypted database needs {} and {}",
                    s.name, page_size, in[20], kP, kR);
      return SQLITE_IOERR_WRITE;
    }
  }
  s.wbuf.resize(static_cast<size_t>(amt));
  uint8_t aad[kAadBytes];
  for (int i = 0; i < amt / kP; ++i) {
    const uint64_t pgno = static_cast<uint64_t>(off / kP + i + 1);
    MakeAad(aad, 'D', pgno, static_cast<uint32_t>(pgno));
    if (int rc = SealPage(s, in + i * kP, s.wbuf.data() + i * kP, aad); rc != SQLITE_OK) return rc;
  }
  return Real(f)->pMethods->xWrite(Real(f), s.wbuf.data(), amt, off);
}

// -- rollback journal -------------------------------------------------------------------------

bool IsJournalPage(int amt, int64_t off) { return amt == kP && off % 8 == 4; }

int ReadJournal(sqlite3_file* f, uint8_t* out, int amt, int64_t off) {
  State& s = St(f);
  if (!IsJournalPage(amt, off)) return Real(f)->pMethods->xRead(Real(f), out, amt, off);
  int rc = Real(f)->pMethods->xRead(Real(f), s.raw.data(), kP, off);
  if (rc == SQLITE_IOERR_SHORT_READ && AllZero(s.raw.data(), kP)) {
    std::memset(out, 0, kP);
    return rc;
  }
  if (rc != SQLITE_OK) return rc == SQLITE_IOERR_SHORT_READ ? Corrupt(s, "short page") : rc;
  uint8_t aad[kAadBytes];
  MakeAad(aad, 'J', static_cast<uint64_t>(off), 0);
  if (!OpenPage(s, s.raw.data(), out, aad)) {
    return Corrupt(s, "page at offset " + std::to_string(off));
  }
  return SQLITE_OK;
}

int WriteJournal(sqlite3_file* f, const uint8_t* in, int amt, int64_t off) {
  State& s = St(f);
  if (!IsJournalPage(amt, off)) return Real(f)->pMethods->xWrite(Real(f), in, amt, off);
  s.wbuf.resize(kP);
  uint8_t aad[kAadBytes];
  MakeAad(aad, 'J', static_cast<uint64_t>(off), 0);
  if (int rc = SealPage(s, in, s.wbuf.data(), aad); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xWrite(Real(f), s.wbuf.data(), kP, off);
}

// -- WAL --------------------------------------------------------------------------------------

int64_t FrameStart(int64_t k) { return kWalHeader + k * kFrame; }

void WalAad(uint8_t* aad, int64_t k, const uint8_t* frame_header) {
  MakeAad(aad, 'W', static_cast<uint64_t>(k), GetBe32(frame_header));
}

// True when frame k (whose header is `hdr`) belongs to a transaction that was followed by
// another transaction of the same WAL generation, i.e. it was committed and synced: a failed
// tag there is corruption, not a torn write.
bool LaterTransactionExists(sqlite3_file* f, int64_t k, const uint8_t* hdr) {
  State& s = St(f);
  sqlite3_file* real = Real(f);
  uint8_t wal_hdr[kWalHeader];
  if (real->pMethods->xRead(real, wal_hdr, kWalHeader, 0) != SQLITE_OK) return false;
  if (std::memcmp(hdr + 8, wal_hdr + 16, 8) != 0) return false;  // older generation
  int64_t size = 0;
  if (RealSize(f, &size) != SQLITE_OK) return false;
  const int64_t frames = size < kWalHeader ? 0 : (size - kWalHeader) / kFrame;
  uint8_t h[kFrameHeader];
  std::memcpy(h, hdr, kFrameHeader);
  int64_t commit = -1;
  for (int64_t j = k; j < frames; ++j) {
    if (j > k && real->pMethods->xRead(real, h, kFrameHeader, FrameStart(j)) != SQLITE_OK) break;
    if (std::memcmp(h + 8, wal_hdr + 16, 8) != 0) break;
    if (GetBe32(h + 4) != 0) {
      commit = j;
      break;
    }
  }
  if (commit < 0) return false;
  std::vector<uint8_t> frame(kFrame), plain(kP);
  uint8_t aad[kAadBytes];
  for (int64_t j = commit + 1; j < frames; ++j) {
    if (real->pMethods->xRead(real, frame.data(), kFrame, FrameStart(j)) != SQLITE_OK) break;
    if (std::memcmp(frame.data() + 8, wal_hdr + 16, 8) != 0) break;
    WalAad(aad, j, frame.data());
    if (OpenPage(s, frame.data() + kFrameHeader, plain.data(), aad)) return true;
  }
  return false;
}

int ReadWal(sqlite3_file* f, uint8_t* out, int amt, int64_t off) {
  State& s = St(f);
  sqlite3_file* real = Real(f);
  const int64_t end = off + amt;
  int64_t pos = off;
  bool short_read = false;
  int64_t size = -1;
  uint8_t aad[kAadBytes];
  while (pos < end) {
    if (pos < kWalHeader) {  // WAL header: plaintext
      const int64_t seg = std::min(end, kWalHeader);
      int rc = real->pMethods->xRead(real, out + (pos - off), static_cast<int>(seg - pos), pos);
      if (rc == SQLITE_IOERR_SHORT_READ) short_read = true;
      else if (rc != SQLITE_OK) return rc;
      pos = seg;
      continue;
    }
    const int64_t k = (pos - kWalHeader) / kFrame;
    const int64_t fstart = FrameStart(k), hdr_end = fstart + kFrameHeader, fend = fstart + kFrame;
    if (end <= hdr_end) {  // inside a frame header only: plaintext
      int rc = real->pMethods->xRead(real, out + (pos - off), static_cast<int>(end - pos), pos);
      if (rc == SQLITE_IOERR_SHORT_READ) short_read = true;
      else if (rc != SQLITE_OK) return rc;
      pos = end;
      continue;
    }
    // Touches the page image of frame k: read and open the whole frame.
    const int64_t seg = std::min(end, fend);
    if (size < 0) {
      if (int rc = RealSize(f, &size); rc != SQLITE_OK) return rc;
    }
    if (fend > size) {
      // Not (completely) in the file: SQLite only reads whole frames it knows to exist, so
      // this is a read past the end: zeros.
      if (fstart < size && pos < hdr_end) {
        int rc = real->pMethods->xRead(real, out + (pos - off), static_cast<int>(hdr_end - pos), pos);
        if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
        std::memset(out + (hdr_end - off), 0, static_cast<size_t>(seg - hdr_end));
      } else {
        std::memset(out + (pos - off), 0, static_cast<size_t>(seg - pos));
      }
      short_read = true;
      pos = seg;
      continue;
    }
    int rc = real->pMethods->xRead(real, s.raw.data(), kFrame, fstart);
    if (rc != SQLITE_OK) return rc == SQLITE_IOERR_SHORT_READ ? Corrupt(s, "short frame") : rc;
    WalAad(aad, k, s.raw.data());
    if (!OpenPage(s, s.raw.data() + kFrameHeader, s.plain.data(), aad)) {
      const bool whole_frame = pos <= fstart;
      if (!whole_frame || LaterTransactionExists(f, k, s.raw.data())) {
        return Corrupt(s, "frame " + std::to_string(k + 1));
      }
      g_torn.fetch_add(1);
      spdlog::warn("deepkb-aes: frame {} of {} does not authenticate and no later transaction "
                   "follows it: treating it as a write torn by a crash (the transaction was "
                   "never acknowledged)", k + 1, s.name);
      std::memset(s.plain.data(), 0, kP);
    }
    // Copy [pos, seg): header part from raw, page part from plain.
    for (int64_t p = pos; p < seg;) {
      if (p < hdr_end) {
        const int64_t n = std::min(seg, hdr_end) - p;
        std::memcpy(out + (p - off), s.raw.data() + (p - fstart), static_cast<size_t>(n));
        p += n;
      } else {
        std::memcpy(out + (p - off), s.plain.data() + (p - hdr_end), static_cast<size_t>(seg - p));
        p = seg;
      }
    }
    pos = seg;
  }
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int WriteWal(sqlite3_file* f, const uint8_t* in, int amt, int64_t off) {
  State& s = St(f);
  sqlite3_file* real = Real(f);
  const int64_t end = off + amt;
  s.wbuf.assign(in, in + amt);
  int64_t pos = off;
  uint8_t aad[kAadBytes];
  while (pos < end) {
    if (pos < kWalHeader) {
      pos = std::min(end, kWalHeader);
      continue;
    }
    const int64_t k = (pos - kWalHeader) / kFrame;
    const int64_t fstart = FrameStart(k), hdr_end = fstart + kFrameHeader, fend = fstart + kFrame;
    if (pos < hdr_end) {  // frame header: plaintext; remember it for the page write that follows
      const int64_t seg = std::min(end, hdr_end);
      if (pos == fstart && seg == hdr_end) {
        std::memcpy(s.cached_hdr, in + (pos - off), kFrameHeader);
        s.cached_hdr_off = fstart;
      } else if (s.cached_hdr_off == fstart) {
        s.cached_hdr_off = -1;
      }
      pos = seg;
      continue;
    }
    if (pos != hdr_end || end < fend) {
      spdlog::error("deepkb-aes: partial page write of {} bytes at {} to {}", amt, off, s.name);
      return SQLITE_IOERR_WRITE;
    }
    uint8_t hdr[kFrameHeader];
    if (fstart >= off) {
      std::memcpy(hdr, in + (fstart - off), kFrameHeader);
    } else if (s.cached_hdr_off == fstart) {
      std::memcpy(hdr, s.cached_hdr, kFrameHeader);
    } else {
      int rc = real->pMethods->xRead(real, hdr, kFrameHeader, fstart);
      if (rc != SQLITE_OK) {
        spdlog::error("deepkb-aes: cannot read the header of frame {} of {}", k + 1, s.name);
        return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_WRITE : rc;
      }
    }
    WalAad(aad, k, hdr);
    if (int rc = SealPage(s, in + (pos - off), s.wbuf.data() + (pos - off), aad); rc != SQLITE_OK) {
      return rc;
    }
    pos = fend;
  }
  return real->pMethods->xWrite(real, s.wbuf.data(), amt, off);
}

// -- io methods -------------------------------------------------------------------------------

int EncClose(sqlite3_file* f) {
  auto* ef = reinterpret_cast<EncFile*>(f);
  int rc = SQLITE_OK;
  if (Real(f)->pMethods != nullptr) rc = Real(f)->pMethods->xClose(Real(f));
  delete ef->st;
  ef->st = nullptr;
  return rc;
}

int EncRead(sqlite3_file* f, void* out, int amt, sqlite3_int64 off) {
  auto* o = static_cast<uint8_t*>(out);
  switch (St(f).kind) {
    case Kind::kMainDb: return ReadDb(f, o, amt, off);
    case Kind::kWal: return ReadWal(f, o, amt, off);
    case Kind::kJournal: return ReadJournal(f, o, amt, off);
  }
  return SQLITE_IOERR_READ;
}

int EncWrite(sqlite3_file* f, const void* in, int amt, sqlite3_int64 off) {
  const auto* i = static_cast<const uint8_t*>(in);
  switch (St(f).kind) {
    case Kind::kMainDb: return WriteDb(f, i, amt, off);
    case Kind::kWal: return WriteWal(f, i, amt, off);
    case Kind::kJournal: return WriteJournal(f, i, amt, off);
  }
  return SQLITE_IOERR_WRITE;
}

int EncTruncate(sqlite3_file* f, sqlite3_int64 size) {
  if (St(f).kind == Kind::kWal) St(f).cached_hdr_off = -1;
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int EncSync(sqlite3_file* f, int flags) { return Real(f)->pMethods->xSync(Real(f), flags); }
int EncFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int EncLock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int EncUnlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int EncCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int EncFileControl(sqlite3_file* f, int op, void* arg) {
  if (op == SQLITE_FCNTL_VFSNAME) {
    char** name = static_cast<char**>(arg);
    *name = sqlite3_mprintf("%s", kEncryptedVfsName);
    return SQLITE_OK;
  }
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int EncSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int EncDeviceCharacteristics(sqlite3_file* f) {
  const int atomic = SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_ATOMIC512 | SQLITE_IOCAP_ATOMIC1K |
                     SQLITE_IOCAP_ATOMIC2K | SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_ATOMIC8K |
                     SQLITE_IOCAP_ATOMIC16K | SQLITE_IOCAP_ATOMIC32K | SQLITE_IOCAP_ATOMIC64K |
                     SQLITE_IOCAP_BATCH_ATOMIC;
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f)) & ~atomic;
}
int EncShmMap(sqlite3_file* f, int pg, int sz, int extend, void volatile** pp) {
  return Real(f)->pMethods->xShmMap(Real(f), pg, sz, extend, pp);
}
int EncShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void EncShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int EncShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
// No memory mapping: every page goes through EncRead.
int EncFetch(sqlite3_file*, sqlite3_int64, int, void** pp) {
  *pp = nullptr;
  return SQLITE_OK;
}
int EncUnfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

const sqlite3_io_methods kEncMethods = {
    3,           EncClose,         EncRead,        EncWrite,       EncTruncate,
    EncSync,     EncFileSize,      EncLock,        EncUnlock,      EncCheckReservedLock,
    EncFileControl, EncSectorSize, EncDeviceCharacteristics, EncShmMap, EncShmLock,
    EncShmBarrier, EncShmUnmap,    EncFetch,       EncUnfetch};

// ---- memory files (temporary files) ---------------------------------------------------------

struct MemFile {
  sqlite3_file base;
  std::vector<uint8_t>* data;
};

std::vector<uint8_t>& Mem(sqlite3_file* f) { return *reinterpret_cast<MemFile*>(f)->data; }

int MemClose(sqlite3_file* f) {
  auto* mf = reinterpret_cast<MemFile*>(f);
  if (mf->data != nullptr && !mf->data->empty()) {
    OPENSSL_cleanse(mf->data->data(), mf->data->size());
  }
  delete mf->data;
  mf->data = nullptr;
  return SQLITE_OK;
}
int MemRead(sqlite3_file* f, void* out, int amt, sqlite3_int64 off) {
  auto& d = Mem(f);
  const auto size = static_cast<int64_t>(d.size());
  int64_t n = 0;
  if (off < size) n = std::min<int64_t>(amt, size - off);
  if (n > 0) std::memcpy(out, d.data() + off, static_cast<size_t>(n));
  if (n < amt) {
    std::memset(static_cast<uint8_t*>(out) + n, 0, static_cast<size_t>(amt - n));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}
int MemWrite(sqlite3_file* f, const void* in, int amt, sqlite3_int64 off) {
  auto& d = Mem(f);
  const auto need = static_cast<size_t>(off + amt);
  try {
    if (d.size() < need) d.resize(need);
  } catch (...) {
    return SQLITE_NOMEM;
  }
  std::memcpy(d.data() + off, in, static_cast<size_t>(amt));
  return SQLITE_OK;
}
int MemTruncate(sqlite3_file* f, sqlite3_int64 size) {
  auto& d = Mem(f);
  if (static_cast<size_t>(size) < d.size()) d.resize(static_cast<size_t>(size));
  return SQLITE_OK;
}
int MemSync(sqlite3_file*, int) { return SQLITE_OK; }
int MemFileSize(sqlite3_file* f, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(Mem(f).size());
  return SQLITE_OK;
}
int MemLock(sqlite3_file*, int) { return SQLITE_OK; }
int MemCheckReservedLock(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int MemFileControl(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int MemSectorSize(sqlite3_file*) { return kP; }
int MemDeviceCharacteristics(sqlite3_file*) { return 0; }

const sqlite3_io_methods kMemMethods = {
    1,           MemClose,    MemRead,       MemWrite, MemTruncate, MemSync, MemFileSize,
    MemLock,     MemLock,     MemCheckReservedLock, MemFileControl, MemSectorSize,
    MemDeviceCharacteristics};

// ---- the VFS --------------------------------------------------------------------------------

int VfsOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  f->pMethods = nullptr;
  constexpr int kTempKinds = SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL |
                             SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_SUBJOURNAL;
  if (name == nullptr || (flags & kTempKinds) != 0) {
    auto* mf = reinterpret_cast<MemFile*>(f);
    mf->data = new (std::nothrow) std::vector<uint8_t>();
    if (mf->data == nullptr) return SQLITE_NOMEM;
    mf->base.pMethods = &kMemMethods;
    g_memfiles.fetch_add(1);
    if (out_flags != nullptr) *out_flags = flags;
    return SQLITE_OK;
  }
  Kind kind;
  const char* db_name = name;
  if (flags & SQLITE_OPEN_MAIN_DB) {
    kind = Kind::kMainDb;
  } else if (flags & SQLITE_OPEN_WAL) {
    kind = Kind::kWal;
    db_name = sqlite3_filename_database(name);
  } else if (flags & SQLITE_OPEN_MAIN_JOURNAL) {
    kind = Kind::kJournal;
    db_name = sqlite3_filename_database(name);
  } else {
    spdlog::error("deepkb-aes: refusing to open {}: unsupported file kind (flags {:#x})", name,
                  flags);
    return SQLITE_CANTOPEN;
  }
  std::shared_ptr<const DataKey> key = LookupKey(db_name);
  if (!key) {
    spdlog::error("deepkb-aes: no data key is bound to {}", db_name);
    return SQLITE_CANTOPEN;
  }
  sqlite3_file* real = Real(f);
  real->pMethods = nullptr;
  int rc = g_base->xOpen(g_base, name, real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (real->pMethods != nullptr) real->pMethods->xClose(real);
    return rc;
  }
  auto* st = new (std::nothrow) State();
  if (st == nullptr) {
    real->pMethods->xClose(real);
    return SQLITE_NOMEM;
  }
  st->kind = kind;
  st->name = name;
  st->key = std::move(key);
  auto* ef = reinterpret_cast<EncFile*>(f);
  ef->st = st;
  ef->base.pMethods = &kEncMethods;
  return SQLITE_OK;
}

int VfsDelete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_base->xDelete(g_base, name, sync_dir);
}
int VfsAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_base->xAccess(g_base, name, flags, out);
}
int VfsFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_base->xFullPathname(g_base, name, n, out);
}
void* VfsDlOpen(sqlite3_vfs*, const char* name) { return g_base->xDlOpen(g_base, name); }
void VfsDlError(sqlite3_vfs*, int n, char* msg) { g_base->xDlError(g_base, n, msg); }
void (*VfsDlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_base->xDlSym(g_base, h, sym);
}
void VfsDlClose(sqlite3_vfs*, void* h) { g_base->xDlClose(g_base, h); }
int VfsRandomness(sqlite3_vfs*, int n, char* out) { return g_base->xRandomness(g_base, n, out); }
int VfsSleep(sqlite3_vfs*, int us) { return g_base->xSleep(g_base, us); }
int VfsCurrentTime(sqlite3_vfs*, double* t) { return g_base->xCurrentTime(g_base, t); }
int VfsGetLastError(sqlite3_vfs*, int n, char* msg) {
  return g_base->xGetLastError ? g_base->xGetLastError(g_base, n, msg) : 0;
}
int VfsCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* t) {
  return g_base->xCurrentTimeInt64(g_base, t);
}

int DoRegister() {
  g_base = sqlite3_vfs_find("unix");
  if (g_base == nullptr || g_base->iVersion < 2) return SQLITE_ERROR;
  std::memset(&g_vfs, 0, sizeof(g_vfs));
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = RoundUp8(static_cast<int>(std::max(sizeof(EncFile), sizeof(MemFile)))) +
                   g_base->szOsFile;
  g_vfs.mxPathname = g_base->mxPathname;
  g_vfs.zName = kEncryptedVfsName;
  g_vfs.xOpen = VfsOpen;
  g_vfs.xDelete = VfsDelete;
  g_vfs.xAccess = VfsAccess;
  g_vfs.xFullPathname = VfsFullPathname;
  g_vfs.xDlOpen = VfsDlOpen;
  g_vfs.xDlError = VfsDlError;
  g_vfs.xDlSym = VfsDlSym;
  g_vfs.xDlClose = VfsDlClose;
  g_vfs.xRandomness = VfsRandomness;
  g_vfs.xSleep = VfsSleep;
  g_vfs.xCurrentTime = VfsCurrentTime;
  g_vfs.xGetLastError = VfsGetLastError;
  g_vfs.xCurrentTimeInt64 = VfsCurrentTimeInt64;
  return sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
}

}  // namespace

Status RegisterEncryptedVfs() {
  static std::once_flag once;
  static int rc = SQLITE_ERROR;
  std::call_once(once, [] { rc = DoRegister(); });
  if (rc != SQLITE_OK) {
    return InternalError(std::string("cannot register the SQLite VFS ") + kEncryptedVfsName +
                         ": " + sqlite3_errstr(rc));
  }
  return Status::Ok();
}

Status EncryptDatabase(const std::string& db_path, std::shared_ptr<const DataKey> key) {
  if (!key) return InvalidArgumentError("EncryptDatabase: no key");
  RETURN_IF_ERROR(RegisterEncryptedVfs());
  const std::string full = FullPath(db_path);
  std::lock_guard<std::mutex> lock(g_mu);
  Registry()[full] = std::move(key);
  return Status::Ok();
}

void ForgetDatabase(const std::string& db_path) {
  if (!RegisterEncryptedVfs().ok()) return;
  const std::string full = FullPath(db_path);
  std::lock_guard<std::mutex> lock(g_mu);
  Registry().erase(full);
}

bool IsEncryptedDatabase(const std::string& db_path) {
  if (!RegisterEncryptedVfs().ok()) return false;
  const std::string full = FullPath(db_path);
  std::lock_guard<std::mutex> lock(g_mu);
  return Registry().count(full) > 0;
}

VfsCounters GetVfsCounters() {
  VfsCounters c;
  c.pages_sealed = g_sealed.load();
  c.pages_opened = g_opened.load();
  c.auth_failures = g_auth_failures.load();
  c.torn_wal_frames = g_torn.load();
  c.memory_files = g_memfiles.load();
  return c;
}

}  // namespace deepkb::crypto
