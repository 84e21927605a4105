#include "kb/kb.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "common/hash.h"
#include "common/utf8.h"
#include "crypto/keyring.h"
#include "crypto/sqlite_vfs.h"
#include "kb/filter.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "storage/schema.h"

#include <spdlog/spdlog.h>

namespace deepkb::kb {

namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ValidateMetadata(const std::string& json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("metadata must be a JSON object, e.g. {\"team\": \"ops\"}");
  }
  return Status::Ok();
}

}  // namespace

std::string_view OutcomeName(PutResult::Outcome o) {
  switch (o) {
    case PutResult::Outcome::kCreated: return "created";
    case PutResult::Outcome::kUpdated: return "updated";
    case PutResult::Outcome::kUnchanged: return "unchanged";
  }
  return "unknown";
}

Status ValidateCollectionName(const std::string& name) {
  // ASCII letters, digits and _ . -, plus letters of other scripts (知识库, Wissen): any code
  // point from U+00C0 up except whitespace and punctuation blocks. Names never become file or
  // table names (those use the numeric id), so this is about readable, unambiguous names.
  const auto bad = [&] {
    return InvalidArgumentError("invalid collection name '" + utf8::Sanitize(name) +
                                "': use 1-64 letters, digits, _ . or -, starting with a letter "
                                "or digit (Chinese and other scripts are fine)");
  };
  if (name.empty() || name.size() > 256 || !utf8::IsValid(name)) return bad();
  size_t i = 0, count = 0;
  while (i < name.size()) {
    const char32_t cp = utf8::Decode(name, i);
    const bool ascii_ok = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                          (cp >= '0' && cp <= '9') || cp == '_' || cp == '-' || cp == '.';
    const bool other_ok = cp >= 0xC0 && !(cp >= 0x2000 && cp <= 0x206F) &&
                          !(cp >= 0x3000 && cp <= 0x303F) && !(cp >= 0xFE00 && cp <= 0xFE6F) &&
                          !(cp >= 0xFF00 && cp <= 0xFF0F) && !(cp >= 0xFF1A && cp <= 0xFF20) &&
                          !(cp >= 0xFF3B && cp <= 0xFF40) && !(cp >= 0xFF5B && cp <= 0xFF65) &&
                          cp < 0xFFF0;
    if (!ascii_ok && !other_ok) return bad();
    if (count == 0 && (cp == '_' || cp == '-' || cp == '.')) return bad();
    ++count;
  }
  if (count > 64) return bad();
  return Status::Ok();
}

Status ValidateDocId(const std::string& doc_id) {
  if (doc_id.empty() || doc_id.size() > 512) {
    return InvalidArgumentError("invalid document id: must be 1-512 bytes");
  }
  if (!utf8::IsValid(doc_id)) {
    return InvalidArgumentError("invalid document id: not valid UTF-8");
  }
  for (unsigned char c : doc_id) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgumentError("invalid document id: contains control characters");
    }
  }
  return Status::Ok();
}

KnowledgeBase::KnowledgeBase(std::string data_dir, KbOptions opts,
                             std::unique_ptr<storage::Database> db)
    : data_dir_(std::move(data_dir)),
      opts_(opts),
      clock_(opts_.clock_wall, opts_.max_clock_skew_ms),
      db_(std::move(db)),
      store_(*db_),
      fts_(*db_),
      vectors_(data_dir_, opts_.vectors),
      keywords_(data_dir_),
      applier_(opts_.vector_queue,
               [this](int64_t id, const std::shared_ptr<VectorCollection>& vc) {
                 MaybeCompact(id, vc);
               }) {}

void KnowledgeBase::MaybeCompact(int64_t collection_id,
                                 const std::shared_ptr<VectorCollection>& vc) {
  if (!vc->index->NeedsCompaction() || compacting_.exchange(true)) return;
  std::lock_guard<std::mutex> lock(compact_mu_);
  if (compactor_.joinable()) compactor_.join();  // the previous run has finished (flag was clear)
  compactor_ = std::thread([this, collection_id, vc] {
    const auto t0 = std::chrono::steady_clock::now();
    Status s = vc->index->Compact();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s.ok()) {
      spdlog::info("vector index of collection {} compacted in {:.1f} s", collection_id, secs);
    } else {
      spdlog::warn("vector index compaction of collection {} failed: {}", collection_id,
                   s.ToString());
    }
    compacting_.store(false);
  });
}

