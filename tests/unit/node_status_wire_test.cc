// The node feed's NodeStatus as the feed sees it (ToStatus,
// src/controlplane/grpc_node_stream.h): health figures and the SLO windows,
// one per version; a histogram of the wrong length is dropped, its counts kept.
#include <gtest/gtest.h>

#include "grpc_node_stream.h"
#include "omnirelay/controlplane/v1/node_feed.pb.h"

namespace omnirelay::cp {
namespace {

namespace v1 = controlplane::v1;

v1::SloReport* AddReport(v1::NodeStatus& status, std::int64_t version, std::uint64_t requests,
                         std::uint64_t errors, std::size_t buckets) {
  v1::SloReport* r = status.add_slo();
  r->set_config_version(version);
  r->set_window_start_ms(1'800'000'000'000);
  r->set_window_ms(15'000);
  r->set_requests(requests);
  r->set_errors(errors);
  for (std::size_t i = 0; i < buckets; ++i) r->add_latency_buckets(i == 3 ? requests : 0);
  return r;
}

// Every field of every report arrives, in order; the buckets by position.
TEST(NodeStatusWireTest, SloReportsBecomeSloWindows) {
  v1::NodeStatus status;
  status.set_discovery_generation(12);
  (*status.mutable_health())["ready"] = 1;
  AddReport(status, 7, 90, 9, kLatencyBuckets);
  AddReport(status, 8, 10, 0, kLatencyBuckets)->set_latency_buckets(kLatencyBuckets - 1, 2);
  const StatusMsg msg = ToStatus(status);
  EXPECT_EQ(msg.discovery_generation, 12);
  ASSERT_EQ(msg.health.size(), 1u);
  ASSERT_EQ(msg.slo.size(), 2u);
  const SloReport& a = msg.slo[0];
  EXPECT_EQ(a.config_version, 7);
  EXPECT_EQ(a.window_start_ms, 1'800'000'000'000);
  EXPECT_EQ(a.window_ms, 15'000);
  EXPECT_EQ(a.window.requests, 90u);
  EXPECT_EQ(a.window.errors, 9u);
  LatencyHistogram expected;
  expected.counts[3] = 90;  // (5, 10] ms
  EXPECT_EQ(a.window.latency, expected);
  EXPECT_DOUBLE_EQ(a.window.latency.QuantileMs(1.0), kLatencyBoundsMs[3]);
  EXPECT_EQ(msg.slo[1].config_version, 8);
  EXPECT_EQ(msg.slo[1].window.latency.counts[kLatencyBuckets - 1], 2u);  // above the last bound
}

// A latency_buckets list of another length (or none) is not refused: the
// report keeps requests and errors and gets an empty histogram.
TEST(NodeStatusWireTest, WrongLengthHistogramIsIgnoredCountsKept) {
  v1::NodeStatus status;
  AddReport(status, 3, 50, 5, kLatencyBuckets - 1);
  AddReport(status, 4, 20, 1, kLatencyBuckets + 1);
  AddReport(status, 5, 7, 0, 0);
  const StatusMsg msg = ToStatus(status);
  ASSERT_EQ(msg.slo.size(), 3u);
  for (const SloReport& r : msg.slo) {
    EXPECT_EQ(r.window.latency, LatencyHistogram{}) << r.config_version;
    EXPECT_EQ(r.window.latency.Total(), 0u);
  }
  EXPECT_EQ(msg.slo[0].window.requests, 50u);
  EXPECT_EQ(msg.slo[0].window.errors, 5u);
  EXPECT_EQ(msg.slo[1].window.requests, 20u);
  EXPECT_EQ(msg.slo[2].window.requests, 7u);
}

// A status without reports (an older node, or no requests) has none.
TEST(NodeStatusWireTest, NoReportsNoWindows) {
  v1::NodeStatus status;
  status.set_config_version(3);
  EXPECT_TRUE(ToStatus(status).slo.empty());
}

}  // namespace
}  // namespace omnirelay::cp
