// End-to-end tests of the deepkb binary: real process, real data directory, JSON output parsed
// back, exit codes checked against CONTRACT.md.
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <vector>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/hash.h"
#include "shell_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using deepkb::testing::CmdResult;
using deepkb::testing::Quote;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cli_test_" + deepkb::RandomHex(6));
    fs::create_directories(root_ / "corpus");
    std::ofstream(root_ / "corpus" / "zh.txt") << "分布式数据库的一致性与复制。\n\n知识库检索依赖倒排索引。";
    std::ofstream(root_ / "corpus" / "en.md") << "# Runbook\n\n## Restore\n\nFollow PPR-9087 to restore the cluster.";
  }
  void TearDown() override { fs::remove_all(root_); }

  CmdResult Deepkb(const std::string& args) {
    const std::string cmd = std::string(DEEPKB_BIN) + " --data-dir " +
                            Quote((root_ / "data").string()) + " " + args + " 2>/dev/null";
    return deepkb::testing::RunShell(cmd);
  }

  json DeepkbJson(const std::string& args, int expect_code = 0) {
    CmdResult r = Deepkb(args);
    EXPECT_EQ(r.code, expect_code) << args << "\n" << r.out;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
    return j;
  }

  fs::path root_;
};

TEST_F(CliTest, TourCollectionsIngestSearchDocs) {
  json c = DeepkbJson("collections create kb --json");
  EXPECT_EQ(c["name"], "kb");
  EXPECT_EQ(c["chunk_tokens"], 512);

  json ing = DeepkbJson("ingest " + Quote((root_ / "corpus").string()) + " --collection kb --json");
  EXPECT_EQ(ing["added"], 2);
  EXPECT_EQ(ing["updated"], 0);
  EXPECT_EQ(ing["unchanged"], 0);
  EXPECT_EQ(ing["deleted"], 0);
  EXPECT_TRUE(ing["failed"].empty());
  EXPECT_GE(ing["chunks"].get<int>(), 2);
  EXPECT_TRUE(ing.contains("seconds"));

  json again = DeepkbJson("ingest " + Quote((root_ / "corpus").string()) + " -c kb --json");
  EXPECT_EQ(again["unchanged"], 2);

  json hits = DeepkbJson("search " + Quote("数据库的复制") + " --collection kb --mode hybrid --json");
  ASSERT_FALSE(hits["hits"].empty());
  EXPECT_EQ(hits["hits"][0]["doc_id"], "corpus/zh.txt");
  for (const char* key : {"doc_id", "chunk_id", "score", "keyword_rank", "vector_rank", "text",
                          "metadata"}) {
    EXPECT_TRUE(hits["hits"][0].contains(key)) << key;
  }
  json id_hits = DeepkbJson("search PPR-9087 -c kb --mode keyword --json");
  ASSERT_EQ(id_hits["hits"].size(), 1u);
  EXPECT_EQ(id_hits["hits"][0]["title"], "Runbook");

  json list = DeepkbJson("collections list --json");
  ASSERT_EQ(list["collections"].size(), 1u);
  EXPECT_EQ(list["collections"][0]["documents"], 2);

  json docs = DeepkbJson("docs list -c kb --json");
  ASSERT_EQ(docs["documents"].size(), 2u);
  json show = DeepkbJson("docs show -c kb corpus/en.md --json");
  EXPECT_EQ(show["title"], "Runbook");
  ASSERT_FALSE(show["chunk_list"].empty());

  json del = DeepkbJson("docs delete -c kb corpus/en.md --json");
  EXPECT_EQ(del["deleted"], true);
  EXPECT_TRUE(DeepkbJson("search PPR-9087 -c kb --mode keyword --json")["hits"].empty());
  // Hybrid (the default) reports which paths found each hit.
  json hy = DeepkbJson("search " + Quote("数据库复制") + " -c kb --mode hybrid --json");
  EXPECT_EQ(hy["mode"], "hybrid");
  ASSERT_FALSE(hy["hits"].empty());
  EXPECT_TRUE(hy["hits"][0].contains("vector_rank"));

  // Mirror: remove a file, re-ingest with --mirror.
  fs::remove(root_ / "corpus" / "zh.txt");
  json mir = DeepkbJson("ingest " + Quote((root_ / "corpus").string()) + " -c kb --mirror --json");
  EXPECT_EQ(mir["deleted"], 1);
  EXPECT_EQ(mir["added"], 1);  // en.md was deleted by hand, so it comes back
}

TEST_F(CliTest, ExitCodesFollowTheContract) {
  EXPECT_EQ(Deepkb("no-such-command").code, 2);
  EXPECT_EQ(Deepkb("search x").code, 2);  // missing --collection
  EXPECT_EQ(Deepkb("search x --collection nope").code, 3);
  EXPECT_EQ(Deepkb("collections create 'bad name'").code, 2);
  ASSERT_EQ(Deepkb("collections create kb").code, 0);
  EXPECT_EQ(Deepkb("collections create kb").code, 1);  // already exists: runtime failure
  EXPECT_EQ(Deepkb("docs show -c kb missing").code, 3);
  EXPECT_EQ(Deepkb("ingest /no/such/path -c kb").code, 3);
  EXPECT_EQ(Deepkb("--version").code, 0);
  EXPECT_EQ(Deepkb("--help").code, 0);
}

