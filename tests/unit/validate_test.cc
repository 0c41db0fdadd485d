#include "omnirelay/config/validate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Entry;
using testdocs::MakeCluster;
using testdocs::MakeRoute;
using testdocs::One;
using testdocs::Problems;
using testdocs::ValidSpec;

using Strings = std::vector<std::string>;

Strings Check(const Spec& spec) {
  return Problems(ValidateSpec(spec));
}

// Clusters a, b, c, d of service "svc" in that order, without failover, and
// a route "r" sending everything to a.
Spec FourClusters() {
  Spec s;
  for (const char* name : {"a", "b", "c", "d"}) s.clusters.push_back({name, MakeCluster("svc")});
  s.routes.push_back({"r", MakeRoute("svc", {{"a", 100}})});
  return s;
}

void Failover(Spec& s, std::string_view cluster, std::vector<std::string> targets) {
  Entry(s.clusters, cluster).failover = std::move(targets);
}

Route& Billing(Spec& s) {
  return Entry(s.routes, "billing");
}
Bridge& TheBridge(Spec& s) {
  return Entry(s.topology.bridges, "use1-euw1");
}

// The builder's spec is valid: no diagnostics.
TEST(ValidateTest, ValidSpecHasNoDiagnostics) {
  EXPECT_EQ(Check(ValidSpec()), Strings{});
}

// An empty spec is valid.
TEST(ValidateTest, EmptySpecIsValid) {
  EXPECT_EQ(Check(Spec{}), Strings{});
}

// ---- dangling_cluster -----------------------------------------------------

// A route weight naming a missing cluster is dangling_cluster at the weight key.
TEST(ValidateDanglingTest, RouteWeight) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 90}, {"billing-v3", 10}};
  EXPECT_EQ(Check(s), One("dangling_cluster", "/spec/routes/billing/weights/billing-v3"));
}

// A weight of 0 to a missing cluster is still dangling.
TEST(ValidateDanglingTest, ZeroWeight) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 100}, {"billing-v3", 0}};
  EXPECT_EQ(Check(s), One("dangling_cluster", "/spec/routes/billing/weights/billing-v3"));
}

// A shadow naming a missing cluster is dangling_cluster at shadow/cluster.
TEST(ValidateDanglingTest, Shadow) {
  Spec s = ValidSpec();
  Billing(s).shadow->cluster = "billing-v9";
  EXPECT_EQ(Check(s), One("dangling_cluster", "/spec/routes/billing/shadow/cluster"));
}

// A failover entry naming a missing cluster is dangling_cluster at its index.
TEST(ValidateDanglingTest, Failover) {
  Spec s = ValidSpec();
  Failover(s, "billing-v1", {"billing-dr", "billing-zz"});
  EXPECT_EQ(Check(s), One("dangling_cluster", "/spec/clusters/billing-v1/failover/1"));
}

// Removing a cluster that a weight, a shadow and a failover name reports all three.
TEST(ValidateDanglingTest, EveryReferenceReported) {
  Spec s = ValidSpec();
  testdocs::Erase(s.clusters, "billing-dr");
  Billing(s).weights = {{"billing-v1", 90}, {"billing-dr", 10}};
  EXPECT_EQ(Check(s), (Strings{"dangling_cluster /spec/clusters/billing-v1/failover/0",
                               "dangling_cluster /spec/routes/billing/weights/billing-dr",
                               "dangling_cluster /spec/routes/billing/shadow/cluster"}));
}

// ---- failover_cycle ---------------------------------------------------------

// A cluster failing over to itself is a cycle, reported once at that entry.
TEST(ValidateFailoverCycleTest, SelfLoop) {
  Spec s = FourClusters();
  Failover(s, "b", {"b"});
  EXPECT_EQ(Check(s), One("failover_cycle", "/spec/clusters/b/failover/0"));
}

// A 2-cycle is reported once, at the failover entry that closes it.
TEST(ValidateFailoverCycleTest, TwoCycle) {
  Spec s = FourClusters();
  Failover(s, "a", {"b"});
  Failover(s, "b", {"a"});
  EXPECT_EQ(Check(s), One("failover_cycle", "/spec/clusters/b/failover/0"));
}

// A 3-cycle is reported once, at the entry that closes it.
TEST(ValidateFailoverCycleTest, ThreeCycleReportedOnce) {
  Spec s = FourClusters();
  Failover(s, "a", {"b"});
  Failover(s, "b", {"c"});
  Failover(s, "c", {"a"});
  EXPECT_EQ(Check(s), One("failover_cycle", "/spec/clusters/c/failover/0"));
}

