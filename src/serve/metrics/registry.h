// A small Prometheus registry: counters, gauges and fixed-bucket histograms, each in a family
// with label names; rendered in the text exposition format 0.0.4. Updating a metric is a few
// relaxed atomic operations; looking up a labelled child takes a shared lock, so hot paths
// should keep the reference (children live as long as the registry and never move).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace nova::serve::metrics {

using LabelValues = std::vector<std::string>;  // in the family's label-name order

class Counter {
 public:
  // Counters only go up: a negative or NaN increment is ignored.
  void inc(double v = 1.0) {
    if (v > 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;         // without +Inf
    std::vector<uint64_t> cumulative;   // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  // Per-bucket counts are read one by one, so a snapshot taken during observations may lag
  // the sum slightly; the cumulative counts and _count are always consistent with each other.
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
  std::atomic<double> sum_{0.0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

template <class T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds = {});

  // The child for these label values (created on first use). Throws nova::Error when the
  // number of values does not match the label names.
  T& with(const LabelValues& values);
  // The one child of a family without labels.
  T& get() { return with({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Visits children in label-value order, under the family's shared lock.
  template <class Fn>
  void for_each(Fn&& fn) const {
    std::shared_lock lock(mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::shared_mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> children_;
};

class Registry {
 public:
  // Names must be valid and unique (nova::Error otherwise). Families are rendered in
  // registration order; families with labels and no children yet are left out.
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> label_names = {});

  // The text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string render() const;
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  void claim(const std::string& name, const std::vector<std::string>& label_names, MetricType type);

  struct Entry {
    MetricType type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

}  // namespace nova::serve::metrics
