// The KB side of sync (docs/sync.md): the change feed with payloads (ChangesSince), applying
// remote versions with last-writer-wins (ApplyChanges), the tombstone purge and the state hash.
//
// Rules implemented here:
//  - Order of versions: LwwLess — (hlc, node_id, content_hash) compared in that order. A
//    tombstone's content hash is "", so at equal (hlc, node) a live version wins; equal triples
//    are the same version.
//  - A page ships a change row only while it is its document's current version (the document
//    row carries the same hlc and node). A document's current version always has its newest
//    change row, so "the latest change per document" falls out of this, across pages too.
//  - An incoming version that loses: already in our change feed, or older than a later write of
//    the same node → ignored_older; already recorded as a conflict → ignored_duplicate;
//    otherwise it is recorded in `conflicts` (conflict_recorded). A winning version is written
//    with its original (hlc, node_id) and a change row, so it travels on to further nodes.
//  - Tombstone horizon: meta purged_through_seq (no incremental feed behind it) and purged_hlc
//    (a live version at or below it that we have no row for may be a purged delete coming back,
//    so it is rejected instead of resurrected).
//  - The mirror of that rule after a complete full pull (PruneAbsentFromSource): a version here
//    at or below the source's purged_hlc that the source's full feed did not carry is one the
//    source would refuse, so it is removed here (no tombstone, no change row) and the source's
//    horizon adopted; both nodes then hold the same rows.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "common/hash.h"
#include "common/utf8.h"
#include "kb/kb.h"