// The cycle's message spells the cycle out.
TEST(ValidateFailoverCycleTest, MessageNamesTheCycle) {
  Spec s = FourClusters();
  Failover(s, "a", {"b"});
  Failover(s, "b", {"c"});
  Failover(s, "c", {"a"});
  auto diags = ValidateSpec(s);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].message.find("a -> b -> c -> a"), std::string::npos) << diags[0].message;
}

// The closing entry's index is its position in the failover list.
TEST(ValidateFailoverCycleTest, ClosingIndex) {
  Spec s = FourClusters();
  Failover(s, "a", {"b"});
  Failover(s, "b", {"d", "a"});
  EXPECT_EQ(Check(s), One("failover_cycle", "/spec/clusters/b/failover/1"));
}

// A cycle entered from a cluster outside it is still reported once.
TEST(ValidateFailoverCycleTest, CycleReachedFromOutside) {
  Spec s = FourClusters();
  Failover(s, "d", {"a"});
  Failover(s, "a", {"b"});
  Failover(s, "b", {"a"});
  EXPECT_EQ(Check(s), One("failover_cycle", "/spec/clusters/b/failover/0"));
}

// Two disjoint cycles are both reported.
TEST(ValidateFailoverCycleTest, TwoDisjointCycles) {
  Spec s = FourClusters();
  Failover(s, "a", {"b"});
  Failover(s, "b", {"a"});
  Failover(s, "c", {"d"});
  Failover(s, "d", {"c"});
  EXPECT_EQ(Check(s), (Strings{"failover_cycle /spec/clusters/b/failover/0",
                               "failover_cycle /spec/clusters/d/failover/0"}));
}

// A failover chain without a cycle is accepted.
TEST(ValidateFailoverCycleTest, ChainAccepted) {
  Spec s = FourClusters();
  Failover(s, "a", {"b"});
  Failover(s, "b", {"c"});
  Failover(s, "c", {"d"});
  EXPECT_EQ(Check(s), Strings{});
}

// A diamond (two paths to the same cluster) is not a cycle.
TEST(ValidateFailoverCycleTest, DiamondAccepted) {
  Spec s = FourClusters();
  Failover(s, "a", {"b", "c"});
  Failover(s, "b", {"d"});
  Failover(s, "c", {"d"});
  EXPECT_EQ(Check(s), Strings{});
}

// Listing the same target twice is not a cycle.
TEST(ValidateFailoverCycleTest, RepeatedTargetAccepted) {
  Spec s = FourClusters();
  Failover(s, "a", {"b", "b"});
  EXPECT_EQ(Check(s), Strings{});
}

// A dangling failover entry is dangling_cluster only, not a cycle.
TEST(ValidateFailoverCycleTest, DanglingIsNotACycle) {
  Spec s = FourClusters();
  Failover(s, "a", {"zz"});
  EXPECT_EQ(Check(s), One("dangling_cluster", "/spec/clusters/a/failover/0"));
}

// A 100,000-long failover chain is checked iteratively (no deep recursion).
TEST(ValidateFailoverCycleTest, LongChainNoRecursion) {
  Spec s;
  constexpr int kN = 100'000;
  for (int i = 0; i < kN; ++i) {
    std::vector<std::string> next;
    if (i + 1 < kN) next.push_back("c" + std::to_string(i + 1));
    s.clusters.push_back({"c" + std::to_string(i), MakeCluster("svc", "", "", next)});
  }
  EXPECT_EQ(Check(s), Strings{});
  Failover(s, "c" + std::to_string(kN - 1), {"c0"});
  EXPECT_EQ(Check(s), One("failover_cycle", "/spec/clusters/c99999/failover/0"));
}

// ---- weights_sum ------------------------------------------------------------

// Weights summing to 99 are weights_sum at the route's weights.
TEST(ValidateWeightsSumTest, Sum99) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 89}, {"billing-v2", 10}};
  EXPECT_EQ(Check(s), One("weights_sum", "/spec/routes/billing/weights"));
}

// Weights summing to 101 are weights_sum.
TEST(ValidateWeightsSumTest, Sum101) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 91}, {"billing-v2", 10}};
  EXPECT_EQ(Check(s), One("weights_sum", "/spec/routes/billing/weights"));
}

// A route with no weights sums to 0: weights_sum.
TEST(ValidateWeightsSumTest, EmptyWeights) {
  Spec s = ValidSpec();
  Entry(s.routes, "auth").weights.clear();
  EXPECT_EQ(Check(s), One("weights_sum", "/spec/routes/auth/weights"));
}

// Zero weights count toward nothing: {100, 0} sums to 100.
TEST(ValidateWeightsSumTest, ZeroWeightAllowed) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 100}, {"billing-v2", 0}};
  EXPECT_EQ(Check(s), Strings{});
}

// ---- shadow_to_primary --------------------------------------------------------

