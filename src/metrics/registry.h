// A small Prometheus metrics registry with text exposition (format 0.0.4).
//
// Families are registered once, at start, by name, help text and label names; a series (one set
// of label values) is created on first use and lives as long as the registry, so the reference
// With() returns may be cached. Updates are lock-free atomics; With() takes the family's mutex
// for one map lookup. Label values are bounded by the caller (route names, modes, collection
// names), never raw request data.
//
// Thread safety: every method may be called from any thread. Expose() sees each series
// atomically per value (a histogram's buckets, sum and count may be one observation apart).
//
// Exposition: "# HELP name text" and "# TYPE name counter|gauge|histogram" per family, then
// one line per series; histograms give cumulative name_bucket{le="..."} lines ending with
// le="+Inf", then name_sum and name_count. Label values escape \ " and newline; help text
// escapes \ and newline.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace deepkb::metrics {

using LabelValues = std::vector<std::string>;  // in the order of the family's label names

class Counter {
 public:
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

template <typename T>
class Family;

class Registry;

// Common part of a family; the typed Family<T> adds With().
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }

 protected:
  friend class Registry;
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        type_(type) {}
  virtual void Write(std::string& out) const = 0;
  std::string LabelText(const LabelValues& values, std::string_view extra_name = {},
                        std::string_view extra_value = {}) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  Type type_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  // The series for `values` (created on first use). Values beyond/short of the label names are
  // padded with "" or dropped, so a caller mistake never crashes the server.
  T& With(const LabelValues& values = {}) {
    LabelValues v = values;
    v.resize(label_names_.size());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = series_.find(v);
    if (it == series_.end()) it = series_.emplace(v, Make()).first;
    return *it->second;
  }
  // Removes every series: for gauges recomputed at scrape time (collections come and go).
  // Invalidates references returned by With(); never use on cached series.
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    series_.clear();
  }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names, Type type,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
        bounds_(std::move(bounds)) {}
  std::unique_ptr<T> Make() const;
  void Write(std::string& out) const override;

  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> series_;  // guarded by mu_
};

// Defined in registry.cc for the three series types.
template <> std::unique_ptr<Counter> Family<Counter>::Make() const;
template <> std::unique_ptr<Gauge> Family<Gauge>::Make() const;
template <> std::unique_ptr<Histogram> Family<Histogram>::Make() const;
template <> void Family<Counter>::Write(std::string& out) const;
template <> void Family<Gauge>::Write(std::string& out) const;
template <> void Family<Histogram>::Write(std::string& out) const;

class Registry {
 public:
  // Registration returns a reference valid for the registry's lifetime. Registering a name
  // twice returns the first family when the type matches (label names are not compared).
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names = {},
                                  std::vector<double> bounds = DefaultBuckets());

  // The whole registry in Prometheus text format (Content-Type
  // "text/plain; version=0.0.4; charset=utf-8").
  std::string Expose() const;

  // 1 ms .. 10 s, roughly ×2.5 apart: request and search latencies.
  static std::vector<double> DefaultBuckets();

 private:
  template <typename T>
  Family<T>& Add(const std::string& name, const std::string& help,
                 std::vector<std::string> label_names, Type type, std::vector<double> bounds);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;  // guarded by mu_; registration order
};

// Helpers of the text format (exposed for tests).
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
// Shortest round-trip decimal; "+Inf", "-Inf", "NaN" for the special values.
std::string FormatValue(double v);
// True when `name` matches [a-zA-Z_:][a-zA-Z0-9_:]* (metric) — label names must not use ':'.
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

}  // namespace deepkb::metrics
