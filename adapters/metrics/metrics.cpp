#include "adapters/metrics/metrics.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace jitbot::adapters::metrics {
namespace {

/// A number as the text format writes it: integers without a fraction, +Inf spelled out.
std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

std::string series(const std::string& name, const Labels& labels, const std::string& extra_label = {},
                   const std::string& extra_value = {}) {
  std::string out = name;
  if (labels.empty() && extra_label.empty()) return out;
  out += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    out += (first ? "" : ",") + key + "=\"" + escape_label_value(value) + "\"";
    first = false;
  }
  if (!extra_label.empty()) out += (first ? "" : ",") + extra_label + "=\"" + extra_value + "\"";
  return out + '}';
}

/// HELP text escapes backslash and newline only.
std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
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

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::observe(double seconds) {
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  // Microseconds keep the sum exact and lock-free; a negative duration (a clock step) counts as 0.
  auto micros = seconds > 0 ? static_cast<std::uint64_t>(std::llround(seconds * 1e6)) : 0;
  sum_micros_.fetch_add(micros, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot out;
  out.bounds = bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    out.cumulative.push_back(running);
  }
  out.count = running;  // consistent with the buckets, whatever observe() does meanwhile
  out.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return out;
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

Registry::Family& Registry::family(const std::string& name, const std::string& help, Type type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) it->second.type = type;
  // Whoever names it first may not say what it is (a readiness check reading a gauge): the
  // first help given wins.
  if (it->second.help.empty()) it->second.help = help;
  return it->second;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Type::counter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Type::gauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, const Labels& labels,
                               const std::vector<double>& bounds) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Type::histogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

void Registry::computed(const std::string& name, const std::string& help, std::function<std::vector<Sample>()> read,
                        bool counter) {
  std::lock_guard lock(mutex_);
  auto& entry = family(name, help, counter ? Type::counter : Type::gauge);
  entry.read = std::move(read);
}

std::string Registry::expose() const {
  // The computed families read the database: copy them out and call them without the lock, so a
  // slow read never holds up a counter being created.
  struct Read {
    std::string name;
    std::string help;
    const char* type;
    std::function<std::vector<Sample>()> read;
  };
  std::vector<Read> reads;
  std::ostringstream out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, entry] : families_) {
      const char* type = entry.type == Type::counter ? "counter" : entry.type == Type::gauge ? "gauge" : "histogram";
      if (entry.read) {
        reads.push_back({name, entry.help, type, entry.read});
        continue;
      }
      out << "# HELP " << name << ' ' << escape_help(entry.help) << "\n# TYPE " << name << ' ' << type << '\n';
      for (const auto& [labels, counter] : entry.counters)
        out << series(name, labels) << ' ' << counter->value() << '\n';
      for (const auto& [labels, gauge] : entry.gauges) out << series(name, labels) << ' ' << gauge->value() << '\n';
      for (const auto& [labels, histogram] : entry.histograms) {
        auto shot = histogram->snapshot();
        for (std::size_t i = 0; i < shot.cumulative.size(); ++i) {
          std::string le = i < shot.bounds.size() ? number(shot.bounds[i]) : "+Inf";
          out << series(name + "_bucket", labels, "le", le) << ' ' << shot.cumulative[i] << '\n';
        }
        out << series(name + "_sum", labels) << ' ' << number(shot.sum) << '\n';
        out << series(name + "_count", labels) << ' ' << shot.count << '\n';
      }
    }
  }
  for (const auto& [name, help, type, read] : reads) {
    std::vector<Sample> samples;
    try {
      samples = read();
    } catch (const std::exception&) {
      continue;  // the database is unreachable: /readyz says so; the process's own figures still go out
    }
    out << "# HELP " << name << ' ' << escape_help(help) << "\n# TYPE " << name << ' ' << type << '\n';
    for (const auto& sample : samples) out << series(name, sample.labels) << ' ' << number(sample.value) << '\n';
  }
  return out.str();
}

Registry& process_registry() {
  static Registry registry;
  return registry;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
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

void register_process_metrics(Registry& registry) {
  static const long ticks_per_second = sysconf(_SC_CLK_TCK);
  static const long page_size = sysconf(_SC_PAGESIZE);
  // /proc/self/stat: after the command name in parentheses, field 14 and 15 are utime and stime
  // in clock ticks, field 22 the start time in ticks after boot.
  auto stat_fields = [] {
    std::ifstream in("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> fields;
    auto close = text.rfind(')');
    std::istringstream rest(close == std::string::npos ? std::string{} : text.substr(close + 2));
    for (std::string field; rest >> field;) fields.push_back(field);
    return fields;  // fields[0] is field 3 (the state)
  };
  registry.computed(
      "process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
      [stat_fields] {
        auto fields = stat_fields();
        if (fields.size() < 13) return std::vector<Sample>{};
        double ticks = std::stod(fields[11]) + std::stod(fields[12]);
        return std::vector<Sample>{{{}, ticks / static_cast<double>(ticks_per_second)}};
      },
      true);
  registry.computed("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
    std::ifstream in("/proc/self/statm");
    long size = 0, resident = 0;
    in >> size >> resident;
    return std::vector<Sample>{{{}, static_cast<double>(resident) * static_cast<double>(page_size)}};
  });
  registry.computed("process_open_fds", "Number of open file descriptors.", [] {
    std::error_code error;
    double count = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      ++count;
    }
    return std::vector<Sample>{{{}, count}};
  });
  registry.computed("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.",
                    [stat_fields] {
                      auto fields = stat_fields();
                      std::ifstream uptime_file("/proc/uptime");
                      double uptime = 0;
                      uptime_file >> uptime;
                      if (fields.size() < 20) return std::vector<Sample>{};
                      double started_after_boot = std::stod(fields[19]) / static_cast<double>(ticks_per_second);
                      double now = static_cast<double>(std::time(nullptr));
                      return std::vector<Sample>{{{}, std::floor(now - uptime + started_after_boot)}};
                    });
}

}  // namespace jitbot::adapters::metrics