namespace deepkb::kb {

namespace {

constexpr char kPurgedSeq[] = "purged_through_seq";
constexpr char kPurgedHlc[] = "purged_hlc";
// A page stops early once its payloads (chunk text and vectors) pass this many bytes.
constexpr size_t kMaxPageBytes = 32u << 20;
constexpr size_t kMaxChunksPerDocument = 100'000;

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Structural checks of one incoming change; the reason names what is wrong.
Status ValidateChange(const SyncChange& c) {
  RETURN_IF_ERROR(ValidateCollectionName(c.collection));
  RETURN_IF_ERROR(ValidateDocId(c.doc_id));
  if (c.node_id.empty() || c.node_id.size() > 64 || !IsLowerHex(c.node_id)) {
    return InvalidArgumentError("node_id must be 1-64 lower-case hex digits");
  }
  if (c.hlc == 0 || (c.hlc >> 63) != 0) return InvalidArgumentError("hlc must be in 1..2^63-1");
  if (c.deleted) {
    if (!c.content_hash.empty() || c.document) {
      return InvalidArgumentError("a tombstone carries no content_hash and no document");
    }
    return Status::Ok();
  }
  if (c.content_hash.size() != 64 || !IsLowerHex(c.content_hash)) {
    return InvalidArgumentError("content_hash must be 64 lower-case hex digits");
  }
  if (!c.document) return InvalidArgumentError("a live change needs its document");
  const SyncDocument& d = *c.document;
  if (d.chunks.empty() || d.chunks.size() > kMaxChunksPerDocument) {
    return InvalidArgumentError("document must have 1 to 100000 chunks");
  }
  auto meta = nlohmann::json::parse(d.metadata_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) {
    return InvalidArgumentError("document metadata must be a JSON object");
  }
  for (const std::string* s : {&d.title, &d.source, &d.mime}) {
    if (!utf8::IsValid(*s)) return InvalidArgumentError("document title/source/mime: bad UTF-8");
  }
  for (const ChunkRow& ch : d.chunks) {
    if (ch.text.empty() || !utf8::IsValid(ch.text) || !utf8::IsValid(ch.heading_path)) {
      return InvalidArgumentError("chunk text must be non-empty valid UTF-8");
    }
    if (ch.char_start < 0 || ch.char_end < ch.char_start || ch.page < 0 || ch.token_count < 0) {
      return InvalidArgumentError("chunk offsets, page and token_count must be non-negative");
    }
  }
  if (!d.vectors.empty()) {
    if (d.vectors.size() != d.chunks.size() || d.dim <= 0) {
      return InvalidArgumentError("vectors must be one per chunk with a positive dim");
    }
    for (const auto& v : d.vectors) {
      if (v.size() != static_cast<size_t>(d.dim)) {
        return InvalidArgumentError("a vector's length differs from dim");
      }
      for (float x : v) {
        if (!std::isfinite(x)) return InvalidArgumentError("vectors must be finite");
      }
    }
  }
  return Status::Ok();
}

ApplyResult MakeResult(ApplyOutcome o, std::string reason = {}) { return {o, std::move(reason)}; }

}  // namespace

std::string_view ApplyOutcomeName(ApplyOutcome o) {
  switch (o) {
    case ApplyOutcome::kApplied: return "applied";
    case ApplyOutcome::kIgnoredOlder: return "ignored_older";
    case ApplyOutcome::kIgnoredDuplicate: return "ignored_duplicate";
    case ApplyOutcome::kConflictRecorded: return "conflict_recorded";
    case ApplyOutcome::kRejected: return "rejected";
  }
  return "unknown";
}

bool LwwLess(uint64_t hlc_a, const std::string& node_a, const std::string& hash_a,
             uint64_t hlc_b, const std::string& node_b, const std::string& hash_b) {
  if (hlc_a != hlc_b) return hlc_a < hlc_b;
  if (node_a != node_b) return node_a < node_b;
  return hash_a < hash_b;
}

// ---------------------------------------------------------------------------------------------
// Read side

Result<ChangePage> KnowledgeBase::ChangesSince(const ChangesQuery& q) {
  if (q.limit < 1 || q.limit > 1000) {
    return InvalidArgumentError("limit must be between 1 and 1000");
  }
  if (q.after_seq < 0) return InvalidArgumentError("since must be a non-negative change seq");
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const int64_t purged, store_.MetaInt(kPurgedSeq));
  if (!q.full && q.after_seq < purged) {
    return FailedPreconditionError(
        "peer checkpoint " + std::to_string(q.after_seq) +
        " is older than the tombstone horizon (purged through " + std::to_string(purged) +
        "): run a full resync (deepkb sync --full ...)");
  }
  ChangePage page;
  ASSIGN_OR_RETURN(page.update_seq, store_.LastChangeSeq());
  ASSIGN_OR_RETURN(auto rows,
                   store_.ChangesSince(q.after_seq, q.limit, q.collections, q.exclude_node));
  // Fewer rows than asked: everything up to update_seq has been considered.
  page.last_seq = std::max(q.after_seq, page.update_seq);
  page.more = false;
  if (rows.size() == static_cast<size_t>(q.limit)) {
    page.last_seq = rows.back().seq;
    page.more = page.last_seq < page.update_seq;
  }
  std::map<std::string, std::optional<CollectionRow>> colls;
  size_t bytes = 0;
  for (const storage::ChangeRow& row : rows) {
    auto cit = colls.find(row.collection);
    if (cit == colls.end()) {
      auto c = store_.FindCollection(row.collection);
      if (!c.ok() && c.status().code() != StatusCode::kNotFound) return c.status();
      cit = colls.emplace(row.collection, c.ok() ? std::optional<CollectionRow>(*c) : std::nullopt)
                .first;
    }
    if (!cit->second) continue;  // the collection was deleted since
    const CollectionRow& coll = *cit->second;
    auto doc = store_.GetDocument(coll.id, row.doc_id);
    if (!doc.ok()) {
      if (doc.status().code() == StatusCode::kNotFound) continue;
      return doc.status();
    }
    if (doc->version != row.hlc || doc->origin_node != row.node_id) continue;  // superseded
    SyncChange c;
    c.seq = row.seq;
    c.collection = row.collection;
    c.doc_id = row.doc_id;
    c.hlc = doc->version;
    c.node_id = doc->origin_node;
    c.deleted = doc->deleted;
    c.content_hash = doc->content_hash;
    if (!doc->deleted) {
      SyncDocument d;
      d.title = doc->title;
      d.source = doc->source;
      d.mime = doc->mime;
      d.metadata_json = doc->metadata_json;
      d.size_bytes = doc->size_bytes;
      d.created_at = doc->created_at;
      d.updated_at = doc->updated_at;
      ASSIGN_OR_RETURN(d.chunks, store_.GetChunks(doc->id));
      d.embedder = coll.embedder;
      d.dim = coll.dim;
      std::unordered_map<int64_t, size_t> pos;
      std::vector<int64_t> ids;
      for (size_t i = 0; i < d.chunks.size(); ++i) {
        pos[d.chunks[i].id] = i;
        ids.push_back(d.chunks[i].id);
        bytes += d.chunks[i].text.size() + d.chunks[i].heading_path.size();
      }
      d.vectors.assign(d.chunks.size(), {});
      size_t found = 0;
      RETURN_IF_ERROR(store_.VectorsByIds(ids, [&](int64_t id, std::span<const float> v) {
        d.vectors[pos[id]].assign(v.begin(), v.end());
        bytes += v.size() * sizeof(float);
        ++found;
        return Status::Ok();
      }));
      if (found != d.chunks.size()) d.vectors.clear();  // incomplete: the receiver embeds
      c.document = std::move(d);
    }
    page.changes.push_back(std::move(c));
    if (bytes > kMaxPageBytes && row.seq < page.last_seq) {
      page.last_seq = row.seq;
      page.more = true;
      break;
    }
  }
  return page;
}

