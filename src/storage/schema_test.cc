#include "storage/schema.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "storage/test_util.h"

namespace deepkb::storage {
namespace {

using testing::ScopedTempDir;

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    db_.reset();
    auto db = Database::Open(dir_.File("kb.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  std::set<std::string> Objects(const std::string& type) {
    std::set<std::string> out;
    auto s =
        db_->Prepare("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite%'");
    EXPECT_TRUE(s.ok());
    s->Bind(1, type);
    while (s->Step().value()) out.insert(s->ColumnText(0));
    return out;
  }
  std::set<std::string> Columns(const std::string& table) {
    std::set<std::string> out;
    auto s = db_->Prepare("SELECT name FROM pragma_table_info(?)");
    EXPECT_TRUE(s.ok());
    s->Bind(1, table);
    while (s->Step().value()) out.insert(s->ColumnText(0));
    return out;
  }

  ScopedTempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SchemaTest, NewDatabaseIsVersionZero) {
  auto v = SchemaVersion(*db_);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 0);
}

TEST_F(SchemaTest, MigrateCreatesTablesAndIndexes) {
  ASSERT_TRUE(Migrate(*db_).ok());
  EXPECT_EQ(SchemaVersion(*db_).value(), kSchemaVersion);
  const auto tables = Objects("table");
  for (const char* t :
       {"schema_version", "meta", "collections", "documents", "chunks", "changes"}) {
    EXPECT_TRUE(tables.count(t)) << "missing table " << t;
  }
  const auto indexes = Objects("index");
  EXPECT_TRUE(indexes.count("chunks_document_ordinal"));
  EXPECT_TRUE(indexes.count("changes_document"));
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM meta WHERE key = 'created_at'").value(), 1);
  EXPECT_GT(
      db_->QueryInt("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'created_at'").value(),
      1'600'000'000'000);
}

TEST_F(SchemaTest, ColumnNamesOtherModulesDependOn) {
  ASSERT_TRUE(Migrate(*db_).ok());
  const auto chunks = Columns("chunks");
  for (const char* c : {"id", "document_id", "ordinal", "text", "char_start", "char_end", "page",
                        "heading_path", "token_count"}) {
    EXPECT_TRUE(chunks.count(c)) << "chunks." << c;
  }
  const auto docs = Columns("documents");
  for (const char* c : {"id", "collection_id", "doc_id", "version", "title", "deleted"}) {
    EXPECT_TRUE(docs.count(c)) << "documents." << c;
  }
  // The view shape index/fulltext builds must compile against this schema.
  EXPECT_TRUE(db_->Exec("CREATE TEMP VIEW v AS SELECT c.id, c.document_id, d.title, "
                        "c.heading_path, c.text, d.collection_id, d.deleted "
                        "FROM chunks c JOIN documents d ON d.id = c.document_id")
                  .ok());
}

TEST_F(SchemaTest, MigrateIsIdempotent) {
  ASSERT_TRUE(Migrate(*db_).ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO collections(name, embedder, dim, chunk_tokens, "
                        "chunk_overlap, created_at) VALUES ('c', 'e', 8, 512, 64, 1)")
                  .ok());
  ASSERT_TRUE(Migrate(*db_).ok());
  Reopen();
  ASSERT_TRUE(Migrate(*db_).ok());
  EXPECT_EQ(SchemaVersion(*db_).value(), kSchemaVersion);
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM collections").value(), 1);  // data kept
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM schema_version").value(), 1);
}

TEST_F(SchemaTest, RefusesNewerSchemaVersion) {
  ASSERT_TRUE(Migrate(*db_).ok());
  ASSERT_TRUE(
      db_->Exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion + 1)).ok());
  Reopen();
  EXPECT_EQ(SchemaVersion(*db_).value(), kSchemaVersion + 1);
  Status st = Migrate(*db_);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("newer"), std::string::npos) << st.message();
  // Nothing was changed.
  EXPECT_EQ(SchemaVersion(*db_).value(), kSchemaVersion + 1);
}

TEST_F(SchemaTest, RefusesDatabaseOfAnotherApplication) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE someone_elses(x)").ok());
  Status st = Migrate(*db_);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(SchemaVersion(*db_).value(), 0);
  EXPECT_EQ(Objects("table").count("collections"), 0u);  // rolled back
}

TEST_F(SchemaTest, ForeignKeysCascade) {
  ASSERT_TRUE(Migrate(*db_).ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO collections(id, name, embedder, dim, chunk_tokens, "
                        "chunk_overlap, created_at) VALUES (1, 'c', 'e', 8, 512, 64, 1);"
                        "INSERT INTO documents(id, collection_id, doc_id, version, created_at, "
                        "updated_at) VALUES (1, 1, 'd', 5, 1, 1);"
                        "INSERT INTO chunks(document_id, ordinal, text) VALUES (1, 0, 'x');")
                  .ok());
  ASSERT_TRUE(db_->Exec("DELETE FROM collections WHERE id = 1").ok());
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM documents").value(), 0);
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM chunks").value(), 0);
}

TEST_F(SchemaTest, UpgradesAVersionOneDatabaseKeepingItsData) {
  ASSERT_TRUE(MigrateTo(*db_, 1).ok());
  EXPECT_EQ(SchemaVersion(*db_).value(), 1);
  ASSERT_TRUE(db_->Exec("INSERT INTO collections(name, embedder, dim, chunk_tokens, chunk_overlap, "
                        "created_at) VALUES('old', 'ngram-hash', 0, 512, 64, 1)").ok());
  EXPECT_FALSE(db_->QueryInt("SELECT count(*) FROM api_keys").ok());
  ASSERT_TRUE(Migrate(*db_).ok());
  EXPECT_EQ(SchemaVersion(*db_).value(), kSchemaVersion);
  EXPECT_EQ(db_->QueryInt("SELECT count(*) FROM api_keys").value(), 0);
  EXPECT_EQ(db_->QueryText("SELECT name FROM collections").value(), "old");
}

}  // namespace
}  // namespace deepkb::storage
