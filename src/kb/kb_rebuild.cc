// Online index rebuild (KnowledgeBase::RebuildIndexes; docs/doctor.md "index rebuild").
//
// Build aside, then swap. The old indexes keep serving searches and writes go on; the KB mutex
// is held only for short steps:
//  1. Start (locked): an empty FTS5 shadow table fts_N_rebuild (fulltext::FtsIndex), a capture
//     of removed keyword rows (KeywordSet), and, when the embedder changes, a staging table
//     rebuild_vectors_N for the new vectors. A fresh HNSW index and keyword accelerator are
//     built in memory.
//  2. Pages in chunk-id order (KbOptions::rebuild_page_chunks; locked per page): the next live
//     chunks of the content view are indexed into the shadow table and the previous page's
//     vectors written (to chunk_vectors with the collection's own embedder, else to the staging
//     table), in one short transaction. Unlocked: the page is embedded with the new embedder and
//     added to the new HNSW index and accelerator.
//     Writes made meanwhile: chunk ids are never reused, so new chunks always lie above the
//     watermark (the last id read) and later pages pick them up if they are still live. Removals
//     of chunks at or below the watermark are applied to the shadow table by FtsIndex in the
//     writer's own transaction and captured by KeywordSet (with their text, which BM25 needs)
//     for the next step to remove from the new in-memory indexes.
//  3. Swap (locked, one transaction): chunks written since the last page are indexed (embedded
//     under the lock: few), captured removals applied, the counts of the new indexes checked
//     against SQLite, staged vectors (if any) replace the stored ones with the new embedder
//     recorded, and fts_N is replaced by the shadow (renames: the old table becomes
//     fts_N_retired). After the commit the new vector state and accelerator are installed; the
//     old ones are freed after the lock is released.
//  4. The retired table is emptied in short locked steps and dropped (FtsIndex::DropRetiredStep).
// Any failure (embedder down, collection deleted, storage error) drops the shadow and staging
// tables and leaves the old indexes serving. A crash leaves those tables behind; Open() drops
// them (DropRebuildLeftovers).
#include <spdlog/spdlog.h>

#include <chrono>

#include "common/utf8.h"
#include "kb/kb.h"