// ---------------------------------------------------------------------------------------------
// Apply side

struct KnowledgeBase::RemoteWrite {
  const SyncChange* change = nullptr;
  CollectionRow coll;
  std::shared_ptr<VectorCollection> vc;
  std::vector<std::vector<float>> vectors;  // for vc, one per chunk (live versions)
  bool have_vectors = false;
  ApplyResult result;
  bool valid = false;
  // Filled when applied: what the in-memory indexes must follow after the commit.
  std::vector<int64_t> old_chunk_ids, new_chunk_ids;
  std::vector<inverted::ChunkText> kw_removed, kw_added;
};

Status KnowledgeBase::ApplyOneLocked(RemoteWrite& w) {
  const SyncChange& c = *w.change;
  auto existing = store_.GetDocument(w.coll.id, c.doc_id);
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) {
    return existing.status();
  }
  if (existing.ok()) {
    const DocumentRow& d = *existing;
    if (d.version == c.hlc && d.origin_node == c.node_id && d.content_hash == c.content_hash) {
      w.result = MakeResult(ApplyOutcome::kIgnoredDuplicate);
      return Status::Ok();
    }
    if (!LwwLess(d.version, d.origin_node, d.content_hash, c.hlc, c.node_id, c.content_hash)) {
      ASSIGN_OR_RETURN(const bool seen, store_.HasChange(w.coll.name, c.doc_id, c.hlc, c.node_id));
      if (seen || c.node_id == d.origin_node) {
        w.result = MakeResult(ApplyOutcome::kIgnoredOlder);
        return Status::Ok();
      }
      ASSIGN_OR_RETURN(const bool recorded,
                       store_.HasConflict(w.coll.name, c.doc_id, c.hlc, c.node_id));
      if (recorded) {
        w.result = MakeResult(ApplyOutcome::kIgnoredDuplicate, "losing version already recorded");
        return Status::Ok();
      }
      storage::ConflictRow row;
      row.collection = w.coll.name;
      row.doc_id = c.doc_id;
      row.loser_hlc = c.hlc;
      row.loser_node = c.node_id;
      row.loser_hash = c.content_hash;
      row.loser_deleted = c.deleted;
      row.winner_hlc = d.version;
      row.winner_node = d.origin_node;
      row.winner_hash = d.content_hash;
      RETURN_IF_ERROR(store_.InsertConflict(row));
      w.result = MakeResult(ApplyOutcome::kConflictRecorded);
      return Status::Ok();
    }
  } else {
    ASSIGN_OR_RETURN(const int64_t purged_hlc, store_.MetaInt(kPurgedHlc));
    if (c.hlc <= static_cast<uint64_t>(purged_hlc)) {
      if (c.deleted) {
        w.result = MakeResult(ApplyOutcome::kIgnoredOlder, "tombstone older than the horizon");
      } else {
        w.result = MakeResult(ApplyOutcome::kRejected,
                           "version is older than this node's tombstone horizon and may be a "
                           "purged delete coming back; it is not resurrected");
      }
      return Status::Ok();
    }
  }

  // The incoming version wins: replace whatever is stored, like PutDocument/DeleteDocument.
  const bool live_before = existing.ok() && !existing->deleted;
  if (live_before) {
    ASSIGN_OR_RETURN(w.kw_removed, keywords_.ReadDocument(*db_, w.coll.id, existing->id));
    RETURN_IF_ERROR(fts_.UnindexDocument(w.coll.id, existing->id));
  }
  if (existing.ok()) {
    ASSIGN_OR_RETURN(auto old_chunks, store_.GetChunks(existing->id));
    for (const auto& ch : old_chunks) w.old_chunk_ids.push_back(ch.id);
    RETURN_IF_ERROR(store_.DeleteChunks(existing->id));
  }
  DocumentRow doc = existing.ok() ? *existing : DocumentRow{};
  doc.collection_id = w.coll.id;
  doc.doc_id = c.doc_id;
  doc.version = c.hlc;
  doc.origin_node = c.node_id;
  doc.deleted = c.deleted;
  doc.content_hash = c.content_hash;
  doc.chunk_count = 0;
  doc.updated_at = WallMillis();
  if (c.document) {
    const SyncDocument& p = *c.document;
    doc.title = p.title;
    doc.source = p.source;
    doc.mime = p.mime;
    doc.metadata_json = nlohmann::json::parse(p.metadata_json).dump();
    doc.size_bytes = p.size_bytes;
    if (p.updated_at > 0) doc.updated_at = p.updated_at;
    if (!existing.ok() && p.created_at > 0) doc.created_at = p.created_at;
  }
  ASSIGN_OR_RETURN(const int64_t row_id, store_.UpsertDocument(doc));
  if (c.document) {
    std::vector<ChunkRow> rows = c.document->chunks;
    for (size_t i = 0; i < rows.size(); ++i) rows[i].ordinal = static_cast<int>(i);
    RETURN_IF_ERROR(store_.InsertChunks(row_id, rows));
    for (const auto& r : rows) w.new_chunk_ids.push_back(r.id);
    if (auto now = vectors_.Get(w.coll.id); now != w.vc) {
      w.vc = std::move(now);  // an index rebuild swapped the embedder since step 2
      w.have_vectors = false;
    }
    if (w.vc) {
      if (!w.have_vectors) {  // not embedded before the lock (it looked like a losing version)
        std::vector<std::string> texts;
        for (const auto& r : rows) texts.push_back(r.text);
        ASSIGN_OR_RETURN(w.vectors, vectors_.Embed(*w.vc, texts));
        w.have_vectors = true;
      }
      RETURN_IF_ERROR(store_.PutChunkVectors(w.new_chunk_ids, w.vectors));
    }
    RETURN_IF_ERROR(fts_.IndexDocument(w.coll.id, row_id));
    ASSIGN_OR_RETURN(w.kw_added, keywords_.ReadDocument(*db_, w.coll.id, row_id));
  }
  storage::ChangeRow change;
  change.collection = w.coll.name;
  change.doc_id = c.doc_id;
  change.hlc = c.hlc;
  change.node_id = c.node_id;
  change.deleted = c.deleted;
  change.content_hash = c.content_hash;
  RETURN_IF_ERROR(store_.AppendChange(change).status());
  w.result = MakeResult(ApplyOutcome::kApplied);
  return Status::Ok();
}

