#include "kb/kb.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unordered_map>

#include "common/hash.h"
#include "common/utf8.h"
#include "kb/filter.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "storage/schema.h"

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
  const auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  };
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), ok_char) ||
      name[0] == '.' || name[0] == '-' || name[0] == '_') {
    return InvalidArgumentError("invalid collection name '" + utf8::Sanitize(name) +
                                "': use 1-64 characters from A-Z a-z 0-9 _ . -, starting with a "
                                "letter or digit");
  }
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
      db_(std::move(db)),
      store_(*db_),
      fts_(*db_) {}

Result<std::unique_ptr<KnowledgeBase>> KnowledgeBase::Open(const std::string& data_dir,
                                                          const KbOptions& opts) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return PermissionDeniedError("cannot create data directory '" + data_dir +
                                 "': " + ec.message());
  }
  ASSIGN_OR_RETURN(auto db, storage::Database::Open(data_dir + "/kb.db"));
  RETURN_IF_ERROR(fulltext::RegisterFts5Tokenizer(db->handle()));
  RETURN_IF_ERROR(storage::Migrate(*db));
  std::unique_ptr<KnowledgeBase> kb(new KnowledgeBase(data_dir, opts, std::move(db)));
  ASSIGN_OR_RETURN(kb->node_id_, kb->store_.NodeId());
  ASSIGN_OR_RETURN(uint64_t max_hlc, kb->store_.MaxHlc());
  kb->clock_.AdvanceTo(max_hlc);
  return kb;
}

