#include "storage/kb_store.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "storage/schema.h"
#include "storage/test_util.h"

namespace deepkb::storage {
namespace {

using testing::ScopedTempDir;

class KbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    db_.reset();
    auto db = Database::Open(dir_.File("kb.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(Migrate(*db_).ok());
    store_ = std::make_unique<KbStore>(*db_);
  }

  CollectionRow MakeCollection(const std::string& name) {
    CollectionRow c;
    c.name = name;
    c.dim = 256;
    auto r = store_->InsertCollection(c);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CollectionRow{};
  }

  DocumentRow Doc(int64_t collection_id, const std::string& doc_id, uint64_t version = 1) {
    DocumentRow d;
    d.collection_id = collection_id;
    d.doc_id = doc_id;
    d.version = version;
    d.origin_node = "node-a";
    d.content_hash = "hash-" + doc_id;
    d.title = "Title " + doc_id;
    d.source = "/src/" + doc_id;
    d.mime = "text/plain";
    d.metadata_json = R"({"k":"v"})";
    d.size_bytes = 100;
    return d;
  }

  int64_t Upsert(const DocumentRow& d) {
    auto r = store_->UpsertDocument(d);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : -1;
  }

  static std::vector<ChunkRow> Chunks(std::initializer_list<int> ordinals) {
    std::vector<ChunkRow> out;
    for (int o : ordinals) {
      ChunkRow c;
      c.ordinal = o;
      c.text = "chunk text " + std::to_string(o);
      c.char_start = o * 10;
      c.char_end = o * 10 + 9;
      c.page = o + 1;
      c.heading_path = "H1 > H" + std::to_string(o);
      c.token_count = 3 + o;
      out.push_back(c);
    }
    return out;
  }

  int64_t Count(const std::string& table) {
    return db_->QueryInt("SELECT count(*) FROM " + table).value();
  }

  ScopedTempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<KbStore> store_;
};

// --- node identity and clock -----------------------------------------------------------------

TEST_F(KbStoreTest, NodeIdIsRandomHexAndStableAcrossReopen) {
  auto id = store_->NodeId();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->size(), 32u);
  EXPECT_EQ(id->find_first_not_of("0123456789abcdef"), std::string::npos) << *id;
  EXPECT_EQ(store_->NodeId().value(), *id);
  Reopen();
  EXPECT_EQ(store_->NodeId().value(), *id);

  // Another database gets another identity.
  auto other_db = Database::Open(dir_.File("other.db"));
  ASSERT_TRUE(other_db.ok());
  ASSERT_TRUE(Migrate(**other_db).ok());
  KbStore other(**other_db);
  EXPECT_NE(other.NodeId().value(), *id);
}

TEST_F(KbStoreTest, MaxHlcCoversDocumentsAndChanges) {
  EXPECT_EQ(store_->MaxHlc().value(), 0u);
  const auto coll = MakeCollection("c");
  Upsert(Doc(coll.id, "a", 500));
  EXPECT_EQ(store_->MaxHlc().value(), 500u);
  ChangeRow ch;
  ch.collection = "c";
  ch.doc_id = "remote";
  ch.hlc = 900;
  ch.node_id = "n";
  ASSERT_TRUE(store_->AppendChange(ch).ok());
  EXPECT_EQ(store_->MaxHlc().value(), 900u);
  Upsert(Doc(coll.id, "b", 1000));
  EXPECT_EQ(store_->MaxHlc().value(), 1000u);
  // Values with the top bit set are stored as negative int64 but must still compare as largest.
  const uint64_t huge = (uint64_t{1} << 63) + 5;
  Upsert(Doc(coll.id, "c", huge));
  EXPECT_EQ(store_->MaxHlc().value(), huge);
}

// --- collections -----------------------------------------------------------------------------

TEST_F(KbStoreTest, InsertAndGetCollection) {
  CollectionRow c;
  c.name = "notes";
  c.embedder = "ngram-hash";
  c.dim = 384;
  c.chunk_tokens = 256;
  c.chunk_overlap = 32;
  auto ins = store_->InsertCollection(c);
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  EXPECT_GT(ins->id, 0);
  EXPECT_GT(ins->created_at, 0);

  auto got = store_->GetCollection("notes");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, ins->id);
  EXPECT_EQ(got->embedder, "ngram-hash");
  EXPECT_EQ(got->dim, 384);
  EXPECT_EQ(got->chunk_tokens, 256);
  EXPECT_EQ(got->chunk_overlap, 32);
  EXPECT_EQ(got->created_at, ins->created_at);
  EXPECT_EQ(got->documents, 0);
  EXPECT_EQ(got->chunks, 0);

