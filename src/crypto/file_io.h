// Small POSIX file helpers shared by the crypto module (keyring, encrypted files).
// Thread safety: free functions, no shared state.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace deepkb::crypto::internal {

// Writes `bytes` to "<path>.tmp-<random>" (mode 0600), fsyncs it, then moves it to `path`:
// with rename() (replacing any old file) or, when `no_clobber`, with link() so that an
// existing file is never replaced (AlreadyExists then). The directory is fsynced afterwards.
// On error nothing is left behind and `path` is unchanged.
Status WriteFileAtomic(const std::string& path, std::string_view bytes, bool no_clobber);

// Reads a whole file of at most `max_bytes` bytes. NotFound / PermissionDenied / Unavailable
// when it cannot be read, TooLarge when it is larger.
Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes);

}  // namespace deepkb::crypto::internal
