// Folder and file ingestion into a collection (what `deepkb ingest` runs).
//
// Document ids: a file named on the command line gets its file name as id; a file found under a
// folder argument gets "<folder name>/<path relative to the folder>" (e.g. docs/guide/intro.md),
// so ids are stable wherever the command runs from. Idempotent: unchanged files (same SHA-256,
// title, source and metadata) are counted as unchanged and not rewritten.
//
// Folders: only direct children unless recursive; hidden files and folders (".name") are
// skipped, and so are files whose extension is not a supported format (counted in `skipped`).
// Mirror: after ingesting a folder, live documents whose id lies under "<folder name>/" but
// whose file was not seen in this run are deleted (tombstoned). Mirror never deletes on a folder
// that could not be listed.
//
// Failure isolation: a file that cannot be read, parsed or written is reported in `failed`
// with its reason; the rest of the batch goes on. Each document commits in its own transaction.
//
// Parallelism: files are parsed and chunked by `threads` workers; writes are serialised by the
// KnowledgeBase. The progress callback is never called concurrently (but may be called from a
// worker thread).
// Thread safety: IngestPaths may run concurrently with other KnowledgeBase calls.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::kb {

struct IngestOptions {
  std::string collection;
  bool recursive = false;
  bool mirror = false;
  int64_t max_file_bytes = 100ll << 20;  // larger files fail with TooLarge, unread
  int threads = 0;  // parallel parse workers; 0 = one per core, at most 4
};

struct IngestFailure {
  std::string path;
  std::string error;
};

struct IngestReport {
  int64_t added = 0;
  int64_t updated = 0;
  int64_t unchanged = 0;
  int64_t deleted = 0;
  int64_t skipped = 0;   // files with unsupported extensions inside folders
  std::vector<IngestFailure> failed;
  int64_t chunks = 0;    // chunks written (added + updated documents)
  int64_t bytes = 0;     // bytes read from processed files
  double seconds = 0;
};

struct IngestProgress {
  size_t files_done = 0;
  size_t files_total = 0;
  int64_t chunks = 0;
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;
  std::string current;  // path being processed
};

using ProgressFn = std::function<void(const IngestProgress&)>;

// Fails as a whole only for problems that make the run meaningless (unknown collection, a
// path argument that does not exist); per-file problems go to report.failed.
Result<IngestReport> IngestPaths(KnowledgeBase& kb, const std::vector<std::string>& paths,
                                 const IngestOptions& opts, const ProgressFn& progress = nullptr);

}  // namespace deepkb::kb
