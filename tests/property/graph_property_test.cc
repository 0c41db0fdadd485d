// Properties of graph validation over randomly generated specs: every valid
// graph is accepted, and one injected fault is reported with exactly the right
// code and JSON Pointer.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>

#include "omnirelay/config/validate.h"

namespace omnirelay {
namespace {

// A random valid spec: services, clusters spread over a topology, failover
// edges only towards higher-indexed clusters of the same service (acyclic),
// routes whose weights sum to 100, and shadows to weightless clusters.
Spec GenValidSpec() {
  Spec spec;
  const int regions = *rc::gen::inRange(1, 4);
  std::vector<std::string> cells;
  std::vector<std::string> region_of_cell;
  for (int r = 0; r < regions; ++r) {
    Region region;
    const int n = *rc::gen::inRange(1, 3);
    for (int c = 0; c < n; ++c) {
      region.cells.push_back("cell-" + std::to_string(r) + "-" + std::to_string(c));
      cells.push_back(region.cells.back());
      region_of_cell.push_back("region-" + std::to_string(r));
    }
    spec.topology.regions.push_back({"region-" + std::to_string(r), region});
  }
  const int services = *rc::gen::inRange(1, 5);
  const int clusters = *rc::gen::inRange(services, services * 6 + 1);
  for (int i = 0; i < clusters; ++i) {
    Cluster c;
    c.service = "svc-" + std::to_string(i < services ? i : *rc::gen::inRange(0, services));
    const std::size_t cell = *rc::gen::inRange<std::size_t>(0, cells.size());
    c.cell = cells[cell];
    c.region = region_of_cell[cell];
    spec.clusters.push_back({"cluster-" + std::to_string(i), c});
  }
  for (int i = 0; i < clusters; ++i) {
    for (int j = i + 1; j < clusters; ++j) {
      if (spec.clusters[i].value.service == spec.clusters[j].value.service &&
          *rc::gen::inRange(0, 3) == 0) {
        spec.clusters[i].value.failover.push_back(spec.clusters[j].name);
      }
    }
  }
  for (int s = 0; s < services; ++s) {
    const std::string svc = "svc-" + std::to_string(s);
    std::vector<std::string> members;
    for (const auto& c : spec.clusters) {
      if (c.value.service == svc) members.push_back(c.name);
    }
    const int routes = *rc::gen::inRange(1, 3);
    for (int r = 0; r < routes; ++r) {
      Route route;
      route.service = svc;
      const std::size_t used = *rc::gen::inRange<std::size_t>(1, members.size() + 1);
      int remaining = 100;
      for (std::size_t k = 0; k < used; ++k) {
        const int w = k + 1 == used ? remaining : *rc::gen::inRange(0, remaining + 1);
        route.weights.push_back({members[k], w});
        remaining -= w;
      }
      if (used < members.size() && *rc::gen::arbitrary<bool>()) {
        route.shadow = Shadow{members[used], *rc::gen::inRange<std::uint32_t>(0, 10001)};
      }
      spec.routes.push_back({"route-" + std::to_string(s) + "-" + std::to_string(r), route});
    }
  }
  if (*rc::gen::arbitrary<bool>() && cells.size() >= 2) {
    Bridge b{{cells[0], cells[1]}, {"svc-0"}, {}, *rc::gen::inRange<std::int64_t>(1, 100000)};
    spec.topology.bridges.push_back({"bridge-0", b});
  }
  return spec;
}

// A random valid graph produces no diagnostics.
RC_GTEST_PROP(GraphProperty, ValidGraphsAreAccepted, ()) {
  const Spec spec = GenValidSpec();
  const auto diags = ValidateSpec(spec);
  RC_ASSERT(diags.empty());
}

// Renaming one weighted cluster to a missing one is exactly one dangling_cluster at its pointer.
RC_GTEST_PROP(GraphProperty, InjectedDanglingReferenceIsReported, ()) {
  Spec spec = GenValidSpec();
  const std::size_t r = *rc::gen::inRange<std::size_t>(0, spec.routes.size());
  auto& route = spec.routes[r];
  const std::size_t w = *rc::gen::inRange<std::size_t>(0, route.value.weights.size());
  route.value.weights[w].cluster = "missing-cluster";
  const auto diags = ValidateSpec(spec);
  RC_ASSERT(diags.size() == 1u);
  RC_ASSERT(diags[0].code == DiagCode::kDanglingCluster);
  RC_ASSERT(diags[0].path == "/spec/routes/" + route.name + "/weights/missing-cluster");
}

// Closing one failover loop is exactly one failover_cycle, at a failover entry on the loop.
RC_GTEST_PROP(GraphProperty, InjectedFailoverCycleIsReported, ()) {
  Spec spec = GenValidSpec();
  const std::size_t i = *rc::gen::inRange<std::size_t>(0, spec.clusters.size());
  std::size_t j = i;
  for (std::size_t k = i + 1; k < spec.clusters.size(); ++k) {
    if (spec.clusters[k].value.service == spec.clusters[i].value.service &&
        *rc::gen::arbitrary<bool>()) {
      j = k;
      break;
    }
  }
  auto& a = spec.clusters[i].value.failover;
  if (j != i && std::find(a.begin(), a.end(), spec.clusters[j].name) == a.end()) {
    a.push_back(spec.clusters[j].name);
  }
  spec.clusters[j].value.failover.push_back(spec.clusters[i].name);  // closes i -> ... -> j -> i
  const auto diags = ValidateSpec(spec);
  RC_ASSERT(diags.size() == 1u);
  RC_ASSERT(diags[0].code == DiagCode::kFailoverCycle);
  const bool at_i =
      diags[0].path.rfind("/spec/clusters/" + spec.clusters[i].name + "/failover/", 0) == 0;
  const bool at_j =
      diags[0].path.rfind("/spec/clusters/" + spec.clusters[j].name + "/failover/", 0) == 0;
  RC_ASSERT(at_i || at_j);
}

// Changing one weight breaks the sum: exactly one weights_sum at the route's weights.
RC_GTEST_PROP(GraphProperty, InjectedWeightChangeIsReported, ()) {
  Spec spec = GenValidSpec();
  const std::size_t r = *rc::gen::inRange<std::size_t>(0, spec.routes.size());
  auto& route = spec.routes[r];
  const std::size_t w = *rc::gen::inRange<std::size_t>(0, route.value.weights.size());
  const int delta = *rc::gen::element(-3, -2, -1, 1, 2, 3);
  route.value.weights[w].weight += delta;
  const auto diags = ValidateSpec(spec);
  RC_ASSERT(diags.size() == 1u);
  RC_ASSERT(diags[0].code == DiagCode::kWeightsSum);
  RC_ASSERT(diags[0].path == "/spec/routes/" + route.name + "/weights");
}

}  // namespace
}  // namespace omnirelay
