// Properties of the routing table over arbitrary (also invalid) specs: the
// failover order is a duplicate-free breadth-first closure that starts with
// the cluster and stops at cycles; weighted choice only picks clusters with
// weight and is deterministic by key; with bridges, a decision is the
// unbridged order of the weights' choice less exactly the clusters the
// bridges refuse (router.h, rules 2-3), or no_route when that is empty.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "omnirelay/relay/router.h"

namespace omnirelay::relay {
namespace {

std::string Name(int i) {
  return "c" + std::to_string(i);
}

// Up to 12 clusters whose failover lists name arbitrary clusters, some
// missing ("c12".."c14"), with duplicates and cycles.
Spec GenFailoverSpec() {
  const int n = *rc::gen::inRange(1, 13);
  Spec spec;
  for (int i = 0; i < n; ++i) {
    Cluster c;
    c.service = "s";
    for (int f : *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 15))) {
      c.failover.push_back(Name(f));
    }
    spec.clusters.push_back({Name(i), std::move(c)});
  }
  return spec;
}

// The order: starts with the cluster, has no duplicates, names only existing
// clusters, and each later entry is in the failover list of an earlier one.
RC_GTEST_PROP(RelayRoutingProperty, FailoverOrderIsDuplicateFreeClosure, ()) {
  const Spec spec = GenFailoverSpec();
  std::map<std::string, const Cluster*> by_name;
  for (const auto& c : spec.clusters) by_name.emplace(c.name, &c.value);
  auto table = RoutingTable::Build(spec);
  for (const auto& c : spec.clusters) {
    auto order = table->FailoverOrder(c.name);
    RC_ASSERT(!order.empty());
    RC_ASSERT(order.front() == c.name);
    RC_ASSERT(order.size() <= kMaxFailoverOrder);
    RC_ASSERT(std::set<std::string>(order.begin(), order.end()).size() == order.size());
    for (std::size_t i = 1; i < order.size(); ++i) {
      RC_ASSERT(by_name.contains(order[i]));
      const bool listed_earlier = std::any_of(order.begin(), order.begin() + i, [&](auto& prev) {
        const auto& list = by_name.at(prev)->failover;
        return std::find(list.begin(), list.end(), order[i]) != list.end();
      });
      RC_ASSERT(listed_earlier);
    }
    // Complete: every existing cluster listed by a member is a member.
    for (const auto& member : order) {
      for (const auto& next : by_name.at(member)->failover) {
        if (by_name.contains(next)) {
          RC_ASSERT(std::find(order.begin(), order.end(), next) != order.end());
        }
      }
    }
  }
}

// Any choice, by key or by random value, is a cluster of the route with weight > 0.
RC_GTEST_PROP(RelayRoutingProperty, ChoiceHasWeight,
              (const std::string& key, std::uint64_t random)) {
  const auto weights = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 5));
  RC_PRE(std::any_of(weights.begin(), weights.end(), [](int w) { return w > 0; }));
  Spec spec;
  Route route;
  route.service = "s";
  for (std::size_t i = 0; i < weights.size(); ++i) {
    Cluster c;
    c.service = "s";
    spec.clusters.push_back({Name(static_cast<int>(i)), c});
    route.weights.push_back({Name(static_cast<int>(i)), weights[i]});
  }
  spec.routes.push_back({"r", route});
  auto table = RoutingTable::Build(spec);
  auto weight_of = [&](std::string_view cluster) {
    for (const auto& w : route.weights) {
      if (w.cluster == cluster) return w.weight;
    }
    return std::int64_t{0};
  };
  auto by_key = table->PickCluster("r", key);
  auto by_random = table->PickClusterRandom("r", random);
  RC_ASSERT(by_key.ok() && by_random.ok());
  RC_ASSERT(weight_of(*by_key) > 0);
  RC_ASSERT(weight_of(*by_random) > 0);
  RC_ASSERT(*table->PickCluster("r", key) == *by_key);
}

// Rule 2, said again independently: may a relay in `from` reach `c`?
bool Permitted(const Spec& spec, const std::string& from, const Cluster& c) {
  if (c.cell.empty() || c.cell == from) return true;
  auto has = [](const std::vector<std::string>& list, const std::string& x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  return std::any_of(spec.topology.bridges.begin(), spec.topology.bridges.end(), [&](auto& b) {
    return has(b.value.cells, from) && has(b.value.cells, c.cell) &&
           has(b.value.export_services, c.service) && !has(b.value.deny_services, c.service);
  });
}

// Clusters in cells "", a, b, c of services s and t; up to 3 bridges over
// random cell pairs exporting and denying random services; the relay in a.
RC_GTEST_PROP(RelayRoutingProperty, BridgesRemoveExactlyRefusedClusters, (const std::string& key)) {
  Spec spec = GenFailoverSpec();
  const std::vector<std::string> cells = {"", "a", "b", "c"}, services = {"s", "t"};
  Route route;
  for (auto& c : spec.clusters) {
    c.value.cell = *rc::gen::elementOf(cells);
    c.value.service = *rc::gen::elementOf(services);
    route.weights.push_back({c.name, *rc::gen::inRange(1, 4)});
  }
  spec.routes.push_back({"r", route});
  auto some_services = [&] {
    std::vector<std::string> out;
    for (const std::string& service : services) {
      if (*rc::gen::arbitrary<bool>()) out.push_back(service);
    }
    return out;
  };
  const int bridges = *rc::gen::inRange(0, 4);
  for (int i = 0; i < bridges; ++i) {
    Bridge b;
    b.cells = {*rc::gen::elementOf(cells), *rc::gen::elementOf(cells)};
    b.export_services = some_services();
    b.deny_services = some_services();
    spec.topology.bridges.push_back({"b" + std::to_string(i), b});
  }
  std::map<std::string, const Cluster*> by_name;
  for (const auto& c : spec.clusters) by_name.emplace(c.name, &c.value);

  auto open = RoutingTable::Build(spec);
  auto table = RoutingTable::Build(spec, {"a", nullptr, ""});
  const std::string weighted(*table->PickCluster("r", key));
  std::vector<std::string> expected;
  for (const std::string& c : open->FailoverOrder(weighted)) {
    if (Permitted(spec, "a", *by_name.at(c))) expected.push_back(c);
  }
  auto decision = table->Route("r", key);
  if (expected.empty()) {
    RC_ASSERT(decision.status().code() == StatusCode::kUnavailable);
    RC_ASSERT(decision.status().message().rfind("no_route: ", 0) == 0);
  } else {
    RC_ASSERT(decision.ok());
    RC_ASSERT(std::vector<std::string>(decision->failover.begin(), decision->failover.end()) ==
              expected);
    RC_ASSERT(decision->cluster == expected.front());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const Cluster& c = *by_name.at(expected[i]);
      RC_ASSERT((decision->failover_bridges[i] != nullptr) == (!c.cell.empty() && c.cell != "a"));
    }
  }
}

}  // namespace
}  // namespace omnirelay::relay
