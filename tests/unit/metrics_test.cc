// The metrics registry and its Prometheus text rendering.
#include "omnirelay/config/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace omnirelay {
namespace {

// A counter renders with HELP, TYPE and its value.
TEST(MetricsTest, CounterRendersHelpTypeAndValue) {
  MetricsRegistry m;
  m.counter("omni_writes_total", "Writes").Inc(3);
  const std::string out = m.RenderPrometheus();
  EXPECT_NE(out.find("# HELP omni_writes_total Writes\n"), std::string::npos);
  EXPECT_NE(out.find("# TYPE omni_writes_total counter\n"), std::string::npos);
  EXPECT_NE(out.find("omni_writes_total 3\n"), std::string::npos);
}

// Registering the same name and labels twice returns the same series.
TEST(MetricsTest, SameNameAndLabelsIsSameSeries) {
  MetricsRegistry m;
  Counter& a = m.counter("omni_nacks_total", "NACKs", "reason=\"expired\"");
  Counter& b = m.counter("omni_nacks_total", "NACKs", "reason=\"expired\"");
  Counter& c = m.counter("omni_nacks_total", "NACKs", "reason=\"rollback\"");
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.Inc();
  c.Inc(2);
  const std::string out = m.RenderPrometheus();
  EXPECT_NE(out.find("omni_nacks_total{reason=\"expired\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("omni_nacks_total{reason=\"rollback\"} 2\n"), std::string::npos);
  EXPECT_EQ(out.find("# HELP omni_nacks_total", out.find("# HELP omni_nacks_total") + 1),
            std::string::npos);  // one HELP per family
}

// Histogram buckets are cumulative and end with +Inf, with _sum and _count.
TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry m;
  Histogram& h = m.histogram("omni_latency_seconds", "Latency", {0.01, 0.1});
  h.Observe(0.005);
  h.Observe(0.05);
  h.Observe(5);
  const std::string out = m.RenderPrometheus();
  EXPECT_NE(out.find("omni_latency_seconds_bucket{le=\"0.01\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("omni_latency_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("omni_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("omni_latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NEAR(h.sum(), 5.055, 1e-6);
}

// A computed gauge is evaluated at render time.
TEST(MetricsTest, GaugeFnIsEvaluatedWhenRendered) {
  MetricsRegistry m;
  int calls = 0;
  m.gauge_fn("omni_head_revision", "Head", [&] { return ++calls * 10.0; });
  EXPECT_NE(m.RenderPrometheus().find("omni_head_revision 10\n"), std::string::npos);
  EXPECT_NE(m.RenderPrometheus().find("omni_head_revision 20\n"), std::string::npos);
}

// Concurrent increments from several threads are all counted.
TEST(MetricsTest, ConcurrentIncrementsAreCounted) {
  MetricsRegistry m;
  Counter& c = m.counter("omni_c_total", "c");
  Gauge& g = m.gauge("omni_g", "g");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        g.Add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(g.value(), 40000);
}

}  // namespace
}  // namespace omnirelay
