// `deepkb cost depreciation|roi|gpus|compare`: the formulas of ops/cost.h (docs/cost.md) as
// commands. Tables for people, `--json` for scripts; bad numbers exit 2. Needs no data directory.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/app.h"
#include "ops/cost.h"

namespace deepkb::cli {
namespace {

using nlohmann::json;

// 1234567.891 → "1,234,567.89" (digits grouped for reading; --json keeps full precision).
std::string Money(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v < 0 ? -v : v);
  std::string s = buf;
  const size_t dot = s.find('.');
  for (size_t i = dot; i > 3; i -= 3) s.insert(i - 3, ",");
  return v < 0 ? "-" + s : s;
}

std::string Fixed(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

bool Numeric(const std::string& cell) {
  return !cell.empty() && (std::isdigit(static_cast<unsigned char>(cell[0])) || cell[0] == '-');
}

// Prints rows[0] (headers) and the rows under it; a column whose cells below the header are all
// numbers is right-aligned, any other (and always the first) left-aligned.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  std::vector<bool> right;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t i = 0; i < rows[r].size(); ++i) {
      if (width.size() <= i) {
        width.push_back(0);
        right.push_back(i > 0);
      }
      width[i] = std::max(width[i], rows[r][i].size());
      if (r > 0 && !rows[r][i].empty() && !Numeric(rows[r][i])) right[i] = false;
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      if (i > 0) line += "  ";
      line += right[i] ? pad + row[i] : row[i] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

void PrintJson(const json& j) {
  std::printf("%s\n", j.dump(2).c_str());
}

// Runs fn (returning Status) and stores the exit code: 0, or Fail's for its error.
template <typename Fn>
void Callback(CLI::App* cmd, int* exit_code, Fn fn) {
  cmd->callback([exit_code, fn] {
    const Status s = fn();
    *exit_code = s.ok() ? 0 : Fail(s);
  });
}

// ---- depreciation ----

struct DepreciationArgs {
  double price = 0, residual = 0;
  int years = 0;
  bool json = false;
};

Status RunDepreciation(const DepreciationArgs& a) {
  ASSIGN_OR_RETURN(ops::Depreciation d,
                   ops::StraightLineDepreciation(a.price, a.residual, a.years));
  if (a.json) {
    json schedule = json::array();
    for (size_t y = 0; y < d.book_value.size(); ++y) {
      schedule.push_back(
          {{"year", y + 1}, {"depreciation", d.annual}, {"book_value", d.book_value[y]}});
    }
    PrintJson({{"price", a.price},
               {"residual", a.residual},
               {"years", a.years},
               {"annual_depreciation", d.annual},
               {"schedule", schedule}});
    return Status::Ok();
  }
  std::printf("annual depreciation = (%s - %s) / %d = %s\n\n", Money(a.price).c_str(),
              Money(a.residual).c_str(), a.years, Money(d.annual).c_str());
  std::vector<std::vector<std::string>> rows = {{"year", "depreciation", "book value"},
                                                {"0", "", Money(a.price)}};
  for (size_t y = 0; y < d.book_value.size(); ++y) {
    rows.push_back({std::to_string(y + 1), Money(d.annual), Money(d.book_value[y])});
  }
  PrintTable(rows);
  return Status::Ok();
}

void RegisterDepreciation(CLI::App& cost, int* exit_code) {
  auto a = std::make_shared<DepreciationArgs>();
  auto* cmd =
      cost.add_subcommand("depreciation",
                          "straight-line depreciation: (price - residual) / years, with the yearly "
                          "book value");
  cmd->add_option("--price", a->price, "purchase price (any currency)")->required();
  cmd->add_option("--residual", a->residual, "value left at the end (resale/salvage)")
      ->capture_default_str();
  cmd->add_option("--years", a->years, "depreciation period in whole years (1-100)")->required();
  cmd->add_flag("--json", a->json, "print one JSON document");
  cmd->footer("Example: deepkb cost depreciation --price 300000 --residual 30000 --years 5");
  Callback(cmd, exit_code, [a] { return RunDepreciation(*a); });
}

// ---- roi ----

struct RoiArgs {
  double investment = 0, savings = 0, operating = 0;
  bool json = false;
};

Status RunRoi(const RoiArgs& a) {
  ASSIGN_OR_RETURN(ops::Roi r, ops::ReturnOnInvestment(a.savings, a.operating, a.investment));
  if (a.json) {
    json payback = r.payback_years ? json(*r.payback_years) : json(nullptr);
    PrintJson({{"investment", a.investment},
               {"annual_savings", a.savings},
               {"annual_operating_cost", a.operating},
               {"net_annual", r.net_annual},
               {"roi", r.roi},
               {"roi_percent", r.roi * 100},
               {"payback_years", payback}});
    return Status::Ok();
  }
  std::printf("ROI = (%s - %s) / %s = %s%% a year\n", Money(a.savings).c_str(),
              Money(a.operating).c_str(), Money(a.investment).c_str(), Fixed(r.roi * 100).c_str());
  PrintTable({{"", ""},
              {"net annual benefit", Money(r.net_annual)},
              {"payback", r.payback_years ? Fixed(*r.payback_years) + " years"
                                          : "never (operating cost >= savings)"}});
  return Status::Ok();
}

void RegisterRoi(CLI::App& cost, int* exit_code) {
  auto a = std::make_shared<RoiArgs>();
  auto* cmd = cost.add_subcommand(
      "roi", "return on investment: (annual savings - annual operating cost) / investment");
  cmd->add_option("--investment", a->investment, "initial investment (> 0)")->required();
  cmd->add_option("--annual-savings", a->savings, "what the investment saves (or earns) a year")
      ->required();
  cmd->add_option("--annual-operating-cost", a->operating, "what it costs to run, a year")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON document");
  cmd->footer(
      "Example: deepkb cost roi --investment 300000 --annual-savings 180000 "
      "--annual-operating-cost 60000");
  Callback(cmd, exit_code, [a] { return RunRoi(*a); });
}

// ---- gpus ----

struct GpusArgs {
  std::string model, precision, kv_precision = "bf16", gpu = "h200";
  double params_b = 0, gpu_memory_gb = 0;
  int layers = 0, kv_heads = 0, head_dim = 0;
  ops::GpuSizingInput in;
  bool list = false, json = false;
  CLI::Option* gpu_memory_opt = nullptr;
};

std::string_view AttentionName(const ops::Attention& a) {
  return a.kind == ops::Attention::Kind::kMla ? "mla" : "gqa";
}

Status ListPresets(bool as_json) {
  if (as_json) {
    json models = json::array(), gpus = json::array();
    for (const auto& m : ops::ModelPresets()) {
      models.push_back(
          {{"name", m.name},
           {"description", m.description},
           {"params_b", m.params_b},
           {"active_params_b", m.active_params_b},
           {"precision", ops::PrecisionName(m.native)},
           {"attention", AttentionName(m.attention)},
           {"layers", m.attention.layers},
           {"kv_bytes_per_token_bf16", ops::KvBytesPerToken(m.attention, ops::Precision::kBf16)}});
    }
    for (const auto& g : ops::GpuTypes()) {
      gpus.push_back(
          {{"name", g.name}, {"description", g.description}, {"memory_gb", g.memory_gb}});
    }
    PrintJson({{"models", models}, {"gpus", gpus}});
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {
      {"model", "params (B)", "active (B)", "weights", "attention", "KV bytes/token (bf16)"}};
  for (const auto& m : ops::ModelPresets()) {
    rows.push_back({std::string(m.name), Fixed(m.params_b, 3), Fixed(m.active_params_b, 3),
                    std::string(ops::PrecisionName(m.native)),
                    std::string(AttentionName(m.attention)),
                    Fixed(ops::KvBytesPerToken(m.attention, ops::Precision::kBf16), 0)});
  }
  PrintTable(rows);
  std::printf("\n");
  rows = {{"gpu", "memory (GB)", "description"}};
  for (const auto& g : ops::GpuTypes()) {
    rows.push_back({std::string(g.name), Fixed(g.memory_gb, 0), std::string(g.description)});
  }
  PrintTable(rows);
  return Status::Ok();
}

Status RunGpus(GpusArgs a) {
  if (a.list) return ListPresets(a.json);
  ops::GpuSizingInput& in = a.in;
  std::string model_name = "custom";
  double active_b = a.params_b;
  ops::Precision weights = ops::Precision::kBf16;
  if (!a.model.empty()) {
    ASSIGN_OR_RETURN(ops::ModelPreset m, ops::FindModelPreset(a.model));
    model_name = m.name;
    in.params_b = m.params_b;
    active_b = m.active_params_b;
    in.attention = m.attention;
    weights = m.native;
  } else {
    if (a.params_b == 0 || a.layers == 0 || a.kv_heads == 0 || a.head_dim == 0) {
      return InvalidArgumentError(
          "give --model PRESET (see `deepkb cost gpus --list`), or describe a GQA model with "
          "--params-b, --layers, --kv-heads and --head-dim");
    }
    in.params_b = a.params_b;
    in.attention.layers = a.layers;
    in.attention.kv_heads = a.kv_heads;
    in.attention.head_dim = a.head_dim;
  }
  if (!a.precision.empty()) {
    ASSIGN_OR_RETURN(weights, ops::ParsePrecision(a.precision));
  }
  in.weights = weights;
  ASSIGN_OR_RETURN(in.kv, ops::ParsePrecision(a.kv_precision));
  std::string gpu_name = "custom";
  if (a.gpu_memory_opt->count() > 0) {
    in.gpu_memory_gb = a.gpu_memory_gb;
  } else {
    ASSIGN_OR_RETURN(ops::GpuType g, ops::FindGpuType(a.gpu));
    gpu_name = g.name;
    in.gpu_memory_gb = g.memory_gb;
  }
  ASSIGN_OR_RETURN(ops::GpuSizing s, ops::SizeGpus(in));

  if (a.json) {
    PrintJson({{"model", model_name},
               {"params_b", in.params_b},
               {"active_params_b", active_b},
               {"precision", ops::PrecisionName(in.weights)},
               {"kv_precision", ops::PrecisionName(in.kv)},
               {"attention", AttentionName(in.attention)},
               {"kv_bytes_per_token", s.kv_bytes_per_token},
               {"context", in.context_tokens},
               {"concurrency", in.concurrency},
               {"overhead_fraction", in.overhead_fraction},
               {"memory_utilization", in.usable_fraction},
               {"gpu", gpu_name},
               {"gpu_memory_gb", in.gpu_memory_gb},
               {"weights_gb", s.weights_gb},
               {"kv_cache_gb", s.kv_cache_gb},
               {"overhead_gb", s.overhead_gb},
               {"total_gb", s.total_gb},
               {"usable_per_gpu_gb", s.usable_per_gpu_gb},
               {"min_gpus", s.min_gpus},
               {"gpus", s.gpus},
               {"nodes", s.nodes},
               {"multi_node", s.gpus > 8}});
    return Status::Ok();
  }
  std::printf("%s: %sB parameters (%sB active), weights %s, KV cache %s (%s)\n", model_name.c_str(),
              Fixed(in.params_b, 3).c_str(), Fixed(active_b, 3).c_str(),
              std::string(ops::PrecisionName(in.weights)).c_str(),
              std::string(ops::PrecisionName(in.kv)).c_str(),
              std::string(AttentionName(in.attention)).c_str());
  std::printf("KV cache: %s bytes/token x %lld tokens x %lld sequences\n",
              Fixed(s.kv_bytes_per_token, 0).c_str(), static_cast<long long>(in.context_tokens),
              static_cast<long long>(in.concurrency));
  std::printf("GPU: %s, %s GB x %s usable = %s GB\n\n", gpu_name.c_str(),
              Fixed(in.gpu_memory_gb, 0).c_str(), Fixed(in.usable_fraction).c_str(),
              Fixed(s.usable_per_gpu_gb).c_str());
  PrintTable({{"", "GB"},
              {"weights", Fixed(s.weights_gb)},
              {"KV cache", Fixed(s.kv_cache_gb)},
              {"overhead", Fixed(s.overhead_gb)},
              {"total", Fixed(s.total_gb)}});
  std::printf("\nGPUs: %lld needed, %lld as a tensor-parallel size",
              static_cast<long long>(s.min_gpus), static_cast<long long>(s.gpus));
  if (s.gpus > 8) {
    std::printf(" -- exceeds one 8-GPU node: %lld nodes (multi-node serving)\n",
                static_cast<long long>(s.nodes));
  } else {
    std::printf(" (fits one node)\n");
  }
  return Status::Ok();
}

void RegisterGpus(CLI::App& cost, int* exit_code) {
  auto a = std::make_shared<GpusArgs>();
  auto* cmd = cost.add_subcommand(
      "gpus",
      "GPUs needed to serve a model: weights + KV cache (context x concurrency) + "
      "overhead, divided by usable memory per GPU, rounded up to a tensor-parallel size");
  auto* model = cmd->add_option("--model", a->model,
                                "model preset: deepseek-v3, deepseek-r1, r1-distill-qwen-1.5b|7b|"
                                "14b|32b, r1-distill-llama-8b|70b (see --list)");
  cmd->add_option("--precision", a->precision,
                  "weight precision: bf16, fp8, int8, int4 (default: the preset's published "
                  "weights; bf16 for a custom model)");
  cmd->add_option("--kv-precision", a->kv_precision, "KV cache precision")->capture_default_str();
  cmd->add_option("--context", a->in.context_tokens, "tokens per sequence")->capture_default_str();
  cmd->add_option("--concurrency", a->in.concurrency, "sequences in flight at once")
      ->capture_default_str();
  cmd->add_option("--overhead", a->in.overhead_fraction,
                  "activations, CUDA graphs and fragmentation, as a fraction of weights + KV cache")
      ->capture_default_str();
  cmd->add_option("--memory-utilization", a->in.usable_fraction,
                  "usable fraction of each GPU's memory (like vLLM's gpu_memory_utilization)")
      ->capture_default_str();
  cmd->add_option("--gpu", a->gpu,
                  "GPU type: h200, h100, h20, a100-80g, a100-40g, l40s, rtx4090, 910b")
      ->capture_default_str();
  a->gpu_memory_opt =
      cmd->add_option("--gpu-memory-gb", a->gpu_memory_gb, "memory per GPU in GB (replaces --gpu)");
  auto* params = cmd->add_option("--params-b", a->params_b, "custom model: parameters, billions");
  cmd->add_option("--layers", a->layers, "custom model: transformer layers");
  cmd->add_option("--kv-heads", a->kv_heads, "custom model: KV heads (GQA)");
  cmd->add_option("--head-dim", a->head_dim, "custom model: head dimension");
  model->excludes(params);
  cmd->add_flag("--list", a->list, "list the model presets and GPU types");
  cmd->add_flag("--json", a->json, "print one JSON document");
  cmd->footer(
      "Examples:\n"
      "  deepkb cost gpus --model deepseek-v3 --gpu h200              # FP8: 8 x H200\n"
      "  deepkb cost gpus --model deepseek-r1 --precision int4 --context 65536 --concurrency 8\n"
      "  deepkb cost gpus --params-b 7 --layers 32 --kv-heads 8 --head-dim 128 --gpu l40s");
  Callback(cmd, exit_code, [a] { return RunGpus(*a); });
}

// ---- compare ----

struct CompareArgs {
  ops::CompareInput in;
  double reserved_hourly = 0;
  CLI::Option* reserved_hourly_opt = nullptr;
  bool json = false;
};

Status RunCompare(CompareArgs a) {
  if (a.reserved_hourly_opt->count() > 0) a.in.reserved_hourly = a.reserved_hourly;
  ASSIGN_OR_RETURN(ops::Comparison c, ops::CompareCosts(a.in));
  const ops::OptionCost& best = c.options[c.cheapest];
  if (a.json) {
    json options = json::array();
    for (const auto& o : c.options) {
      json lines = json::array();
      for (const auto& l : o.lines) lines.push_back({{"item", l.item}, {"per_year", l.per_year}});
      options.push_back(
          {{"name", o.name}, {"per_year", o.per_year}, {"total", o.total}, {"lines", lines}});
    }
    PrintJson({{"years", c.years},
               {"gpus", a.in.gpus},
               {"storage_per_year", c.storage_per_year},
               {"options", options},
               {"cheapest", best.name}});
    return Status::Ok();
  }
  std::printf("%lld GPUs over %d years (per-year costs)\n\n", static_cast<long long>(a.in.gpus),
              c.years);
  std::vector<std::vector<std::string>> rows = {{"", "on-demand", "reserved", "owned"}};
  // Union of the line items, in order of first appearance.
  std::vector<std::string> items;
  for (const auto& o : c.options) {
    for (const auto& l : o.lines) {
      if (std::find(items.begin(), items.end(), l.item) == items.end()) items.push_back(l.item);
    }
  }
  for (const auto& item : items) {
    std::vector<std::string> row = {item};
    for (const auto& o : c.options) {
      std::string cell = "-";
      for (const auto& l : o.lines) {
        if (l.item == item) cell = Money(l.per_year);
      }
      row.push_back(cell);
    }
    rows.push_back(row);
  }
  std::vector<std::string> per_year = {"per year"}, total = {"total"};
  for (const auto& o : c.options) {
    per_year.push_back(Money(o.per_year));
    total.push_back(Money(o.total));
  }
  rows.push_back(per_year);
  rows.push_back(total);
  PrintTable(rows);
  std::printf("\ncheapest: %s (%s over %d years)\n", best.name.c_str(), Money(best.total).c_str(),
              c.years);
  return Status::Ok();
}

void RegisterCompare(CLI::App& cost, int* exit_code) {
  auto a = std::make_shared<CompareArgs>();
  ops::CompareInput& in = a->in;
  auto* cmd = cost.add_subcommand(
      "compare", "on-demand vs reserved vs owned GPUs over N years, with storage tiers");
  cmd->add_option("--years", in.years, "horizon in whole years")->capture_default_str();
  cmd->add_option("--gpus", in.gpus, "GPUs in use")->capture_default_str();
  cmd->add_option("--on-demand-hourly", in.on_demand_hourly, "on-demand price per GPU-hour")
      ->capture_default_str();
  cmd->add_option("--utilization", in.utilization,
                  "share of the hours on-demand GPUs run (reserved and owned pay for all hours)")
      ->capture_default_str();
  cmd->add_option("--reserved-discount", in.reserved_discount,
                  "reserved discount off the on-demand price")
      ->capture_default_str();
  a->reserved_hourly_opt =
      cmd->add_option("--reserved-hourly", a->reserved_hourly,
                      "reserved price per GPU-hour (replaces --reserved-discount)");
  cmd->add_option("--reserved-upfront", in.reserved_upfront,
                  "reserved upfront payment for the term")
      ->capture_default_str();
  cmd->add_option("--purchase-price", in.purchase_price,
                  "owned: servers, GPUs, network and disks (storage is part of it)")
      ->capture_default_str();
  cmd->add_option("--residual", in.residual, "owned: resale value at the end of depreciation")
      ->capture_default_str();
  cmd->add_option("--depreciation-years", in.depreciation_years,
                  "owned: depreciation period (0 = --years)")
      ->capture_default_str();
  cmd->add_option("--power-kw", in.power_kw, "owned: average draw in kW, cooling included")
      ->capture_default_str();
  cmd->add_option("--kwh-price", in.kwh_price, "owned: electricity price per kWh")
      ->capture_default_str();
  cmd->add_option("--hosting-per-year", in.hosting_per_year, "owned: rack space / colocation")
      ->capture_default_str();
  cmd->add_option("--operations-per-year", in.operations_per_year,
                  "owned: staff time and support contracts")
      ->capture_default_str();
  cmd->add_option("--hot-gb", in.hot.gb, "cloud storage, hot tier, GB")->capture_default_str();
  cmd->add_option("--hot-price", in.hot.price_per_gb_month, "hot tier price per GB-month")
      ->capture_default_str();
  cmd->add_option("--warm-gb", in.warm.gb, "cloud storage, warm tier, GB")->capture_default_str();
  cmd->add_option("--warm-price", in.warm.price_per_gb_month, "warm tier price per GB-month")
      ->capture_default_str();
  cmd->add_option("--cold-gb", in.cold.gb, "cloud storage, cold tier, GB")->capture_default_str();
  cmd->add_option("--cold-price", in.cold.price_per_gb_month, "cold tier price per GB-month")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON document");
  cmd->footer(
      "Prices are in any one currency. Per year: on-demand = gpus x hourly x 8760 x utilization "
      "+ storage; reserved = gpus x reserved hourly x 8760 + upfront / years + storage; owned = "
      "(purchase - residual) / depreciation years + power kW x 8760 x kWh price + hosting + "
      "operations. Storage = sum of GB x price per GB-month x 12. See docs/cost.md.");
  Callback(cmd, exit_code, [a] { return RunCompare(*a); });
}

}  // namespace

void RegisterCostCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cost = app.add_subcommand(
      "cost", "cost and capacity planning: depreciation, ROI, GPU sizing, cloud vs owned");
  cost->require_subcommand(1);
  RegisterDepreciation(*cost, exit_code);
  RegisterRoi(*cost, exit_code);
  RegisterGpus(*cost, exit_code);
  RegisterCompare(*cost, exit_code);
  (void)g;
}

}  // namespace deepkb::cli