KnowledgeBase::~KnowledgeBase() {
  applier_.Stop();  // the graphs get every queued change before the snapshots are written
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    if (compactor_.joinable()) compactor_.join();
  }
  Status s = SaveIndexes();
  if (!s.ok()) spdlog::warn("could not save vector index snapshots: {}", s.ToString());
}

Status KnowledgeBase::SaveIndexes() {
  std::lock_guard<std::mutex> lock(mu_);
  applier_.WaitIdle();  // (writers cannot queue more: they need mu_)
  ASSIGN_OR_RETURN(int64_t seq, store_.LastChangeSeq());
  RETURN_IF_ERROR(vectors_.SaveSnapshots(static_cast<uint64_t>(seq)));
  return keywords_.SaveSnapshots();
}

Result<std::unique_ptr<KnowledgeBase>> KnowledgeBase::Open(const std::string& data_dir,
                                                          const KbOptions& opts) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return PermissionDeniedError("cannot create data directory '" + data_dir +
                                 "': " + ec.message());
  }
  // Encryption at rest: bind (or unbind) the data key to kb.db so that every connection to it,
  // including ones other modules open by path, goes through the encrypting VFS.
  const std::string db_path = data_dir + "/kb.db";
  if (opts.data_key) {
    RETURN_IF_ERROR(crypto::EncryptDatabase(db_path, opts.data_key));
  } else {
    if (crypto::KeyringExists(data_dir)) {
      return UnauthenticatedError("data directory " + data_dir +
                                  " is encrypted; pass --key-file FILE (or set DEEPKB_KEY_FILE)");
    }
    crypto::ForgetDatabase(db_path);
  }
  ASSIGN_OR_RETURN(auto db, storage::Database::Open(db_path));
  RETURN_IF_ERROR(fulltext::RegisterFts5Tokenizer(db->handle()));
  RETURN_IF_ERROR(storage::Migrate(*db));
  std::unique_ptr<KnowledgeBase> kb(new KnowledgeBase(data_dir, opts, std::move(db)));
  if (opts.background_checkpoints) {
    Status s = kb->checkpointer_.Start(db_path, *kb->db_, {});
    if (!s.ok()) {
      // Not fatal: the connection keeps SQLite's own checkpoints.
      spdlog::warn("background WAL checkpoints unavailable, commits will checkpoint: {}",
                   s.ToString());
    }
  }
  kb->vectors_.SetDataKey(opts.data_key);
  kb->keywords_.SetDataKey(opts.data_key);
  ASSIGN_OR_RETURN(kb->node_id_, kb->store_.NodeId());
  ASSIGN_OR_RETURN(uint64_t max_hlc, kb->store_.MaxHlc());
  kb->clock_.AdvanceTo(max_hlc);
  RETURN_IF_ERROR(kb->DropRebuildLeftovers());
  ASSIGN_OR_RETURN(auto colls, kb->store_.ListCollections());
  for (const auto& c : colls) {
    // A full-text table built by another analyzer version (or ICU major version) cannot be
    // maintained by this one (FTS5 external content deletes by re-analysing the text): it is
    // derived state, so rebuild it from SQLite now, with the keyword accelerator, rather than
    // refuse every write to the collection.
    auto table_stamp = kb->fts_.TableAnalyzerStamp(c.id);
    if (!table_stamp.ok() && table_stamp.status().code() != StatusCode::kNotFound) {
      return table_stamp.status();
    }
    const std::string stamp = table_stamp.ok() ? *table_stamp : "missing";
    if (!table_stamp.ok()) RETURN_IF_ERROR(kb->fts_.CreateForCollection(c.id));
    if (stamp != fulltext::AnalyzerStamp()) {
      spdlog::warn("collection '{}': full-text index built by analyzer '{}', this build uses '{}'; "
                   "rebuilding it from the stored chunks",
                   c.name, stamp.empty() ? "unstamped" : stamp, fulltext::AnalyzerStamp());
      Status r = kb->fts_.Rebuild(c.id);
      if (!r.ok()) return r.WithContext("rebuilding the full-text index of '" + c.name + "'");
      kb->keywords_.Drop(c.id);
    }
    Status s = kb->vectors_.Load(c, kb->store_);
    if (!s.ok()) return s.WithContext("loading the vector index of collection '" + c.name + "'");
    s = kb->keywords_.Load(c.id, *kb->db_);
    if (!s.ok()) return s.WithContext("loading the keyword index of collection '" + c.name + "'");
  }
  return kb;
}

