#include "omnirelay/config/diff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Entry;
using testdocs::Erase;
using testdocs::MakeCluster;
using testdocs::One;
using testdocs::Problems;
using testdocs::ValidSpec;

using Strings = std::vector<std::string>;

// ---- DiffSpecs --------------------------------------------------------------

// Identical specs have an empty diff.
TEST(DiffSpecsTest, IdenticalIsEmpty) {
  SpecDiff d = DiffSpecs(ValidSpec(), ValidSpec());
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(d.clusters.empty());
  EXPECT_FALSE(d.dispatcher_changed);
  EXPECT_FALSE(d.security_changed);
}

// The order of named entries does not make a change.
TEST(DiffSpecsTest, OrderIsNotAChange) {
  Spec after = ValidSpec();
  std::reverse(after.clusters.begin(), after.clusters.end());
  EXPECT_TRUE(DiffSpecs(ValidSpec(), after).empty());
}

// A new cluster is listed as added.
TEST(DiffSpecsTest, ClusterAdded) {
  Spec after = ValidSpec();
  after.clusters.push_back({"billing-v3", MakeCluster("billing")});
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_EQ(d.clusters.added, Strings{"billing-v3"});
  EXPECT_TRUE(d.clusters.removed.empty());
  EXPECT_TRUE(d.clusters.changed.empty());
  EXPECT_FALSE(d.empty());
}

// A missing cluster is listed as removed.
TEST(DiffSpecsTest, ClusterRemoved) {
  Spec after = ValidSpec();
  Erase(after.clusters, "auth-v1");
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).clusters.removed, Strings{"auth-v1"});
}

// A cluster with any field changed is listed as changed.
TEST(DiffSpecsTest, ClusterChanged) {
  Spec after = ValidSpec();
  Entry(after.clusters, "billing-v1").timeout_ms = 250;
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_EQ(d.clusters.changed, Strings{"billing-v1"});
  EXPECT_TRUE(d.clusters.added.empty());
  EXPECT_TRUE(d.clusters.removed.empty());
}

// Routes: added, removed and changed are told apart.
TEST(DiffSpecsTest, Routes) {
  Spec after = ValidSpec();
  Erase(after.routes, "auth");
  Entry(after.routes, "billing").shadow->basis_points = 1000;
  after.routes.push_back({"ledger", testdocs::MakeRoute("ledger", {{"ledger-v1", 100}})});
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_EQ(d.routes.added, Strings{"ledger"});
  EXPECT_EQ(d.routes.removed, Strings{"auth"});
  EXPECT_EQ(d.routes.changed, Strings{"billing"});
}

// Regions: added, removed and changed are told apart.
TEST(DiffSpecsTest, Regions) {
  Spec after = ValidSpec();
  Erase(after.topology.regions, "eu-west");
  Entry(after.topology.regions, "us-east").cells.push_back("use1-b");
  after.topology.regions.push_back({"ap-south", Region{{"aps1-a"}}});
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_EQ(d.regions.added, Strings{"ap-south"});
  EXPECT_EQ(d.regions.removed, Strings{"eu-west"});
  EXPECT_EQ(d.regions.changed, Strings{"us-east"});
}

// Bridges: added, removed and changed are told apart.
TEST(DiffSpecsTest, Bridges) {
  Spec before = ValidSpec();
  before.topology.bridges.push_back({"old", Bridge{{"use1-a", "euw1-a"}, {}, {}, 5}});
  Spec after = ValidSpec();
  Entry(after.topology.bridges, "use1-euw1").quota_rps = 250;
  after.topology.bridges.push_back({"new", Bridge{{"use1-a", "euw1-a"}, {}, {}, 5}});
  SpecDiff d = DiffSpecs(before, after);
  EXPECT_EQ(d.bridges.added, Strings{"new"});
  EXPECT_EQ(d.bridges.removed, Strings{"old"});
  EXPECT_EQ(d.bridges.changed, Strings{"use1-euw1"});
}

// EntryCount counts each added, removed and changed name over clusters,
// routes, regions and bridges (the change_too_large guardrail's measure).
TEST(DiffSpecsTest, EntryCountSumsNamedChanges) {
  Spec after = ValidSpec();
  after.clusters.push_back({"billing-v3", MakeCluster("billing")});    // +1 cluster
  Entry(after.clusters, "billing-v1").timeout_ms = 250;                // ~1 cluster
  Erase(after.routes, "auth");                                         // -1 route
  after.topology.regions.push_back({"ap-south", Region{{"aps1-a"}}});  // +1 region
  Entry(after.topology.bridges, "use1-euw1").quota_rps = 250;          // ~1 bridge
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).EntryCount(), 5u);
}