namespace deepkb::kb {

namespace {

std::string StagingTable(int64_t collection_id) {
  return "rebuild_vectors_" + std::to_string(collection_id);
}

inverted::ChunkText ToChunkText(fulltext::ContentRow&& r) {
  return inverted::ChunkText{r.id, std::move(r.title), std::move(r.headings), std::move(r.body)};
}

}  // namespace

Status KnowledgeBase::DropRebuildLeftovers() {
  ASSIGN_OR_RETURN(const int fts, fts_.DropLeftoverShadows());
  std::vector<std::string> staging;
  {
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name GLOB 'rebuild_vectors_[0-9]*'"));
    while (true) {
      ASSIGN_OR_RETURN(const bool row, stmt.Step());
      if (!row) break;
      staging.push_back(stmt.ColumnText(0));
    }
  }
  for (const std::string& name : staging) {
    const std::string digits = name.substr(std::string("rebuild_vectors_").size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    RETURN_IF_ERROR(db_->Exec("DROP TABLE " + name));
  }
  if (fts > 0 || !staging.empty()) {
    spdlog::warn("removed the tables of {} index rebuild(s) that did not finish (the node stopped "
                 "during `deepkb index rebuild`; run it again)",
                 std::max<size_t>(static_cast<size_t>(fts), staging.size()));
  }
  return Status::Ok();
}

Status KnowledgeBase::RebuildIndexes(const std::string& collection,
                                     const std::string& embedder_spec,
                                     const std::function<void(size_t, size_t)>& progress) {
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(collection));
  const std::string spec = embedder_spec.empty() ? coll.embedder : embedder_spec;
  ASSIGN_OR_RETURN(auto embedder, vectors_.MakeEmbedder(spec));
  auto staged = std::make_shared<VectorCollection>();
  staged->spec = spec;
  staged->dim = embedder->dim();
  staged->embedder = std::move(embedder);
  ASSIGN_OR_RETURN(staged->index, vectors_.NewIndex(staged->dim));
  auto keywords = std::make_shared<inverted::KeywordIndex>();
  const std::string staging = StagingTable(coll.id);
  // With the collection's own embedder the new vectors are as valid as the stored ones, so they
  // replace them page by page; another embedder's vectors are staged until the swap.
  const bool same_embedder = spec == coll.embedder && static_cast<int>(staged->dim) == coll.dim;

  const int page_size = std::max(1, opts_.rebuild_page_chunks);
  size_t total = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rebuilding_.count(coll.id)) {
      return FailedPreconditionError("an index rebuild of collection '" + collection +
                                     "' is already running; wait for it to finish");
    }
    ASSIGN_OR_RETURN(const int64_t live,
                     db_->QueryInt("SELECT count(*) FROM fts_src_" + std::to_string(coll.id)));
    total = static_cast<size_t>(live);
    storage::Transaction tx(*db_);
    RETURN_IF_ERROR(tx.Begin());
    RETURN_IF_ERROR(db_->Exec("DROP TABLE IF EXISTS " + staging));
    if (!same_embedder) {
      RETURN_IF_ERROR(db_->Exec("CREATE TABLE " + staging +
                                " (chunk_id INTEGER PRIMARY KEY NOT NULL, vector BLOB NOT NULL)"));
    }
    RETURN_IF_ERROR(fts_.BeginShadow(coll.id));
    if (Status s = tx.Commit(); !s.ok()) {
      (void)fts_.AbortShadow(coll.id);
      return s;
    }
    keywords_.BeginCapture(coll.id);
    rebuilding_.insert(coll.id);
  }
  bool finished = false;
  // On any failure: drop what was built aside; the old indexes were never touched.
  struct Cleanup {
    KnowledgeBase* kb;
    int64_t id;
    const std::string& staging;
    const bool& finished;
    ~Cleanup() {
      std::lock_guard<std::mutex> lock(kb->mu_);
      if (!finished) {
        Status s = kb->fts_.AbortShadow(id);
        if (s.ok()) s = kb->db_->Exec("DROP TABLE IF EXISTS " + staging);
        if (!s.ok()) spdlog::warn("cleaning up after a failed rebuild: {}", s.ToString());
      }
      kb->keywords_.EndCapture(id);
      kb->rebuilding_.erase(id);
    }
  } cleanup{this, coll.id, staging, finished};

  // The collection must still be the one we started on (not deleted, not re-created). mu_ held.
  const auto still_there = [&]() -> Status {
    auto now = store_.FindCollection(collection);
    if (!now.ok() || now->id != coll.id) {
      return NotFoundError("collection '" + collection + "' was deleted during the index rebuild");
    }
    return Status::Ok();
  };
  const auto remove_captured = [&](const std::vector<inverted::ChunkText>& removed) -> Status {
    for (const auto& c : removed) {
      const auto label = static_cast<hnsw::Label>(c.chunk_id);
      if (staged->index->Contains(label)) RETURN_IF_ERROR(staged->index->Remove(label));
      if (keywords->Contains(c.chunk_id)) RETURN_IF_ERROR(keywords->Remove(c));
    }
    return Status::Ok();
  };
  // Embeds a page and adds it to the new in-memory indexes; its vectors wait in `pending`.
  std::vector<int64_t> pending_ids;
  std::vector<std::vector<float>> pending_vectors;
  const auto index_page = [&](std::vector<fulltext::ContentRow>& rows) -> Status {
    std::vector<std::string> texts;
    texts.reserve(rows.size());
    for (const auto& r : rows) texts.push_back(r.body);
    ASSIGN_OR_RETURN(auto vectors, vectors_.Embed(*staged, texts));
    for (size_t i = 0; i < rows.size(); ++i) {
      RETURN_IF_ERROR(staged->index->Add(static_cast<hnsw::Label>(rows[i].id), vectors[i]));
      pending_ids.push_back(rows[i].id);
      RETURN_IF_ERROR(keywords->Add(ToChunkText(std::move(rows[i]))));
    }
    for (auto& v : vectors) pending_vectors.push_back(std::move(v));
    return Status::Ok();
  };
  // Writes the pending vectors (mu_ held, inside a transaction): to chunk_vectors for the chunks
  // still there, or to the staging table.
  const auto flush_vectors = [&]() -> Status {
    if (pending_ids.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(
        auto ins,
        db_->Prepare(same_embedder ? std::string("INSERT OR REPLACE INTO chunk_vectors(chunk_id, "
                                                 "vector) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 "
                                                 "FROM chunks WHERE id = ?1)")
                                   : "INSERT OR REPLACE INTO " + staging +
                                         "(chunk_id, vector) VALUES(?1, ?2)"));
    for (size_t i = 0; i < pending_ids.size(); ++i) {
      ins.Reset();
      ins.Bind(1, pending_ids[i]);
      ins.BindBlob(2, std::string_view(reinterpret_cast<const char*>(pending_vectors[i].data()),
                                       pending_vectors[i].size() * sizeof(float)));
      RETURN_IF_ERROR(ins.Run());
    }
    pending_ids.clear();
    pending_vectors.clear();
    return Status::Ok();
  };
  // Reads (and indexes into the shadow) the next page; mu_ held.
  const auto next_page = [&]() -> Result<std::vector<fulltext::ContentRow>> {
    RETURN_IF_ERROR(still_there());
    storage::Transaction tx(*db_);
    RETURN_IF_ERROR(tx.Begin());
    RETURN_IF_ERROR(flush_vectors());
    ASSIGN_OR_RETURN(auto rows, fts_.ShadowAdvance(coll.id, page_size));
    RETURN_IF_ERROR(tx.Commit());
    if (!rows.empty()) {
      fts_.SetShadowWatermark(coll.id, rows.back().id);
      keywords_.SetCaptureWatermark(coll.id, rows.back().id);
    }
    return rows;
  };

  // 2. Catch up page by page, unlocked except for the page reads.
  size_t done = 0;
  while (true) {
    std::vector<fulltext::ContentRow> rows;
    std::vector<inverted::ChunkText> removed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ASSIGN_OR_RETURN(rows, next_page());
      removed = keywords_.TakeCaptured(coll.id);
    }
    RETURN_IF_ERROR(remove_captured(removed));
    if (rows.empty()) break;
    done += rows.size();
    RETURN_IF_ERROR(index_page(rows));
    if (progress) progress(done, std::max(total, done));
  }

  keywords->ShrinkToFit();  // before the lock: the swap adds few rows, if any

  // 3. Swap, locked. The old in-memory indexes are freed after the lock is released.
  std::shared_ptr<VectorCollection> old_vectors;
  std::shared_ptr<inverted::KeywordIndex> old_keywords;
  const auto swap_t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  RETURN_IF_ERROR(still_there());
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  size_t late = 0;
  while (true) {
    RETURN_IF_ERROR(flush_vectors());
    ASSIGN_OR_RETURN(auto rows, fts_.ShadowAdvance(coll.id, page_size));
    if (rows.empty()) break;
    fts_.SetShadowWatermark(coll.id, rows.back().id);
    late += rows.size();
    RETURN_IF_ERROR(index_page(rows));
  }
  RETURN_IF_ERROR(remove_captured(keywords_.TakeCaptured(coll.id)));
  const auto t_checks = std::chrono::steady_clock::now();
  // The new indexes must describe exactly the collection's live chunks.
  ASSIGN_OR_RETURN(const int64_t live,
                   db_->QueryInt("SELECT count(*) FROM fts_src_" + std::to_string(coll.id)));
  int64_t staged_rows = live;
  if (!same_embedder) {
    ASSIGN_OR_RETURN(staged_rows, db_->QueryInt("SELECT count(*) FROM " + staging +
                                                " s JOIN chunks c ON c.id = s.chunk_id"));
  }
  if (static_cast<int64_t>(staged->index->size()) != live ||
      static_cast<int64_t>(keywords->Stats().live_docs) != live || staged_rows != live) {
    return InternalError("index rebuild of '" + collection + "' is inconsistent (" +
                         std::to_string(live) + " live chunks; new vector index " +
                         std::to_string(staged->index->size()) + ", keyword index " +
                         std::to_string(keywords->Stats().live_docs) + ", staged vectors " +
                         std::to_string(staged_rows) +
                         "); nothing was changed, please report this");
  }
  const auto t_vectors = std::chrono::steady_clock::now();
  if (!same_embedder) {
    RETURN_IF_ERROR(store_.DeleteCollectionVectors(coll.id));
    RETURN_IF_ERROR(db_->Exec("INSERT INTO chunk_vectors(chunk_id, vector) SELECT s.chunk_id, "
                              "s.vector FROM " + staging + " s JOIN chunks c ON c.id = s.chunk_id"));
    RETURN_IF_ERROR(db_->Exec("DROP TABLE " + staging));
    RETURN_IF_ERROR(store_.SetCollectionEmbedder(coll.id, spec, static_cast<int>(staged->dim)));
  }
  const auto t_fts = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(fts_.SwapShadow(coll.id));
  const auto t_commit = std::chrono::steady_clock::now();
  if (Status s = tx.Commit(); !s.ok()) {
    // The rolled-back transaction restored fts_N and the shadow table; forget the shadow.
    return s;
  }
  finished = true;
  const auto t_install = std::chrono::steady_clock::now();
  old_vectors = vectors_.Install(coll.id, staged);
  old_keywords = keywords_.Install(coll.id, keywords);
  const auto ms = [](auto a, auto b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  const auto t_end = std::chrono::steady_clock::now();
  spdlog::info("collection '{}': indexes rebuilt ({} chunks, embedder {}); the final swap held the "
               "KB lock {:.0f} ms: {} chunks written since the last page {:.0f} ms, checks {:.0f} ms, "
               "stored vectors {:.0f} ms, full-text table {:.0f} ms, commit {:.0f} ms, install "
               "{:.0f} ms",
               utf8::Sanitize(collection), live, spec, ms(swap_t0, t_end), late,
               ms(swap_t0, t_checks), ms(t_checks, t_vectors), ms(t_vectors, t_fts), ms(t_fts, t_commit),
               ms(t_commit, t_install), ms(t_install, t_end));
  lock.unlock();
  // 4. Remove the retired FTS5 table in short steps (dropping it at once is linear in its size).
  const auto t_retire = std::chrono::steady_clock::now();
  int steps = 0;
  while (true) {
    std::lock_guard<std::mutex> step_lock(mu_);
    auto more = fts_.DropRetiredStep(coll.id, 512);
    if (!more.ok()) {
      spdlog::warn("collection '{}': removing the old full-text table failed ({}); it is removed "
                   "at the next start", utf8::Sanitize(collection), more.status().ToString());
      break;
    }
    ++steps;
    if (!*more) break;
  }
  spdlog::info("collection '{}': old full-text table removed in {} steps, {:.0f} ms",
               utf8::Sanitize(collection), steps, ms(t_retire, std::chrono::steady_clock::now()));
  return Status::Ok();
}

}  // namespace deepkb::kb
