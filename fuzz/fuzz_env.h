// Shared fixture of the fuzz targets: one in-memory KB database (real schema, one collection,
// a few documents with metadata, its FTS5 index with the deepkb tokenizer) on which parsed
// queries and filters are executed, so "the builder produced something SQLite rejects" is found
// as a crash, not only crashes inside the parsers.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/status.h"
#include "index/fulltext/fts_index.h"
#include "storage/kb_store.h"
#include "storage/schema.h"
#include "storage/sqlite.h"

namespace deepkb::fuzz {

// Aborts with the status: libFuzzer records the input that led here.
inline void Check(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "fuzz invariant broken: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

struct Env {
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<fulltext::FtsIndex> fts;
  int64_t collection_id = 0;
};

inline Env& GetEnv() {
  static Env* env = [] {
    auto* e = new Env;
    auto db = storage::Database::Open(":memory:");
    Check(db.status(), "open");
    e->db = std::move(*db);
    Check(storage::Migrate(*e->db), "migrate");
    storage::KbStore store(*e->db);
    storage::CollectionRow c;
    c.name = "c";
    auto row = store.InsertCollection(c);
    Check(row.status(), "collection");
    e->collection_id = row->id;
    e->fts = std::make_unique<fulltext::FtsIndex>(*e->db);
    Check(e->fts->CreateForCollection(e->collection_id), "fts create");
    const char* texts[] = {"数据库连接池的配置 PPR-9087 and C++ notes",
                           "用户手册：如何备份数据？ node.js a@b.com",
                           "The quick brown fox 快速的狐狸 ☃ emoji 🙂"};
    const char* metas[] = {R"({"team":"db","year":2024,"tags":["a","b"],"ok":true})",
                           R"({"team":"ops","year":2023.5,"nested":{"x":1}})", "{}"};
    for (int i = 0; i < 3; ++i) {
      storage::DocumentRow d;
      d.collection_id = e->collection_id;
      d.doc_id = "d" + std::to_string(i);
      d.title = texts[i];
      d.source = "src/" + d.doc_id;
      d.metadata_json = metas[i];
      auto id = store.UpsertDocument(d);
      Check(id.status(), "document");
      std::vector<storage::ChunkRow> chunks(1);
      chunks[0].text = texts[i];
      chunks[0].heading_path = "H > 标题";
      Check(store.InsertChunks(*id, chunks), "chunks");
      Check(e->fts->IndexDocument(e->collection_id, *id), "index");
    }
    return e;
  }();
  return *env;
}

}  // namespace deepkb::fuzz
