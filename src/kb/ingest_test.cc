#include "kb/ingest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/hash.h"

namespace deepkb::kb {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ingest_test_" + RandomHex(6));
    auto kb = KnowledgeBase::Open((root_ / "data").string());
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    ASSERT_TRUE(kb_->CreateCollection({.name = "c"}).ok());
    src_ = root_ / "corpus";
    WriteFile(src_ / "a.txt", "Alpha document about replication.");
    WriteFile(src_ / "b.md", "# Bravo\n\nBravo talks about 数据库.");
    WriteFile(src_ / "sub" / "c.html", "<html><title>Charlie</title><body><p>Charlie text</p></body></html>");
    WriteFile(src_ / ".hidden" / "x.txt", "hidden");
    WriteFile(src_ / "image.png", "\x89PNG....");
  }
  void TearDown() override {
    kb_.reset();
    fs::remove_all(root_);
  }

  IngestReport Ingest(bool recursive, bool mirror) {
    IngestOptions o;
    o.collection = "c";
    o.recursive = recursive;
    o.mirror = mirror;
    auto r = IngestPaths(*kb_, {src_.string()}, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : IngestReport{};
  }

  fs::path root_, src_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(IngestTest, NonRecursiveTakesDirectChildrenOnly) {
  auto r = Ingest(false, false);
  EXPECT_EQ(r.added, 2);
  EXPECT_EQ(r.skipped, 1);  // image.png
  EXPECT_TRUE(r.failed.empty());
  EXPECT_TRUE(kb_->GetDocument("c", "corpus/a.txt").ok());
  EXPECT_EQ(kb_->GetDocument("c", "corpus/sub/c.html").status().code(), StatusCode::kNotFound);
}

TEST_F(IngestTest, RecursiveIsIdempotentAndMirrorDeletes) {
  auto r1 = Ingest(true, false);
  EXPECT_EQ(r1.added, 3);
  EXPECT_GT(r1.chunks, 0);
  auto r2 = Ingest(true, false);
  EXPECT_EQ(r2.added, 0);
  EXPECT_EQ(r2.unchanged, 3);
  WriteFile(src_ / "a.txt", "Alpha document, now about consensus.");
  fs::remove(src_ / "b.md");
  auto r3 = Ingest(true, /*mirror=*/false);
  EXPECT_EQ(r3.updated, 1);
  EXPECT_EQ(r3.deleted, 0);
  EXPECT_TRUE(kb_->GetDocument("c", "corpus/b.md").ok());
  auto r4 = Ingest(true, /*mirror=*/true);
  EXPECT_EQ(r4.deleted, 1);
  EXPECT_EQ(r4.unchanged, 2);
  EXPECT_EQ(kb_->GetDocument("c", "corpus/b.md").status().code(), StatusCode::kNotFound);
  auto hits = kb_->Search({.collection = "c", .query = "consensus", .mode = "keyword"});
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->hits.size(), 1u);
  EXPECT_EQ(hits->hits[0].doc_id, "corpus/a.txt");
}

TEST_F(IngestTest, BadFilesFailAloneAndTheBatchGoesOn) {
  WriteFile(src_ / "empty.txt", "");
  WriteFile(src_ / "junk.txt", std::string("\x00\x01\x02\xff\xfe\x00\x13\x37", 8) + std::string(4000, '\0'));
  WriteFile(src_ / "broken.pdf", "%PDF-1.7 this is not really a pdf");
  auto r = Ingest(false, false);
  EXPECT_EQ(r.added, 2);
  ASSERT_EQ(r.failed.size(), 3u);
  for (const auto& f : r.failed) EXPECT_FALSE(f.error.empty()) << f.path;
}

TEST_F(IngestTest, OversizedFileIsRefusedWithoutReadingIt) {
  const fs::path big = src_ / "big.txt";
  { std::ofstream(big, std::ios::binary) << "x"; }
  fs::resize_file(big, 200ull << 20);  // sparse 200 MB file
  IngestOptions o;
  o.collection = "c";
  auto r = IngestPaths(*kb_, {big.string()}, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_NE(r->failed[0].error.find("MiB"), std::string::npos) << r->failed[0].error;
}

TEST_F(IngestTest, MissingPathOrCollectionIsAnError) {
  IngestOptions o;
  o.collection = "c";
  EXPECT_EQ(IngestPaths(*kb_, {(root_ / "nope").string()}, o).status().code(),
            StatusCode::kNotFound);
  o.collection = "nope";
  EXPECT_EQ(IngestPaths(*kb_, {src_.string()}, o).status().code(), StatusCode::kNotFound);
}

TEST_F(IngestTest, ProgressReportsEveryFile) {
  IngestOptions o;
  o.collection = "c";
  o.recursive = true;
  size_t last_done = 0, total = 0, calls = 0;
  auto r = IngestPaths(*kb_, {src_.string()}, o, [&](const IngestProgress& p) {
    EXPECT_GE(p.files_done, last_done);
    last_done = p.files_done;
    total = p.files_total;
    ++calls;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(last_done, 3u);
  EXPECT_EQ(calls, 4u);
}

}  // namespace
}  // namespace deepkb::kb
