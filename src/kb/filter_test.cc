#include "kb/filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "common/hash.h"
#include "kb/kb.h"

namespace deepkb::kb {
namespace {

using nlohmann::json;

TEST(Filter, CompilesToParameterisedSql) {
  auto f = CompileFilter(json::parse(R"({"team": "ops", "year": {"$gte": 2020, "$lt": 2024}})"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->where.find("ops"), std::string::npos);  // values are bound, never spliced
  EXPECT_EQ(f->params.size(), 6u);  // path+value, path+value, path+value
  EXPECT_TRUE(CompileFilter(json()).value().empty());
}

TEST(Filter, RejectsBadFiltersWithPaths) {
  for (const char* bad : {R"([1,2])", R"({})", R"({"a": {"$regex": "x"}})", R"({"$not": {}})",
                          R"({"a": {"$in": []}})", R"({"a": [1]})", R"({"a": null})",
                          R"({"$or": {"a": 1}})", R"({"a": {}})"}) {
    auto f = CompileFilter(json::parse(bad));
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto f = CompileFilter(json::parse(R"({"$or": [{"a": 1}, {"b": {"$foo": 1}}]})"));
  EXPECT_NE(f.status().message().find("filter.$or[1].b.$foo"), std::string::npos)
      << f.status().message();
  json deep = {{"a", 1}};
  for (int i = 0; i < 10; ++i) deep = {{"$and", json::array({deep})}};
  EXPECT_EQ(CompileFilter(deep).status().code(), StatusCode::kInvalidArgument);
}

class FilterSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("filter_test_" + RandomHex(6));
    kb_ = std::move(KnowledgeBase::Open(dir_.string())).value();
    ASSERT_TRUE(kb_->CreateCollection({.name = "c"}).ok());
    Put("a", R"({"team":"ops","year":2021,"public":true})");
    Put("b", R"({"team":"dev","year":2023,"public":false})");
    Put("c", R"({"team":"ops","year":2019,"weird key.with dots":"x"})");
  }
  void TearDown() override {
    kb_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Put(const std::string& id, const std::string& meta) {
    PutDocumentRequest r;
    r.collection = "c";
    r.doc_id = id;
    r.bytes = "shared words about replication for " + id;
    r.format = text::Format::kText;
    r.metadata_json = meta;
    ASSERT_TRUE(kb_->PutDocument(r).ok());
  }
  std::vector<std::string> Ids(const std::string& filter) {
    auto r = kb_->Search(
        {.collection = "c", .query = "replication", .mode = "keyword", .filter_json = filter});
    EXPECT_TRUE(r.ok()) << filter << ": " << r.status().ToString();
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const auto& h : r->hits) ids.push_back(h.doc_id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  std::filesystem::path dir_;
  std::unique_ptr<KnowledgeBase> kb_;
};

using V = std::vector<std::string>;

TEST_F(FilterSearchTest, KeywordSearchHonoursFilters) {
  EXPECT_EQ(Ids(""), (V{"a", "b", "c"}));
  EXPECT_EQ(Ids(R"({"team":"ops"})"), (V{"a", "c"}));
  EXPECT_EQ(Ids(R"({"team":{"$in":["dev","qa"]}})"), (V{"b"}));
  EXPECT_EQ(Ids(R"({"year":{"$gte":2020,"$lt":2023}})"), (V{"a"}));
  EXPECT_EQ(Ids(R"({"$or":[{"team":"dev"},{"year":{"$lt":2020}}]})"), (V{"b", "c"}));
  EXPECT_EQ(Ids(R"({"public":true})"), (V{"a"}));
  EXPECT_EQ(Ids(R"({"doc_id":"b"})"), (V{"b"}));
  EXPECT_EQ(Ids(R"({"weird key.with dots":"x"})"), (V{"c"}));
  EXPECT_EQ(kb_->Search({.collection = "c", .query = "x", .filter_json = R"({"a\"b":1})"})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Ids(R"({"team":"nobody"})"), V{});
  auto bad = kb_->Search({.collection = "c", .query = "x", .filter_json = "{not json"});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deepkb::kb
