// End-to-end tests of `deepkb cost`: the real binary's tables, --json documents and exit codes
// (2 for bad input, CONTRACT.md). The formulas themselves are tested in src/ops/cost_test.cc.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "shell_util.h"

namespace {

using deepkb::testing::CmdResult;
using nlohmann::json;

// Runs `deepkb cost ARGS`; stderr is kept (after stdout) only when asked.
CmdResult Cost(const std::string& args, bool with_stderr = false) {
  const std::string cmd =
      std::string(DEEPKB_BIN) + " cost " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  return deepkb::testing::RunShell(cmd);
}

json CostJson(const std::string& args) {
  CmdResult r = Cost(args + " --json");
  EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  return j;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(CostCli, DepreciationTableAndJson) {
  CmdResult r = Cost("depreciation --price 10000 --residual 1000 --years 3");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "= 3,000.00")) << r.out;  // (10000 − 1000) / 3
  EXPECT_TRUE(Contains(r.out, "book value")) << r.out;
  EXPECT_TRUE(Contains(r.out, "4,000.00")) << r.out;  // book value after year 2

  json j = CostJson("depreciation --price 10000 --residual 1000 --years 3");
  EXPECT_DOUBLE_EQ(j["annual_depreciation"].get<double>(), 3000);
  ASSERT_EQ(j["schedule"].size(), 3u);
  EXPECT_EQ(j["schedule"][2]["year"], 3);
  EXPECT_DOUBLE_EQ(j["schedule"][2]["book_value"].get<double>(), 1000);
}

TEST(CostCli, RoiJson) {
  json j = CostJson("roi --investment 200000 --annual-savings 50000 --annual-operating-cost 10000");
  EXPECT_DOUBLE_EQ(j["roi"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(j["roi_percent"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(j["payback_years"].get<double>(), 5);
  json never = CostJson("roi --investment 1000 --annual-savings 10 --annual-operating-cost 20");
  EXPECT_TRUE(never["payback_years"].is_null());
}

TEST(CostCli, GpusDeepSeekV3) {
  // FP8 on H200: 748.23 GB → 6 GPUs → TP 8 (cost_test has the arithmetic).
  CmdResult r = Cost("gpus --model deepseek-v3 --gpu h200");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "671.00")) << r.out;
  EXPECT_TRUE(Contains(r.out, "748.23")) << r.out;
  EXPECT_TRUE(Contains(r.out, "fits one node")) << r.out;

  json h100 = CostJson("gpus --model deepseek-v3 --gpu h100");
  EXPECT_EQ(h100["precision"], "fp8");
  EXPECT_EQ(h100["attention"], "mla");
  EXPECT_DOUBLE_EQ(h100["kv_bytes_per_token"].get<double>(), 70272);
  EXPECT_EQ(h100["gpus"], 16);
  EXPECT_EQ(h100["nodes"], 2);
  EXPECT_EQ(h100["multi_node"], true);
  for (const char* key : {"weights_gb", "kv_cache_gb", "overhead_gb", "total_gb", "min_gpus",
                          "usable_per_gpu_gb", "gpu_memory_gb", "context", "concurrency"}) {
    EXPECT_TRUE(h100.contains(key)) << key;
  }
  CmdResult multi = Cost("gpus --model deepseek-v3 --gpu h100");
  EXPECT_TRUE(Contains(multi.out, "exceeds one 8-GPU node")) << multi.out;

  // Custom GQA model on a custom GPU: 7 × 2 = 14 GB weights, no KV worth mentioning.
  json custom = CostJson(
      "gpus --params-b 7 --layers 32 --kv-heads 8 --head-dim 128 --context 1 --concurrency 1 "
      "--gpu-memory-gb 24");
  EXPECT_EQ(custom["model"], "custom");
  EXPECT_DOUBLE_EQ(custom["weights_gb"].get<double>(), 14);
  EXPECT_EQ(custom["gpus"], 1);

  json list = CostJson("gpus --list");
  EXPECT_EQ(list["models"].size(), 8u);
  EXPECT_GE(list["gpus"].size(), 8u);
}

TEST(CostCli, CompareTableAndJson) {
  CmdResult r = Cost("compare");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "on-demand")) << r.out;
  EXPECT_TRUE(Contains(r.out, "cheapest: reserved")) << r.out;
  EXPECT_TRUE(Contains(r.out, "630,720.00")) << r.out;  // 8 × 3 × 8760 × 3 years

  json j = CostJson("compare --years 5 --purchase-price 200000 --residual 50000 --hot-gb 1000");
  EXPECT_EQ(j["years"], 5);
  EXPECT_DOUBLE_EQ(j["storage_per_year"].get<double>(), 1200);  // 1000 × 0.10 × 12
  ASSERT_EQ(j["options"].size(), 3u);
  EXPECT_EQ(j["options"][2]["name"], "owned");
  EXPECT_DOUBLE_EQ(j["options"][2]["per_year"].get<double>(), 90512);
  EXPECT_EQ(j["cheapest"], "owned");
  EXPECT_TRUE(j["options"][0]["lines"].is_array());
}

TEST(CostCli, BadInputExitsTwo) {
  CmdResult r = Cost("depreciation --price 1000 --residual 2000 --years 3", true);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(Contains(r.out, "--residual")) << r.out;
  EXPECT_EQ(Cost("depreciation --price=-5 --years 3").code, 2);
  EXPECT_EQ(Cost("depreciation --price 1000 --years 0").code, 2);
  EXPECT_EQ(Cost("depreciation --price nan --years 3").code, 2);
  EXPECT_EQ(Cost("roi --investment 0 --annual-savings 5").code, 2);
  EXPECT_EQ(Cost("roi --investment abc --annual-savings 5").code, 2);  // CLI11 conversion
  CmdResult gpu = Cost("gpus --model deepseek-v3 --gpu b300", true);
  EXPECT_EQ(gpu.code, 2);
  EXPECT_TRUE(Contains(gpu.out, "h200")) << gpu.out;  // lists the known types
  EXPECT_EQ(Cost("gpus --model gpt-5").code, 2);
  EXPECT_EQ(Cost("gpus --model deepseek-v3 --precision fp4").code, 2);
  EXPECT_EQ(Cost("gpus --model deepseek-v3 --memory-utilization 1.5").code, 2);
  EXPECT_EQ(Cost("gpus").code, 2);  // neither a preset nor a custom model
  EXPECT_EQ(Cost("compare --utilization 2").code, 2);
  EXPECT_EQ(Cost("compare --years 0").code, 2);
  EXPECT_EQ(Cost("").code, 2);  // a subcommand is required
}

}  // namespace
