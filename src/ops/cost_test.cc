// The cost formulas against hand-computed cases (the arithmetic is in the comments), their input
// validation, and sanity checks of the model and GPU presets.
#include "ops/cost.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace deepkb::ops {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void ExpectInvalid(const Status& s, std::string_view mentions) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(mentions), std::string::npos) << s.message();
}

// Applies `mutate` to a copy of `good` and expects `fn` to reject the result, naming `flag`.
template <typename In, typename Fn, typename Mutate>
void ExpectRejected(const In& good, Fn fn, Mutate mutate, std::string_view flag) {
  In bad = good;
  mutate(bad);
  ExpectInvalid(fn(bad).status(), flag);
}

TEST(Depreciation, StraightLine) {
  // (10000 − 1000) / 3 = 3000 a year; book value 7000, 4000, 1000.
  auto d = StraightLineDepreciation(10000, 1000, 3);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_DOUBLE_EQ(d->annual, 3000);
  ASSERT_EQ(d->book_value.size(), 3u);
  EXPECT_DOUBLE_EQ(d->book_value[0], 7000);
  EXPECT_DOUBLE_EQ(d->book_value[1], 4000);
  EXPECT_DOUBLE_EQ(d->book_value[2], 1000);

  // A GPU server: (300000 − 0) / 5 = 60000 a year.
  EXPECT_DOUBLE_EQ(StraightLineDepreciation(300000, 0, 5)->annual, 60000);
  // Residual equal to the price: nothing to depreciate.
  EXPECT_DOUBLE_EQ(StraightLineDepreciation(500, 500, 2)->annual, 0);
}

TEST(Depreciation, RejectsBadInput) {
  ExpectInvalid(StraightLineDepreciation(1000, 1200, 3).status(), "--residual");
  ExpectInvalid(StraightLineDepreciation(-1, 0, 3).status(), "--price");
  ExpectInvalid(StraightLineDepreciation(1000, -1, 3).status(), "--residual");
  ExpectInvalid(StraightLineDepreciation(1000, 0, 0).status(), "--years");
  ExpectInvalid(StraightLineDepreciation(1000, 0, -2).status(), "--years");
  ExpectInvalid(StraightLineDepreciation(kNaN, 0, 3).status(), "--price");
  ExpectInvalid(StraightLineDepreciation(kInf, 0, 3).status(), "--price");
}

TEST(Roi, Formula) {
  // (50000 − 10000) / 200000 = 0.2; payback 200000 / 40000 = 5 years.
  auto r = ReturnOnInvestment(50000, 10000, 200000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->net_annual, 40000);
  EXPECT_DOUBLE_EQ(r->roi, 0.2);
  ASSERT_TRUE(r->payback_years.has_value());
  EXPECT_DOUBLE_EQ(*r->payback_years, 5);

  // Operating cost above the savings: (1000 − 3000) / 40000 = −0.05, never pays back.
  auto loss = ReturnOnInvestment(1000, 3000, 40000);
  ASSERT_TRUE(loss.ok());
  EXPECT_DOUBLE_EQ(loss->roi, -0.05);
  EXPECT_FALSE(loss->payback_years.has_value());
}

TEST(Roi, RejectsBadInput) {
  ExpectInvalid(ReturnOnInvestment(1000, 0, 0).status(), "--investment");
  ExpectInvalid(ReturnOnInvestment(1000, 0, -5).status(), "--investment");
  ExpectInvalid(ReturnOnInvestment(-1, 0, 100).status(), "--annual-savings");
  ExpectInvalid(ReturnOnInvestment(1, -1, 100).status(), "--annual-operating-cost");
  ExpectInvalid(ReturnOnInvestment(kNaN, 0, 100).status(), "--annual-savings");
}

TEST(Precision, ParseAndBytes) {
  EXPECT_EQ(*ParsePrecision("FP8"), Precision::kFp8);
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_EQ(*ParsePrecision("int4"), Precision::kInt4);
  EXPECT_DOUBLE_EQ(BytesPerValue(Precision::kBf16), 2);
  EXPECT_DOUBLE_EQ(BytesPerValue(Precision::kFp8), 1);
  EXPECT_DOUBLE_EQ(BytesPerValue(Precision::kInt8), 1);
  EXPECT_DOUBLE_EQ(BytesPerValue(Precision::kInt4), 0.5);
  ExpectInvalid(ParsePrecision("fp4").status(), "int4");  // lists the known names
}

