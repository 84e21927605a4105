#include "kb/keyword_set.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unordered_set>
#include <utility>

#include "crypto/encrypted_file.h"

namespace deepkb::kb {

namespace fs = std::filesystem;

namespace {

std::string ViewName(int64_t collection_id) { return "fts_src_" + std::to_string(collection_id); }

std::string SnapshotContext(int64_t collection_id) {
  return "index/" + std::to_string(collection_id) + ".kwi";
}

inverted::ChunkText RowOf(const storage::Statement& s) {
  return inverted::ChunkText{s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2), s.ColumnText(3)};
}

// SQLite's varint (as FTS5 writes its structure records): big-endian 7-bit groups, the ninth
// byte holds 8 bits.
bool GetSqliteVarint(const unsigned char*& p, const unsigned char* end, uint64_t& v) {
  v = 0;
  for (int i = 0; i < 9; ++i) {
    if (p >= end) return false;
    const unsigned char b = *p++;
    if (i == 8) {
      v = (v << 8) | b;
      return true;
    }
    v = (v << 7) | (b & 0x7F);
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string KeywordSet::SnapshotPath(int64_t collection_id) const {
  return dir_ + "/" + std::to_string(collection_id) + ".kwi";
}

Status KeywordSet::Build(int64_t collection_id, storage::Database& db,
                         inverted::KeywordIndex& ix) const {
  ASSIGN_OR_RETURN(auto scan, db.Prepare("SELECT id, title, headings, body FROM " +
                                         ViewName(collection_id) + " ORDER BY id"));
  while (true) {
    ASSIGN_OR_RETURN(const bool row, scan.Step());
    if (!row) break;
    RETURN_IF_ERROR(ix.Add(RowOf(scan)));
  }
  ix.ShrinkToFit();
  return Status::Ok();
}

Status KeywordSet::Load(int64_t collection_id, storage::Database& db) {
  const auto t0 = std::chrono::steady_clock::now();
  auto ix = std::make_shared<inverted::KeywordIndex>();
  const std::string path = SnapshotPath(collection_id);
  bool loaded = false;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    auto bytes = crypto::ReadFile(path, data_key_.get(), SnapshotContext(collection_id));
    Status s = bytes.ok() ? ix->LoadSnapshotBytes(*bytes, path) : bytes.status();
    if (s.ok()) {
      loaded = true;
    } else {
      spdlog::warn("keyword index snapshot {} is unusable ({}); rebuilding from the database",
                   path, s.ToString());
      ix = std::make_shared<inverted::KeywordIndex>();
    }
  }
  size_t added = 0;
  if (loaded) {
    // Reconcile by chunk-id set difference.
    std::vector<int64_t> live;
    {
      ASSIGN_OR_RETURN(auto ids, db.Prepare("SELECT id FROM " + ViewName(collection_id)));
      while (true) {
        ASSIGN_OR_RETURN(const bool row, ids.Step());
        if (!row) break;
        live.push_back(ids.ColumnInt(0));
      }
    }
    std::sort(live.begin(), live.end());
    const std::vector<int64_t> indexed = ix->LiveChunkIds();
    std::vector<int64_t> gone, missing;
    std::set_difference(indexed.begin(), indexed.end(), live.begin(), live.end(),
                        std::back_inserter(gone));
    std::set_difference(live.begin(), live.end(), indexed.begin(), indexed.end(),
                        std::back_inserter(missing));
    if (!gone.empty()) {
      spdlog::info("keyword index snapshot {} holds {} chunks that no longer exist (their text "
                   "is gone); rebuilding from the database", path, gone.size());
      loaded = false;
      ix = std::make_shared<inverted::KeywordIndex>();
    } else if (!missing.empty()) {
      ASSIGN_OR_RETURN(auto one, db.Prepare("SELECT id, title, headings, body FROM " +
                                            ViewName(collection_id) + " WHERE id = ?1"));
      for (int64_t id : missing) {
        one.Reset();
        one.Bind(1, id);
        ASSIGN_OR_RETURN(const bool row, one.Step());
        if (!row) continue;
        RETURN_IF_ERROR(ix->Add(RowOf(one)));
        ++added;
      }
    }
  }
  if (!loaded) RETURN_IF_ERROR(Build(collection_id, db, *ix));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const inverted::KeywordStats st = ix->Stats();
  if (!loaded || added > 0 || secs > 1.0) {
    spdlog::info("keyword index of collection {}: {} chunks, {} postings, {:.0f} MB, {} in "
                 "{:.1f} s{}", collection_id, st.live_docs, st.postings, st.memory_bytes / 1e6,
                 loaded ? "loaded from snapshot" : "built from the database", secs,
                 added ? " (" + std::to_string(added) + " chunks reconciled)" : std::string());
  }
  std::lock_guard<std::mutex> lock(mu_);
  indexes_[collection_id] = std::move(ix);
  return Status::Ok();
}

void KeywordSet::AddEmpty(int64_t collection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  indexes_[collection_id] = std::make_shared<inverted::KeywordIndex>();
}

void KeywordSet::Drop(int64_t collection_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    indexes_.erase(collection_id);
  }
  std::error_code ec;
  fs::remove(SnapshotPath(collection_id), ec);
}

void KeywordSet::BeginCapture(int64_t collection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  captures_[collection_id] = Capture{};
}

void KeywordSet::SetCaptureWatermark(int64_t collection_id, int64_t watermark) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = captures_.find(collection_id);
  if (it != captures_.end()) it->second.watermark = watermark;
}

