#include "omnirelay/config/capability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace omnirelay {
namespace {

using Strings = std::vector<std::string>;

NodeCapabilities V1Node(Strings features = {}) {
  return NodeCapabilities{{std::string(kApiVersion)}, std::move(features)};
}

// A node with the apiVersion and every required feature has no gap.
TEST(CapabilityTest, CapableNode) {
  CapabilityGap gap = CheckCapabilities(kApiVersion, {"shadowing"}, V1Node({"shadowing"}));
  EXPECT_TRUE(gap.ok());
  EXPECT_FALSE(gap.api_version_unsupported);
  EXPECT_TRUE(gap.missing_features.empty());
  EXPECT_EQ(gap.ToString(), "capable");
}

// A snapshot needing no features only needs the apiVersion.
TEST(CapabilityTest, NoFeaturesNeeded) {
  EXPECT_TRUE(CheckCapabilities(kApiVersion, {}, V1Node()).ok());
}

// A missing feature is listed, and only once even if required twice.
TEST(CapabilityTest, MissingFeatureListedOnce) {
  CapabilityGap gap = CheckCapabilities(kApiVersion, {"shadowing", "shadowing"}, V1Node());
  EXPECT_FALSE(gap.ok());
  EXPECT_EQ(gap.missing_features, Strings{"shadowing"});
  EXPECT_EQ(gap.ToString(), "missing features: shadowing");
}

// Missing features keep the snapshot's order; features the node has are not listed.
TEST(CapabilityTest, MissingFeaturesInSnapshotOrder) {
  CapabilityGap gap =
      CheckCapabilities(kApiVersion, {"zeta", "shadowing", "alpha", "zeta"}, V1Node({"shadowing"}));
  EXPECT_EQ(gap.missing_features, (Strings{"zeta", "alpha"}));
  EXPECT_EQ(gap.ToString(), "missing features: zeta, alpha");
}

// An apiVersion the node does not list is unsupported and named.
TEST(CapabilityTest, UnsupportedApiVersion) {
  CapabilityGap gap = CheckCapabilities("omnirelay.config/v2", {}, V1Node({"shadowing"}));
  EXPECT_FALSE(gap.ok());
  EXPECT_TRUE(gap.api_version_unsupported);
  EXPECT_EQ(gap.api_version, "omnirelay.config/v2");
  EXPECT_EQ(gap.ToString(), "needs apiVersion omnirelay.config/v2");
}

// A node reporting no apiVersions supports none.
TEST(CapabilityTest, NodeWithoutApiVersions) {
  EXPECT_TRUE(CheckCapabilities(kApiVersion, {}, NodeCapabilities{}).api_version_unsupported);
}

// Both gaps together read "needs apiVersion ...; missing features: ...".
TEST(CapabilityTest, BothGaps) {
  CapabilityGap gap = CheckCapabilities("omnirelay.config/v2", {"shadowing"}, NodeCapabilities{});
  EXPECT_EQ(gap.ToString(), "needs apiVersion omnirelay.config/v2; missing features: shadowing");
}

// RequireCapabilities refuses with kMissingFeature and the gap as message.
TEST(CapabilityTest, RequireRefusesWithMissingFeature) {
  Status s = RequireCapabilities(kApiVersion, {"shadowing"}, V1Node());
  EXPECT_EQ(s.code(), StatusCode::kMissingFeature);
  EXPECT_EQ(s.code_name(), "missing_feature");
  EXPECT_EQ(s.message(), "missing features: shadowing");
}

// RequireCapabilities refuses an unsupported apiVersion with kMissingFeature too.
TEST(CapabilityTest, RequireRefusesApiVersion) {
  EXPECT_EQ(RequireCapabilities("omnirelay.config/v2", {}, V1Node()).code(),
            StatusCode::kMissingFeature);
}

// RequireCapabilities is OK for a capable node.
TEST(CapabilityTest, RequireOk) {
  EXPECT_TRUE(RequireCapabilities(kApiVersion, {"shadowing"}, V1Node({"shadowing"})).ok());
}

// This build reports apiVersion omnirelay.config/v1, the "shadowing" feature
// and the node feature "rolloutInfo" (it reads metadata.rollout).
TEST(CapabilityTest, LocalCapabilities) {
  NodeCapabilities local = LocalCapabilities();
  EXPECT_EQ(local.api_versions, Strings{"omnirelay.config/v1"});
  EXPECT_TRUE(HasFeature(local.features, "shadowing"));
  EXPECT_TRUE(HasFeature(local.features, "rolloutInfo"));
  EXPECT_FALSE(HasFeature(local.features, "teleportation"));
}

// This build can apply any snapshot it can decode (v1, shadowing).
TEST(CapabilityTest, LocalCapableOfOwnDocuments) {
  EXPECT_TRUE(
      RequireCapabilities(kApiVersion, {std::string(kFeatureShadowing)}, LocalCapabilities()).ok());
}

}  // namespace
}  // namespace omnirelay
