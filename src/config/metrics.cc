#include "omnirelay/config/metrics.h"

#include <cmath>
#include <cstdio>

namespace omnirelay {
namespace {

enum Type { kCounter, kGauge, kHistogram, kGaugeFn };

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string WithLabels(std::string_view name, std::string_view labels,
                       std::string_view extra = {}) {
  std::string out(name);
  if (labels.empty() && extra.empty()) return out;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
  return out;
}

}  // namespace

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  int type = kCounter;
  struct Series {
    std::string labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> fn;
  };
  std::vector<Series> series;

  Series* Find(std::string_view labels) {
    for (auto& s : series) {
      if (s.labels == labels) return &s;
    }
    return nullptr;
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double seconds) {
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const double micros = seconds > 0 ? seconds * 1e6 : 0.0;
  sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(micros)),
                        std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return out;
}

double Histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view help,
                                                    int type) {
  for (auto& f : families_) {
    if (f->name == name) return *f;
  }
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->help = std::string(help);
  f->type = type;
  families_.push_back(std::move(f));
  return *families_.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  std::string_view labels) {
  MutexLock lock(mu_);
  Family& f = FamilyFor(name, help, kCounter);
  if (auto* s = f.Find(labels)) return *s->counter;
  f.series.push_back({std::string(labels), std::make_unique<Counter>(), nullptr, nullptr, {}});
  return *f.series.back().counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                              std::string_view labels) {
  MutexLock lock(mu_);
  Family& f = FamilyFor(name, help, kGauge);
  if (auto* s = f.Find(labels)) return *s->gauge;
  f.series.push_back({std::string(labels), nullptr, std::make_unique<Gauge>(), nullptr, {}});
  return *f.series.back().gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> upper_bounds, std::string_view labels) {
  MutexLock lock(mu_);
  Family& f = FamilyFor(name, help, kHistogram);
  if (auto* s = f.Find(labels)) return *s->histogram;
  f.series.push_back({std::string(labels),
                      nullptr,
                      nullptr,
                      std::make_unique<Histogram>(std::move(upper_bounds)),
                      {}});
  return *f.series.back().histogram;
}

void MetricsRegistry::gauge_fn(std::string_view name, std::string_view help,
                               std::function<double()> fn) {
  MutexLock lock(mu_);
  Family& f = FamilyFor(name, help, kGaugeFn);
  if (auto* s = f.Find("")) {
    s->fn = std::move(fn);
    return;
  }
  f.series.push_back({"", nullptr, nullptr, nullptr, std::move(fn)});
}

std::string MetricsRegistry::RenderPrometheus() const {
  MutexLock lock(mu_);
  std::string out;
  for (const auto& f : families_) {
    const char* type = f->type == kCounter     ? "counter"
                       : f->type == kHistogram ? "histogram"
                                               : "gauge";
    out += "# HELP " + f->name + " " + f->help + "\n";
    out += "# TYPE " + f->name + " " + type + "\n";
    for (const auto& s : f->series) {
      if (s.counter) {
        out += WithLabels(f->name, s.labels) + " " + std::to_string(s.counter->value()) + "\n";
      } else if (s.gauge) {
        out += WithLabels(f->name, s.labels) + " " + std::to_string(s.gauge->value()) + "\n";
      } else if (s.fn) {
        out += WithLabels(f->name, s.labels) + " " + FormatDouble(s.fn()) + "\n";
      } else if (s.histogram) {
        const auto counts = s.histogram->bucket_counts();
        const auto& bounds = s.histogram->upper_bounds();
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          const std::string le =
              "le=\"" + (i < bounds.size() ? FormatDouble(bounds[i]) : std::string("+Inf")) + "\"";
          out += WithLabels(f->name + "_bucket", s.labels, le) + " " + std::to_string(cumulative) +
                 "\n";
        }
        out +=
            WithLabels(f->name + "_sum", s.labels) + " " + FormatDouble(s.histogram->sum()) + "\n";
        out += WithLabels(f->name + "_count", s.labels) + " " +
               std::to_string(s.histogram->count()) + "\n";
      }
    }
  }
  return out;
}

}  // namespace omnirelay