// Identical specs, and changes outside named entries, count nothing.
TEST(DiffSpecsTest, EntryCountIgnoresUnnamedBlocks) {
  EXPECT_EQ(DiffSpecs(ValidSpec(), ValidSpec()).EntryCount(), 0u);
  Spec after = ValidSpec();
  after.dispatcher.max_concurrent_requests = 400;
  after.security.jwks_uri = "https://idp2.example/jwks.json";
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(d.EntryCount(), 0u);
}

// A dispatcher change is flagged.
TEST(DiffSpecsTest, Dispatcher) {
  Spec after = ValidSpec();
  after.dispatcher.max_concurrent_requests = 400;
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_TRUE(d.dispatcher_changed);
  EXPECT_FALSE(d.empty());
}

// Removing the dispatcher limit is a dispatcher change.
TEST(DiffSpecsTest, DispatcherRemoved) {
  Spec after = ValidSpec();
  after.dispatcher.max_concurrent_requests.reset();
  EXPECT_TRUE(DiffSpecs(ValidSpec(), after).dispatcher_changed);
}

// A security change is flagged.
TEST(DiffSpecsTest, Security) {
  Spec after = ValidSpec();
  after.security.jwks_uri = "https://idp2.example/jwks.json";
  SpecDiff d = DiffSpecs(ValidSpec(), after);
  EXPECT_TRUE(d.security_changed);
  EXPECT_FALSE(d.empty());
}

// Names in each list are sorted.
TEST(DiffSpecsTest, NamesSorted) {
  Spec after = ValidSpec();
  for (const char* n : {"zeta", "alpha", "mid"}) after.clusters.push_back({n, MakeCluster("x")});
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).clusters.added, (Strings{"alpha", "mid", "zeta"}));
}

// ---- Summary ----------------------------------------------------------------

// An empty diff summarises as "no changes".
TEST(DiffSummaryTest, NoChanges) {
  EXPECT_EQ(DiffSpecs(ValidSpec(), ValidSpec()).Summary(), "no changes");
}

// One section lists counts, then the names with +/-/~ signs.
TEST(DiffSummaryTest, OneSection) {
  Spec after = ValidSpec();
  after.clusters.push_back({"billing-v3", MakeCluster("billing")});
  Entry(after.clusters, "billing-v1").timeout_ms = 250;
  Entry(after.clusters, "auth-v1").cell = "use1-b";
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary(),
            "clusters +1 -0 ~2 (+billing-v3 ~auth-v1 ~billing-v1)");
}

// Sections are joined with "; " in the order clusters, routes, regions, bridges.
TEST(DiffSummaryTest, SeveralSections) {
  Spec after = ValidSpec();
  Erase(after.clusters, "auth-v1");
  Entry(after.routes, "billing").weights[0].weight = 80;
  Entry(after.topology.bridges, "use1-euw1").quota_rps = 1;
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary(),
            "clusters +0 -1 ~0 (-auth-v1); routes +0 -0 ~1 (~billing); "
            "bridges +0 -0 ~1 (~use1-euw1)");
}

// Dispatcher and security changes are named after the sections.
TEST(DiffSummaryTest, DispatcherAndSecurity) {
  Spec after = ValidSpec();
  after.dispatcher.max_concurrent_requests = 1;
  after.security.jwks_uri = "https://other.example/jwks";
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary(), "dispatcher changed; security changed");
  Erase(after.routes, "auth");
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary(),
            "routes +0 -1 ~0 (-auth); dispatcher changed; security changed");
}

// At most five names are listed per section, then "and N more".
TEST(DiffSummaryTest, TruncatesAfterFiveNames) {
  Spec after = ValidSpec();
  for (int i = 1; i <= 7; ++i) {
    after.clusters.push_back({"c" + std::to_string(i), MakeCluster("x")});
  }
  Erase(after.clusters, "auth-v1");
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary(),
            "clusters +7 -1 ~0 (+c1 +c2 +c3 +c4 +c5 and 3 more)");
}

