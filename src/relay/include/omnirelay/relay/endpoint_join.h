// Routing intent joined with live endpoints (DESIGN.md §5, seed "MeshKit &
// Discovery Integration"): a snapshot names clusters, weights and failover
// order, never addresses; MeshKit's feed (omnirelay/meshkit/feed.h) says
// which members of each (service, cluster) are healthy now. The join happens
// per request, on the current snapshot's decision and the current endpoint
// set:
//
//   auto d = router->Route(*host.Current(), "billing", key);       // weights
//   auto set = feed->Current();                                    // endpoints
//   auto e = JoinEndpoints(*d, *set);
//   // e->endpoint->address, ->port; e->cluster (after failover); e->shadow
//
// Weights pick the cluster (RouteDecision), the cluster's failover order is
// walked until a cluster has a routable member, and the member is chosen by
// its weight (the cluster's alias table) from the request key's hash that
// RoutingTable::Route computed for the weights, mixed again: the same key
// reaches the same member while the cluster's membership is unchanged, and
// the key is hashed once per request. A shadow target is
// resolved the same way in its own cluster, with no failover: a mirror that
// has nowhere to go is dropped, never redirected.
//
// Bridges (router.h, rules 3, 4 and 6): the decision's failover order and
// shadow target hold only clusters the relay's bridges permit, so the walk
// never reaches a refused one; the join counts the request (and the mirror it
// resolved) in omnirelay_relay_bridge_routed_total when they cross a bridge.
//
// Thread safety: a pure function over immutable inputs; allocation-free
// unless it fails.
#pragma once

#include <cstddef>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/meshkit/endpoints.h"
#include "omnirelay/relay/router.h"

namespace omnirelay::relay {

struct EndpointChoice {
  std::string_view cluster;                     // where the request goes (after failover)
  std::size_t failover_index = 0;               // 0: the cluster the weights chose
  const meshkit::Endpoint* endpoint = nullptr;  // lives as long as the EndpointSet
  std::string_view shadow_cluster;              // "" = not mirrored
  const meshkit::Endpoint* shadow = nullptr;    // null: not mirrored, or nowhere to mirror
};

// kUnavailable, naming the clusters tried, when no cluster in the decision's
// failover order has a routable member.
// `decision` comes from RoutingTable::Route (its key_hash).
Result<EndpointChoice> JoinEndpoints(const RouteDecision& decision,
                                     const meshkit::EndpointSet& endpoints);

}  // namespace omnirelay::relay
