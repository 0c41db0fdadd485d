// metadata.rollout on a node (DESIGN.md §3.3, Compatibility): a node whose
// capabilities have "rolloutInfo" applies a snapshot naming its rollout wave
// and exposes it; a node without the feature refuses such a snapshot as an
// older build would (which is why the control plane sends it only to nodes
// that advertise the feature); the same version with and without the field
// replace each other without a rollback refusal.
#include <gtest/gtest.h>

#include <string>

#include "omnirelay/config/capability.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::Json;
using testing::SnapshotDoc;
using testing::TestSigner;

constexpr std::int64_t kVersion = 10;

Json Labelled(std::int64_t version, const std::string& id, std::int64_t wave) {
  Json doc = SnapshotDoc(version);
  doc["metadata"]["rollout"] = {{"id", id}, {"wave", wave}};
  return doc;
}

class RelayRolloutInfoTest : public ::testing::Test {
 protected:
  std::unique_ptr<ConfigHost> MakeHost(std::vector<std::string> features) {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    options.verify.capabilities.features = std::move(features);
    return std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
};

// A node with the feature applies the labelled snapshot; the label is on the
// current snapshot's metadata.
TEST_F(RelayRolloutInfoTest, NodeWithTheFeatureExposesTheRollout) {
  auto host = MakeHost({"shadowing", "rolloutInfo"});
  auto applied = host->Apply(signer_.Sign(Labelled(kVersion, "ro-3f9c0a1b2d", 2)));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_TRUE(host->Current()->snapshot().metadata.rollout.has_value());
  EXPECT_EQ(*host->Current()->snapshot().metadata.rollout, (SnapshotRollout{"ro-3f9c0a1b2d", 2}));
  EXPECT_TRUE(HasFeature(host->capabilities().features, kFeatureRolloutInfo));
}

// A node without the feature refuses the labelled snapshot (invalid:
// unknown_field /metadata/rollout) and keeps what it has; the same version
// without the label it applies.
TEST_F(RelayRolloutInfoTest, NodeWithoutTheFeatureRefusesTheField) {
  auto host = MakeHost({"shadowing"});
  auto refused = host->Apply(signer_.Sign(Labelled(kVersion, "ro-1", 1)));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalid) << refused.status().ToString();
  ASSERT_EQ(refused.status().diagnostics().size(), 1u);
  EXPECT_EQ(refused.status().diagnostics()[0].path, "/metadata/rollout");
  EXPECT_EQ(refused.status().diagnostics()[0].code, DiagCode::kUnknownField);
  EXPECT_FALSE(host->ready());
  auto plain = host->Apply(signer_.Sign(SnapshotDoc(kVersion)));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(host->Current()->snapshot().metadata.rollout.has_value());
}

// The applied version, rendered with the label after without it (and back),
// is the same signing named differently: swapped in, never a rollback.
TEST_F(RelayRolloutInfoTest, LabelAloneMayChangeOnTheAppliedVersion) {
  auto host = MakeHost({"shadowing", "rolloutInfo"});
  ASSERT_TRUE(host->Apply(signer_.Sign(SnapshotDoc(kVersion))).ok());
  auto labelled = host->Apply(signer_.Sign(Labelled(kVersion, "ro-1", 1)));
  ASSERT_TRUE(labelled.ok()) << labelled.status().ToString();
  EXPECT_EQ(labelled->kind, ApplyKind::kResigned);
  EXPECT_EQ(host->Current()->snapshot().metadata.rollout->id, "ro-1");
  auto plain = host->Apply(signer_.Sign(SnapshotDoc(kVersion)));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->kind, ApplyKind::kResigned);
  EXPECT_FALSE(host->Current()->snapshot().metadata.rollout.has_value());
}

// The label does not make other content acceptable: another spec at the
// applied version is still a rollback.
TEST_F(RelayRolloutInfoTest, LabelDoesNotCoverOtherContent) {
  auto host = MakeHost({"shadowing", "rolloutInfo"});
  ASSERT_TRUE(host->Apply(signer_.Sign(SnapshotDoc(kVersion))).ok());
  Json other = Labelled(kVersion, "ro-1", 1);
  other["spec"]["routes"]["billing"]["weights"] = {{"billing-v1", 10}, {"billing-v2", 90}};
  auto refused = host->Apply(signer_.Sign(other));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kRollback) << refused.status().ToString();
}

}  // namespace
}  // namespace omnirelay::relay
