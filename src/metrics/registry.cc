#include "metrics/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace deepkb::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // First bucket whose upper bound is >= v (Prometheus buckets are "less than or equal").
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.count = acc;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

namespace {
bool NameChars(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                       (colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}
}  // namespace

bool IsValidMetricName(std::string_view name) { return NameChars(name, true); }
bool IsValidLabelName(std::string_view name) {
  return NameChars(name, false) && name.substr(0, 2) != "__";
}

std::string FamilyBase::LabelText(const LabelValues& values, std::string_view extra_name,
                                  std::string_view extra_value) const {
  if (label_names_.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += label_names_[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += EscapeLabelValue(extra_value);
    out += '"';
  }
  out += '}';
  return out;
}

template <>
std::unique_ptr<Counter> Family<Counter>::Make() const { return std::make_unique<Counter>(); }
template <>
std::unique_ptr<Gauge> Family<Gauge>::Make() const { return std::make_unique<Gauge>(); }
template <>
std::unique_ptr<Histogram> Family<Histogram>::Make() const {
  return std::make_unique<Histogram>(bounds_);
}

namespace {
void Header(std::string& out, const std::string& name, const std::string& help,
            std::string_view type) {
  out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
  out += "# TYPE " + name + " ";
  out += type;
  out += '\n';
}
}  // namespace

template <>
void Family<Counter>::Write(std::string& out) const {
  Header(out, name_, help_, "counter");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, c] : series_) {
    out += name_ + LabelText(labels) + " " + FormatValue(c->Value()) + "\n";
  }
}

template <>
void Family<Gauge>::Write(std::string& out) const {
  Header(out, name_, help_, "gauge");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, g] : series_) {
    out += name_ + LabelText(labels) + " " + FormatValue(g->Value()) + "\n";
  }
}

template <>
void Family<Histogram>::Write(std::string& out) const {
  Header(out, name_, help_, "histogram");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, h] : series_) {
    const Histogram::Snapshot s = h->Read();
    for (size_t i = 0; i < s.bounds.size(); ++i) {
      out += name_ + "_bucket" + LabelText(labels, "le", FormatValue(s.bounds[i])) + " " +
             std::to_string(s.cumulative[i]) + "\n";
    }
    out += name_ + "_bucket" + LabelText(labels, "le", "+Inf") + " " + std::to_string(s.count) +
           "\n";
    out += name_ + "_sum" + LabelText(labels) + " " + FormatValue(s.sum) + "\n";
    out += name_ + "_count" + LabelText(labels) + " " + std::to_string(s.count) + "\n";
  }
}

template <typename T>
Family<T>& Registry::Add(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names, Type type,
                         std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& f : families_) {
    if (f->name() == name && f->type_ == type) return static_cast<Family<T>&>(*f);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  families_.push_back(std::unique_ptr<FamilyBase>(
      new Family<T>(name, help, std::move(label_names), type, std::move(bounds))));
  return static_cast<Family<T>&>(*families_.back());
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return Add<Counter>(name, help, std::move(label_names), Type::kCounter, {});
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  return Add<Gauge>(name, help, std::move(label_names), Type::kGauge, {});
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  return Add<Histogram>(name, help, std::move(label_names), Type::kHistogram, std::move(bounds));
}

std::string Registry::Expose() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) f->Write(out);
  return out;
}

std::vector<double> Registry::DefaultBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace deepkb::metrics
