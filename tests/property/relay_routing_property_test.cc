// Properties of the routing table over arbitrary (also invalid) specs: the
// failover order is a duplicate-free breadth-first closure that starts with
// the cluster and stops at cycles; weighted choice only picks clusters with
// weight and is deterministic by key.
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

}  // namespace
}  // namespace omnirelay::relay
