#include "ops/cost.h"

#include <strings.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace deepkb::ops {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// InvalidArgument "<flag> must be <rule>, got <v>" unless ok.
Status Need(bool ok, std::string_view flag, double v, std::string_view rule) {
  if (ok) return Status::Ok();
  return InvalidArgumentError(std::string(flag) + " must be " + std::string(rule) + ", got " +
                              Num(v));
}
Status NonNegative(std::string_view flag, double v) {
  return Need(std::isfinite(v) && v >= 0, flag, v, "a number >= 0");
}
Status Positive(std::string_view flag, double v) {
  return Need(std::isfinite(v) && v > 0, flag, v, "a number > 0");
}
Status WholeYears(std::string_view flag, int years) {
  return Need(years >= 1 && years <= 100, flag, years, "a whole number of years from 1 to 100");
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

template <typename T>
std::string KnownNames(std::span<const T> items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i.name;
  }
  return out;
}

template <typename T>
Result<T> FindByName(std::span<const T> items, std::string_view name, std::string_view what) {
  for (const auto& i : items) {
    if (SameName(i.name, name)) return i;
  }
  return InvalidArgumentError("unknown " + std::string(what) + " '" + std::string(name) +
                              "'; known: " + KnownNames(items));
}

constexpr Attention Mla(int layers, int kv_lora_rank, int rope_head_dim) {
  Attention a;
  a.kind = Attention::Kind::kMla;
  a.layers = layers;
  a.kv_lora_rank = kv_lora_rank;
  a.rope_head_dim = rope_head_dim;
  return a;
}
constexpr Attention Gqa(int layers, int kv_heads, int head_dim) {
  Attention a;
  a.layers = layers;
  a.kv_heads = kv_heads;
  a.head_dim = head_dim;
  return a;
}

// Geometry from each model's published config.json (sources in docs/cost.md). Parameter counts
// of the distills are computed from the same configs (embeddings and lm_head untied).
constexpr std::array kModels{
    ModelPreset{"deepseek-v3", "DeepSeek-V3: MoE, MLA attention, FP8 weights", 671, 37,
                Precision::kFp8, Mla(61, 512, 64)},
    ModelPreset{"deepseek-r1", "DeepSeek-R1: the V3 architecture, FP8 weights", 671, 37,
                Precision::kFp8, Mla(61, 512, 64)},
    ModelPreset{"r1-distill-qwen-1.5b", "DeepSeek-R1-Distill-Qwen-1.5B (Qwen2.5-Math-1.5B)", 1.777,
                1.777, Precision::kBf16, Gqa(28, 2, 128)},
    ModelPreset{"r1-distill-qwen-7b", "DeepSeek-R1-Distill-Qwen-7B (Qwen2.5-Math-7B)", 7.616, 7.616,
                Precision::kBf16, Gqa(28, 4, 128)},
    ModelPreset{"r1-distill-qwen-14b", "DeepSeek-R1-Distill-Qwen-14B (Qwen2.5-14B)", 14.770, 14.770,
                Precision::kBf16, Gqa(48, 8, 128)},
    ModelPreset{"r1-distill-qwen-32b", "DeepSeek-R1-Distill-Qwen-32B (Qwen2.5-32B)", 32.764, 32.764,
                Precision::kBf16, Gqa(64, 8, 128)},
    ModelPreset{"r1-distill-llama-8b", "DeepSeek-R1-Distill-Llama-8B (Llama-3.1-8B)", 8.030, 8.030,
                Precision::kBf16, Gqa(32, 8, 128)},
    ModelPreset{"r1-distill-llama-70b", "DeepSeek-R1-Distill-Llama-70B (Llama-3.3-70B-Instruct)",
                70.554, 70.554, Precision::kBf16, Gqa(80, 8, 128)},
};

// Nominal memory per vendor data sheets, in GB.
constexpr std::array kGpus{
    GpuType{"h200", "NVIDIA H200, 141 GB HBM3e", 141},
    GpuType{"h100", "NVIDIA H100 SXM/PCIe, 80 GB HBM", 80},
    GpuType{"h20", "NVIDIA H20, 96 GB HBM3", 96},
    GpuType{"a100-80g", "NVIDIA A100 80GB", 80},
    GpuType{"a100-40g", "NVIDIA A100 40GB", 40},
    GpuType{"l40s", "NVIDIA L40S, 48 GB GDDR6", 48},
    GpuType{"rtx4090", "NVIDIA GeForce RTX 4090, 24 GB GDDR6X", 24},
    GpuType{"910b", "Huawei Ascend 910B, 64 GB HBM2e", 64},
};