  EXPECT_EQ(store_->GetCollection("missing").status().code(), StatusCode::kNotFound);
}

TEST_F(KbStoreTest, DuplicateOrEmptyCollectionNameIsRejected) {
  MakeCollection("dup");
  CollectionRow c;
  c.name = "dup";
  auto again = store_->InsertCollection(c);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  EXPECT_NE(again.status().message().find("dup"), std::string::npos);
  c.name = "";
  EXPECT_EQ(store_->InsertCollection(c).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("collections"), 1);
}

TEST_F(KbStoreTest, ListCollectionsCountsLiveDocumentsAndChunks) {
  const auto a = MakeCollection("alpha");
  const auto b = MakeCollection("beta");
  MakeCollection("gamma");

  const int64_t d1 = Upsert(Doc(a.id, "d1"));
  auto c1 = Chunks({0, 1, 2});
  ASSERT_TRUE(store_->InsertChunks(d1, c1).ok());
  const int64_t d2 = Upsert(Doc(a.id, "d2"));
  auto c2 = Chunks({0, 1});
  ASSERT_TRUE(store_->InsertChunks(d2, c2).ok());
  // A tombstone counts for neither documents nor chunks.
  DocumentRow dead = Doc(a.id, "dead");
  dead.deleted = true;
  dead.chunk_count = 7;
  Upsert(dead);
  const int64_t d3 = Upsert(Doc(b.id, "d3"));
  auto c3 = Chunks({0});
  ASSERT_TRUE(store_->InsertChunks(d3, c3).ok());

  auto list = store_->ListCollections();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "alpha");
  EXPECT_EQ((*list)[0].documents, 2);
  EXPECT_EQ((*list)[0].chunks, 5);
  EXPECT_EQ((*list)[1].name, "beta");
  EXPECT_EQ((*list)[1].documents, 1);
  EXPECT_EQ((*list)[1].chunks, 1);
  EXPECT_EQ((*list)[2].name, "gamma");
  EXPECT_EQ((*list)[2].documents, 0);
  EXPECT_EQ((*list)[2].chunks, 0);

  auto got = store_->GetCollection("alpha");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->documents, 2);
  EXPECT_EQ(got->chunks, 5);
}