Result<std::vector<ApplyResult>> KnowledgeBase::ApplyChanges(
    const std::vector<SyncChange>& changes) {
  std::vector<RemoteWrite> writes(changes.size());
  // 1. Structure, collection, clock (no database writes).
  {
    std::map<std::string, std::optional<CollectionRow>> colls;
    for (size_t i = 0; i < changes.size(); ++i) {
      RemoteWrite& w = writes[i];
      w.change = &changes[i];
      if (Status s = ValidateChange(changes[i]); !s.ok()) {
        w.result = MakeResult(ApplyOutcome::kRejected, s.message());
        continue;
      }
      auto it = colls.find(changes[i].collection);
      if (it == colls.end()) {
        std::lock_guard<std::mutex> lock(mu_);
        auto c = store_.FindCollection(changes[i].collection);
        if (!c.ok() && c.status().code() != StatusCode::kNotFound) return c.status();
        it = colls.emplace(changes[i].collection,
                           c.ok() ? std::optional<CollectionRow>(*c) : std::nullopt).first;
      }
      if (!it->second) {
        w.result = MakeResult(ApplyOutcome::kRejected,
                           "unknown collection '" + changes[i].collection +
                               "': create it on this node first (the replicator does so)");
        continue;
      }
      if (Status s = clock_.Observe(changes[i].hlc); !s.ok()) {
        w.result = MakeResult(ApplyOutcome::kRejected, s.message());
        w.result.retry = true;  // applies once the clocks agree
        continue;
      }
      w.coll = *it->second;
      w.vc = vectors_.Get(w.coll.id);
      w.valid = true;
    }
  }
  // 2. Vectors for live versions that would win now: shipped ones when the embedder matches,
  //    else embedded here, outside the lock (a remote embedder may take a while).
  for (RemoteWrite& w : writes) {
    if (!w.valid || !w.vc || !w.change->document) continue;
    const SyncChange& c = *w.change;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto d = store_.GetDocument(w.coll.id, c.doc_id);
      if (d.ok() && !LwwLess(d->version, d->origin_node, d->content_hash, c.hlc, c.node_id,
                             c.content_hash)) {
        continue;  // loses (or is a duplicate): nothing to embed
      }
    }
    const SyncDocument& p = *c.document;
    if (!p.vectors.empty() && p.embedder == w.vc->spec &&
        static_cast<size_t>(p.dim) == w.vc->dim) {
      w.vectors = p.vectors;
    } else {
      std::vector<std::string> texts;
      for (const auto& ch : p.chunks) texts.push_back(ch.text);
      auto v = vectors_.Embed(*w.vc, texts);
      if (!v.ok()) return v.status().WithContext("re-embedding '" + c.doc_id + "' from a peer");
      w.vectors = std::move(v).value();
    }
    w.have_vectors = true;
  }
  // 3. One transaction for the batch, then the in-memory indexes.
  std::vector<ApplyResult> results;
  applier_.WaitForRoom();
  std::lock_guard<std::mutex> lock(mu_);
  {
    storage::Transaction tx(*db_);
    RETURN_IF_ERROR(tx.Begin());
    for (RemoteWrite& w : writes) {
      if (w.valid) RETURN_IF_ERROR(ApplyOneLocked(w).WithContext("applying '" + w.change->doc_id + "'"));
    }
    RETURN_IF_ERROR(tx.Commit());
  }
  for (RemoteWrite& w : writes) {
    results.push_back(w.result);
    if (!w.valid || w.result.outcome != ApplyOutcome::kApplied) continue;
    keywords_.Apply(w.coll.id, w.kw_removed, w.kw_added);
    if (w.vc) {
      applier_.Submit(w.coll.id, w.vc, std::move(w.old_chunk_ids), std::move(w.new_chunk_ids),
                      std::move(w.vectors));
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Horizon, state hash, checkpoints, conflicts

Result<storage::PurgeResult> KnowledgeBase::TombstonePurge(int64_t horizon_ms) {
  if (horizon_ms < 0) return InvalidArgumentError("the tombstone horizon must not be negative");
  const int64_t now = opts_.clock_wall ? static_cast<int64_t>(opts_.clock_wall()) : WallMillis();
  if (now <= horizon_ms) return storage::PurgeResult{};
  const uint64_t cutoff = Hlc::Pack(static_cast<uint64_t>(now - horizon_ms), 0);
  std::lock_guard<std::mutex> lock(mu_);
  storage::Transaction tx(*db_);
  RETURN_IF_ERROR(tx.Begin());
  ASSIGN_OR_RETURN(const storage::PurgeResult r, store_.PurgeTombstones(cutoff));
  if (r.documents > 0) {
    ASSIGN_OR_RETURN(const int64_t seq, store_.MetaInt(kPurgedSeq));
    ASSIGN_OR_RETURN(const int64_t hlc, store_.MetaInt(kPurgedHlc));
    RETURN_IF_ERROR(store_.SetMetaInt(kPurgedSeq, std::max(seq, r.max_seq)));
    RETURN_IF_ERROR(
        store_.SetMetaInt(kPurgedHlc, std::max(hlc, static_cast<int64_t>(r.max_hlc))));
  }
  RETURN_IF_ERROR(tx.Commit());
  return r;
}

Result<PruneResult> KnowledgeBase::PruneAbsentFromSource(
    const std::vector<std::string>& collections, uint64_t source_purged_hlc,
    const std::function<bool(const std::string&, const std::string&)>& in_feed, int batch) {
  if (batch < 1) return InvalidArgumentError("the prune batch must be at least 1 document");
  if ((source_purged_hlc >> 63) != 0) {
    return InvalidArgumentError("the source's purged_hlc must be in 0..2^63-1");
  }
  PruneResult out;
  if (source_purged_hlc == 0) return out;  // the source never purged: it refuses nothing
  // 1. Adopt the horizon before removing anything, so a removed version that a third node sends
  //    between two batches is refused rather than resurrected. Local writes from now on are
  //    stamped above it (a horizon far ahead of this clock would make them look purged).
  if (Status s = clock_.Observe(source_purged_hlc); !s.ok()) {
    return FailedPreconditionError("the peer's tombstone horizon is ahead of this node's clock (" +
                                   s.message() +
                                   "); nothing was pruned: fix the clocks, then run "
                                   "a full sync again (deepkb sync --full ...)");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    storage::Transaction tx(*db_);
    RETURN_IF_ERROR(tx.Begin());
    ASSIGN_OR_RETURN(const int64_t own, store_.MetaInt(kPurgedHlc));
    if (static_cast<uint64_t>(own) < source_purged_hlc) {
      RETURN_IF_ERROR(store_.SetMetaInt(kPurgedHlc, static_cast<int64_t>(source_purged_hlc)));
    }
    RETURN_IF_ERROR(tx.Commit());
  }
  // 2. Walk each collection's versions at or below the horizon; remove those the feed lacked.
  constexpr int kPage = 1000;
  for (const std::string& name : collections) {
    auto found = FindCollection(name);
    if (!found.ok()) {
      if (found.status().code() == StatusCode::kNotFound) continue;
      return found.status();
    }
    const CollectionRow coll = *found;
    std::string after;
    while (true) {
      std::vector<DocumentRow> page;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ASSIGN_OR_RETURN(page, store_.VersionsAtOrBelow(coll.id, source_purged_hlc, after, kPage));
      }
      if (page.empty()) break;
      after = page.back().doc_id;
      std::vector<std::string> doomed;
      for (const DocumentRow& d : page) {
        if (!in_feed(coll.name, d.doc_id)) doomed.push_back(d.doc_id);
      }
      for (size_t i = 0; i < doomed.size(); i += static_cast<size_t>(batch)) {
        const size_t end = std::min(doomed.size(), i + static_cast<size_t>(batch));
        std::vector<int64_t> old_chunk_ids;
        std::vector<inverted::ChunkText> kw_removed;
        applier_.WaitForRoom();
        std::lock_guard<std::mutex> lock(mu_);
        {
          storage::Transaction tx(*db_);
          RETURN_IF_ERROR(tx.Begin());
          int64_t max_seq = 0;
          for (size_t j = i; j < end; ++j) {
            // Read again under the lock: a newer version may have arrived since the page.
            auto d = store_.GetDocument(coll.id, doomed[j]);
            if (!d.ok()) {
              if (d.status().code() == StatusCode::kNotFound) continue;
              return d.status();
            }
            if (d->version > source_purged_hlc) continue;
            // Like DeleteDocument and a winning remote tombstone: the keyword rows are read and
            // the full-text rows removed before the chunks go.
            if (!d->deleted) {
              ASSIGN_OR_RETURN(auto kw, keywords_.ReadDocument(*db_, coll.id, d->id));
              kw_removed.insert(kw_removed.end(), kw.begin(), kw.end());
              RETURN_IF_ERROR(fts_.UnindexDocument(coll.id, d->id));
            }
            ASSIGN_OR_RETURN(auto chunks, store_.GetChunks(d->id));
            for (const auto& ch : chunks) old_chunk_ids.push_back(ch.id);
            RETURN_IF_ERROR(store_.DeleteChunks(d->id));
            ASSIGN_OR_RETURN(const int64_t seq, store_.RemoveDocument(d->id, coll.name, d->doc_id));
            max_seq = std::max(max_seq, seq);
            ++out.documents;
            if (d->deleted) ++out.tombstones;
            if (out.examples.size() < 10) out.examples.push_back(coll.name + "/" + d->doc_id);
          }
          ASSIGN_OR_RETURN(const int64_t purged_seq, store_.MetaInt(kPurgedSeq));
          if (max_seq > purged_seq) RETURN_IF_ERROR(store_.SetMetaInt(kPurgedSeq, max_seq));
          RETURN_IF_ERROR(tx.Commit());
        }
        keywords_.Apply(coll.id, kw_removed, {});
        if (auto vc = vectors_.Get(coll.id); vc && !old_chunk_ids.empty()) {
          applier_.Submit(coll.id, vc, std::move(old_chunk_ids), {}, {});
        }
      }
      if (page.size() < static_cast<size_t>(kPage)) break;
    }
  }
  return out;
}

Result<std::string> KnowledgeBase::StateHash(const std::vector<std::string>& collections) {
  const std::set<std::string> only(collections.begin(), collections.end());
  std::string text;
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(store_.ForEachVersion([&](const std::string& coll, const DocumentRow& d) {
    if (!only.empty() && !only.count(coll)) return;
    text += coll + '\t' + d.doc_id + '\t' + std::to_string(d.version) + '\t' + d.origin_node +
            '\t' + (d.deleted ? "1" : "0") + '\t' + d.content_hash + '\n';
  }));
  return Sha256Hex(text);
}

Result<int64_t> KnowledgeBase::UpdateSeq() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.LastChangeSeq();
}

Result<int64_t> KnowledgeBase::PurgedThroughSeq() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.MetaInt(kPurgedSeq);
}

Result<uint64_t> KnowledgeBase::PurgedHlc() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const int64_t hlc, store_.MetaInt(kPurgedHlc));
  return static_cast<uint64_t>(hlc);
}

Result<std::optional<storage::CheckpointRow>> KnowledgeBase::GetCheckpoint(
    const std::string& replication_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.GetCheckpoint(replication_id);
}

Status KnowledgeBase::PutCheckpoint(const storage::CheckpointRow& c) {
  if (c.replication_id.empty() || c.replication_id.size() > 256 || c.last_seq < 0) {
    return InvalidArgumentError("a checkpoint needs a replication id (1-256 bytes) and a "
                                "non-negative last_seq");
  }
  std::lock_guard<std::mutex> lock(mu_);
  return store_.PutCheckpoint(c);
}

Result<std::vector<storage::ConflictRow>> KnowledgeBase::ListConflicts(int64_t before_id,
                                                                       int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit must be between 1 and 1000");
  std::lock_guard<std::mutex> lock(mu_);
  return store_.ListConflicts(before_id, limit);
}

}  // namespace deepkb::kb