// Straight-line depreciation with the flag names of the calling command in its errors.
Result<Depreciation> Depreciate(double price, double residual, int years,
                                std::string_view price_flag, std::string_view years_flag) {
  RETURN_IF_ERROR(NonNegative(price_flag, price));
  RETURN_IF_ERROR(NonNegative("--residual", residual));
  RETURN_IF_ERROR(WholeYears(years_flag, years));
  if (residual > price) {
    return InvalidArgumentError("--residual (" + Num(residual) + ") exceeds " +
                                std::string(price_flag) + " (" + Num(price) +
                                "): the residual is what the hardware is still worth at the end, "
                                "so it cannot be more than it cost");
  }
  Depreciation d;
  d.annual = (price - residual) / years;
  for (int y = 1; y <= years; ++y) d.book_value.push_back(price - d.annual * y);
  d.book_value.back() = residual;  // exact, whatever the rounding of the steps
  return d;
}

}  // namespace

Result<Depreciation> StraightLineDepreciation(double price, double residual, int years) {
  return Depreciate(price, residual, years, "--price", "--years");
}

Result<Roi> ReturnOnInvestment(double annual_savings, double annual_operating_cost,
                               double investment) {
  RETURN_IF_ERROR(NonNegative("--annual-savings", annual_savings));
  RETURN_IF_ERROR(NonNegative("--annual-operating-cost", annual_operating_cost));
  RETURN_IF_ERROR(Positive("--investment", investment));
  Roi r;
  r.net_annual = annual_savings - annual_operating_cost;
  r.roi = r.net_annual / investment;
  if (r.net_annual > 0) r.payback_years = investment / r.net_annual;
  return r;
}

Result<Precision> ParsePrecision(std::string_view name) {
  if (SameName(name, "bf16") || SameName(name, "fp16")) return Precision::kBf16;
  if (SameName(name, "fp8")) return Precision::kFp8;
  if (SameName(name, "int8")) return Precision::kInt8;
  if (SameName(name, "int4")) return Precision::kInt4;
  return InvalidArgumentError("unknown precision '" + std::string(name) +
                              "'; known: bf16 (2 bytes), fp8 (1), int8 (1), int4 (0.5)");
}

std::string_view PrecisionName(Precision p) {
  switch (p) {
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp8:
      return "fp8";
    case Precision::kInt8:
      return "int8";
    case Precision::kInt4:
      return "int4";
  }
  return "?";
}

double BytesPerValue(Precision p) {
  switch (p) {
    case Precision::kBf16:
      return 2;
    case Precision::kFp8:
    case Precision::kInt8:
      return 1;
    case Precision::kInt4:
      return 0.5;
  }
  return 2;
}

double KvBytesPerToken(const Attention& a, Precision kv) {
  const double per_layer = a.kind == Attention::Kind::kMla
                               ? double(a.kv_lora_rank) + a.rope_head_dim
                               : 2.0 * a.kv_heads * a.head_dim;
  return per_layer * a.layers * BytesPerValue(kv);
}

std::span<const ModelPreset> ModelPresets() {
  return kModels;
}
Result<ModelPreset> FindModelPreset(std::string_view name) {
  return FindByName(ModelPresets(), name, "model preset");
}
std::span<const GpuType> GpuTypes() {
  return kGpus;
}
Result<GpuType> FindGpuType(std::string_view name) {
  return FindByName(GpuTypes(), name, "GPU type");
}

int64_t TensorParallelSize(int64_t n) {
  if (n <= 1) return 1;
  if (n <= 2) return 2;
  if (n <= 4) return 4;
  return (n + 7) / 8 * 8;
}