TEST(KvCache, MlaAndGqaPerToken) {
  // DeepSeek-V3 MLA: (512 + 64) × 61 layers × 2 bytes = 70272 bytes a token.
  auto v3 = FindModelPreset("deepseek-v3");
  ASSERT_TRUE(v3.ok());
  EXPECT_DOUBLE_EQ(KvBytesPerToken(v3->attention, Precision::kBf16), 70272);
  EXPECT_DOUBLE_EQ(KvBytesPerToken(v3->attention, Precision::kFp8), 35136);
  // R1 shares V3's architecture.
  EXPECT_DOUBLE_EQ(KvBytesPerToken(FindModelPreset("deepseek-r1")->attention, Precision::kBf16),
                   70272);
  // Llama-3.3-70B GQA: 2 × 80 layers × 8 KV heads × 128 × 2 bytes = 327680.
  EXPECT_DOUBLE_EQ(
      KvBytesPerToken(FindModelPreset("r1-distill-llama-70b")->attention, Precision::kBf16),
      327680);
  // Qwen2.5-1.5B: 2 × 28 × 2 × 128 × 2 = 28672; Qwen2.5-7B: 2 × 28 × 4 × 128 × 2 = 57344.
  EXPECT_DOUBLE_EQ(
      KvBytesPerToken(FindModelPreset("r1-distill-qwen-1.5b")->attention, Precision::kBf16), 28672);
  EXPECT_DOUBLE_EQ(
      KvBytesPerToken(FindModelPreset("r1-distill-qwen-7b")->attention, Precision::kBf16), 57344);
}

TEST(Presets, KnownModelsAndGpus) {
  auto v3 = FindModelPreset("DeepSeek-V3");
  ASSERT_TRUE(v3.ok());
  EXPECT_DOUBLE_EQ(v3->params_b, 671);
  EXPECT_DOUBLE_EQ(v3->active_params_b, 37);
  EXPECT_EQ(v3->native, Precision::kFp8);
  EXPECT_EQ(v3->attention.kind, Attention::Kind::kMla);
  EXPECT_EQ(ModelPresets().size(), 8u);  // V3, R1 and six distills
  for (const auto& m : ModelPresets()) {
    EXPECT_GT(m.params_b, 0) << m.name;
    EXPECT_GT(m.attention.layers, 0) << m.name;
    EXPECT_GT(KvBytesPerToken(m.attention, Precision::kBf16), 0) << m.name;
  }
  EXPECT_DOUBLE_EQ(FindGpuType("H200")->memory_gb, 141);
  EXPECT_DOUBLE_EQ(FindGpuType("h100")->memory_gb, 80);
  EXPECT_DOUBLE_EQ(FindGpuType("h20")->memory_gb, 96);
  EXPECT_DOUBLE_EQ(FindGpuType("a100-40g")->memory_gb, 40);
  EXPECT_DOUBLE_EQ(FindGpuType("910b")->memory_gb, 64);
  ExpectInvalid(FindModelPreset("gpt-5").status(), "deepseek-v3");
  ExpectInvalid(FindGpuType("b300").status(), "h200");
}

TEST(GpuSizing, TensorParallelRounding) {
  EXPECT_EQ(TensorParallelSize(1), 1);
  EXPECT_EQ(TensorParallelSize(2), 2);
  EXPECT_EQ(TensorParallelSize(3), 4);
  EXPECT_EQ(TensorParallelSize(5), 8);
  EXPECT_EQ(TensorParallelSize(8), 8);
  EXPECT_EQ(TensorParallelSize(9), 16);
  EXPECT_EQ(TensorParallelSize(17), 24);
}

GpuSizingInput Preset(std::string_view model, Precision weights, std::string_view gpu) {
  GpuSizingInput in;
  auto m = FindModelPreset(model);
  in.params_b = m->params_b;
  in.attention = m->attention;
  in.weights = weights;
  in.gpu_memory_gb = FindGpuType(gpu)->memory_gb;
  return in;
}