// Shadowing to a cluster that carries weight is shadow_to_primary.
TEST(ValidateShadowToPrimaryTest, WeightedShadowRejected) {
  Spec s = ValidSpec();
  Billing(s).shadow->cluster = "billing-v2";
  EXPECT_EQ(Check(s), One("shadow_to_primary", "/spec/routes/billing/shadow/cluster"));
}

// Shadowing to a cluster listed with weight 0 is allowed.
TEST(ValidateShadowToPrimaryTest, ZeroWeightShadowAllowed) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 100}, {"billing-v2", 0}};
  Billing(s).shadow->cluster = "billing-v2";
  EXPECT_EQ(Check(s), Strings{});
}

// ---- service_mismatch -------------------------------------------------------

// A weight to a cluster of another service is service_mismatch at the weight.
TEST(ValidateServiceMismatchTest, Weight) {
  Spec s = ValidSpec();
  Billing(s).weights = {{"billing-v1", 90}, {"auth-v1", 10}};
  EXPECT_EQ(Check(s), One("service_mismatch", "/spec/routes/billing/weights/auth-v1"));
}

// A shadow to a cluster of another service is service_mismatch at shadow/cluster.
TEST(ValidateServiceMismatchTest, Shadow) {
  Spec s = ValidSpec();
  Billing(s).shadow->cluster = "auth-v1";
  EXPECT_EQ(Check(s), One("service_mismatch", "/spec/routes/billing/shadow/cluster"));
}

// Failing over to a cluster of another service is service_mismatch at the entry.
TEST(ValidateServiceMismatchTest, Failover) {
  Spec s = ValidSpec();
  Failover(s, "auth-v1", {"billing-dr"});
  EXPECT_EQ(Check(s), One("service_mismatch", "/spec/clusters/auth-v1/failover/0"));
}

// ---- unknown_region, unknown_cell -----------------------------------------

// A cluster naming a region the topology lacks is unknown_region.
TEST(ValidateTopologyTest, UnknownRegion) {
  Spec s = ValidSpec();
  Entry(s.clusters, "billing-v2").region = "ap-south";
  EXPECT_EQ(Check(s), One("unknown_region", "/spec/clusters/billing-v2/region"));
}

// A cluster naming a cell no region lists is unknown_cell.
TEST(ValidateTopologyTest, UnknownCell) {
  Spec s = ValidSpec();
  Entry(s.clusters, "billing-v2").cell = "use9-z";
  EXPECT_EQ(Check(s), One("unknown_cell", "/spec/clusters/billing-v2/cell"));
}

// A cluster in a cell of another region is unknown_cell.
TEST(ValidateTopologyTest, CellOfAnotherRegion) {
  Spec s = ValidSpec();
  Entry(s.clusters, "billing-v2").cell = "euw1-a";
  EXPECT_EQ(Check(s), One("unknown_cell", "/spec/clusters/billing-v2/cell"));
}

// A cluster with neither region nor cell is valid.
TEST(ValidateTopologyTest, NoPlacement) {
  Spec s = ValidSpec();
  Entry(s.clusters, "billing-v2").region.clear();
  Entry(s.clusters, "billing-v2").cell.clear();
  EXPECT_EQ(Check(s), Strings{});
}

// A cluster with a known cell and no region is valid.
TEST(ValidateTopologyTest, CellWithoutRegion) {
  Spec s = ValidSpec();
  Entry(s.clusters, "billing-v2").region.clear();
  EXPECT_EQ(Check(s), Strings{});
}

// Without any topology, a cluster naming a region is unknown_region.
TEST(ValidateTopologyTest, NoTopology) {
  Spec s;
  s.clusters.push_back({"c", MakeCluster("svc", "us-east")});
  EXPECT_EQ(Check(s), One("unknown_region", "/spec/clusters/c/region"));
}

// A cell listed by two regions is reported once, at the second listing, and not blamed on clusters.
TEST(ValidateTopologyTest, CellListedByTwoRegions) {
  Spec s;
  s.topology.regions = {{"us-east", Region{{"x"}}}, {"eu-west", Region{{"x"}}}};
  s.clusters.push_back({"c", MakeCluster("svc", "eu-west", "x")});
  const auto diags = ValidateSpec(s);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, DiagCode::kOutOfRange);
  EXPECT_EQ(diags[0].path, "/spec/topology/regions/eu-west/cells/0");
}

// ---- bridges ----------------------------------------------------------------

// A bridge with one cell is bridge_invalid at its cells.
TEST(ValidateBridgeTest, OneCell) {
  Spec s = ValidSpec();
  TheBridge(s).cells = {"use1-a"};
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/cells"));
}

// A bridge joining a cell to itself is bridge_invalid.
TEST(ValidateBridgeTest, SameCellTwice) {
  Spec s = ValidSpec();
  TheBridge(s).cells = {"use1-a", "use1-a"};
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/cells"));
}