// Exactly five names are all listed, with no "and N more".
TEST(DiffSummaryTest, FiveNamesNotTruncated) {
  Spec after = ValidSpec();
  for (int i = 1; i <= 5; ++i) {
    after.clusters.push_back({"c" + std::to_string(i), MakeCluster("x")});
  }
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary(), "clusters +5 -0 ~0 (+c1 +c2 +c3 +c4 +c5)");
}

// The summary names things but never carries document content.
TEST(DiffSummaryTest, NoDocumentContent) {
  Spec after = ValidSpec();
  after.security.jwks_uri = "https://secret.example/jwks";
  EXPECT_EQ(DiffSpecs(ValidSpec(), after).Summary().find("secret"), std::string::npos);
}

// ---- CheckDestructive -------------------------------------------------------

// Removing a cluster that carries route weight is destructive_change at the cluster.
TEST(CheckDestructiveTest, WeightedClusterRemoved) {
  Spec after = ValidSpec();
  Erase(after.clusters, "billing-v2");
  EXPECT_EQ(Problems(CheckDestructive(ValidSpec(), after)),
            One("destructive_change", "/spec/clusters/billing-v2"));
}

// Removing a shadow target is destructive_change.
TEST(CheckDestructiveTest, ShadowTargetRemoved) {
  Spec before = ValidSpec();
  Entry(before.clusters, "billing-v1").failover.clear();  // billing-dr: shadow target only
  Spec after = before;
  Erase(after.clusters, "billing-dr");
  EXPECT_EQ(Problems(CheckDestructive(before, after)),
            One("destructive_change", "/spec/clusters/billing-dr"));
}

// Removing a failover target is destructive_change.
TEST(CheckDestructiveTest, FailoverTargetRemoved) {
  Spec before = ValidSpec();
  Entry(before.routes, "billing").shadow.reset();  // billing-dr: failover target only
  Spec after = before;
  Erase(after.clusters, "billing-dr");
  EXPECT_EQ(Problems(CheckDestructive(before, after)),
            One("destructive_change", "/spec/clusters/billing-dr"));
}

// Removing a cluster nothing routes to is not destructive.
TEST(CheckDestructiveTest, UnreferencedClusterRemoved) {
  Spec before = ValidSpec();
  before.clusters.push_back({"spare", MakeCluster("billing", "us-east", "use1-a")});
  EXPECT_EQ(Problems(CheckDestructive(before, ValidSpec())), Strings{});
}

// Removing a cluster listed only with weight 0 is not destructive.
TEST(CheckDestructiveTest, ZeroWeightClusterRemoved) {
  Spec before = ValidSpec();
  Entry(before.routes, "billing").weights = {{"billing-v1", 100}, {"billing-v2", 0}};
  Spec after = before;
  Erase(after.clusters, "billing-v2");
  EXPECT_EQ(Problems(CheckDestructive(before, after)), Strings{});
}

// Removing a region that holds a routed cluster is destructive_change at the region.
TEST(CheckDestructiveTest, RoutedRegionRemoved) {
  Spec after = ValidSpec();
  Erase(after.topology.regions, "eu-west");
  EXPECT_EQ(Problems(CheckDestructive(ValidSpec(), after)),
            One("destructive_change", "/spec/topology/regions/eu-west"));
}

// Removing a region whose clusters carry no traffic is not destructive.
TEST(CheckDestructiveTest, UnroutedRegionRemoved) {
  Spec before = ValidSpec();
  before.topology.regions.push_back({"ap-south", Region{{"aps1-a"}}});
  before.clusters.push_back({"spare", MakeCluster("billing", "ap-south", "aps1-a")});
  EXPECT_EQ(Problems(CheckDestructive(before, ValidSpec())), Strings{});
}

// Removing a routed region and its clusters reports each, clusters first.
TEST(CheckDestructiveTest, RegionAndClustersRemoved) {
  Spec after = ValidSpec();
  Erase(after.topology.regions, "eu-west");
  Erase(after.clusters, "billing-dr");
  EXPECT_EQ(Problems(CheckDestructive(ValidSpec(), after)),
            (Strings{"destructive_change /spec/clusters/billing-dr",
                     "destructive_change /spec/topology/regions/eu-west"}));
}

// An unchanged spec, or one that only adds, is not destructive.
TEST(CheckDestructiveTest, AdditionsAreSafe) {
  EXPECT_EQ(Problems(CheckDestructive(ValidSpec(), ValidSpec())), Strings{});
  EXPECT_EQ(Problems(CheckDestructive(Spec{}, ValidSpec())), Strings{});
}

}  // namespace
}  // namespace omnirelay
