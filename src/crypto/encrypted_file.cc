// Encrypted whole files (see encrypted_file.h).
//
// ============================ Encrypted file format, version 1 ===============================
// Integers little-endian.
//
//   header, 32 bytes
//     0   8   magic "DKBAEF01"
//     8   4   version = 1
//     12  4   chunk size C (plaintext bytes per chunk; 65536; 1..16 MiB accepted)
//     16  16  file id (random per file)
//   chunks, in order, i = 0, 1, ...
//     12 nonce (random) | ciphertext (C bytes, or 0..C for the last chunk) | 16 tag
//     AES-256-GCM under the data key; associated data = the 32 header bytes | i (u64) |
//     final flag (u8: 1 on the last chunk, else 0) | the caller's context string.
//
// A file always has at least one chunk; the last one carries the final flag, so truncating a
// file at a chunk boundary, dropping, reordering or duplicating chunks, changing the header,
// or moving the file to another context all fail authentication. The chunk count follows from
// the file size: every chunk but the last is C + 28 bytes; a body whose size is a multiple of
// C + 28 ends with a full final chunk.
// =============================================================================================
#include "crypto/encrypted_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "crypto/file_io.h"

namespace deepkb::crypto {
namespace {

constexpr char kMagic[8] = {'D', 'K', 'B', 'A', 'E', 'F', '0', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kOverhead = kNonceBytes + kTagBytes;
constexpr size_t kMaxFileBytes = size_t{1} << 40;

void PutLe(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t GetLe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string ChunkAad(const uint8_t* header, uint64_t index, bool final, std::string_view ctx) {
  std::string aad(reinterpret_cast<const char*>(header), kHeaderBytes);
  uint8_t tail[9];
  PutLe(tail, index, 8);
  tail[8] = final ? 1 : 0;
  aad.append(reinterpret_cast<const char*>(tail), sizeof(tail));
  aad.append(ctx);
  return aad;
}

Status Bad(std::string_view ctx, const std::string& what) {
  return DataLossError("encrypted file " + std::string(ctx) + ": " + what +
                       " (the file is corrupt, was tampered with, or belongs elsewhere)");
}

}  // namespace

bool LooksEncrypted(std::string_view head) {
  return head.size() >= sizeof(kMagic) && std::memcmp(head.data(), kMagic, sizeof(kMagic)) == 0;
}

Result<std::string> EncryptBuffer(std::string_view plain, const DataKey& key,
                                  std::string_view context) {
  const size_t c = kFileChunkBytes;
  const size_t chunks = plain.empty() ? 1 : (plain.size() + c - 1) / c;
  std::string out(kHeaderBytes + plain.size() + chunks * kOverhead, '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(o, kMagic, sizeof(kMagic));
  PutLe(o + 8, kVersion, 4);
  PutLe(o + 12, c, 4);
  RETURN_IF_ERROR(RandomBytes(o + 16, 16));
  AeadContext aead;
  size_t in_pos = 0, out_pos = kHeaderBytes;
  for (size_t i = 0; i < chunks; ++i) {
    const size_t n = std::min(c, plain.size() - in_pos);
    const bool final = i + 1 == chunks;
    const std::string aad = ChunkAad(o, i, final, context);
    uint8_t* rec = o + out_pos;
    RETURN_IF_ERROR(aead.Seal(key.data(), AsBytes(aad),
                              reinterpret_cast<const uint8_t*>(plain.data()) + in_pos, n,
                              rec + kNonceBytes, rec, rec + kNonceBytes + n));
    in_pos += n;
    out_pos += n + kOverhead;
  }
  return out;
}

Result<std::string> DecryptBuffer(std::string_view file, const DataKey& key,
                                  std::string_view context) {
  if (file.size() < kHeaderBytes || !LooksEncrypted(file)) return Bad(context, "bad header");
  const auto* f = reinterpret_cast<const uint8_t*>(file.data());
  if (GetLe(f + 8, 4) != kVersion) return Bad(context, "unknown version");
  const size_t c = GetLe(f + 12, 4);
  if (c == 0 || c > (size_t{16} << 20)) return Bad(context, "bad chunk size");
  const size_t body = file.size() - kHeaderBytes;
  const size_t rec = c + kOverhead;
  size_t full = body / rec, rem = body % rec;
  size_t last_len;
  if (rem == 0) {
    if (full == 0) return Bad(context, "no chunks");
    --full;
    last_len = c;
  } else if (rem >= kOverhead) {
    last_len = rem - kOverhead;
  } else {
    return Bad(context, "truncated");
  }
  std::string out(full * c + last_len, '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  AeadContext aead;
  size_t in_pos = kHeaderBytes, out_pos = 0;
  for (size_t i = 0; i <= full; ++i) {
    const bool final = i == full;
    const size_t n = final ? last_len : c;
    const std::string aad = ChunkAad(f, i, final, context);
    const uint8_t* r = f + in_pos;
    Status st = aead.Open(key.data(), AsBytes(aad), r + kNonceBytes, n, o + out_pos, r,
                          r + kNonceBytes + n);
    if (!st.ok()) {
      OPENSSL_cleanse(out.data(), out.size());
      if (st.code() == StatusCode::kDataLoss) {
        return Bad(context, "chunk " + std::to_string(i) + " failed authentication");
      }
      return st;
    }
    in_pos += n + kOverhead;
    out_pos += n;
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view bytes, const DataKey* key,
                       std::string_view context) {
  if (key == nullptr) return internal::WriteFileAtomic(path, bytes, /*no_clobber=*/false);
  ASSIGN_OR_RETURN(std::string sealed, EncryptBuffer(bytes, *key, context));
  return internal::WriteFileAtomic(path, sealed, /*no_clobber=*/false);
}

Result<std::string> ReadFile(const std::string& path, const DataKey* key,
                             std::string_view context) {
  auto read = internal::ReadWholeFile(path, kMaxFileBytes);
  if (!read.ok()) return read.status();
  const std::string& bytes = *read;
  if (key == nullptr) {
    if (LooksEncrypted(bytes)) {
      return FailedPreconditionError(path + " is encrypted; pass --key-file to read it");
    }
    return std::move(read).value();
  }
  if (!LooksEncrypted(bytes)) {
    return DataLossError(path + " is not encrypted although this data directory is; refusing "
                                "to read it as plaintext");
  }
  auto plain = DecryptBuffer(bytes, *key, context);
  if (!plain.ok()) return plain.status().WithContext(path);
  return plain;
}

Result<std::string> MakeRamStagingDir() {
  std::vector<std::string> roots;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x) roots.push_back(x);
  roots.push_back("/dev/shm");
  for (const auto& root : roots) {
    struct statfs fs;
    if (::statfs(root.c_str(), &fs) != 0) continue;
    if (static_cast<unsigned long>(fs.f_type) != TMPFS_MAGIC &&
        static_cast<unsigned long>(fs.f_type) != RAMFS_MAGIC) {
      continue;
    }
    std::string tmpl = root + "/deepkb-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) continue;  // mkdtemp creates it with mode 0700
    return tmpl;
  }
  return UnavailableError("no RAM-backed file system (tmpfs at /dev/shm or $XDG_RUNTIME_DIR) "
                          "for staging plaintext");
}

}  // namespace deepkb::crypto