Result<CollectionRow> KnowledgeBase::CreateCollection(const CreateCollectionRequest& req) {
  RETURN_IF_ERROR(ValidateCollectionName(req.name));
  text::ChunkOptions copts;
  if (req.chunk_tokens <= 0 || req.chunk_overlap < 0) {
    return InvalidArgumentError("chunk_tokens must be positive and chunk_overlap >= 0");
  }
  copts.max_tokens = static_cast<size_t>(req.chunk_tokens);
  copts.overlap_tokens = static_cast<size_t>(req.chunk_overlap);
  RETURN_IF_ERROR(text::ValidateChunkOptions(copts));
  // Contacts a remote embedding server to learn the dimension: a collection is only created
  // with an embedder that works.
  ASSIGN_OR_RETURN(auto embedder, vectors_.MakeEmbedder(req.embedder));
  const int dim = static_cast<int>(embedder->dim());

  std::lock_guard<std::mutex> lock(mu_);
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  CollectionRow row;
  row.name = req.name;
  row.embedder = req.embedder;
  row.dim = dim;
  row.chunk_tokens = req.chunk_tokens;
  row.chunk_overlap = req.chunk_overlap;
  row.created_at = NowMillis();
  auto inserted = store_.InsertCollection(row);
  if (!inserted.ok()) {
    if (inserted.status().code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("collection '" + req.name + "' already exists");
    }
    return inserted.status();
  }
  RETURN_IF_ERROR(fts_.CreateForCollection(inserted->id));
  RETURN_IF_ERROR(tx.Commit());
  RETURN_IF_ERROR(vectors_.AddEmpty(*inserted, std::move(embedder)));
  keywords_.AddEmpty(inserted->id);
  return inserted;
}

Result<std::vector<CollectionRow>> KnowledgeBase::ListCollections() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.ListCollections();
}

Result<CollectionRow> KnowledgeBase::GetCollection(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = store_.GetCollection(name);
  if (!c.ok() && c.status().code() == StatusCode::kNotFound) {
    return NotFoundError("collection '" + utf8::Sanitize(name) +
                         "' does not exist; list them with `deepkb collections list`");
  }
  return c;
}

Result<CollectionRow> KnowledgeBase::FindCollection(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = store_.FindCollection(name);
  if (!c.ok() && c.status().code() == StatusCode::kNotFound) {
    return NotFoundError("collection '" + utf8::Sanitize(name) +
                         "' does not exist; list them with `deepkb collections list`");
  }
  return c;
}

Status KnowledgeBase::DeleteCollection(const std::string& name) {
  ASSIGN_OR_RETURN(CollectionRow c, FindCollection(name));
  std::lock_guard<std::mutex> lock(mu_);
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  RETURN_IF_ERROR(fts_.DropForCollection(c.id));
  RETURN_IF_ERROR(store_.DeleteCollection(c.id));
  RETURN_IF_ERROR(tx.Commit());
  vectors_.Drop(c.id);
  keywords_.Drop(c.id);
  return Status::Ok();
}

