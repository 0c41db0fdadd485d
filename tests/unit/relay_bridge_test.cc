// Bridge export/deny lists in the relay's routing decision (router.h, rules
// 1-6): a cluster across a bridge that does not let its service through is
// never chosen, the decision falls to the next permitted cluster of the
// failover order or fails no_route, shadows across such a bridge are
// dropped, and refusals and crossings are counted per bridge.
#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/shadow.h"
#include "omnirelay/config/validate.h"
#include "omnirelay/meshkit/endpoints.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/endpoint_join.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::Json;
using testing::SnapshotDoc;

constexpr int kKeys = 100'000;
constexpr char kCell[] = "use1-a";

std::string Key(int i) {
  return "user-" + std::to_string(i);
}

// The fixture (SnapshotDoc: relay chain in cell use1-a; billing-v1/v2 in
// use1-a, billing-dr/eu in euw1-a; bridge use1-euw1 exports only auth) with
// route "billing" at 60 % billing-dr, 40 % billing-v1, and billing-dr
// failing over to billing-eu, then billing-v2; no shadow.
Json CrossCellDoc() {
  Json doc = SnapshotDoc(1);
  doc["spec"]["routes"]["billing"].erase("shadow");
  doc["spec"]["routes"]["billing"]["weights"] = {{"billing-dr", 60}, {"billing-v1", 40}};
  doc["spec"]["clusters"]["billing-dr"]["failover"] = {"billing-eu", "billing-v2"};
  return doc;
}

Json& Bridge(Json& doc) {
  return doc["spec"]["topology"]["bridges"]["use1-euw1"];
}

Snapshot Decode(const Json& doc) {
  auto snapshot = DecodeAndValidateSnapshot(doc.dump());
  if (!snapshot.ok()) {
    for (const Diagnostic& d : snapshot.status().diagnostics())
      ADD_FAILURE() << d.path << ": " << d.message;
    return Snapshot{};
  }
  return *snapshot;
}

Counter& Refusals(MetricsRegistry& metrics, std::string_view labels) {
  return metrics.counter("omnirelay_relay_bridge_refusals_total", "", labels);
}
Counter& Routed(MetricsRegistry& metrics, std::string_view bridge, std::string_view kind) {
  return metrics.counter(
      "omnirelay_relay_bridge_routed_total", "",
      "bridge=\"" + std::string(bridge) + "\",kind=\"" + std::string(kind) + "\"");
}

meshkit::Endpoint Member(const std::string& cluster) {
  meshkit::Endpoint e;
  e.member_id = cluster + "-a";
  e.address = "10.0.0.1";
  e.port = 9000;
  e.service = "billing";
  e.cluster = cluster;
  e.health = meshkit::Health::kHealthy;
  return e;
}

// How the fixture refuses billing across use1-euw1: the bridge not exporting
// it, denying it, or missing.
struct Refusal {
  const char* name;
  const char* reason;
  const char* labels;  // of its refusal counter for kind="request"
  void (*shape)(Json& doc);
};

const Refusal kRefusals[] = {
    {"NotExported", "not_exported",
     R"(bridge="use1-euw1",to_cell="euw1-a",reason="not_exported",kind="request")", [](Json&) {}},
    {"Denied", "denied", R"(bridge="use1-euw1",to_cell="euw1-a",reason="denied",kind="request")",
     [](Json& doc) { Bridge(doc)["denyServices"] = {"billing"}; }},
    {"NoBridge", "no_bridge", R"(bridge="",to_cell="euw1-a",reason="no_bridge",kind="request")",
     [](Json& doc) { doc["spec"]["topology"]["bridges"] = Json::object(); }},
};

void PrintTo(const Refusal& refusal, std::ostream* os) {
  *os << refusal.name;
}

class BridgeRefusalTest : public ::testing::TestWithParam<Refusal> {
 protected:
  Spec SpecFor(Json doc) {
    GetParam().shape(doc);
    return Decode(doc).spec;
  }
  MetricsRegistry metrics_;
};

