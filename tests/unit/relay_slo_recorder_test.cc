// SloRecorder (omnirelay/relay/slo_recorder.h): outcomes per serving version,
// one window per take, reset by the take, bounded versions. The concurrent
// record-while-taking test is in concurrency/relay_slo_concurrency_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/slo_recorder.h"

namespace omnirelay::relay {
namespace {

// Rule 1 and 2: each version that served requests gets its own report, sorted
// by version, with counts, errors and latency buckets; all share the window.
TEST(SloRecorderTest, ReportsOneWindowPerServingVersion) {
  FakeClock clock;
  const std::int64_t opened = clock.NowUnixMs();
  SloRecorder recorder(clock);
  recorder.Record(8, false, 0.5);
  recorder.Record(7, true, 30);
  recorder.Record(7, false, 30);
  recorder.Record(7, false, 40'000);
  clock.AdvanceMs(15'000);
  const std::vector<SloReport> reports = recorder.TakeWindow();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].config_version, 7);
  EXPECT_EQ(reports[0].window.requests, 3u);
  EXPECT_EQ(reports[0].window.errors, 1u);
  EXPECT_EQ(reports[0].window.latency.counts[LatencyHistogram::BucketOf(30)], 2u);
  EXPECT_EQ(reports[0].window.latency.counts[kLatencyBuckets - 1], 1u);  // above 30 s
  EXPECT_EQ(reports[1].config_version, 8);
  EXPECT_EQ(reports[1].window.requests, 1u);
  EXPECT_EQ(reports[1].window.errors, 0u);
  EXPECT_EQ(reports[1].window.latency.counts[0], 1u);
  for (const SloReport& r : reports) {
    EXPECT_EQ(r.window_start_ms, opened);
    EXPECT_EQ(r.window_ms, 15'000);
  }
}

// Rule 2: a take resets; the next window starts where the last one ended and
// holds only what came after; a window without requests yields nothing.
TEST(SloRecorderTest, TakeResetsAndWindowsAreContiguous) {
  FakeClock clock;
  SloRecorder recorder(clock);
  recorder.Record(3, false, 1);
  clock.AdvanceMs(1'000);
  const auto first = recorder.TakeWindow();
  ASSERT_EQ(first.size(), 1u);
  clock.AdvanceMs(2'000);
  EXPECT_TRUE(recorder.TakeWindow().empty());  // no requests: nothing to send
  recorder.Record(3, true, 1);
  clock.AdvanceMs(500);
  const auto third = recorder.TakeWindow();
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].window.requests, 1u);
  EXPECT_EQ(third[0].window.errors, 1u);
  EXPECT_EQ(third[0].window_start_ms, first[0].window_start_ms + 1'000 + 2'000);
  EXPECT_EQ(third[0].window_ms, 500);
}

// Rule 1: nothing is recorded without a version (no snapshot yet).
TEST(SloRecorderTest, VersionZeroIsNotRecorded) {
  FakeClock clock;
  SloRecorder recorder(clock);
  recorder.Record(0, true, 1);
  recorder.Record(-1, true, 1);
  EXPECT_TRUE(recorder.TakeWindow().empty());
  EXPECT_EQ(recorder.dropped(), 0u);
}

// Rule 5: a negative or NaN latency lands in the first bucket.
TEST(SloRecorderTest, NegativeOrNanLatencyCountsAsZero) {
  FakeClock clock;
  SloRecorder recorder(clock);
  recorder.Record(1, false, -5);
  recorder.Record(1, false, std::numeric_limits<double>::quiet_NaN());
  const auto reports = recorder.TakeWindow();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].window.latency.counts[0], 2u);
}

// Rule 4: at most kMaxVersions versions per window (one thread: one shard);
// a newer version evicts the lowest, an older one is dropped; both counted.
TEST(SloRecorderTest, VersionsPerWindowAreBounded) {
  FakeClock clock;
  Counter dropped;
  SloRecorder recorder(clock, &dropped);
  for (std::int64_t v = 10; v < 10 + static_cast<std::int64_t>(SloRecorder::kMaxVersions); ++v) {
    recorder.Record(v, false, 1);
    recorder.Record(v, false, 1);
  }
  recorder.Record(5, false, 1);   // older than all kept: dropped
  recorder.Record(99, false, 1);  // newer: evicts v10 (2 requests)
  EXPECT_EQ(recorder.dropped(), 3u);
  EXPECT_EQ(dropped.value(), 3u);
  const auto reports = recorder.TakeWindow();
  ASSERT_EQ(reports.size(), SloRecorder::kMaxVersions);
  EXPECT_EQ(reports.front().config_version, 11);
  EXPECT_EQ(reports.back().config_version, 99);
  EXPECT_EQ(reports.back().window.requests, 1u);
}

// Windows of several threads (several shards) merge per version.
TEST(SloRecorderTest, ThreadsMergeIntoOneReportPerVersion) {
  FakeClock clock;
  SloRecorder recorder(clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&recorder, t] {
      for (int i = 0; i < 100; ++i) recorder.Record(t % 2 == 0 ? 1 : 2, i % 10 == 0, 3);
    });
  }
  for (auto& t : threads) t.join();
  const auto reports = recorder.TakeWindow();
  ASSERT_EQ(reports.size(), 2u);
  for (const SloReport& r : reports) {
    EXPECT_EQ(r.window.requests, 400u);
    EXPECT_EQ(r.window.errors, 40u);
    EXPECT_EQ(r.window.latency.Total(), 400u);
  }
}

// ConfigHost owns a recorder: RecordOutcome lands in slo().
TEST(SloRecorderTest, ConfigHostRecordsIntoItsRecorder) {
  FakeClock clock;
  MetricsRegistry metrics;
  ConfigHost host(ConfigHostOptions{}, clock, metrics);
  host.RecordOutcome(4, true, 12.5);
  const auto reports = host.slo().TakeWindow();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].config_version, 4);
  EXPECT_EQ(reports[0].window.errors, 1u);
  EXPECT_NE(metrics.RenderPrometheus().find("omnirelay_relay_slo_dropped_total"),
            std::string::npos);
}

}  // namespace
}  // namespace omnirelay::relay
