// Routing intent joined with MeshKit endpoints (endpoint_join.h): members
// chosen by weight within statistical bounds and sticky per key, failover
// when a cluster has no healthy member, shadow targets resolved in their own
// cluster, and a clear refusal when nothing in the failover order is healthy.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "omnirelay/config/validate.h"
#include "omnirelay/meshkit/endpoints.h"
#include "omnirelay/relay/endpoint_join.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using meshkit::Endpoint;
using meshkit::Health;

constexpr int kKeys = 100'000;

bool WithinBounds(int hits, int n, double p) {
  const double sigma = std::sqrt(n * p * (1 - p));
  return std::abs(hits - n * p) <= 4 * sigma;
}

Endpoint Member(std::string id, std::string cluster, std::uint32_t weight = 1,
                Health health = Health::kHealthy) {
  Endpoint e;
  e.member_id = std::move(id);
  e.address = "10.0.0." + std::to_string(e.member_id.size());
  e.port = 9000;
  e.service = "billing";
  e.cluster = std::move(cluster);
  e.weight = weight;
  e.health = health;
  return e;
}

class EndpointJoinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto snapshot = DecodeAndValidateSnapshot(testing::SnapshotDoc(1).dump());
    ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    table_ = RoutingTable::Build(snapshot->spec);
  }
  void Feed(std::vector<Endpoint> endpoints) {
    ASSERT_TRUE(table_endpoints_.ApplySnapshot("f1", ++generation_, std::move(endpoints)).ok());
  }
  void SetHealth(const std::string& id, meshkit::Health health) {
    meshkit::EndpointsDelta d;
    d.base_generation = generation_;
    d.generation = ++generation_;
    d.health = {{id, health}};
    ASSERT_TRUE(table_endpoints_.ApplyDelta(d).ok());
  }
  // The `skip`-th key (k0, k1, ...) whose weights choose `cluster`.
  std::string KeyRoutedTo(const std::string& cluster, int skip = 0) {
    for (int i = 0;; ++i) {
      const std::string k = "k" + std::to_string(i);
      if (table_->PickCluster("billing", k).value() == cluster && skip-- == 0) return k;
    }
  }
  Result<EndpointChoice> Join(const std::string& key) {
    auto decision = table_->Route("billing", key);
    EXPECT_TRUE(decision.ok());
    return JoinEndpoints(*decision, *table_endpoints_.current());
  }

  std::shared_ptr<const RoutingTable> table_;
  meshkit::EndpointTable table_endpoints_;
  std::uint64_t generation_ = 0;
};

// The fixture's billing route is 90 % billing-v1, 10 % billing-v2; in v1,
// member a has weight 3 and b weight 1: over 100k keys a gets 67.5 %.
TEST_F(EndpointJoinTest, MembersByWeightWithinBoundsAndStickyPerKey) {
  Feed({Member("a", "billing-v1", 3), Member("b", "billing-v1", 1), Member("c", "billing-v2")});
  std::map<std::string, int> hits;
  for (int i = 0; i < kKeys; ++i) {
    auto choice = Join("k" + std::to_string(i));
    ASSERT_TRUE(choice.ok()) << choice.status().ToString();
    ++hits[choice->endpoint->member_id];
    EXPECT_EQ(choice->failover_index, 0u);
  }
  EXPECT_TRUE(WithinBounds(hits["a"], kKeys, 0.9 * 0.75)) << hits["a"];
  EXPECT_TRUE(WithinBounds(hits["b"], kKeys, 0.9 * 0.25)) << hits["b"];
  EXPECT_TRUE(WithinBounds(hits["c"], kKeys, 0.1)) << hits["c"];
  // Sticky: the same key, the same member.
  for (int i = 0; i < 100; ++i) {
    const std::string key = "sticky-" + std::to_string(i);
    EXPECT_EQ(Join(key)->endpoint, Join(key)->endpoint);
  }
}

// Unhealthy and draining members take no new requests; a cluster with none
// left fails over (billing-v1 -> billing-dr -> billing-eu), and comes back
// when a member is healthy again.
TEST_F(EndpointJoinTest, FailsOverWhenAClusterHasNoHealthyMember) {
  Feed({Member("a", "billing-v1"), Member("b", "billing-v1", 1, Health::kDraining),
        Member("c", "billing-v2"), Member("dr", "billing-dr"), Member("eu", "billing-eu")});
  const std::string key = KeyRoutedTo("billing-v1");
  EXPECT_EQ(Join(key)->endpoint->member_id, "a");  // b is draining
  SetHealth("a", Health::kUnhealthy);
  auto choice = Join(key);
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->cluster, "billing-dr");
  EXPECT_EQ(choice->failover_index, 1u);
  EXPECT_EQ(choice->endpoint->member_id, "dr");
  SetHealth("dr", Health::kUnknown);
  EXPECT_EQ(Join(key)->endpoint->member_id, "eu");
  SetHealth("eu", Health::kUnhealthy);
  const Status none = Join(key).status();
  EXPECT_EQ(none.code(), StatusCode::kUnavailable);
  EXPECT_NE(none.message().find("billing-v1, billing-dr, billing-eu"), std::string::npos)
      << none.ToString();
  SetHealth("a", Health::kHealthy);
  EXPECT_EQ(Join(key)->cluster, "billing-v1");
}

// The fixture mirrors 5 % of billing to billing-dr: the mirror goes to a
// member of billing-dr, and is dropped (not redirected) when it has none.
TEST_F(EndpointJoinTest, ShadowTargetsResolvedInTheirOwnCluster) {
  Feed({Member("a", "billing-v1"), Member("c", "billing-v2"), Member("dr", "billing-dr"),
        Member("eu", "billing-eu")});
  int mirrored = 0;
  std::string mirrored_key;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto choice = Join(key);
    ASSERT_TRUE(choice.ok());
    if (choice->shadow == nullptr) continue;
    ++mirrored;
    mirrored_key = key;
    EXPECT_EQ(choice->shadow_cluster, "billing-dr");
    EXPECT_EQ(choice->shadow->member_id, "dr");
  }
  EXPECT_TRUE(WithinBounds(mirrored, 2000, 0.05)) << mirrored;
  ASSERT_FALSE(mirrored_key.empty());
  SetHealth("dr", Health::kUnhealthy);
  auto choice = Join(mirrored_key);
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->shadow, nullptr);  // not sent to billing-eu
  EXPECT_EQ(choice->shadow_cluster, "");
}

// Endpoints of another service under the same cluster name are not used:
// the join is by (service, cluster) as the snapshot names them.
TEST_F(EndpointJoinTest, JoinsByServiceAndCluster) {
  const std::string key = KeyRoutedTo("billing-v1");
  Endpoint other = Member("x", "billing-v1");
  other.service = "payments";
  Feed({other, Member("y", "billing-v1"), Member("dr", "billing-dr")});
  for (int i = 0; i < 50; ++i) {
    const std::string k = KeyRoutedTo("billing-v1", i);
    EXPECT_EQ(Join(k)->endpoint->member_id, "y") << k;
  }
  // With only the other service's member there, billing-v1 has none: failover.
  Feed({other, Member("dr", "billing-dr")});
  auto choice = Join(key);
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->cluster, "billing-dr");
  EXPECT_EQ(choice->failover_index, 1u);
}

}  // namespace
}  // namespace omnirelay::relay