// Over 100k keys no decision, failover order or join lands in euw1-a: keys
// the weights send to billing-dr go to billing-v2 (the first permitted
// cluster of billing-dr's order), and each is counted as a refusal.
TEST_P(BridgeRefusalTest, RefusedServiceNeverChosenAcrossBridge) {
  auto table = RoutingTable::Build(SpecFor(CrossCellDoc()), {kCell, &metrics_, ""});
  meshkit::EndpointTable feed;
  ASSERT_TRUE(
      feed.ApplySnapshot("f", 1, {Member("billing-dr"), Member("billing-eu"), Member("billing-v2")})
          .ok());
  std::map<std::string, int> chosen;
  int weighted_to_dr = 0;
  for (int i = 0; i < kKeys; ++i) {
    weighted_to_dr += *table->PickCluster("billing", Key(i)) == "billing-dr";
    auto d = table->Route("billing", Key(i));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ++chosen[std::string(d->cluster)];
    for (const std::string& c : d->failover) {
      ASSERT_TRUE(c != "billing-dr" && c != "billing-eu") << Key(i) << " may fail over to " << c;
    }
    // billing-v1 has no member: the join walks on, past nothing refused,
    // while billing-dr and billing-eu have healthy members.
    auto joined = JoinEndpoints(*d, *feed.current());
    ASSERT_TRUE(joined.ok()) << joined.status().ToString();
    EXPECT_EQ(joined->cluster, "billing-v2");
  }
  EXPECT_EQ((std::map<std::string, int>{{"billing-v1", kKeys - weighted_to_dr},
                                        {"billing-v2", weighted_to_dr}}),
            chosen);
  EXPECT_GT(weighted_to_dr, kKeys / 2);
  EXPECT_EQ(Refusals(metrics_, GetParam().labels).value(),
            static_cast<std::uint64_t>(weighted_to_dr));
  EXPECT_EQ(Routed(metrics_, "use1-euw1", "request").value(), 0u);
  EXPECT_TRUE(table->FailoverOrder("billing-eu").empty());
}

// When nothing in the chosen cluster's order is permitted, Route fails with
// a no_route message naming the route, cluster, service, bridge and cells.
TEST_P(BridgeRefusalTest, NoPermittedChoiceIsNoRoute) {
  Json doc = CrossCellDoc();
  doc["spec"]["routes"]["billing"]["weights"] = {{"billing-dr", 100}};
  doc["spec"]["clusters"]["billing-dr"]["failover"] = {"billing-eu"};
  auto table = RoutingTable::Build(SpecFor(doc), {kCell, &metrics_, ""});
  auto d = table->Route("billing", "user-1");
  ASSERT_EQ(d.status().code(), StatusCode::kUnavailable);
  const std::string& m = d.status().message();
  EXPECT_EQ(m.rfind("no_route:", 0), 0u) << m;
  const std::string reason = GetParam().reason;
  const std::string why = reason == "no_bridge" ? "no bridge joins the cells"
                          : reason == "denied"  ? "bridge use1-euw1 denies it"
                                                : "bridge use1-euw1 does not export it";
  EXPECT_EQ(m,
            "no_route: route \"billing\" chose cluster \"billing-dr\"; service billing does "
            "not cross from cell use1-a to cell euw1-a: " +
                why + ", and no cluster in its failover order is permitted");
  EXPECT_EQ(Refusals(metrics_, GetParam().labels).value(), 1u);
}

std::string RefusalName(const ::testing::TestParamInfo<Refusal>& param) {
  return param.param.name;
}
INSTANTIATE_TEST_SUITE_P(Reasons, BridgeRefusalTest, ::testing::ValuesIn(kRefusals), RefusalName);

// An exported service crosses: keys the weights send to billing-dr go there,
// the decision names the bridge, and the join counts each request sent
// across it (local ones count nothing).
TEST(BridgeTest, ExportedServiceCrossesAndIsCounted) {
  Json doc = CrossCellDoc();
  Bridge(doc)["exportServices"] = {"auth", "billing"};
  MetricsRegistry metrics;
  auto table = RoutingTable::Build(Decode(doc).spec, {kCell, &metrics, "edge-1"});
  meshkit::EndpointTable feed;
  ASSERT_TRUE(feed.ApplySnapshot("f", 1, {Member("billing-dr"), Member("billing-v1")}).ok());
  int crossed = 0;
  for (int i = 0; i < 10'000; ++i) {
    auto d = table->Route("billing", Key(i));
    ASSERT_TRUE(d.ok());
    const bool across = d->cluster == "billing-dr";
    crossed += across;
    ASSERT_EQ(d->failover_bridges.size(), d->failover.size());
    if (across) {
      ASSERT_NE(d->failover_bridges[0], nullptr);
      EXPECT_EQ(d->failover_bridges[0]->bridge, "use1-euw1");
      EXPECT_EQ(d->failover_bridges[0]->cell, "euw1-a");
    } else {
      EXPECT_EQ(d->failover_bridges[0], nullptr);
    }
    ASSERT_TRUE(JoinEndpoints(*d, *feed.current()).ok());
  }
  EXPECT_GT(crossed, 0);
  EXPECT_EQ(metrics
                .counter("omnirelay_relay_bridge_routed_total", "",
                         R"(node="edge-1",bridge="use1-euw1",kind="request")")
                .value(),
            static_cast<std::uint64_t>(crossed));
  // Nothing refused, so no refusal series at all.
  EXPECT_EQ(metrics.RenderPrometheus().find("bridge_refusals_total{"), std::string::npos);
}

