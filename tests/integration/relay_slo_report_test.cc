// The SLO windows a relay reports (DESIGN.md §4 Rollouts): outcomes recorded
// through ConfigHost::RecordOutcome reach the control plane in the Watcher's
// NodeStatus, one SloReport per serving version, each window once. The
// control plane is a fake NodeFeed that welcomes the node and decodes every
// NodeStatus with the daemon's own ToStatus (src/controlplane), so the test
// covers the relay's encoding against the control plane's decoding.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eventually.h"
#include "grpc_node_stream.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay {
namespace {

namespace v1 = controlplane::v1;
using test_support::Eventually;

// Welcomes one node per stream and keeps what its NodeStatus messages say.
class FakeFeed final : public v1::NodeFeed::Service {
 public:
  grpc::Status Stream(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::ServerMessage, v1::NodeMessage>* stream) override {
    v1::NodeMessage message;
    if (!stream->Read(&message) || !message.has_hello()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    v1::ServerMessage welcome;
    welcome.mutable_welcome();
    stream->Write(welcome);
    while (stream->Read(&message)) {
      if (!message.has_status()) continue;
      MutexLock lock(mu_);
      statuses_.push_back(cp::ToStatus(message.status()));
    }
    return grpc::Status::OK;
  }

  std::vector<cp::StatusMsg> statuses() {
    MutexLock lock(mu_);
    return statuses_;
  }

 private:
  Mutex mu_;
  std::vector<cp::StatusMsg> statuses_ GUARDED_BY(mu_);
};

class RelaySloReportTest : public ::testing::Test {
 protected:
  RelaySloReportTest() : host_(ConfigHostOptions{}, SystemClock::Instance(), metrics_) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&feed_);
    server_ = builder.BuildAndStart();
  }
  ~RelaySloReportTest() override {
    if (watcher_) watcher_->Stop();
    server_->Shutdown();
  }

  void StartWatcher() {
    WatcherOptions o;
    o.node_id = "edge-1";
    o.scope_chain = {"global"};
    o.token = "t";
    o.grpc_endpoints = {"127.0.0.1:" + std::to_string(port_)};
    o.status_interval_ms = 40;
    watcher_ = std::make_unique<Watcher>(o, host_, SystemClock::Instance(), metrics_);
    ASSERT_TRUE(watcher_->Start().ok());
  }

  // What the fake received so far, added up per version.
  std::map<std::int64_t, SloWindow> Totals() {
    std::map<std::int64_t, SloWindow> out;
    for (const cp::StatusMsg& s : feed_.statuses()) {
      for (const SloReport& r : s.slo) out[r.config_version].Merge(r.window);
    }
    return out;
  }

  MetricsRegistry metrics_;
  ConfigHost host_;
  FakeFeed feed_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Watcher> watcher_;
};

// Outcomes recorded per version arrive as one report per version with their
// counts and latency buckets; later outcomes arrive once, on top — windows
// are never sent twice, and a status without requests carries no report.
TEST_F(RelaySloReportTest, StatusCarriesEachRecordedWindowOnce) {
  for (int i = 0; i < 3; ++i) host_.RecordOutcome(7, false, 3);
  host_.RecordOutcome(7, true, 600);
  host_.RecordOutcome(8, false, 1);
  host_.RecordOutcome(8, false, 1);
  StartWatcher();
  ASSERT_TRUE(Eventually([&] {
    auto t = Totals();
    return t[7].requests == 4 && t[8].requests == 2;
  }));
  std::map<std::int64_t, SloWindow> totals = Totals();
  EXPECT_EQ(totals[7].errors, 1u);
  EXPECT_EQ(totals[7].latency.counts[LatencyHistogram::BucketOf(3)], 3u);
  EXPECT_EQ(totals[7].latency.counts[LatencyHistogram::BucketOf(600)], 1u);
  EXPECT_EQ(totals[8].errors, 0u);
  EXPECT_EQ(totals[8].latency.Total(), 2u);

  for (int i = 0; i < 5; ++i) host_.RecordOutcome(8, true, 20);
  ASSERT_TRUE(Eventually([&] { return Totals()[8].requests == 7; }));
  // Several more status periods: nothing is sent again.
  const std::size_t seen = feed_.statuses().size();
  ASSERT_TRUE(Eventually([&] { return feed_.statuses().size() >= seen + 5; }));
  totals = Totals();
  EXPECT_EQ(totals[7].requests, 4u);
  EXPECT_EQ(totals[8].requests, 7u);
  EXPECT_EQ(totals[8].errors, 5u);

  std::size_t with_reports = 0;
  std::int64_t last_end = 0;
  for (const cp::StatusMsg& s : feed_.statuses()) {
    if (s.slo.empty()) continue;
    ++with_reports;
    for (const SloReport& r : s.slo) {
      EXPECT_GT(r.window.requests, 0u);
      EXPECT_GE(r.window_ms, 0);
      EXPECT_EQ(r.window.latency.Total(), r.window.requests);
      EXPECT_GE(r.window_start_ms, last_end);  // windows follow one another
    }
    last_end = s.slo.front().window_start_ms + s.slo.front().window_ms;
  }
  EXPECT_GE(with_reports, 2u);
  // v7 + v8, then v8 (twice, should a status fall amid the five records).
  EXPECT_GE(watcher_->stats().slo_reports_sent, 3u);
  const std::string rendered = metrics_.RenderPrometheus();
  EXPECT_NE(rendered.find("omnirelay_relay_watcher_slo_requests_total{node=\"edge-1\"} 11"),
            std::string::npos)
      << rendered;
  EXPECT_NE(rendered.find("omnirelay_relay_watcher_slo_errors_total{node=\"edge-1\"} 6"),
            std::string::npos);
}

}  // namespace
}  // namespace omnirelay::relay
