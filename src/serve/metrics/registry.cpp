#include "serve/metrics/registry.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "serve/metrics/text_format.h"

namespace nova::serve::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // The first bound >= v: Prometheus buckets are "less than or equal". NaN lands in +Inf.
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <class T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}

template <class T>
T& Family<T>::with(const LabelValues& values) {
  if (values.size() != label_names_.size())
    fail(name_, "expected " + std::to_string(label_names_.size()) + " label values, got " +
                    std::to_string(values.size()));
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = children_[values];
  if (!slot) {
    if constexpr (std::is_same_v<T, Histogram>) slot = std::make_unique<Histogram>(bounds_);
    else slot = std::make_unique<T>();
  }
  return *slot;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::claim(const std::string& name, const std::vector<std::string>& label_names, MetricType type) {
  require(valid_metric_name(name), name, "invalid metric name");
  for (const auto& l : label_names) {
    require(valid_label_name(l), name, "invalid label name \"" + l + "\"");
    require(!(type == MetricType::kHistogram && l == "le"), name, "a histogram may not use the label \"le\"");
    require(std::count(label_names.begin(), label_names.end(), l) == 1, name, "duplicate label \"" + l + "\"");
  }
  // A histogram owns name_bucket/_sum/_count too; refuse any overlap either way.
  auto names_of = [](const Entry& e) -> std::vector<std::string> {
    const std::string& n = e.counter ? e.counter->name() : e.gauge ? e.gauge->name() : e.histogram->name();
    if (e.type == MetricType::kHistogram) return {n, n + "_bucket", n + "_sum", n + "_count"};
    return {n};
  };
  std::vector<std::string> mine = {name};
  if (type == MetricType::kHistogram) mine = {name, name + "_bucket", name + "_sum", name + "_count"};
  for (const auto& e : entries_)
    for (const auto& theirs : names_of(e))
      for (const auto& m : mine) require(theirs != m, name, "metric name already registered");
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  claim(name, label_names, MetricType::kCounter);
  Entry e{MetricType::kCounter, std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(label_names)),
          nullptr, nullptr};
  auto& f = *e.counter;
  entries_.push_back(std::move(e));
  if (f.label_names().empty()) f.get();  // an unlabelled metric is exported as 0 from the start
  return f;
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  claim(name, label_names, MetricType::kGauge);
  Entry e{MetricType::kGauge, nullptr,
          std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(label_names)), nullptr};
  auto& f = *e.gauge;
  entries_.push_back(std::move(e));
  if (f.label_names().empty()) f.get();
  return f;
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, std::vector<double> bounds,
                                       std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  claim(name, label_names, MetricType::kHistogram);
  require(!bounds.empty(), name, "a histogram needs at least one bucket bound");
  for (size_t i = 0; i < bounds.size(); ++i) {
    require(std::isfinite(bounds[i]), name, "bucket bounds must be finite (+Inf is implied)");
    require(i == 0 || bounds[i] > bounds[i - 1], name, "bucket bounds must be strictly increasing");
  }
  Entry e{MetricType::kHistogram, nullptr, nullptr,
          std::make_unique<Family<Histogram>>(std::move(name), std::move(help), std::move(label_names), std::move(bounds))};
  auto& f = *e.histogram;
  entries_.push_back(std::move(e));
  if (f.label_names().empty()) f.get();
  return f;
}

namespace {

// {a="x",b="y"} plus an optional trailing le; "" when there are no labels at all.
std::string label_set(const std::vector<std::string>& names, const LabelValues& values, const std::string* le = nullptr) {
  if (names.empty() && !le) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (le) {
    if (!names.empty()) out += ',';
    out += "le=\"" + *le + "\"";
  }
  return out + "}";
}

template <class F>
bool has_children(const F& f) {
  bool any = false;
  f.for_each([&](const LabelValues&, const auto&) { any = true; });
  return any;
}

template <class F>
void header(std::string& out, const F& f, const char* type) {
  out += "# HELP " + f.name() + " " + escape_help(f.help()) + "\n";
  out += "# TYPE " + f.name() + " " + type + "\n";
}

}  // namespace

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& e : entries_) {
    if (e.counter || e.gauge) {
      const auto render_simple = [&](const auto& f, const char* type) {
        if (!has_children(f)) return;
        header(out, f, type);
        f.for_each([&](const LabelValues& values, const auto& m) {
          out += f.name() + label_set(f.label_names(), values) + " " + format_value(m.value()) + "\n";
        });
      };
      if (e.counter) render_simple(*e.counter, "counter");
      else render_simple(*e.gauge, "gauge");
      continue;
    }
    const auto& f = *e.histogram;
    if (!has_children(f)) continue;
    header(out, f, "histogram");
    f.for_each([&](const LabelValues& values, const Histogram& h) {
      const auto s = h.snapshot();
      for (size_t i = 0; i <= s.bounds.size(); ++i) {
        const std::string le = i < s.bounds.size() ? format_value(s.bounds[i]) : "+Inf";
        out += f.name() + "_bucket" + label_set(f.label_names(), values, &le) + " " +
               format_value(static_cast<double>(s.cumulative[i])) + "\n";
      }
      out += f.name() + "_sum" + label_set(f.label_names(), values) + " " + format_value(s.sum) + "\n";
      out += f.name() + "_count" + label_set(f.label_names(), values) + " " +
             format_value(static_cast<double>(s.count)) + "\n";
    });
  }
  return out;
}

}  // namespace nova::serve::metrics