Result<PutResult> KnowledgeBase::PutDocument(const PutDocumentRequest& req) {
  RETURN_IF_ERROR(ValidateDocId(req.doc_id));
  RETURN_IF_ERROR(ValidateMetadata(req.metadata_json));
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(req.collection));

  const std::string content_hash = Sha256Hex(req.bytes);
  const std::string metadata = nlohmann::json::parse(req.metadata_json).dump();
  const std::string source = utf8::Sanitize(req.source);
  {
    // Fast path: unchanged bytes, source, metadata (and title, when one is given) need no
    // parsing at all. Re-ingesting a large unchanged folder costs one hash per file.
    std::lock_guard<std::mutex> lock(mu_);
    auto existing = store_.GetDocument(coll.id, req.doc_id);
    if (existing.ok() && !existing->deleted && existing->content_hash == content_hash &&
        existing->source == source && existing->metadata_json == metadata &&
        (req.title.empty() || existing->title == utf8::Sanitize(req.title))) {
      PutResult unchanged;
      unchanged.doc_id = req.doc_id;
      unchanged.version = existing->version;
      unchanged.chunks = existing->chunk_count;
      unchanged.outcome = PutResult::Outcome::kUnchanged;
      return unchanged;
    }
  }

  // Parse and chunk outside the lock: this is the CPU-heavy part.
  text::Format format = req.format;
  if (format == text::Format::kUnknown) format = text::DetectFormat(req.file_name, req.bytes);
  if (format == text::Format::kUnknown) {
    return UnsupportedMediaError(
        "unsupported file type; supported: txt, md, html, pdf, docx (UTF-8, UTF-16, GBK/GB18030, "
        "Big5 text)");
  }
  ASSIGN_OR_RETURN(text::ParsedDocument parsed, text::Parse(req.bytes, format, opts_.parse));
  text::ChunkOptions copts;
  copts.max_tokens = static_cast<size_t>(coll.chunk_tokens);
  copts.overlap_tokens = static_cast<size_t>(coll.chunk_overlap);
  std::vector<text::Chunk> chunks = text::ChunkDocument(parsed, copts);
  if (chunks.empty()) {
    return InvalidArgumentError("document contains no text to index");
  }

  DocumentRow doc;
  doc.collection_id = coll.id;
  doc.doc_id = req.doc_id;
  doc.content_hash = content_hash;
  doc.title = utf8::Sanitize(req.title.empty() ? parsed.title : req.title);
  doc.source = source;
  doc.mime = std::string(text::FormatMimeType(format));
  doc.metadata_json = metadata;
  doc.size_bytes = static_cast<int64_t>(req.bytes.size());
  doc.chunk_count = static_cast<int64_t>(chunks.size());

  // Embed outside the lock too (a remote model may take a while). A failure writes nothing.
  std::shared_ptr<VectorCollection> vc = vectors_.Get(coll.id);
  std::vector<std::vector<float>> vectors;
  if (vc) {
    std::vector<std::string> texts;
    texts.reserve(chunks.size());
    for (const auto& c : chunks) texts.push_back(c.text);
    auto embedded = vectors_.Embed(*vc, texts);
    if (!embedded.ok()) return embedded.status().WithContext("embedding the document's chunks");
    vectors = std::move(embedded).value();
  }

  std::vector<ChunkRow> rows;
  rows.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    ChunkRow r;
    r.ordinal = static_cast<int>(i);
    r.text = std::move(chunks[i].text);
    r.char_start = static_cast<int64_t>(chunks[i].char_start);
    r.char_end = static_cast<int64_t>(chunks[i].char_end);
    r.page = chunks[i].page;
    r.heading_path = std::move(chunks[i].heading_path);
    r.token_count = static_cast<int>(chunks[i].token_count);
    rows.push_back(std::move(r));
  }

  const auto index_t0 = std::chrono::steady_clock::now();
  if (vc) applier_.WaitForRoom();
  std::lock_guard<std::mutex> lock(mu_);
  if (vc) {
    // An index rebuild may have swapped in another embedder while we embedded: use the
    // collection's vector state as it is now.
    if (auto now = vectors_.Get(coll.id); now != vc) {
      vc = std::move(now);
      if (vc) {
        std::vector<std::string> texts;
        for (const auto& r : rows) texts.push_back(r.text);
        auto embedded = vectors_.Embed(*vc, texts);
        if (!embedded.ok()) return embedded.status().WithContext("embedding the document's chunks");
        vectors = std::move(embedded).value();
      }
    }
  }
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  PutResult result;
  result.doc_id = req.doc_id;
  auto existing = store_.GetDocument(coll.id, req.doc_id);
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) {
    return existing.status();
  }
  const bool live = existing.ok() && !existing->deleted;
  if (live && existing->content_hash == doc.content_hash && existing->title == doc.title &&
      existing->source == doc.source && existing->metadata_json == doc.metadata_json) {
    result.version = existing->version;
    result.chunks = existing->chunk_count;
    result.outcome = PutResult::Outcome::kUnchanged;
    return result;  // the transaction rolls back: nothing was written
  }
  std::vector<inverted::ChunkText> kw_removed, kw_added;  // for the keyword accelerator
  if (live) {
    ASSIGN_OR_RETURN(kw_removed, keywords_.ReadDocument(*db_, coll.id, existing->id));
    RETURN_IF_ERROR(fts_.UnindexDocument(coll.id, existing->id));
  }
  std::vector<int64_t> old_chunk_ids;
  if (existing.ok()) {
    ASSIGN_OR_RETURN(auto old_chunks, store_.GetChunks(existing->id));
    for (const auto& c : old_chunks) old_chunk_ids.push_back(c.id);
    RETURN_IF_ERROR(store_.DeleteChunks(existing->id));
    doc.created_at = existing->created_at;
  } else {
    doc.created_at = NowMillis();
  }
  doc.version = clock_.Now();
  doc.origin_node = node_id_;
  doc.updated_at = NowMillis();
  ASSIGN_OR_RETURN(int64_t row_id, store_.UpsertDocument(doc));
  RETURN_IF_ERROR(store_.InsertChunks(row_id, rows));
  std::vector<int64_t> new_chunk_ids;
  for (const auto& r : rows) new_chunk_ids.push_back(r.id);
  if (vc) RETURN_IF_ERROR(store_.PutChunkVectors(new_chunk_ids, vectors));
  RETURN_IF_ERROR(fts_.IndexDocument(coll.id, row_id));
  ASSIGN_OR_RETURN(kw_added, keywords_.ReadDocument(*db_, coll.id, row_id));
  storage::ChangeRow change;
  change.collection = coll.name;
  change.doc_id = doc.doc_id;
  change.hlc = doc.version;
  change.node_id = node_id_;
  change.deleted = false;
  change.content_hash = doc.content_hash;
  change.created_at = doc.updated_at;
  RETURN_IF_ERROR(store_.AppendChange(change).status());
  RETURN_IF_ERROR(tx.Commit());
  // The in-memory indexes follow the committed state (under mu_, so a snapshot never sees a
  // half-applied write): the keyword accelerator now, the vector graph through the applier
  // (searchable at once). Should either fail, the next start reconciles it with SQLite.
  keywords_.Apply(coll.id, kw_removed, kw_added);
  if (vc) {
    applier_.Submit(coll.id, vc, std::move(old_chunk_ids), std::move(new_chunk_ids),
                    std::move(vectors));
  }
  result.version = doc.version;
  result.chunks = doc.chunk_count;
  result.outcome = live ? PutResult::Outcome::kUpdated : PutResult::Outcome::kCreated;
  if (opts_.on_index_update) {
    opts_.on_index_update(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - index_t0).count());
  }
  return result;
}

