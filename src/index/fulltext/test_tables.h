// Test helper: the two base tables with the columns an FTS5 content view (fts_index.h) reads,
// created by tests of the full-text index and of the keyword accelerator so that they do not
// depend on the storage schema code.
#pragma once

namespace deepkb::fulltext::testing {

inline constexpr const char* kBaseTables = R"sql(
CREATE TABLE documents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  collection_id INTEGER NOT NULL,
  doc_id TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 0,
  title TEXT NOT NULL DEFAULT '',
  deleted INTEGER NOT NULL DEFAULT 0,
  UNIQUE (collection_id, doc_id)
);
CREATE TABLE chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text TEXT NOT NULL,
  char_start INTEGER NOT NULL DEFAULT 0,
  char_end INTEGER NOT NULL DEFAULT 0,
  page INTEGER NOT NULL DEFAULT 0,
  heading_path TEXT NOT NULL DEFAULT '',
  token_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX chunks_document_ordinal ON chunks(document_id, ordinal);
)sql";

}  // namespace deepkb::fulltext::testing
