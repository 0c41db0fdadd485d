// Wave gates (rollout_gates.h): histograms, and each gate's hold and rollback.
#include "rollout_gates.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kStart = 1'000'000;

SloWindow Window(std::uint64_t requests, std::uint64_t errors, double latency_ms) {
  SloWindow w;
  w.requests = requests;
  w.errors = errors;
  w.latency.Record(latency_ms, requests);
  return w;
}

class GatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.min_requests = 100;
    for (int i = 0; i < 10; ++i) {
      const std::string id = "n-" + std::to_string(i);
      ids_.push_back(id);
      NodeReport r;
      r.connected = true;
      r.applied_version = r.acked_version = 7;
      r.slo = Window(100, 1, 40);
      reports_[id] = r;
    }
  }

  GateVerdict Evaluate(std::int64_t now) {
    WaveGateInput in;
    in.policy = &policy_;
    in.node_ids = &ids_;
    in.reports = &reports_;
    in.assigned_version = 7;
    in.baseline = Window(1000, 10, 40);
    in.wave_started_ms = kStart;
    in.now_ms = now;
    return EvaluateWave(in);
  }

  RolloutPolicy policy_;
  std::vector<std::string> ids_;
  NodeReports reports_;
};

// p99 is interpolated inside the bucket holding rank ceil(0.99 n); histograms merge by adding.
TEST(LatencyHistogramTest, QuantileInterpolatesAndMergeAdds) {
  LatencyHistogram h;
  EXPECT_EQ(h.QuantileMs(0.99), 0);
  h.Record(3, 100);  // bucket (2, 5]
  EXPECT_DOUBLE_EQ(h.QuantileMs(0.99), 2 + 3 * 99.0 / 100.0);
  LatencyHistogram big;
  big.Record(60'000, 100);  // the overflow bucket answers the last bound
  h.Merge(big);
  EXPECT_EQ(h.Total(), 200u);
  EXPECT_DOUBLE_EQ(h.QuantileMs(0.99), kLatencyBoundsMs.back());
  EXPECT_DOUBLE_EQ(h.QuantileMs(0.25), 2 + 3 * 50.0 / 100.0);
}

// A healthy wave holds for bake time, then promotes.
TEST_F(GatesTest, HealthyWaveHoldsForBakeThenPromotes) {
  const GateVerdict during = Evaluate(kStart + 1000);
  EXPECT_EQ(during.verdict, Verdict::kHold);
  EXPECT_EQ(during.gate, "bake");
  EXPECT_EQ(during.figures.bake_remaining_ms, policy_.bake_ms - 1000);
  EXPECT_EQ(Evaluate(kStart + policy_.bake_ms).verdict, Verdict::kPromote);
}

// Missing ACKs hold at "ack" with figures; past the deadline they roll back.
TEST_F(GatesTest, AckRatioHoldsThenDeadlineRollsBack) {
  for (int i = 0; i < 3; ++i) reports_["n-" + std::to_string(i)].acked_version = 6;
  const GateVerdict v = Evaluate(kStart + 1000);
  EXPECT_EQ(v.gate, "ack");
  EXPECT_EQ(v.figures.acked, 7);
  EXPECT_DOUBLE_EQ(v.figures.ack_ratio, 0.7);
  EXPECT_NE(v.message.find("7/10"), std::string::npos) << v.message;
  const GateVerdict late = Evaluate(kStart + policy_.ack_deadline_ms);
  EXPECT_EQ(late.verdict, Verdict::kRollback);
  EXPECT_EQ(late.reason, RollbackReason::kAckDeadline);
}

// An offline node that has not ACKed leaves the denominator after the grace and is counted.
TEST_F(GatesTest, OfflineNodeLeavesDenominatorAfterGrace) {
  NodeReport& r = reports_["n-0"];
  r.connected = false;
  r.offline_since_ms = kStart;
  r.acked_version = 6;
  policy_.min_ack_ratio = 1.0;
  EXPECT_EQ(Evaluate(kStart + policy_.offline_grace_ms - 1).gate, "ack");
  const GateVerdict v = Evaluate(kStart + policy_.bake_ms);
  EXPECT_EQ(v.verdict, Verdict::kPromote);
  EXPECT_EQ(v.figures.offline_excluded, 1);
  EXPECT_EQ(v.figures.counted, 9);
}

// With the ACK ratio met, a connected node that has not applied the version
// (stuck, or refusing it under the NACK threshold) holds the wave at "drift",
// named; once it ACKs, or is offline past the grace, the wave promotes.
TEST_F(GatesTest, DriftingOrNackingNodeHoldsPromotion) {
  policy_.min_ack_ratio = 0.8;
  policy_.max_nack_ratio = 0.2;
  reports_["n-3"].acked_version = reports_["n-3"].applied_version = 6;  // stuck on v6
  reports_["n-5"].acked_version = reports_["n-5"].applied_version = 6;
  reports_["n-5"].nacked_version = 7;  // refused v7
  GateVerdict v = Evaluate(kStart + policy_.bake_ms);
  EXPECT_EQ(v.verdict, Verdict::kHold);
  EXPECT_EQ(v.gate, "drift");
  EXPECT_EQ(v.figures.drifting, 2);
  EXPECT_EQ(v.figures.nacked, 1);
  EXPECT_NE(v.message.find("n-3, n-5"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("1 refused it"), std::string::npos) << v.message;
  // Not for ever: past the ACK deadline a node still behind rolls back.
  const GateVerdict late = Evaluate(kStart + policy_.ack_deadline_ms);
  EXPECT_EQ(late.verdict, Verdict::kRollback);
  EXPECT_EQ(late.reason, RollbackReason::kAckDeadline);
  EXPECT_EQ(late.gate, "drift");
  EXPECT_NE(late.message.find("n-3, n-5"), std::string::npos) << late.message;

  reports_["n-3"].acked_version = reports_["n-3"].applied_version = 7;
  reports_["n-5"].connected = false;
  reports_["n-5"].offline_since_ms = kStart;
  v = Evaluate(kStart + policy_.bake_ms + policy_.offline_grace_ms);
  EXPECT_EQ(v.verdict, Verdict::kPromote) << v.message;
  EXPECT_EQ(v.figures.drifting, 0);
}

// NACKs over the ratio roll back at once.
TEST_F(GatesTest, NackRatioRollsBack) {
  reports_["n-0"].acked_version = 6;
  reports_["n-0"].nacked_version = 7;
  const GateVerdict v = Evaluate(kStart + 1);
  EXPECT_EQ(v.verdict, Verdict::kRollback);
  EXPECT_EQ(v.reason, RollbackReason::kNackRatio);
  EXPECT_EQ(RollbackReasonName(v.reason), "nack_ratio");
}

// Error rate and p99 over the baseline roll back; too few requests hold at "slo".
TEST_F(GatesTest, SloBreachRollsBackAndFewRequestsHold) {
  reports_["n-0"].slo = Window(100, 60, 40);
  EXPECT_EQ(Evaluate(kStart + 1).reason, RollbackReason::kSloBreach);
  reports_["n-0"].slo = Window(100, 1, 40);
  for (auto& [id, r] : reports_) r.slo = Window(100, 1, 900);
  EXPECT_EQ(Evaluate(kStart + 1).reason, RollbackReason::kSloBreach);
  for (auto& [id, r] : reports_) r.slo = Window(5, 0, 40);
  const GateVerdict v = Evaluate(kStart + policy_.bake_ms);
  EXPECT_EQ(v.gate, "slo");
  EXPECT_EQ(v.figures.requests, 50u);
}

// A node on the assigned version with another hash, or above it, is divergence.
TEST_F(GatesTest, DivergenceRollsBack) {
  AssignedHashes hashes;
  for (const auto& id : ids_) {
    hashes[id] = "sha256:good";
    reports_[id].applied_hash = "sha256:good";
  }
  reports_["n-3"].applied_hash = "sha256:evil";
  WaveGateInput in;
  in.policy = &policy_;
  in.node_ids = &ids_;
  in.reports = &reports_;
  in.assigned_version = 7;
  in.assigned_hashes = &hashes;
  in.baseline = Window(1000, 10, 40);
  in.wave_started_ms = kStart;
  in.now_ms = kStart + 1;
  EXPECT_EQ(EvaluateWave(in).reason, RollbackReason::kDivergence);
  reports_["n-3"].applied_hash = "sha256:good";
  reports_["n-4"].applied_version = 9;
  EXPECT_EQ(Evaluate(kStart + 1).reason, RollbackReason::kDivergence);
}

// ACKed but not yet applied, or discovery generations apart, holds at "coherence".
TEST_F(GatesTest, CoherenceHolds) {
  reports_["n-1"].applied_version = 6;
  EXPECT_EQ(Evaluate(kStart + policy_.bake_ms).gate, "coherence");
  reports_["n-1"].applied_version = 7;
  reports_["n-1"].has_discovery_generation = reports_["n-2"].has_discovery_generation = true;
  reports_["n-1"].discovery_generation = 100;
  reports_["n-2"].discovery_generation = 100 + policy_.max_discovery_generation_skew + 1;
  const GateVerdict v = Evaluate(kStart + policy_.bake_ms);
  EXPECT_EQ(v.gate, "coherence");
  EXPECT_EQ(v.figures.discovery_skew, policy_.max_discovery_generation_skew + 1);
}

}  // namespace
}  // namespace omnirelay::cp