Result<uint64_t> KnowledgeBase::DeleteDocument(const std::string& collection,
                                               const std::string& doc_id) {
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(collection));
  const auto index_t0 = std::chrono::steady_clock::now();
  applier_.WaitForRoom();
  std::lock_guard<std::mutex> lock(mu_);
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  auto existing = store_.GetDocument(coll.id, doc_id);
  if (!existing.ok() || existing->deleted) {
    if (existing.ok() || existing.status().code() == StatusCode::kNotFound) {
      return NotFoundError("document '" + utf8::Sanitize(doc_id) + "' not found in collection '" +
                           collection + "'");
    }
    return existing.status();
  }
  DocumentRow doc = *existing;
  std::vector<int64_t> old_chunk_ids;
  {
    ASSIGN_OR_RETURN(auto old_chunks, store_.GetChunks(doc.id));
    for (const auto& c : old_chunks) old_chunk_ids.push_back(c.id);
  }
  ASSIGN_OR_RETURN(auto kw_removed, keywords_.ReadDocument(*db_, coll.id, doc.id));
  RETURN_IF_ERROR(fts_.UnindexDocument(coll.id, doc.id));
  RETURN_IF_ERROR(store_.DeleteChunks(doc.id));
  doc.deleted = true;
  doc.content_hash.clear();
  doc.chunk_count = 0;
  doc.version = clock_.Now();
  doc.origin_node = node_id_;
  doc.updated_at = NowMillis();
  RETURN_IF_ERROR(store_.UpsertDocument(doc).status());
  storage::ChangeRow change;
  change.collection = coll.name;
  change.doc_id = doc.doc_id;
  change.hlc = doc.version;
  change.node_id = node_id_;
  change.deleted = true;
  change.created_at = doc.updated_at;
  RETURN_IF_ERROR(store_.AppendChange(change).status());
  RETURN_IF_ERROR(tx.Commit());
  keywords_.Apply(coll.id, kw_removed, {});
  if (auto vc = vectors_.Get(coll.id)) {
    applier_.Submit(coll.id, vc, std::move(old_chunk_ids), {}, {});
  }
  if (opts_.on_index_update) {
    opts_.on_index_update(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - index_t0).count());
  }
  return doc.version;
}