std::vector<inverted::ChunkText> KeywordSet::TakeCaptured(int64_t collection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = captures_.find(collection_id);
  if (it == captures_.end()) return {};
  return std::exchange(it->second.removed, {});
}

void KeywordSet::EndCapture(int64_t collection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  captures_.erase(collection_id);
}

std::shared_ptr<inverted::KeywordIndex> KeywordSet::Install(
    int64_t collection_id, std::shared_ptr<inverted::KeywordIndex> ix) {
  std::error_code ec;
  fs::remove(SnapshotPath(collection_id), ec);
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(indexes_[collection_id], std::move(ix));
}

std::shared_ptr<inverted::KeywordIndex> KeywordSet::Get(int64_t collection_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = indexes_.find(collection_id);
  return it == indexes_.end() ? nullptr : it->second;
}

Result<std::vector<inverted::ChunkText>> KeywordSet::ReadDocument(storage::Database& db,
                                                                  int64_t collection_id,
                                                                  int64_t document_row_id) const {
  std::vector<inverted::ChunkText> rows;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!indexes_.count(collection_id) && !captures_.count(collection_id)) return rows;
  }
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT id, title, headings, body FROM " +
                                         ViewName(collection_id) + " WHERE document_id = ?1"));
  stmt.Bind(1, document_row_id);
  while (true) {
    ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    rows.push_back(RowOf(stmt));
  }
  return rows;
}

void KeywordSet::Apply(int64_t collection_id, const std::vector<inverted::ChunkText>& removed,
                       const std::vector<inverted::ChunkText>& added) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto cap = captures_.find(collection_id);
    if (cap != captures_.end()) {
      for (const auto& c : removed) {
        if (c.chunk_id <= cap->second.watermark) cap->second.removed.push_back(c);
      }
    }
  }
  auto ix = Get(collection_id);
  if (!ix || (removed.empty() && added.empty())) return;
  Status s;
  for (const auto& c : removed) {
    s = ix->Remove(c);
    if (!s.ok()) break;
  }
  for (size_t i = 0; s.ok() && i < added.size(); ++i) s = ix->Add(added[i]);
  if (!s.ok()) {
    spdlog::error("keyword index of collection {} is out of step ({}); FTS5 serves its keyword "
                  "searches until the next start rebuilds it", collection_id, s.ToString());
    Drop(collection_id);
    return;
  }
  MaybeCompact(collection_id, ix);
}