TEST_F(KbStoreTest, DeleteCollectionCascadesToDocumentsAndChunks) {
  const auto a = MakeCollection("a");
  const auto b = MakeCollection("b");
  const int64_t da = Upsert(Doc(a.id, "x"));
  auto ca = Chunks({0, 1});
  ASSERT_TRUE(store_->InsertChunks(da, ca).ok());
  const int64_t db = Upsert(Doc(b.id, "x"));
  auto cb = Chunks({0});
  ASSERT_TRUE(store_->InsertChunks(db, cb).ok());

  ASSERT_TRUE(store_->DeleteCollection(a.id).ok());
  EXPECT_EQ(store_->GetCollection("a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDocument(a.id, "x").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetChunks(da).value().empty());
  // The other collection is untouched.
  EXPECT_EQ(store_->GetDocument(b.id, "x").value().id, db);
  EXPECT_EQ(store_->GetChunks(db).value().size(), 1u);
  EXPECT_EQ(Count("documents"), 1);
  EXPECT_EQ(Count("chunks"), 1);

  EXPECT_EQ(store_->DeleteCollection(a.id).code(), StatusCode::kNotFound);
  // Ids are not reused after a delete (index snapshots refer to them).
  const auto again = MakeCollection("a");
  EXPECT_GT(again.id, b.id);
}

// --- documents -------------------------------------------------------------------------------

TEST_F(KbStoreTest, UpsertInsertsThenUpdatesInPlace) {
  const auto coll = MakeCollection("c");
  DocumentRow d = Doc(coll.id, "doc-1", 10);
  d.created_at = 1111;
  d.updated_at = 1111;
  const int64_t id = Upsert(d);
  ASSERT_GT(id, 0);

  auto got = store_->GetDocument(coll.id, "doc-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, id);
  EXPECT_EQ(got->collection_id, coll.id);
  EXPECT_EQ(got->version, 10u);
  EXPECT_EQ(got->origin_node, "node-a");
  EXPECT_EQ(got->content_hash, "hash-doc-1");
  EXPECT_EQ(got->title, "Title doc-1");
  EXPECT_EQ(got->source, "/src/doc-1");
  EXPECT_EQ(got->mime, "text/plain");
  EXPECT_EQ(got->metadata_json, R"({"k":"v"})");
  EXPECT_EQ(got->size_bytes, 100);
  EXPECT_FALSE(got->deleted);
  EXPECT_EQ(got->created_at, 1111);

  DocumentRow upd = Doc(coll.id, "doc-1", std::numeric_limits<uint64_t>::max());
  upd.title = "New title";
  upd.created_at = 2222;  // ignored on update: the first insert's time is kept
  upd.updated_at = 3333;
  upd.deleted = true;
  EXPECT_EQ(Upsert(upd), id);
  got = store_->GetDocument(coll.id, "doc-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->title, "New title");
  EXPECT_EQ(got->version, std::numeric_limits<uint64_t>::max());  // full uint64 range survives
  EXPECT_TRUE(got->deleted);                                      // tombstones are returned
  EXPECT_EQ(got->created_at, 1111);
  EXPECT_EQ(got->updated_at, 3333);
  EXPECT_EQ(Count("documents"), 1);
}

TEST_F(KbStoreTest, UpsertValidatesInput) {
  const auto coll = MakeCollection("c");
  EXPECT_EQ(store_->UpsertDocument(Doc(coll.id, "")).status().code(), StatusCode::kInvalidArgument);
  auto orphan = store_->UpsertDocument(Doc(coll.id + 100, "x"));
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.status().code(), StatusCode::kFailedPrecondition) << orphan.status().ToString();
  EXPECT_EQ(store_->GetDocument(coll.id, "x").status().code(), StatusCode::kNotFound);
}

TEST_F(KbStoreTest, SameDocIdInTwoCollectionsIsTwoDocuments) {
  const auto a = MakeCollection("a");
  const auto b = MakeCollection("b");
  const int64_t ia = Upsert(Doc(a.id, "same"));
  const int64_t ib = Upsert(Doc(b.id, "same"));
  EXPECT_NE(ia, ib);
  EXPECT_EQ(store_->GetDocument(a.id, "same").value().id, ia);
  EXPECT_EQ(store_->GetDocument(b.id, "same").value().id, ib);
}

TEST_F(KbStoreTest, ListDocumentsPaginatesByCursorAndSkipsTombstones) {
  const auto coll = MakeCollection("c");
  const auto other = MakeCollection("other");
  for (const char* id : {"e", "a", "d", "b", "c"}) Upsert(Doc(coll.id, id));
  DocumentRow tomb = Doc(coll.id, "bb");
  tomb.deleted = true;
  Upsert(tomb);
  Upsert(Doc(other.id, "aa"));

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  while (true) {
    auto page = store_->ListDocuments(coll.id, cursor, 2);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    if (page->empty()) break;
    ASSERT_LE(page->size(), 2u);
    for (const auto& d : *page) {
      EXPECT_EQ(d.collection_id, coll.id);
      EXPECT_FALSE(d.deleted);
      seen.push_back(d.doc_id);
    }
    cursor = page->back().doc_id;
    ASSERT_LT(++pages, 10) << "pagination does not terminate";
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(pages, 3);

  auto after_c = store_->ListDocuments(coll.id, "c", 100);
  ASSERT_TRUE(after_c.ok());
  ASSERT_EQ(after_c->size(), 2u);
  EXPECT_EQ((*after_c)[0].doc_id, "d");
  EXPECT_EQ(store_->ListDocuments(coll.id, "", 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KbStoreTest, GetDocumentsByRowIdsKeepsFirstOccurrenceOrder) {
  const auto coll = MakeCollection("c");
  const int64_t a = Upsert(Doc(coll.id, "a"));
  const int64_t b = Upsert(Doc(coll.id, "b"));
  auto docs = store_->GetDocumentsByRowIds({b, 9999, a, b});
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].doc_id, "b");
  EXPECT_EQ((*docs)[1].doc_id, "a");
  EXPECT_TRUE(store_->GetDocumentsByRowIds({}).value().empty());
}

// --- chunks ----------------------------------------------------------------------------------

TEST_F(KbStoreTest, InsertGetAndDeleteChunks) {
  const auto coll = MakeCollection("c");
  const int64_t doc = Upsert(Doc(coll.id, "d"));
  auto chunks = Chunks({2, 0, 1});
  ASSERT_TRUE(store_->InsertChunks(doc, chunks).ok());
  for (const auto& c : chunks) {
    EXPECT_GT(c.id, 0);
    EXPECT_EQ(c.document_id, doc);
  }
  EXPECT_NE(chunks[0].id, chunks[1].id);
  EXPECT_EQ(store_->GetDocument(coll.id, "d").value().chunk_count, 3);

  auto got = store_->GetChunks(doc);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const ChunkRow& c = (*got)[static_cast<size_t>(i)];
    EXPECT_EQ(c.ordinal, i);  // ordered by ordinal, not insertion
    EXPECT_EQ(c.document_id, doc);
    EXPECT_EQ(c.text, "chunk text " + std::to_string(i));
    EXPECT_EQ(c.char_start, i * 10);
    EXPECT_EQ(c.char_end, i * 10 + 9);
    EXPECT_EQ(c.page, i + 1);
    EXPECT_EQ(c.heading_path, "H1 > H" + std::to_string(i));
    EXPECT_EQ(c.token_count, 3 + i);
  }

  auto by_ids = store_->GetChunksByIds({chunks[2].id, 123456, chunks[0].id});
  ASSERT_TRUE(by_ids.ok());
  ASSERT_EQ(by_ids->size(), 2u);
  EXPECT_EQ((*by_ids)[0].id, chunks[2].id);
  EXPECT_EQ((*by_ids)[0].ordinal, 1);
  EXPECT_EQ((*by_ids)[1].id, chunks[0].id);
  EXPECT_EQ((*by_ids)[1].ordinal, 2);

  ASSERT_TRUE(store_->DeleteChunks(doc).ok());
  EXPECT_TRUE(store_->GetChunks(doc).value().empty());
  EXPECT_TRUE(store_->GetChunksByIds({chunks[0].id}).value().empty());
  EXPECT_EQ(store_->GetDocument(coll.id, "d").value().chunk_count, 0);
}

TEST_F(KbStoreTest, InsertChunksIsAllOrNothing) {
  const auto coll = MakeCollection("c");
  const int64_t doc = Upsert(Doc(coll.id, "d"));
  auto first = Chunks({0});
  ASSERT_TRUE(store_->InsertChunks(doc, first).ok());

  auto clash = Chunks({1, 2, 0});  // ordinal 0 is taken
  Status st = store_->InsertChunks(doc, clash);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.ToString();
  for (const auto& c : clash) EXPECT_EQ(c.id, 0);        // input untouched on failure
  EXPECT_EQ(store_->GetChunks(doc).value().size(), 1u);  // 1 and 2 were undone
  EXPECT_EQ(store_->GetDocument(coll.id, "d").value().chunk_count, 1);

  auto orphan = Chunks({0});
  EXPECT_EQ(store_->InsertChunks(doc + 1000, orphan).code(), StatusCode::kFailedPrecondition);
}

TEST_F(KbStoreTest, ChunkWritesJoinTheCallersTransaction) {
  const auto coll = MakeCollection("c");
  {
    Transaction tx(*db_);
    ASSERT_TRUE(tx.Begin().ok());
    const int64_t doc = Upsert(Doc(coll.id, "d"));
    auto chunks = Chunks({0, 1});
    ASSERT_TRUE(store_->InsertChunks(doc, chunks).ok());
    EXPECT_EQ(store_->GetChunks(doc).value().size(), 2u);
    // tx is destroyed without Commit: everything rolls back.
  }
  EXPECT_EQ(store_->GetDocument(coll.id, "d").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Count("chunks"), 0);

  Transaction tx(*db_);
  ASSERT_TRUE(tx.Begin().ok());
  const int64_t doc = Upsert(Doc(coll.id, "d"));
  auto chunks = Chunks({0});
  ASSERT_TRUE(store_->InsertChunks(doc, chunks).ok());
  ASSERT_TRUE(tx.Commit().ok());
  Reopen();
  EXPECT_EQ(store_->GetChunks(doc).value().size(), 1u);
}

// --- change feed -----------------------------------------------------------------------------

TEST_F(KbStoreTest, ChangeFeedIsMonotonicAndPaginates) {
  EXPECT_EQ(store_->LastChangeSeq().value(), 0);
  EXPECT_TRUE(store_->ChangesSince(0, 10).value().empty());

  std::vector<int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    ChangeRow c;
    c.collection = "notes";
    c.doc_id = "doc-" + std::to_string(i);
    c.hlc = 1000 + static_cast<uint64_t>(i);
    c.node_id = "node-a";
    c.deleted = (i == 3);
    c.content_hash = i == 3 ? "" : "h" + std::to_string(i);
    c.created_at = 42;
    auto seq = store_->AppendChange(c);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    if (!seqs.empty()) {
      EXPECT_GT(*seq, seqs.back());
    }
    seqs.push_back(*seq);
  }
  EXPECT_EQ(store_->LastChangeSeq().value(), seqs.back());

  auto first = store_->ChangesSince(0, 3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].seq, seqs[0]);
  EXPECT_EQ((*first)[0].collection, "notes");
  EXPECT_EQ((*first)[0].doc_id, "doc-0");
  EXPECT_EQ((*first)[0].hlc, 1000u);
  EXPECT_EQ((*first)[0].node_id, "node-a");
  EXPECT_EQ((*first)[0].content_hash, "h0");
  EXPECT_EQ((*first)[0].created_at, 42);
  EXPECT_FALSE((*first)[0].deleted);

  auto rest = store_->ChangesSince(first->back().seq, 100);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].seq, seqs[3]);
  EXPECT_TRUE((*rest)[0].deleted);
  EXPECT_EQ((*rest)[1].seq, seqs[4]);
  EXPECT_TRUE(store_->ChangesSince(seqs.back(), 100).value().empty());
  EXPECT_EQ(store_->ChangesSince(0, 0).status().code(), StatusCode::kInvalidArgument);

  // Seqs are never reused, even after the newest entry is pruned, and survive a reopen.
  ASSERT_TRUE(db_->Exec("DELETE FROM changes WHERE seq = " + std::to_string(seqs.back())).ok());
  EXPECT_EQ(store_->LastChangeSeq().value(), seqs.back());
  Reopen();
  ChangeRow c;
  c.collection = "notes";
  c.doc_id = "later";
  c.node_id = "node-a";
  auto later = store_->AppendChange(c);
  ASSERT_TRUE(later.ok());
  EXPECT_GT(*later, seqs.back());
  EXPECT_GT(store_->ChangesSince(0, 100).value().back().created_at, 0);  // filled in
}

}  // namespace
}  // namespace deepkb::storage
