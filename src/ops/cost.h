// Cost and capacity formulas behind `deepkb cost` (docs/cost.md has each with a worked example).
//
//  - StraightLineDepreciation: annual = (price − residual) / years; the book value falls by that
//    amount each year, from price to residual.
//  - ReturnOnInvestment: ROI = (annual savings − annual operating cost) / investment; the payback
//    period is investment / (savings − operating cost) when that net is positive.
//  - SizeGpus: memory to serve a model, in GB (10^9 bytes, as GPU vendors count):
//      weights  = parameters × bytes per parameter of the weight precision
//      KV cache = KV bytes per token × context tokens × concurrent sequences, where per token
//                 MLA (DeepSeek-V3/R1):   (kv_lora_rank + rope_head_dim) × layers × kv bytes
//                 GQA (R1-Distill bases): 2 (K and V) × layers × kv_heads × head_dim × kv bytes
//      overhead = overhead fraction × (weights + KV cache)   (activations, CUDA graphs,
//                 fragmentation)
//      total    = weights + KV cache + overhead
//    GPUs = ceil(total / (GPU memory × usable fraction)), then rounded up to a tensor-parallel
//    size: 1, 2, 4, 8, then whole 8-GPU nodes (16, 24, ...).
//  - CompareCosts: on-demand vs reserved vs owned GPUs over N years (8760 hours a year):
//      on-demand = gpus × hourly × 8760 × utilisation + storage
//      reserved  = gpus × reserved hourly × 8760 + upfront / years + storage, where reserved
//                  hourly is the given price or on-demand hourly × (1 − discount)
//      owned     = depreciation (formula above) + power kW × 8760 × price per kWh + hosting
//                  + operations (storage disks belong in the purchase price)
//      storage   = Σ over hot/warm/cold tiers of GB × price per GB-month × 12
//    each per year; the total is per year × years.
//
// Errors: InvalidArgument, naming the `deepkb cost` flag and the value, for NaN or infinite
// numbers, negative amounts, a residual above the price, years < 1, a zero investment, fractions
// outside their range, a non-positive context/concurrency/memory, and unknown model presets,
// precisions or GPU types (the message lists the known names).
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace deepkb::ops {

inline constexpr double kHoursPerYear = 8760;  // 365 × 24

// ---- depreciation and ROI ----

struct Depreciation {
  double annual = 0;
  std::vector<double> book_value;  // at the end of year 1..years; the last equals the residual
};
Result<Depreciation> StraightLineDepreciation(double price, double residual, int years);

struct Roi {
  double net_annual = 0;                // savings − operating cost
  double roi = 0;                       // net_annual / investment (0.25 = 25% a year)
  std::optional<double> payback_years;  // investment / net_annual; none when net_annual <= 0
};
Result<Roi> ReturnOnInvestment(double annual_savings, double annual_operating_cost,
                               double investment);

// ---- GPU sizing ----

enum class Precision { kBf16, kFp8, kInt8, kInt4 };
// "bf16", "fp8", "int8", "int4" (case-insensitive; "fp16" is accepted as 2 bytes too).
Result<Precision> ParsePrecision(std::string_view name);
std::string_view PrecisionName(Precision p);
double BytesPerValue(Precision p);  // 2, 1, 1, 0.5

struct Attention {
  enum class Kind { kGqa, kMla };
  Kind kind = Kind::kGqa;
  int layers = 0;
  int kv_heads = 0;       // GQA
  int head_dim = 0;       // GQA
  int kv_lora_rank = 0;   // MLA: compressed latent per token per layer
  int rope_head_dim = 0;  // MLA: decoupled RoPE key per token per layer
};
// Bytes of KV cache one token occupies (the formulas at the top).
double KvBytesPerToken(const Attention& a, Precision kv);

struct ModelPreset {
  std::string_view name;  // "deepseek-v3", "r1-distill-qwen-7b", ...
  std::string_view description;
  double params_b = 0;         // total parameters, billions
  double active_params_b = 0;  // activated per token (MoE); equals params_b for dense models
  Precision native = Precision::kBf16;  // precision of the published weights
  Attention attention;
};
std::span<const ModelPreset> ModelPresets();
Result<ModelPreset> FindModelPreset(std::string_view name);  // case-insensitive

struct GpuType {
  std::string_view
      name;  // "h200", "h100", "h20", "a100-80g", "a100-40g", "l40s", "rtx4090", "910b"
  std::string_view description;
  double memory_gb = 0;
};
std::span<const GpuType> GpuTypes();
Result<GpuType> FindGpuType(std::string_view name);  // case-insensitive

struct GpuSizingInput {
  double params_b = 0;
  Attention attention;
  Precision weights = Precision::kBf16;
  Precision kv = Precision::kBf16;
  int64_t context_tokens = 32768;   // per sequence
  int64_t concurrency = 4;          // sequences held in the cache at once
  double overhead_fraction = 0.10;  // in [0, 10]
  double usable_fraction = 0.90;    // of each GPU's memory, in (0, 1] (vLLM gpu_memory_utilization)
  double gpu_memory_gb = 0;         // > 0
};

struct GpuSizing {
  double kv_bytes_per_token = 0;
  double weights_gb = 0, kv_cache_gb = 0, overhead_gb = 0, total_gb = 0;
  double usable_per_gpu_gb = 0;
  int64_t min_gpus = 0;  // ceil(total / usable per GPU)
  int64_t gpus = 0;      // min_gpus rounded up to a tensor-parallel size
  int64_t nodes = 0;     // 8-GPU nodes needed for `gpus`
};
Result<GpuSizing> SizeGpus(const GpuSizingInput& in);

// 1, 2, 4, 8, then the next multiple of 8. n must be >= 1.
int64_t TensorParallelSize(int64_t n);

// ---- on-demand vs reserved vs owned ----

struct StorageTier {
  double gb = 0;
  double price_per_gb_month = 0;
};

struct CompareInput {
  int years = 3;
  int64_t gpus = 8;
  double on_demand_hourly = 3.00;         // per GPU-hour
  double utilization = 1.0;               // share of the hours on-demand GPUs run, in [0, 1]
  double reserved_discount = 0.40;        // off the on-demand price, in [0, 1)
  std::optional<double> reserved_hourly;  // per GPU-hour; replaces the discount when set
  double reserved_upfront = 0;            // paid once for the whole term
  double purchase_price = 300000;         // servers, GPUs, disks, network
  double residual = 0;                    // worth at the end of the depreciation period
  int depreciation_years = 0;             // 0: the same as years
  double power_kw = 10.0;                 // average draw including cooling
  double kwh_price = 0.12;
  double hosting_per_year = 20000;     // rack space, colocation
  double operations_per_year = 30000;  // staff time, support contracts
  StorageTier hot{0, 0.10}, warm{0, 0.05}, cold{0, 0.004};
};

struct CostLine {
  std::string item;
  double per_year = 0;
};

struct OptionCost {
  std::string name;  // "on-demand", "reserved", "owned"
  std::vector<CostLine> lines;
  double per_year = 0;
  double total = 0;  // per_year × years
};

struct Comparison {
  int years = 0;
  double storage_per_year = 0;
  std::vector<OptionCost> options;  // on-demand, reserved, owned
  size_t cheapest = 0;              // index into options (the first on a tie)
};
Result<Comparison> CompareCosts(const CompareInput& in);

}  // namespace deepkb::ops
