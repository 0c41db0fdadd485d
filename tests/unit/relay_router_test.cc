// Routing over a snapshot: weighted choice (distribution and determinism),
// failover order, shadow decisions (the config library's shadow math), tables
// attached to a host's snapshots, and the endpoint seam.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <unordered_set>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/shadow.h"
#include "omnirelay/config/validate.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::SnapshotDoc;
using testing::TestSigner;

constexpr int kKeys = 100'000;

Spec FixtureSpec() {
  auto snapshot = DecodeAndValidateSnapshot(SnapshotDoc(1).dump());
  EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  return snapshot->spec;
}

// True when `hits` out of `n` is within 4 standard deviations of probability `p`.
bool WithinBounds(int hits, int n, double p) {
  const double sigma = std::sqrt(n * p * (1 - p));
  return std::abs(hits - n * p) <= 4 * sigma;
}

std::string Key(int i) {
  return "request-" + std::to_string(i);
}

class RelayRoutingTableTest : public ::testing::Test {
 protected:
  std::shared_ptr<const RoutingTable> table_ = RoutingTable::Build(FixtureSpec());
};

// Over many keys each cluster gets its weight's share (90/10), within 4 sigma.
TEST_F(RelayRoutingTableTest, WeightsDistributionWithinBounds) {
  int v1 = 0;
  for (int i = 0; i < kKeys; ++i) {
    auto cluster = table_->PickCluster("billing", Key(i));
    ASSERT_TRUE(cluster.ok());
    ASSERT_TRUE(*cluster == "billing-v1" || *cluster == "billing-v2") << *cluster;
    v1 += *cluster == "billing-v1";
  }
  EXPECT_TRUE(WithinBounds(v1, kKeys, 0.9)) << v1;
}

// Uniform random values split by weight as well, within 4 sigma.
TEST_F(RelayRoutingTableTest, RandomChoiceDistributionWithinBounds) {
  std::mt19937_64 random(42);
  int v2 = 0;
  for (int i = 0; i < kKeys; ++i)
    v2 += *table_->PickClusterRandom("billing", random()) == "billing-v2";
  EXPECT_TRUE(WithinBounds(v2, kKeys, 0.1)) << v2;
}

// The same key gets the same cluster, also from a table built separately.
TEST_F(RelayRoutingTableTest, ChoiceIsDeterministicByKey) {
  auto other = RoutingTable::Build(FixtureSpec());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(*table_->PickCluster("billing", Key(i)), *table_->PickCluster("billing", Key(i)));
    EXPECT_EQ(*table_->PickCluster("billing", Key(i)), *other->PickCluster("billing", Key(i)));
  }
}

// A cluster of weight 0 is never chosen.
TEST_F(RelayRoutingTableTest, ZeroWeightIsNeverChosen) {
  Spec spec = FixtureSpec();
  for (auto& route : spec.routes) {
    if (route.name != "billing") continue;
    route.value.weights = {{"billing-v1", 0}, {"billing-v2", 100}};
  }
  auto table = RoutingTable::Build(spec);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(*table->PickCluster("billing", Key(i)), "billing-v2");
  EXPECT_EQ(*table->PickClusterRandom("billing", 0), "billing-v2");
  EXPECT_EQ(*table->PickClusterRandom("billing", ~0ull), "billing-v2");
}

