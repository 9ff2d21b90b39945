#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jitbot::adapters::metrics {

/// Label names and values of one series, e.g. {{"method", "chat.postMessage"}, {"status", "ok"}}.
using Labels = std::map<std::string, std::string>;

/// A value that only goes up (events, calls). Lock-free to bump.
class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down (calls in flight).
class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// Durations in seconds, counted into cumulative buckets as Prometheus expects.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  ///< one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  ///< per bucket, not cumulative; last is +Inf
  std::atomic<std::uint64_t> sum_micros_{0};
  std::atomic<std::uint64_t> count_{0};
};

/// One value computed when scraped (requests by state, outbox depth), read from the database.
struct Sample {
  Labels labels;
  double value = 0;
};

/// Bounds for calls that take milliseconds to seconds (Slack acks, backend calls).
std::vector<double> latency_buckets();

/// Every metric of the process, and their Prometheus text exposition (format 0.0.4). Series are
/// created on first use and live as long as the registry; callers keep the reference they get.
class Registry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       const std::vector<double>& bounds = latency_buckets());
  /// A family whose samples `read` computes at each scrape (a gauge, or a counter kept elsewhere,
  /// such as the process's CPU time); it replaces one of the same name. A read that throws leaves
  /// the family out of that scrape.
  void computed(const std::string& name, const std::string& help, std::function<std::vector<Sample>()> read,
                bool counter = false);

  /// The text a Prometheus server scrapes from /metrics.
  std::string expose() const;

 private:
  enum class Type { counter, gauge, histogram };
  struct Family {
    Type type = Type::counter;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::function<std::vector<Sample>()> read;
  };
  Family& family(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

/// The process's registry: adapters deep in the stack (the Slack client, the job runner) count
/// into it without being handed one.
Registry& process_registry();

/// The standard process figures (CPU seconds, resident memory, open descriptors, start time),
/// read from /proc at each scrape.
void register_process_metrics(Registry& registry);

/// `value` escaped for a label value in the text format: backslash, double quote and newline.
std::string escape_label_value(const std::string& value);

}  // namespace jitbot::adapters::metrics