void KeywordSet::MaybeCompact(int64_t collection_id,
                              const std::shared_ptr<inverted::KeywordIndex>& ix) {
  if (!ix->NeedsCompaction()) return;
  std::thread done;
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    if (compacting_) return;  // one at a time; the next Apply re-checks
    done = std::move(compactor_);  // finished (compacting_ is clear): joined below, unlocked
    compacting_ = true;
    // Not under the caller's KB mutex: writes and searches continue during the rewrite.
    compactor_ = std::thread([this, collection_id, ix] {
      const auto t0 = std::chrono::steady_clock::now();
      ix->Compact();
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
              .count();
      if (Get(collection_id) == ix) {
        spdlog::info("keyword index of collection {} compacted in {:.0f} ms (in the background)",
                     collection_id, ms);
      } else {
        spdlog::info("keyword index of collection {} compacted in {:.0f} ms (in the background; "
                     "it was dropped or replaced meanwhile)", collection_id, ms);
      }
      std::lock_guard<std::mutex> lock(compact_mu_);
      compacting_ = false;
    });
  }
  if (done.joinable()) done.join();
}

void KeywordSet::WaitForCompaction() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    t = std::move(compactor_);
  }
  if (t.joinable()) t.join();
}

KeywordSet::~KeywordSet() { WaitForCompaction(); }

Status KeywordSet::Verify(int64_t collection_id, storage::Database& db) const {
  auto ix = Get(collection_id);
  if (!ix) return Status::Ok();
  std::vector<int64_t> live;
  {
    ASSIGN_OR_RETURN(auto ids, db.Prepare("SELECT id FROM " + ViewName(collection_id)));
    while (true) {
      ASSIGN_OR_RETURN(const bool row, ids.Step());
      if (!row) break;
      live.push_back(ids.ColumnInt(0));
    }
  }
  std::sort(live.begin(), live.end());
  const std::vector<int64_t> indexed = ix->LiveChunkIds();
  const inverted::KeywordStats st = ix->Stats();
  if (indexed != live) {
    return DataLossError("keyword index holds " + std::to_string(indexed.size()) +
                         " chunks, the database " + std::to_string(live.size()) +
                         " (or different ones); restart the node or run `deepkb index rebuild`");
  }
  // FTS5's statistics record (the "averages" row, id 1 of fts_<id>_data): varint row count,
  // then one varint total token count per column.
  ASSIGN_OR_RETURN(auto avg, db.Prepare("SELECT block FROM fts_" + std::to_string(collection_id) +
                                        "_data WHERE id = 1"));
  ASSIGN_OR_RETURN(const bool row, avg.Step());
  uint64_t rows = 0, tokens = 0;
  if (row) {
    const std::string_view blob = avg.ColumnBlob(0);
    const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
    const auto* end = p + blob.size();
    uint64_t v = 0;
    if (!blob.empty() && GetSqliteVarint(p, end, v)) {
      rows = v;
      for (int col = 0; col < 3 && GetSqliteVarint(p, end, v); ++col) tokens += v;
    }
  }
  if (rows != st.live_docs || tokens != st.total_tokens) {
    return DataLossError("keyword index statistics (" + std::to_string(st.live_docs) + " rows, " +
                         std::to_string(st.total_tokens) + " tokens) differ from FTS5's (" +
                         std::to_string(rows) + " rows, " + std::to_string(tokens) +
                         " tokens); restart the node or run `deepkb index rebuild`");
  }
  return Status::Ok();
}

Status KeywordSet::SaveSnapshots() const {
  std::vector<std::pair<int64_t, std::shared_ptr<inverted::KeywordIndex>>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.assign(indexes_.begin(), indexes_.end());
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return PermissionDeniedError("cannot create " + dir_ + ": " + ec.message());
  for (const auto& [id, ix] : all) {
    RETURN_IF_ERROR(crypto::WriteFileAtomic(SnapshotPath(id), ix->SerializeSnapshot(),
                                            data_key_.get(), SnapshotContext(id)));
  }
  return Status::Ok();
}

}  // namespace deepkb::kb