TEST(GpuSizing, DeepSeekV3Fp8OnH200WorkedExample) {
  // weights 671e9 × 1 B = 671 GB; KV 70272 B × 32768 × 4 = 9.210691584 GB;
  // overhead 0.1 × 680.210691584 = 68.0210691584; total 748.2317607424 GB;
  // usable 141 × 0.9 = 126.9 GB → 748.23 / 126.9 = 5.90 → 6 GPUs → TP 8, one node.
  auto s = SizeGpus(Preset("deepseek-v3", Precision::kFp8, "h200"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NEAR(s->weights_gb, 671, 1e-9);
  EXPECT_NEAR(s->kv_cache_gb, 9.210691584, 1e-9);
  EXPECT_NEAR(s->overhead_gb, 68.0210691584, 1e-9);
  EXPECT_NEAR(s->total_gb, 748.2317607424, 1e-9);
  EXPECT_NEAR(s->usable_per_gpu_gb, 126.9, 1e-9);
  EXPECT_EQ(s->min_gpus, 6);
  EXPECT_EQ(s->gpus, 8);
  EXPECT_EQ(s->nodes, 1);
}

TEST(GpuSizing, DeepSeekV3Fp8NeverFitsEightH100) {
  // 8 × 80 GB = 640 GB < 671 GB of FP8 weights: even with a one-token context, no overhead and
  // every byte usable, more than one 8-GPU node is needed.
  auto in = Preset("deepseek-v3", Precision::kFp8, "h100");
  in.context_tokens = 1;
  in.concurrency = 1;
  in.overhead_fraction = 0;
  in.usable_fraction = 1.0;
  auto s = SizeGpus(in);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->min_gpus, 9);  // 671.00007 / 80 = 8.39
  EXPECT_EQ(s->gpus, 16);
  EXPECT_EQ(s->nodes, 2);
  // With the defaults it fits one node of 8 × H200 (1128 GB).
  auto h200 = SizeGpus(Preset("deepseek-v3", Precision::kFp8, "h200"));
  EXPECT_LE(h200->gpus, 8);
  EXPECT_LT(h200->total_gb, 8 * 141.0);
}

TEST(GpuSizing, PrecisionsOfDeepSeekR1) {
  // BF16: (1342 + 9.2107) × 1.1 = 1486.33 GB / 126.9 = 11.7 → 12 → 16 GPUs, two nodes.
  auto bf16 = SizeGpus(Preset("deepseek-r1", Precision::kBf16, "h200"));
  EXPECT_NEAR(bf16->total_gb, 1486.3317607424, 1e-9);
  EXPECT_EQ(bf16->min_gpus, 12);
  EXPECT_EQ(bf16->gpus, 16);
  EXPECT_EQ(bf16->nodes, 2);
  // INT4: (335.5 + 9.2107) × 1.1 = 379.18 GB / 126.9 = 2.99 → 3 → TP 4.
  auto int4 = SizeGpus(Preset("deepseek-r1", Precision::kInt4, "h200"));
  EXPECT_NEAR(int4->total_gb, 379.1817607424, 1e-9);
  EXPECT_EQ(int4->min_gpus, 3);
  EXPECT_EQ(int4->gpus, 4);
}

TEST(GpuSizing, DistillLlama70bGqa) {
  // weights 70.554e9 × 2 = 141.108 GB; KV 327680 × 32768 × 4 = 42.94967296 GB;
  // total (141.108 + 42.94967296) × 1.1 = 202.463440256 GB; per H100 72 → 2.8 → 3 → TP 4.
  auto s = SizeGpus(Preset("r1-distill-llama-70b", Precision::kBf16, "h100"));
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->weights_gb, 141.108, 1e-9);
  EXPECT_NEAR(s->kv_cache_gb, 42.94967296, 1e-9);
  EXPECT_NEAR(s->total_gb, 202.463440256, 1e-9);
  EXPECT_EQ(s->min_gpus, 3);
  EXPECT_EQ(s->gpus, 4);
  // FP8 KV cache halves the cache: 21.47483648 GB.
  auto in = Preset("r1-distill-llama-70b", Precision::kBf16, "h100");
  in.kv = Precision::kFp8;
  EXPECT_NEAR(SizeGpus(in)->kv_cache_gb, 21.47483648, 1e-9);
}

TEST(GpuSizing, SmallModelOnOneGpu) {
  // R1-Distill-Qwen-1.5B BF16: 1.777e9 × 2 = 3.554 GB; KV 28672 × 32768 × 4 = 3.758096384 GB;
  // total 7.312096384 × 1.1 = 8.0433060224 GB < 24 × 0.9 = 21.6 → one RTX 4090.
  auto s = SizeGpus(Preset("r1-distill-qwen-1.5b", Precision::kBf16, "rtx4090"));
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->total_gb, 8.0433060224, 1e-9);
  EXPECT_EQ(s->gpus, 1);
  EXPECT_EQ(s->nodes, 1);
}

TEST(GpuSizing, RejectsBadInput) {
  const auto good = Preset("r1-distill-qwen-7b", Precision::kBf16, "h100");
  auto size = [](const GpuSizingInput& in) { return SizeGpus(in); };
  ExpectRejected(
      good, size, [](auto& in) { in.context_tokens = 0; }, "--context");
  ExpectRejected(
      good, size, [](auto& in) { in.concurrency = -1; }, "--concurrency");
  ExpectRejected(
      good, size, [](auto& in) { in.usable_fraction = 1.5; }, "--memory-utilization");
  ExpectRejected(
      good, size, [](auto& in) { in.usable_fraction = 0; }, "--memory-utilization");
  ExpectRejected(
      good, size, [](auto& in) { in.overhead_fraction = -0.1; }, "--overhead");
  ExpectRejected(
      good, size, [](auto& in) { in.gpu_memory_gb = kNaN; }, "--gpu-memory-gb");
  ExpectRejected(
      good, size, [](auto& in) { in.params_b = 0; }, "--params-b");
  ExpectRejected(
      good, size, [](auto& in) { in.attention.layers = 0; }, "--layers");
}

