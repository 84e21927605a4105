#include "kb/ingest.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <set>
#include <system_error>

#include "common/utf8.h"

namespace deepkb::kb {

namespace fs = std::filesystem;

namespace {

struct FileJob {
  fs::path path;
  std::string doc_id;
  int64_t size = 0;
};

struct MirrorScope {
  std::string prefix;  // "<folder name>/"
  bool listed_ok = true;
};

bool IsHidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

Result<std::string> ReadFile(const fs::path& path, int64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return NotFoundError("cannot stat: " + ec.message());
  if (static_cast<int64_t>(size) > max_bytes) {
    return TooLargeError("file is " + std::to_string(size >> 20) + " MiB, over the " +
                                  std::to_string(max_bytes >> 20) +
                                  " MiB limit; split it or raise --max-file-size");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return PermissionDeniedError("cannot open file for reading");
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    return UnavailableError("short read (file changed while reading?)");
  }
  return data;
}

std::string FolderName(const fs::path& folder) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(folder, ec);
  if (ec) canon = folder;
  std::string name = canon.filename().string();
  if (name.empty()) name = canon.parent_path().filename().string();
  if (name.empty()) name = "root";
  return name;
}

}  // namespace

Result<IngestReport> IngestPaths(KnowledgeBase& kb, const std::vector<std::string>& paths,
                                 const IngestOptions& opts, const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(kb.GetCollection(opts.collection).status());
  if (paths.empty()) return InvalidArgumentError("no paths given; name files or folders to ingest");

  IngestReport report;
  std::vector<FileJob> jobs;
  std::vector<MirrorScope> scopes;
  std::set<std::string> seen_ids;

  for (const auto& arg : paths) {
    fs::path p(arg);
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      return NotFoundError("path '" + arg + "' does not exist");
    }
    if (fs::is_regular_file(st)) {
      jobs.push_back({p, p.filename().string(), static_cast<int64_t>(fs::file_size(p, ec))});
      continue;
    }
    if (!fs::is_directory(st)) {
      report.failed.push_back({arg, "not a regular file or folder"});
      continue;
    }
    MirrorScope scope;
    const std::string folder = FolderName(p);
    scope.prefix = folder + "/";
    std::vector<FileJob> found;
    auto consider = [&](const fs::directory_entry& e) {
      std::error_code fec;
      if (!e.is_regular_file(fec)) return;
      const fs::path rel = e.path().lexically_relative(p);
      for (const auto& part : rel) {
        if (IsHidden(part)) return;
      }
      if (text::FormatFromFileName(e.path().filename().string()) == text::Format::kUnknown) {
        ++report.skipped;
        return;
      }
      found.push_back({e.path(), folder + "/" + rel.generic_string(),
                       static_cast<int64_t>(e.file_size(fec))});
    };
    if (opts.recursive) {
      fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec);
      for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory() && IsHidden(it->path())) {
          it.disable_recursion_pending();
          continue;
        }
        consider(*it);
      }
    } else {
      fs::directory_iterator it(p, ec);
      for (; !ec && it != fs::directory_iterator(); it.increment(ec)) consider(*it);
    }
    if (ec) {
      scope.listed_ok = false;
      report.failed.push_back({arg, "cannot list folder: " + ec.message()});
    }
    std::sort(found.begin(), found.end(),
              [](const FileJob& a, const FileJob& b) { return a.doc_id < b.doc_id; });
    jobs.insert(jobs.end(), found.begin(), found.end());
    scopes.push_back(scope);
  }

  IngestProgress prog;
  prog.files_total = jobs.size();
  for (const auto& j : jobs) prog.bytes_total += j.size;
  if (progress) progress(prog);

  for (const auto& job : jobs) seen_ids.insert(job.doc_id);

  // Workers take files in order; parsing and chunking run in parallel, the KnowledgeBase
  // serialises the writes. Report and progress are updated under `mu`, so the progress callback
  // is never called concurrently.
  std::mutex mu;
  size_t next = 0;
  auto worker = [&] {
    while (true) {
      size_t idx;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= jobs.size()) return;
        idx = next++;
      }
      const FileJob& job = jobs[idx];
      std::string failure;
      int64_t bytes_read = 0;
      Result<PutResult> put = InternalError("not run");
      auto bytes = ReadFile(job.path, opts.max_file_bytes);
      if (!bytes.ok()) {
        failure = bytes.status().ToString();
      } else {
        bytes_read = static_cast<int64_t>(bytes->size());
        PutDocumentRequest req;
        req.collection = opts.collection;
        req.doc_id = job.doc_id;
        req.file_name = job.path.filename().string();
        std::error_code ec;
        req.source = fs::absolute(job.path, ec).lexically_normal().string();
        req.bytes = std::move(bytes).value();
        put = kb.PutDocument(req);
        if (!put.ok()) failure = put.status().ToString();
      }
      std::lock_guard<std::mutex> lock(mu);
      report.bytes += bytes_read;
      if (!failure.empty()) {
        report.failed.push_back({job.path.string(), failure});
      } else {
        switch (put->outcome) {
          case PutResult::Outcome::kCreated: ++report.added; report.chunks += put->chunks; break;
          case PutResult::Outcome::kUpdated: ++report.updated; report.chunks += put->chunks; break;
          case PutResult::Outcome::kUnchanged: ++report.unchanged; break;
        }
      }
      prog.chunks = report.chunks;
      prog.current = job.path.string();
      ++prog.files_done;
      prog.bytes_done += job.size;
      if (progress) progress(prog);
    }
  };
  size_t threads = opts.threads > 0 ? static_cast<size_t>(opts.threads)
                                    : std::min<size_t>(4, std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min(threads, std::max<size_t>(jobs.size(), 1));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  std::sort(report.failed.begin(), report.failed.end(),
            [](const IngestFailure& a, const IngestFailure& b) { return a.path < b.path; });

  if (opts.mirror) {
    for (const auto& scope : scopes) {
      if (!scope.listed_ok) continue;
      std::string cursor = scope.prefix;  // ids sort after their prefix
      std::vector<std::string> to_delete;
      bool done = false;
      while (!done) {
        auto page = kb.ListDocuments(opts.collection, cursor, 500);
        if (!page.ok()) return page.status();
        if (page->empty()) break;
        for (const auto& d : *page) {
          if (d.doc_id.compare(0, scope.prefix.size(), scope.prefix) != 0) {
            if (d.doc_id > scope.prefix) {
              done = true;
              break;
            }
            continue;
          }
          if (!seen_ids.count(d.doc_id)) to_delete.push_back(d.doc_id);
        }
        cursor = page->back().doc_id;
      }
      for (const auto& id : to_delete) {
        auto del = kb.DeleteDocument(opts.collection, id);
        if (del.ok()) {
          ++report.deleted;
        } else {
          report.failed.push_back({id, "mirror delete: " + del.status().ToString()});
        }
      }
    }
  }

  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace deepkb::kb