// An unknown route is kNotFound.
TEST_F(RelayRoutingTableTest, UnknownRouteIsNotFound) {
  EXPECT_EQ(table_->PickCluster("nope", "k").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(table_->Route("nope", "k").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(table_->ShouldShadow("nope", "k"));
}

// Failover order: the cluster, its list, then the lists of those, breadth-first.
TEST_F(RelayRoutingTableTest, FailoverOrderFollowsLists) {
  auto order = table_->FailoverOrder("billing-v1");
  EXPECT_EQ(std::vector<std::string>(order.begin(), order.end()),
            (std::vector<std::string>{"billing-v1", "billing-dr", "billing-eu"}));
  auto alone = table_->FailoverOrder("billing-v2");
  EXPECT_EQ(std::vector<std::string>(alone.begin(), alone.end()),
            (std::vector<std::string>{"billing-v2"}));
  EXPECT_TRUE(table_->FailoverOrder("nope").empty());
}

// Duplicates are dropped and cycles stop the walk (defensively: validation forbids them).
TEST_F(RelayRoutingTableTest, FailoverOrderDeduplicatesAndStopsAtCycles) {
  Spec spec;
  spec.clusters = {{"a", {"s", "", "", {"b", "b", "c"}, {}}},
                   {"b", {"s", "", "", {"a", "d"}, {}}},
                   {"c", {"s", "", "", {"a"}, {}}},
                   {"d", {"s", "", "", {"b", "ghost"}, {}}}};
  auto table = RoutingTable::Build(spec);
  auto order = table->FailoverOrder("a");
  EXPECT_EQ(std::vector<std::string>(order.begin(), order.end()),
            (std::vector<std::string>{"a", "b", "c", "d"}));
}

// A long failover chain stops at kMaxFailoverOrder clusters.
TEST_F(RelayRoutingTableTest, FailoverOrderIsCapped) {
  Spec spec;
  for (int i = 0; i < 100; ++i) {
    spec.clusters.push_back(
        {"c" + std::to_string(i), {"s", "", "", {"c" + std::to_string(i + 1)}, {}}});
  }
  EXPECT_EQ(RoutingTable::Build(spec)->FailoverOrder("c0").size(), kMaxFailoverOrder);
}

// Shadow decisions are exactly ShouldShadow(key, percent, route name).
TEST_F(RelayRoutingTableTest, ShadowDecisionsMatchShouldShadow) {
  int mirrored = 0;
  for (int i = 0; i < kKeys; ++i) {
    const bool expected = ShouldShadow(Key(i), 500, "billing");
    ASSERT_EQ(table_->ShouldShadow("billing", Key(i)), expected) << Key(i);
    auto decision = table_->Route("billing", Key(i));
    ASSERT_TRUE(decision.ok());
    ASSERT_EQ(decision->shadow_cluster, expected ? "billing-dr" : "") << Key(i);
    mirrored += expected;
  }
  EXPECT_TRUE(WithinBounds(mirrored, kKeys, 0.05)) << mirrored;
  EXPECT_EQ(table_->ShadowCluster("billing"), "billing-dr");
}

// A route without a shadow never mirrors.
TEST_F(RelayRoutingTableTest, RouteWithoutShadowNeverMirrors) {
  for (int i = 0; i < 1000; ++i) {
    auto decision = table_->Route("auth", Key(i));
    ASSERT_TRUE(decision.ok());
    EXPECT_EQ(decision->cluster, "auth-v1");
    EXPECT_TRUE(decision->shadow_cluster.empty());
  }
}

// The cluster choice is independent of the shadow decision: mirrored keys still split 90/10.
TEST_F(RelayRoutingTableTest, ChoiceIsIndependentOfShadowDecision) {
  int mirrored = 0, mirrored_v1 = 0;
  for (int i = 0; i < 4 * kKeys; ++i) {
    auto decision = table_->Route("billing", Key(i));
    if (decision->shadow_cluster.empty()) continue;
    ++mirrored;
    mirrored_v1 += decision->cluster == "billing-v1";
  }
  EXPECT_TRUE(WithinBounds(mirrored_v1, mirrored, 0.9)) << mirrored_v1 << "/" << mirrored;
}

// A decision carries the chosen cluster's failover order.
TEST_F(RelayRoutingTableTest, DecisionCarriesFailoverOrder) {
  for (int i = 0; i < 100; ++i) {
    auto decision = table_->Route("billing", Key(i));
    ASSERT_TRUE(decision.ok());
    ASSERT_FALSE(decision->failover.empty());
    EXPECT_EQ(decision->failover.front(), decision->cluster);
    EXPECT_EQ(decision->failover.data(), table_->FailoverOrder(decision->cluster).data());
  }
}

class FakeEndpoints final : public IEndpointSource {
 public:
  std::int64_t generation() const override { return 1; }
  bool HasHealthyEndpoints(std::string_view cluster) const override {
    return healthy.contains(std::string(cluster));
  }
  std::set<std::string> healthy;
};

// The endpoint join picks the first cluster of the failover order that has healthy endpoints.
TEST_F(RelayRoutingTableTest, SelectReachableWalksFailoverOrder) {
  RouteDecision decision;
  decision.cluster = "billing-v1";
  decision.failover = table_->FailoverOrder("billing-v1");
  FakeEndpoints endpoints;
  endpoints.healthy = {"billing-eu", "billing-dr"};
  EXPECT_EQ(*SelectReachable(decision, endpoints), "billing-dr");
  endpoints.healthy = {"billing-v1"};
  EXPECT_EQ(*SelectReachable(decision, endpoints), "billing-v1");
  endpoints.healthy = {};
  EXPECT_EQ(SelectReachable(decision, endpoints).status().code(), StatusCode::kUnavailable);
}

class RelayRouterTest : public ::testing::Test {
 protected:
  RelayRouterTest() : host_(Options(), clock_, metrics_) {}
  ConfigHostOptions Options() {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    return options;
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
  ConfigHost host_;
};

// A router attached at start finds a table on every snapshot the host publishes.
TEST_F(RelayRouterTest, RoutesCurrentSnapshot) {
  auto router = Router::Attach(host_);
  ASSERT_TRUE(router.ok());
  ASSERT_TRUE(host_.Apply(signer_.Sign(SnapshotDoc(1))).ok());
  const auto& snapshot = host_.Current();
  ASSERT_NE(router->Table(*snapshot), nullptr);
  auto decision = router->Route(*snapshot, "auth", "k");
  ASSERT_TRUE(decision.ok()) << decision.status().ToString();
  EXPECT_EQ(decision->cluster, "auth-v1");
  EXPECT_EQ(router->Table(*snapshot)->route_count(), 2u);
}

// A router attached late republishes the current snapshot with its table.
TEST_F(RelayRouterTest, LateAttachBuildsTableForCurrent) {
  ASSERT_TRUE(host_.Apply(signer_.Sign(SnapshotDoc(1))).ok());
  std::shared_ptr<const AppliedSnapshot> before = host_.Current();
  auto router = Router::Attach(host_);
  ASSERT_TRUE(router.ok());
  EXPECT_EQ(router->Table(*before), nullptr);
  EXPECT_EQ(router->Route(*before, "auth", "k").status().code(), StatusCode::kUnavailable);
  ASSERT_NE(router->Table(*host_.Current()), nullptr);
  EXPECT_EQ(host_.Current()->version(), 1);
}

}  // namespace
}  // namespace omnirelay::relay