// A chain with no cell: the rules are not applied (rule 5), billing-dr is
// reachable as before bridges, and nothing is counted as refused.
TEST(BridgeTest, NoCellInChainAppliesNoRules) {
  MetricsRegistry metrics;
  auto table = RoutingTable::Build(Decode(CrossCellDoc()).spec, {"", &metrics, ""});
  EXPECT_EQ(table->cell(), "");
  int dr = 0;
  for (int i = 0; i < 1000; ++i) dr += table->Route("billing", Key(i))->cluster == "billing-dr";
  EXPECT_GT(dr, 0);
  EXPECT_EQ(table->FailoverOrder("billing-v1").size(), 4u);  // v1, dr, eu, v2
  EXPECT_EQ(metrics.RenderPrometheus().find("bridge_"), std::string::npos);
}

// RelayCell reads the cell scope of a chain, "" when it names none.
TEST(BridgeTest, RelayCellFromChain) {
  EXPECT_EQ(RelayCell({"global", "region:us-east", "cell:use1-a", "node:n-1"}), "use1-a");
  EXPECT_EQ(RelayCell({"global", "region:us-east", "node:n-1"}), "");
  EXPECT_EQ(RelayCell({}), "");
}

// A shadow across a refused bridge is never mirrored; what it would have
// sampled is counted as kind="shadow" refusals.
TEST(BridgeTest, ShadowAcrossRefusedBridgeIsDropped) {
  MetricsRegistry metrics;
  auto table = RoutingTable::Build(Decode(SnapshotDoc(1)).spec, {kCell, &metrics, ""});
  EXPECT_EQ(table->ShadowCluster("billing"), "");
  std::uint64_t sampled = 0;
  for (int i = 0; i < kKeys; ++i) {
    sampled += ShouldShadow(Key(i), 500, "billing");  // the fixture's 5 %
    auto d = table->Route("billing", Key(i));
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->shadow_cluster, "") << Key(i);
    EXPECT_FALSE(table->ShouldShadow("billing", Key(i)));
  }
  EXPECT_GT(sampled, 0u);
  EXPECT_EQ(Refusals(metrics, R"(bridge="use1-euw1",to_cell="euw1-a",reason="not_exported",)"
                              R"(kind="shadow")")
                .value(),
            sampled);
}

// Through a host: each snapshot's table applies the rules for the cell of
// its chain, a new snapshot that exports billing changes the decision, and
// omnirelay_relay_bridge_rules_applied follows the chain.
TEST(BridgeTest, RebuildOnNewSnapshotChangesPermission) {
  FakeClock clock;
  MetricsRegistry metrics;
  ConfigHost host(ConfigHostOptions{}, clock, metrics);
  auto router = Router::Attach(host, &metrics, "edge-1");
  ASSERT_TRUE(router.ok());
  Gauge& applied = metrics.gauge("omnirelay_relay_bridge_rules_applied", "", R"(node="edge-1")");
  std::string key;  // one the weights send to billing-dr
  for (int i = 0; key.empty(); ++i) {
    if (*RoutingTable::Build(Decode(CrossCellDoc()).spec)->PickCluster("billing", Key(i)) ==
        "billing-dr") {
      key = Key(i);
    }
  }

  ASSERT_TRUE(host.ApplyDecodedForTest(Decode(CrossCellDoc())).ok());
  EXPECT_EQ(router->Table(*host.Current())->cell(), "use1-a");
  EXPECT_EQ(router->Route(*host.Current(), "billing", key)->cluster, "billing-v2");
  EXPECT_EQ(applied.value(), 1);

  Json exported = CrossCellDoc();
  exported["metadata"]["version"] = 2;
  Bridge(exported)["exportServices"] = {"billing"};
  ASSERT_TRUE(host.ApplyDecodedForTest(Decode(exported)).ok());
  EXPECT_EQ(router->Route(*host.Current(), "billing", key)->cluster, "billing-dr");

  Json denied = exported;
  denied["metadata"]["version"] = 3;
  Bridge(denied)["exportServices"] = {"auth"};
  Bridge(denied)["denyServices"] = {"billing"};
  ASSERT_TRUE(host.ApplyDecodedForTest(Decode(denied)).ok());
  EXPECT_EQ(router->Route(*host.Current(), "billing", key)->cluster, "billing-v2");

  Json no_cell = denied;
  no_cell["metadata"]["version"] = 4;
  no_cell["metadata"]["scopeChain"] = {"global", "region:us-east"};
  ASSERT_TRUE(host.ApplyDecodedForTest(Decode(no_cell)).ok());
  EXPECT_EQ(router->Table(*host.Current())->cell(), "");
  EXPECT_EQ(router->Route(*host.Current(), "billing", key)->cluster, "billing-dr");
  EXPECT_EQ(applied.value(), 0);
}

}  // namespace
}  // namespace omnirelay::relay
