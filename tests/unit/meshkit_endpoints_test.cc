// EndpointTable (omnirelay/meshkit/endpoints.h): snapshots replace, deltas
// apply only to the generation held, nothing changes on a refusal, and the
// clusters a delta does not touch are shared with the set before it.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "omnirelay/meshkit/endpoints.h"

namespace omnirelay::meshkit {
namespace {

Endpoint E(std::string id, std::string cluster, Health health = Health::kHealthy) {
  Endpoint e;
  e.member_id = std::move(id);
  e.address = "10.0.0.1";
  e.port = 8080;
  e.service = "billing";
  e.cluster = std::move(cluster);
  e.health = health;
  return e;
}

TEST(EndpointTableTest, SnapshotGroupsByServiceAndCluster) {
  EndpointTable t;
  ASSERT_TRUE(
      t.ApplySnapshot("f1", 4, {E("b", "v1"), E("a", "v1"), E("c", "v2", Health::kDraining)}).ok());
  const auto& set = t.current();
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->feed_id(), "f1");
  EXPECT_EQ(set->generation(), 4u);
  EXPECT_EQ(set->size(), 3u);
  const ClusterEndpoints* v1 = set->Find("billing", "v1");
  ASSERT_NE(v1, nullptr);
  ASSERT_EQ(v1->endpoints.size(), 2u);
  EXPECT_EQ(v1->endpoints[0].member_id, "a");  // by member id
  EXPECT_EQ(v1->routable, 2u);
  EXPECT_EQ(set->Find("billing", "v2")->routable, 0u);  // draining takes no new requests
  EXPECT_EQ(set->Find("billing", "v3"), nullptr);
}

TEST(EndpointTableTest, DeltaAppliesInOrderAndSharesUntouchedClusters) {
  EndpointTable t;
  ASSERT_TRUE(t.ApplySnapshot("f1", 1, {E("a", "v1"), E("b", "v1"), E("c", "v2")}).ok());
  const auto before = t.current();
  EndpointsDelta d;
  d.base_generation = 1;
  d.generation = 5;  // generations need not be consecutive
  d.removed = {"a"};
  d.upserted = {E("d", "v1")};
  d.health = {{"b", Health::kUnhealthy}};
  ASSERT_TRUE(t.ApplyDelta(d).ok());
  const auto& after = t.current();
  EXPECT_EQ(after->generation(), 5u);
  const ClusterEndpoints* v1 = after->Find("billing", "v1");
  ASSERT_EQ(v1->endpoints.size(), 2u);
  EXPECT_EQ(v1->endpoints[0].member_id, "b");
  EXPECT_EQ(v1->endpoints[0].health, Health::kUnhealthy);
  EXPECT_EQ(v1->routable, 1u);
  // v2 was not touched: the same object in both sets.
  EXPECT_EQ(after->Find("billing", "v2"), before->Find("billing", "v2"));
  // The set before is unchanged (immutable).
  EXPECT_EQ(before->Find("billing", "v1")->endpoints.size(), 2u);
  EXPECT_EQ(before->Find("billing", "v1")->endpoints[0].member_id, "a");
}

TEST(EndpointTableTest, MemberMovingClusterLeavesItsOldOne) {
  EndpointTable t;
  ASSERT_TRUE(t.ApplySnapshot("f1", 1, {E("a", "v1")}).ok());
  EndpointsDelta d{1, 2, {}, {E("a", "v2")}, {}};
  ASSERT_TRUE(t.ApplyDelta(d).ok());
  EXPECT_EQ(t.current()->Find("billing", "v1"), nullptr);
  EXPECT_EQ(t.current()->Find("billing", "v2")->endpoints.size(), 1u);
}

TEST(EndpointTableTest, DeltaOnAnotherGenerationIsAGap) {
  EndpointTable t;
  ASSERT_TRUE(t.ApplySnapshot("f1", 3, {E("a", "v1")}).ok());
  EndpointsDelta d{2, 4, {"a"}, {}, {}};
  const Status s = t.ApplyDelta(d);
  EXPECT_EQ(s.code(), StatusCode::kConflict) << s.ToString();
  EXPECT_EQ(t.generation(), 3u);
  EXPECT_EQ(t.current()->size(), 1u);
  EndpointTable empty;
  EXPECT_EQ(empty.ApplyDelta(EndpointsDelta{0, 1, {}, {}, {}}).code(), StatusCode::kConflict);
}

TEST(EndpointTableTest, MalformedMessagesChangeNothing) {
  EndpointTable t(Limits{.max_endpoints = 3});
  ASSERT_TRUE(t.ApplySnapshot("f1", 1, {E("a", "v1")}).ok());
  const auto held = t.current();
  Endpoint no_port = E("x", "v1");
  no_port.port = 0;
  EXPECT_EQ(t.ApplySnapshot("f1", 2, {E("b", "v1"), no_port}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.ApplySnapshot("f1", 2, {E("b", "v1"), E("b", "v2")}).code(),
            StatusCode::kInvalidArgument);  // a member twice
  EXPECT_EQ(t.ApplySnapshot("f1", 0, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.ApplySnapshot("f1", 2, {E("1", "v"), E("2", "v"), E("3", "v"), E("4", "v")}).code(),
            StatusCode::kInvalidArgument);  // over the limit
  EXPECT_EQ(t.ApplyDelta(EndpointsDelta{1, 1, {}, {}, {}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.ApplyDelta(EndpointsDelta{1, 2, {"nobody"}, {}, {}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(t.ApplyDelta(EndpointsDelta{1, 2, {}, {}, {{"nobody", Health::kHealthy}}}).code(),
            StatusCode::kInvalidArgument);
  // Valid upserts with an invalid one: none applied.
  EXPECT_EQ(t.ApplyDelta(EndpointsDelta{1, 2, {}, {E("b", "v1"), no_port}, {}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      t.ApplyDelta(EndpointsDelta{1, 2, {}, {E("b", "v"), E("c", "v"), E("d", "v")}, {}}).code(),
      StatusCode::kInvalidArgument);  // 4 > 3
  EXPECT_EQ(t.current(), held);
}

// The alias table: over many hashes each routable member is picked in
// proportion to its weight (within 4 standard deviations), unroutable ones
// never; the same hash picks the same member.
TEST(EndpointTableTest, PickFollowsWeights) {
  EndpointTable t;
  std::vector<Endpoint> members;
  std::uint64_t total = 0;
  for (int i = 0; i < 10; ++i) {
    Endpoint e = E("m" + std::to_string(i), "v1", i == 4 ? Health::kUnhealthy : Health::kHealthy);
    e.weight = static_cast<std::uint32_t>(1 + i * i);  // 1, 2, 5, ..., 82
    if (e.routable()) total += e.weight;
    members.push_back(e);
  }
  ASSERT_TRUE(t.ApplySnapshot("f1", 1, members).ok());
  const ClusterEndpoints* c = t.current()->Find("billing", "v1");
  ASSERT_EQ(c->routable, 9u);
  constexpr int kPicks = 200'000;
  std::map<std::string, int> hits;
  std::uint64_t x = 88172645463325252ULL;  // xorshift64: uniform hashes
  for (int i = 0; i < kPicks; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const Endpoint* e = c->Pick(x);
    ASSERT_NE(e, nullptr);
    ++hits[e->member_id];
    ASSERT_EQ(c->Pick(x), e);
  }
  EXPECT_EQ(hits.count("m4"), 0u);
  for (const Endpoint& e : members) {
    if (!e.routable()) continue;
    const double p = static_cast<double>(e.weight) / static_cast<double>(total);
    const double sigma = std::sqrt(kPicks * p * (1 - p));
    EXPECT_LE(std::abs(hits[e.member_id] - kPicks * p), 4 * sigma)
        << e.member_id << " weight " << e.weight << ": " << hits[e.member_id];
  }
  Endpoint heavy = E("x", "v1");
  heavy.weight = 1'000'001;
  EXPECT_EQ(CheckEndpoint(heavy).code(), StatusCode::kInvalidArgument);
}

TEST(EndpointTableTest, HealthNamesRoundTrip) {
  for (Health h : {Health::kUnknown, Health::kHealthy, Health::kUnhealthy, Health::kDraining}) {
    EXPECT_EQ(ParseHealth(HealthName(h)), h);
  }
  EXPECT_FALSE(ParseHealth("up").has_value());
}

// Bridges: a snapshot replaces them, a delta upserts and removes by name,
// and a malformed one changes nothing.
TEST(EndpointTableTest, BridgesBySnapshotAndDelta) {
  EndpointTable t;
  const BridgeStatus down{"use1-euw1", {"use1-a", "euw1-a"}, BridgeState::kDown, ""};
  const BridgeStatus up{"use1-aps1", {"use1-a", "aps1-a"}, BridgeState::kUp, ""};
  ASSERT_TRUE(t.ApplySnapshot("f1", 1, {E("a", "v1")}, {down, up}).ok());
  ASSERT_EQ(t.current()->bridges().size(), 2u);
  EXPECT_EQ(t.current()->bridges()[0].name, "use1-aps1");  // sorted by name
  EndpointsDelta d{1, 2, {}, {}, {}};
  BridgeStatus recovered = down;
  recovered.state = BridgeState::kUp;
  d.bridges = {recovered};
  d.removed_bridges = {"use1-aps1"};
  ASSERT_TRUE(t.ApplyDelta(d).ok());
  ASSERT_EQ(t.current()->bridges().size(), 1u);
  EXPECT_TRUE(t.current()->bridges()[0].up());
  EXPECT_EQ(BridgeStateName(BridgeState::kFlapping), "flapping");
  EXPECT_EQ(ParseBridgeState("down"), BridgeState::kDown);

  EndpointsDelta unknown{2, 3, {}, {}, {}};
  unknown.removed_bridges = {"nope"};
  EXPECT_EQ(t.ApplyDelta(unknown).code(), StatusCode::kInvalidArgument);
  EndpointsDelta same_cell{2, 3, {}, {}, {}};
  same_cell.bridges = {BridgeStatus{"x", {"use1-a", "use1-a"}, BridgeState::kUp, ""}};
  EXPECT_EQ(t.ApplyDelta(same_cell).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.ApplySnapshot("f1", 3, {}, {down, down}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.generation(), 2u);  // nothing changed
  EXPECT_TRUE(t.current()->bridges()[0].up());
}

}  // namespace
}  // namespace omnirelay::meshkit