// Ingest refuses to write when the data directory's disk is above the threshold, like the
// server's 507 (a tiny threshold makes any real disk "full"); nothing is written.
TEST_F(CliTest, IngestRefusesAboveTheDiskThreshold) {
  ASSERT_EQ(Deepkb("collections create c").code, 0);
  const CmdResult full = deepkb::testing::RunShell(
      std::string(DEEPKB_BIN) + " --data-dir " + Quote((root_ / "data").string()) + " ingest " +
      Quote((root_ / "corpus").string()) + " --collection c --disk-refuse-writes-at 0.000001 2>&1");
  EXPECT_EQ(full.code, 1) << full.out;
  EXPECT_NE(full.out.find("--disk-refuse-writes-at"), std::string::npos) << full.out;
  json docs = DeepkbJson("docs list --collection c --json");
  EXPECT_TRUE(docs["documents"].empty()) << docs.dump();
  EXPECT_EQ(Deepkb("ingest " + Quote((root_ / "corpus").string()) + " --collection c").code, 0);
  EXPECT_EQ(Deepkb("ingest x --collection c --disk-refuse-writes-at 1.5").code, 2);
}

TEST_F(CliTest, HostileQueriesGiveResultsNotErrors) {
  ASSERT_EQ(Deepkb("collections create kb").code, 0);
  ASSERT_EQ(Deepkb("ingest " + Quote((root_ / "corpus").string()) + " -c kb").code, 0);
  for (const char* q : {"\"", "NEAR(", "*", "AND", "OR", "(", ")", "...", "。！？", "-"}) {
    json j = DeepkbJson("search " + Quote(q) + " -c kb --json");
    EXPECT_TRUE(j["hits"].is_array()) << q;
  }
}

TEST_F(CliTest, PartialIngestFailureReportsAndExitsNonZero) {
  ASSERT_EQ(Deepkb("collections create kb").code, 0);
  std::ofstream(root_ / "corpus" / "empty.txt") << "";
  json j = DeepkbJson("ingest " + Quote((root_ / "corpus").string()) + " -c kb --json", 1);
  EXPECT_EQ(j["added"], 2);
  ASSERT_EQ(j["failed"].size(), 1u);
  EXPECT_NE(j["failed"][0]["path"].get<std::string>().find("empty.txt"), std::string::npos);
}

void WriteFvecs(const fs::path& p, const std::vector<std::vector<float>>& rows) {
  std::ofstream out(p, std::ios::binary);
  for (const auto& r : rows) {
    const int32_t d = static_cast<int32_t>(r.size());
    out.write(reinterpret_cast<const char*>(&d), sizeof d);
    out.write(reinterpret_cast<const char*>(r.data()), static_cast<std::streamsize>(r.size() * sizeof(float)));
  }
}

TEST_F(CliTest, BenchVectorReportsContractJson) {
  std::vector<std::vector<float>> base, query;
  uint32_t x = 12345;
  auto rnd = [&x] {
    x = x * 1664525u + 1013904223u;
    return static_cast<float>(x >> 8) / static_cast<float>(1u << 24);
  };
  for (int i = 0; i < 500; ++i) base.push_back({rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd()});
  for (int i = 0; i < 20; ++i) query.push_back({rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd()});
  WriteFvecs(root_ / "base.fvecs", base);
  WriteFvecs(root_ / "query.fvecs", query);
  json j = DeepkbJson("bench vector --base " + Quote((root_ / "base.fvecs").string()) +
                      " --query " + Quote((root_ / "query.fvecs").string()) +
                      " --k 5 --ef 16,200 --json");
  EXPECT_EQ(j["n"], 500);
  EXPECT_EQ(j["dim"], 8);
  EXPECT_GT(j["bytes_per_vector"].get<double>(), 32.0);
  EXPECT_GE(j["build_seconds"].get<double>(), 0.0);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][1]["ef"], 200);
  EXPECT_GE(j["results"][1]["recall"].get<double>(), 0.99);  // ef 200 on 500 points: exact
  EXPECT_GT(j["results"][1]["qps"].get<double>(), 0.0);
  // Missing and malformed inputs are clear errors with contract exit codes.
  EXPECT_EQ(Deepkb("bench vector --base /no/such.fvecs --query /no/such.fvecs").code, 3);
  std::ofstream(root_ / "bad.fvecs") << "xx";
  EXPECT_EQ(Deepkb("bench vector --base " + Quote((root_ / "bad.fvecs").string()) + " --query " +
                   Quote((root_ / "query.fvecs").string())).code, 2);
}

}  // namespace