Result<GpuSizing> SizeGpus(const GpuSizingInput& in) {
  RETURN_IF_ERROR(Positive("--params-b", in.params_b));
  const Attention& a = in.attention;
  RETURN_IF_ERROR(Need(a.layers > 0, "--layers", a.layers, "> 0"));
  if (a.kind == Attention::Kind::kGqa) {
    RETURN_IF_ERROR(Need(a.kv_heads > 0, "--kv-heads", a.kv_heads, "> 0"));
    RETURN_IF_ERROR(Need(a.head_dim > 0, "--head-dim", a.head_dim, "> 0"));
  } else {
    RETURN_IF_ERROR(Need(a.kv_lora_rank + a.rope_head_dim > 0, "kv_lora_rank + rope_head_dim",
                         a.kv_lora_rank + a.rope_head_dim, "> 0"));
  }
  RETURN_IF_ERROR(Need(in.context_tokens > 0, "--context", double(in.context_tokens),
                       "a number of tokens > 0"));
  RETURN_IF_ERROR(Need(in.concurrency > 0, "--concurrency", double(in.concurrency),
                       "a number of sequences > 0"));
  RETURN_IF_ERROR(Need(in.overhead_fraction >= 0 && in.overhead_fraction <= 10, "--overhead",
                       in.overhead_fraction, "a fraction from 0 to 10 (0.1 = 10%)"));
  RETURN_IF_ERROR(Need(in.usable_fraction > 0 && in.usable_fraction <= 1, "--memory-utilization",
                       in.usable_fraction, "a fraction in (0, 1]"));
  RETURN_IF_ERROR(Positive("--gpu-memory-gb", in.gpu_memory_gb));

  GpuSizing s;
  s.kv_bytes_per_token = KvBytesPerToken(a, in.kv);
  s.weights_gb = in.params_b * BytesPerValue(in.weights);  // 1e9 params × bytes / 1e9
  s.kv_cache_gb = s.kv_bytes_per_token * double(in.context_tokens) * double(in.concurrency) / 1e9;
  s.overhead_gb = in.overhead_fraction * (s.weights_gb + s.kv_cache_gb);
  s.total_gb = s.weights_gb + s.kv_cache_gb + s.overhead_gb;
  s.usable_per_gpu_gb = in.gpu_memory_gb * in.usable_fraction;
  const double gpus = std::ceil(s.total_gb / s.usable_per_gpu_gb);
  if (!(gpus < 1e9)) {
    return InvalidArgumentError("the model needs " + Num(s.total_gb) +
                                " GB, an absurd number of GPUs; check --context and --concurrency");
  }
  s.min_gpus = std::max<int64_t>(1, int64_t(gpus));
  s.gpus = TensorParallelSize(s.min_gpus);
  s.nodes = (s.gpus + 7) / 8;
  return s;
}

Result<Comparison> CompareCosts(const CompareInput& in) {
  RETURN_IF_ERROR(WholeYears("--years", in.years));
  RETURN_IF_ERROR(Need(in.gpus > 0, "--gpus", double(in.gpus), "> 0"));
  RETURN_IF_ERROR(NonNegative("--on-demand-hourly", in.on_demand_hourly));
  RETURN_IF_ERROR(Need(in.utilization >= 0 && in.utilization <= 1, "--utilization", in.utilization,
                       "a fraction from 0 to 1"));
  RETURN_IF_ERROR(Need(in.reserved_discount >= 0 && in.reserved_discount < 1, "--reserved-discount",
                       in.reserved_discount, "a fraction in [0, 1)"));
  if (in.reserved_hourly) RETURN_IF_ERROR(NonNegative("--reserved-hourly", *in.reserved_hourly));
  RETURN_IF_ERROR(NonNegative("--reserved-upfront", in.reserved_upfront));
  RETURN_IF_ERROR(NonNegative("--power-kw", in.power_kw));
  RETURN_IF_ERROR(NonNegative("--kwh-price", in.kwh_price));
  RETURN_IF_ERROR(NonNegative("--hosting-per-year", in.hosting_per_year));
  RETURN_IF_ERROR(NonNegative("--operations-per-year", in.operations_per_year));
  const std::pair<const StorageTier*, std::string_view> tiers[] = {
      {&in.hot, "hot"}, {&in.warm, "warm"}, {&in.cold, "cold"}};
  Comparison c;
  c.years = in.years;
  for (const auto& [tier, name] : tiers) {
    RETURN_IF_ERROR(NonNegative("--" + std::string(name) + "-gb", tier->gb));
    RETURN_IF_ERROR(NonNegative("--" + std::string(name) + "-price", tier->price_per_gb_month));
    c.storage_per_year += tier->gb * tier->price_per_gb_month * 12;
  }
  ASSIGN_OR_RETURN(Depreciation dep,
                   Depreciate(in.purchase_price, in.residual,
                              in.depreciation_years ? in.depreciation_years : in.years,
                              "--purchase-price", "--depreciation-years"));

  const double gpu_hours = double(in.gpus) * kHoursPerYear;
  const double reserved_hourly =
      in.reserved_hourly ? *in.reserved_hourly : in.on_demand_hourly * (1 - in.reserved_discount);
  c.options = {
      {"on-demand",
       {{"GPU hours", gpu_hours * in.on_demand_hourly * in.utilization},
        {"storage", c.storage_per_year}}},
      {"reserved",
       {{"GPU hours", gpu_hours * reserved_hourly},
        {"upfront", in.reserved_upfront / in.years},
        {"storage", c.storage_per_year}}},
      {"owned",
       {{"depreciation", dep.annual},
        {"power", in.power_kw * kHoursPerYear * in.kwh_price},
        {"hosting", in.hosting_per_year},
        {"operations", in.operations_per_year}}},
  };
  for (size_t i = 0; i < c.options.size(); ++i) {
    OptionCost& o = c.options[i];
    for (const CostLine& l : o.lines) o.per_year += l.per_year;
    o.total = o.per_year * in.years;
    if (o.total < c.options[c.cheapest].total) c.cheapest = i;
  }
  return c;
}

}  // namespace deepkb::ops