Result<DocumentRow> KnowledgeBase::GetDocument(const std::string& collection,
                                               const std::string& doc_id) {
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(collection));
  std::lock_guard<std::mutex> lock(mu_);
  auto d = store_.GetDocument(coll.id, doc_id);
  if ((d.ok() && d->deleted) || (!d.ok() && d.status().code() == StatusCode::kNotFound)) {
    return NotFoundError("document '" + utf8::Sanitize(doc_id) + "' not found in collection '" +
                         collection + "'");
  }
  return d;
}

Result<std::vector<ChunkRow>> KnowledgeBase::GetDocumentChunks(const std::string& collection,
                                                               const std::string& doc_id) {
  ASSIGN_OR_RETURN(DocumentRow d, GetDocument(collection, doc_id));
  std::lock_guard<std::mutex> lock(mu_);
  return store_.GetChunks(d.id);
}

Result<std::vector<DocumentRow>> KnowledgeBase::ListDocuments(const std::string& collection,
                                                              const std::string& cursor,
                                                              int limit) {
  if (limit <= 0 || limit > 1000) {
    return InvalidArgumentError("limit must be between 1 and 1000");
  }
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(collection));
  std::lock_guard<std::mutex> lock(mu_);
  return store_.ListDocuments(coll.id, cursor, limit);
}

Status KnowledgeBase::Verify() {
  std::lock_guard<std::mutex> lock(mu_);
  applier_.WaitIdle();  // compare the graphs with every committed write
  ASSIGN_OR_RETURN(std::string check, db_->QueryText("PRAGMA integrity_check"));
  if (check != "ok") {
    return DataLossError("SQLite integrity check failed: " + check +
                         "; restore from a backup");
  }
  ASSIGN_OR_RETURN(auto colls, store_.ListCollections());
  for (const auto& c : colls) {
    Status s = fts_.IntegrityCheck(c.id);
    if (!s.ok()) return s.WithContext("collection '" + c.name + "'");
    s = keywords_.Verify(c.id, *db_);
    if (!s.ok()) return s.WithContext("collection '" + c.name + "'");
    auto vc = vectors_.Get(c.id);
    if (!vc) continue;
    ASSIGN_OR_RETURN(auto live, store_.LiveChunkIds(c.id));
    size_t indexed = 0;
    for (int64_t id : live) {
      if (vc->index->Contains(static_cast<hnsw::Label>(id))) ++indexed;
    }
    const size_t labels = vc->index->Stats().live;
    if (indexed + vc->missing_vectors != live.size() || labels != indexed) {
      return DataLossError("collection '" + c.name + "': vector index holds " +
                           std::to_string(labels) + " vectors, " + std::to_string(indexed) +
                           " of " + std::to_string(live.size()) +
                           " live chunks; run `deepkb index rebuild`");
    }
  }
  return Status::Ok();
}

}  // namespace deepkb::kb