TEST(Compare, DefaultsHandComputed) {
  // on-demand: 8 × 3.00 × 8760 × 1.0 = 210240 a year, 630720 over 3 years;
  // reserved:  8 × (3.00 × 0.6 = 1.80) × 8760 = 126144 a year, 378432 in all;
  // owned:     300000 / 3 = 100000 + 10 kW × 8760 × 0.12 = 10512 + 20000 + 30000 = 160512.
  auto c = CompareCosts(CompareInput{});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->options.size(), 3u);
  EXPECT_EQ(c->options[0].name, "on-demand");
  EXPECT_NEAR(c->options[0].per_year, 210240, 1e-6);
  EXPECT_NEAR(c->options[0].total, 630720, 1e-6);
  EXPECT_EQ(c->options[1].name, "reserved");
  EXPECT_NEAR(c->options[1].per_year, 126144, 1e-6);
  EXPECT_NEAR(c->options[1].total, 378432, 1e-6);
  EXPECT_EQ(c->options[2].name, "owned");
  EXPECT_NEAR(c->options[2].per_year, 160512, 1e-6);
  EXPECT_NEAR(c->options[2].total, 481536, 1e-6);
  EXPECT_EQ(c->cheapest, 1u);
  EXPECT_DOUBLE_EQ(c->storage_per_year, 0);
}

TEST(Compare, StorageUtilisationUpfrontAndOwnership) {
  CompareInput in;
  // Storage: 1000 × 0.10 × 12 = 1200, 2000 × 0.05 × 12 = 1200, 10000 × 0.004 × 12 = 480.
  in.hot = {1000, 0.10};
  in.warm = {2000, 0.05};
  in.cold = {10000, 0.004};
  in.utilization = 0.5;  // on-demand: 8 × 3 × 8760 × 0.5 = 105120
  in.reserved_hourly = 1.0;
  in.reserved_upfront = 30000;  // reserved: 8 × 1 × 8760 = 70080 + 30000 / 3 = 10000
  auto c = CompareCosts(in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NEAR(c->storage_per_year, 2880, 1e-9);
  EXPECT_NEAR(c->options[0].per_year, 105120 + 2880, 1e-6);
  EXPECT_NEAR(c->options[1].per_year, 70080 + 10000 + 2880, 1e-6);
  EXPECT_NEAR(c->options[2].per_year, 160512, 1e-6);  // storage is in the purchase price
  EXPECT_EQ(c->cheapest, 1u);

  // Owning for 5 years, bought at 200000 and sold for 50000: (200000 − 50000) / 5 = 30000;
  // + 10512 + 20000 + 30000 = 90512 a year, below reserved at 126144.
  CompareInput own;
  own.years = 5;
  own.purchase_price = 200000;
  own.residual = 50000;
  auto o = CompareCosts(own);
  ASSERT_TRUE(o.ok());
  EXPECT_NEAR(o->options[2].per_year, 90512, 1e-6);
  EXPECT_NEAR(o->options[2].total, 452560, 1e-6);
  EXPECT_EQ(o->cheapest, 2u);

  // A depreciation period longer than the horizon charges only its share: 300000 / 6 = 50000.
  CompareInput longer;
  longer.depreciation_years = 6;
  EXPECT_NEAR(CompareCosts(longer)->options[2].per_year, 50000 + 10512 + 50000, 1e-6);
}

TEST(Compare, RejectsBadInput) {
  const CompareInput good;
  auto compare = [](const CompareInput& in) { return CompareCosts(in); };
  ExpectRejected(
      good, compare, [](auto& in) { in.years = 0; }, "--years");
  ExpectRejected(
      good, compare, [](auto& in) { in.gpus = 0; }, "--gpus");
  ExpectRejected(
      good, compare, [](auto& in) { in.utilization = 1.2; }, "--utilization");
  ExpectRejected(
      good, compare, [](auto& in) { in.reserved_discount = 1.0; }, "--reserved-discount");
  ExpectRejected(
      good, compare, [](auto& in) { in.residual = in.purchase_price + 1; }, "--residual");
  ExpectRejected(
      good, compare, [](auto& in) { in.kwh_price = -0.1; }, "--kwh-price");
  ExpectRejected(
      good, compare, [](auto& in) { in.cold.gb = kNaN; }, "--cold-gb");
  ExpectRejected(
      good, compare, [](auto& in) { in.reserved_hourly = -1; }, "--reserved-hourly");
  ExpectRejected(
      good, compare, [](auto& in) { in.depreciation_years = -1; }, "--depreciation-years");
}

}  // namespace
}  // namespace deepkb::ops