// A bridge with three cells is bridge_invalid.
TEST(ValidateBridgeTest, ThreeCells) {
  Spec s = ValidSpec();
  Entry(s.topology.regions, "us-east").cells.push_back("use1-b");
  TheBridge(s).cells = {"use1-a", "use1-b", "euw1-a"};
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/cells"));
}

// A bridge with no cells is bridge_invalid.
TEST(ValidateBridgeTest, NoCells) {
  Spec s = ValidSpec();
  TheBridge(s).cells.clear();
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/cells"));
}

// A bridge cell no region lists is unknown_cell at its index.
TEST(ValidateBridgeTest, UnknownCell) {
  Spec s = ValidSpec();
  TheBridge(s).cells = {"use1-a", "use9-z"};
  EXPECT_EQ(Check(s), One("unknown_cell", "/spec/topology/bridges/use1-euw1/cells/1"));
}

// Exporting a service no cluster serves is bridge_invalid at the entry.
TEST(ValidateBridgeTest, UnknownExportedService) {
  Spec s = ValidSpec();
  TheBridge(s).export_services = {"auth", "ledger"};
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/exportServices/1"));
}

// Exporting and denying the same service is bridge_invalid at the export.
TEST(ValidateBridgeTest, ExportAndDenySameService) {
  Spec s = ValidSpec();
  TheBridge(s).deny_services = {"auth"};
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/exportServices/0"));
}

// A quota of 0 is bridge_invalid at quotaRps.
TEST(ValidateBridgeTest, ZeroQuota) {
  Spec s = ValidSpec();
  TheBridge(s).quota_rps = 0;
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/quotaRps"));
}

// A negative quota is bridge_invalid at quotaRps.
TEST(ValidateBridgeTest, NegativeQuota) {
  Spec s = ValidSpec();
  TheBridge(s).quota_rps = -5;
  EXPECT_EQ(Check(s), One("bridge_invalid", "/spec/topology/bridges/use1-euw1/quotaRps"));
}

// A quota of 1 is the least valid quota.
TEST(ValidateBridgeTest, QuotaOne) {
  Spec s = ValidSpec();
  TheBridge(s).quota_rps = 1;
  EXPECT_EQ(Check(s), Strings{});
}

// ---- together ---------------------------------------------------------------

// Independent problems are all reported, not just the first.
TEST(ValidateTest, AllProblemsReported) {
  Spec s = ValidSpec();
  Entry(s.clusters, "billing-v2").region = "ap-south";
  Billing(s).weights = {{"billing-v1", 80}, {"billing-v2", 10}};
  TheBridge(s).quota_rps = 0;
  EXPECT_EQ(Check(s), (Strings{"unknown_region /spec/clusters/billing-v2/region",
                               "weights_sum /spec/routes/billing/weights",
                               "bridge_invalid /spec/topology/bridges/use1-euw1/quotaRps"}));
}

// DecodeAndValidateSnapshot returns a valid Snapshot's model.
TEST(DecodeAndValidateSnapshotTest, Valid) {
  auto snap = DecodeAndValidateSnapshot(testdocs::ValidSnapshotJson());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->spec, ValidSpec());
}

// A graph problem makes DecodeAndValidateSnapshot return kInvalid with diagnostics.
TEST(DecodeAndValidateSnapshotTest, GraphProblemIsInvalid) {
  auto doc = testdocs::SnapshotDoc();
  doc["spec"]["routes"]["billing"]["weights"]["billing-v3"] = 0;
  doc["spec"]["routes"]["billing"]["weights"]["billing-v1"] = 80;
  auto snap = DecodeAndValidateSnapshot(doc.dump());
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(Problems(snap), (Strings{"dangling_cluster /spec/routes/billing/weights/billing-v3",
                                     "weights_sum /spec/routes/billing/weights"}));
}

// A schema problem is returned as is; graph rules do not run on a broken model.
TEST(DecodeAndValidateSnapshotTest, SchemaProblemStopsBeforeGraph) {
  auto doc = testdocs::SnapshotDoc();
  doc["spec"]["routes"]["billing"]["weights"]["billing-v1"] = "90";
  auto snap = DecodeAndValidateSnapshot(doc.dump());
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(Problems(snap), One("type_mismatch", "/spec/routes/billing/weights/billing-v1"));
}

// Text that is not JSON is kInvalid with parse_error.
TEST(DecodeAndValidateSnapshotTest, NotJson) {
  auto snap = DecodeAndValidateSnapshot("{");
  EXPECT_EQ(snap.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(Problems(snap), One("parse_error", ""));
}

}  // namespace
}  // namespace omnirelay