Result<CollectionRow> KnowledgeBase::CreateCollection(const CreateCollectionRequest& req) {
  RETURN_IF_ERROR(ValidateCollectionName(req.name));
  if (req.embedder != "ngram-hash" && req.embedder.rfind("openai:", 0) != 0) {
    return InvalidArgumentError("unknown embedder '" + req.embedder +
                                "': use ngram-hash or openai:MODEL@URL");
  }
  text::ChunkOptions copts;
  if (req.chunk_tokens <= 0 || req.chunk_overlap < 0) {
    return InvalidArgumentError("chunk_tokens must be positive and chunk_overlap >= 0");
  }
  copts.max_tokens = static_cast<size_t>(req.chunk_tokens);
  copts.overlap_tokens = static_cast<size_t>(req.chunk_overlap);
  RETURN_IF_ERROR(text::ValidateChunkOptions(copts));

  std::lock_guard<std::mutex> lock(mu_);
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  CollectionRow row;
  row.name = req.name;
  row.embedder = req.embedder;
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

Status KnowledgeBase::DeleteCollection(const std::string& name) {
  ASSIGN_OR_RETURN(CollectionRow c, GetCollection(name));
  std::lock_guard<std::mutex> lock(mu_);
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  RETURN_IF_ERROR(fts_.DropForCollection(c.id));
  RETURN_IF_ERROR(store_.DeleteCollection(c.id));
  return tx.Commit();
}

Result<PutResult> KnowledgeBase::PutDocument(const PutDocumentRequest& req) {
  RETURN_IF_ERROR(ValidateDocId(req.doc_id));
  RETURN_IF_ERROR(ValidateMetadata(req.metadata_json));
  ASSIGN_OR_RETURN(CollectionRow coll, GetCollection(req.collection));

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

  std::lock_guard<std::mutex> lock(mu_);
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
  if (live) {
    RETURN_IF_ERROR(fts_.UnindexDocument(coll.id, existing->id));
  }
  if (existing.ok()) {
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
  RETURN_IF_ERROR(fts_.IndexDocument(coll.id, row_id));
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
  result.version = doc.version;
  result.chunks = doc.chunk_count;
  result.outcome = live ? PutResult::Outcome::kUpdated : PutResult::Outcome::kCreated;
  return result;
}

Result<uint64_t> KnowledgeBase::DeleteDocument(const std::string& collection,
                                               const std::string& doc_id) {
  ASSIGN_OR_RETURN(CollectionRow coll, GetCollection(collection));
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
  return doc.version;
}

Result<DocumentRow> KnowledgeBase::GetDocument(const std::string& collection,
                                               const std::string& doc_id) {
  ASSIGN_OR_RETURN(CollectionRow coll, GetCollection(collection));
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
  ASSIGN_OR_RETURN(CollectionRow coll, GetCollection(collection));
  std::lock_guard<std::mutex> lock(mu_);
  return store_.ListDocuments(coll.id, cursor, limit);
}

Result<SearchResponse> KnowledgeBase::Search(const SearchRequest& req) {
  const auto t0 = std::chrono::steady_clock::now();
  if (req.mode != "keyword") {
    if (req.mode == "hybrid" || req.mode == "vector" || req.mode == "auto") {
      return UnimplementedError("search mode '" + req.mode +
                                "' needs the vector index, which this build does not have yet; "
                                "use mode keyword");
    }
    return InvalidArgumentError("unknown search mode '" + utf8::Sanitize(req.mode) +
                                "': use hybrid, keyword, vector or auto");
  }
  if (req.top_k < 1 || req.top_k > 1000) {
    return InvalidArgumentError("top_k must be between 1 and 1000");
  }
  storage::SqlFilter filter;
  if (!req.filter_json.empty()) {
    auto j = nlohmann::json::parse(req.filter_json, nullptr, false);
    if (j.is_discarded()) {
      return InvalidArgumentError("filter is not valid JSON; e.g. {\"team\": \"ops\"}");
    }
    ASSIGN_OR_RETURN(filter, CompileFilter(j));
  }
  ASSIGN_OR_RETURN(CollectionRow coll, GetCollection(req.collection));
  fulltext::MatchQuery query = fulltext::BuildMatchQuery(req.query);
  SearchResponse response;
  if (!query.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto fts_hits, fts_.Search(coll.id, query, req.top_k, {}, &filter));
    std::vector<int64_t> ids;
    ids.reserve(fts_hits.size());
    for (const auto& h : fts_hits) ids.push_back(h.chunk_id);
    ASSIGN_OR_RETURN(auto chunks, store_.GetChunksByIds(ids));
    std::unordered_map<int64_t, ChunkRow*> by_id;
    for (auto& c : chunks) by_id[c.id] = &c;
    std::unordered_map<int64_t, DocumentRow> docs;
    ASSIGN_OR_RETURN(auto doc_rows, store_.GetDocumentsByRowIds([&] {
      std::vector<int64_t> v;
      for (const auto& h : fts_hits) v.push_back(h.document_row_id);
      return v;
    }()));
    for (auto& d : doc_rows) docs[d.id] = std::move(d);
    int rank = 0;
    for (const auto& h : fts_hits) {
      auto c = by_id.find(h.chunk_id);
      auto d = docs.find(h.document_row_id);
      if (c == by_id.end() || d == docs.end()) continue;  // cannot happen inside one snapshot
      SearchHit hit;
      hit.doc_id = d->second.doc_id;
      hit.chunk_id = h.chunk_id;
      hit.score = h.score;
      hit.keyword_rank = ++rank;
      hit.text = c->second->text;
      hit.highlight = h.highlight;
      hit.title = d->second.title;
      hit.source = d->second.source;
      hit.page = c->second->page;
      hit.heading_path = c->second->heading_path;
      hit.metadata_json = d->second.metadata_json;
      response.hits.push_back(std::move(hit));
    }
  }
  response.took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return response;
}

Status KnowledgeBase::Verify() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::string check, db_->QueryText("PRAGMA integrity_check"));
  if (check != "ok") {
    return DataLossError("SQLite integrity check failed: " + check +
                         "; restore from a backup");
  }
  ASSIGN_OR_RETURN(auto colls, store_.ListCollections());
  for (const auto& c : colls) {
    Status s = fts_.IntegrityCheck(c.id);
    if (!s.ok()) return s.WithContext("collection '" + c.name + "'");
  }
  return Status::Ok();
}

}  // namespace deepkb::kb
