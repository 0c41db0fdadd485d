// Routing over a snapshot (DESIGN.md §5): weighted cluster choice, failover
// order, deterministic shadow sampling, and the seam to MeshKit endpoints.
//
//   auto router = Router::Attach(host);           // once, at start
//   const auto& snap = host.Current();            // per request
//   auto d = router->Route(*snap, "billing", request_key);
//   // d->cluster, d->failover (cluster first), d->shadow_cluster ("" = no mirror)
//
// A RoutingTable is built once per snapshot by the router's listener and
// travels with the snapshot, so a request is one hash-map find and allocates
// nothing. Names returned (string_view, span) live as long as the snapshot.
//
// Decisions are deterministic: the same key on the same route gets the same
// cluster and the same shadow decision on every node and build. The cluster
// hash is ShadowHash(key, "weights:" + route), independent of the shadow
// decision, which is ShouldShadow(key, percent, route) (salt: the route name).
//
// Bridges (DESIGN.md §3.1 topology; seed "Multi-Cell / Bridge Topology"): a
// relay sends a service across cells only where a bridge exports it.
//   1. The relay's cell is the `cell:<c>` scope of the snapshot's scope chain
//      (metadata.scopeChain: the chain it was rendered for, which the verifier
//      holds equal to the node's own when the node configured one, rule 3b).
//   2. A cluster that names no cell, or the relay's, is local. One in another
//      cell is permitted only over a bridge whose `cells` join the two cells,
//      whose exportServices lists the cluster's service and whose
//      denyServices does not (the first such bridge in the topology is the
//      one crossed). Otherwise it is refused: `denied` (a joining bridge
//      denies the service), `not_exported` (no joining bridge exports it) or
//      `no_bridge` (no bridge joins the cells).
//   3. Refused clusters are left out of every failover order. When the
//      weights choose a refused cluster, the decision is the first permitted
//      cluster of that cluster's failover order; when it has none, Route
//      fails kUnavailable with a message starting "no_route:" that names the
//      route, the cluster, its service, the bridge (or "no bridge") and both
//      cells. A JoinEndpoints walk therefore never reaches a refused cluster.
//   4. A shadow target that is refused is not mirrored (mirrors never fail
//      over, endpoint_join.h).
//   5. A chain that names no cell (e.g. "global,region:us-east"): the relay
//      does not know which side of a bridge it is on, so the rules are not
//      applied and every cluster is reachable, as before bridges. cell() is
//      "" (/route shows "cell": null) and omnirelay_relay_bridge_rules_applied
//      is 0.
//   6. Counted, when the table was given a registry (node="<id>" first when
//      given a node id):
//        omnirelay_relay_bridge_refusals_total{bridge,to_cell,reason,kind}
//          decisions whose weighted choice (kind="request") or sampled shadow
//          target (kind="shadow") was refused; bridge="" for no_bridge;
//          counted by Route.
//        omnirelay_relay_bridge_routed_total{bridge,kind}
//          requests (kind="request") and mirrors (kind="shadow") sent across
//          a bridge: counted where the destination is fixed (JoinEndpoints,
//          SelectReachable, or CountRouted for a decision used as it is).
//        omnirelay_relay_bridge_rules_applied   1, or 0 by rule 5 (Router).
//      They report cross-cell traffic per bridge; the bridge's quotaRps is
//      MeshKit's to enforce across all relays, not each relay's.
//   All of it is decided when the table is built: a local decision costs no
//   more than before and writes nothing shared.
//
// Thread safety: a RoutingTable is immutable; Router is a small value whose
// const methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/applied_snapshot.h"

namespace omnirelay::relay {

class ConfigHost;

// Failover orders stop after this many clusters (a chain that long is a
// configuration mistake, and the order is precomputed per cluster).
inline constexpr std::size_t kMaxFailoverOrder = 32;

// A bridge a permitted cluster in another cell is reached over (rule 2).
struct BridgeCrossing {
  std::string bridge;           // its name in spec.topology.bridges
  std::string cell;             // the cell on the far side
  Counter* requests = nullptr;  // routed_total{kind="request"}; null: not counted
  Counter* mirrors = nullptr;   // routed_total{kind="shadow"}; null: not counted
};

// How a table applies the bridge rules.
struct RoutingOptions {
  // The relay's own cell (rule 1); "" when its chain names none (rule 5).
  std::string cell;
  // Where the rule-6 figures are counted; null: nowhere. Must outlive the table.
  MetricsRegistry* metrics = nullptr;
  std::string node_id;  // node="<id>" on those figures; "" adds no label
};

// The cell of a scope chain: the name of its `cell:<c>` scope, "" when none.
std::string RelayCell(const std::vector<std::string>& scope_chain);

struct RouteDecision {
  std::string_view cluster;               // chosen by weight (then rule 3)
  std::span<const std::string> failover;  // `cluster`, then where to go when it fails
  std::string_view shadow_cluster;        // where to mirror this request; "" = not mirrored
  // The service of each cluster in `failover` (same index), and of the
  // shadow cluster: what MeshKit's endpoints are keyed by (endpoint_join.h).
  std::span<const std::string> failover_services;
  std::string_view shadow_service;
  // The bridge each cluster in `failover` lies across (same index), and the
  // shadow cluster's; null: in the relay's cell (or rule 5).
  std::span<const BridgeCrossing* const> failover_bridges;
  const BridgeCrossing* shadow_bridge = nullptr;
  // The request key's hash the weights used: the join picks the member from
  // it, so the key is hashed once per request.
  std::uint64_t key_hash = 0;
};

class RoutingTable {
 public:
  // Never fails on a validated spec; on any other it skips what is dangling.
  static std::shared_ptr<const RoutingTable> Build(const Spec& spec,
                                                   const RoutingOptions& options = {});

  RoutingTable(const RoutingTable&) = delete;
  RoutingTable& operator=(const RoutingTable&) = delete;

  // Cluster (by key hash, then rule 3), failover order and shadow decision
  // for one request; kNotFound for an unknown route, kUnavailable "no_route:"
  // when the bridges leave it nowhere to go (rule 3).
  Result<RouteDecision> Route(std::string_view route, std::string_view key) const;
  // The weights' choice by key hash / by a uniformly random 64-bit value,
  // before the bridge rules (which Route applies).
  Result<std::string_view> PickCluster(std::string_view route, std::string_view key) const;
  Result<std::string_view> PickClusterRandom(std::string_view route, std::uint64_t random) const;
  // `cluster`, then its failover list, then those clusters' lists
  // (breadth-first), without duplicates, stopping at cycles and after
  // kMaxFailoverOrder clusters; then refused clusters are left out (rule 3),
  // `cluster` too when it is refused. Empty for an unknown cluster.
  std::span<const std::string> FailoverOrder(std::string_view cluster) const;
  // Whether a request with `key` is mirrored, and where ("" = no shadow, at
  // 0%, or refused by rule 4).
  bool ShouldShadow(std::string_view route, std::string_view key) const;
  std::string_view ShadowCluster(std::string_view route) const;

  std::size_t route_count() const { return routes_.size(); }
  // The relay's cell the rules were applied for; "" = not applied (rule 5).
  const std::string& cell() const { return cell_; }

 private:
  // Everything lives in a few flat arrays (the table is rebuilt per snapshot:
  // few allocations make it cheap to build and to free).
  struct Span {
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
  };
  struct Choice {
    std::uint64_t upper;     // cumulative weight: chosen when bucket < upper
    Span failover;           // in names_, the decision's cluster first; empty: no_route
    std::uint32_t weighted;  // the weights' choice, in clusters_
    Counter* refused;        // the weights' choice is refused: counted here (or null)
  };
  struct RouteEntry {
    Span choices;  // in choices_
    std::uint64_t total_weight = 0;
    Span weights_salt;  // in salts_
    std::uint32_t shadow_basis_points = 0;
    std::uint32_t shadow_cluster = 0;  // in names_; only when shadow_basis_points > 0
    // A shadow refused by rule 4: its percent, for counting what it would
    // have mirrored (0 when not counted), and where.
    std::uint32_t refused_shadow_basis_points = 0;
    Counter* shadow_refused = nullptr;
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using NameMap = std::unordered_map<std::string, V, NameHash, std::equal_to<>>;

  RoutingTable() = default;
  const RouteEntry* Find(std::string_view route) const;
  const Choice& Pick(const RouteEntry& entry, std::string_view key) const;
  const Choice& Pick(const RouteEntry& entry, std::uint64_t value) const;
  std::span<const std::string> Names(Span span) const {
    return {names_.data() + span.begin, span.size};
  }
  std::span<const std::string> Services(Span span) const {
    return {services_.data() + span.begin, span.size};
  }
  std::span<const BridgeCrossing* const> Bridges(Span span) const {
    return {bridges_.data() + span.begin, span.size};
  }
  Status NoRoute(std::string_view route, const Choice& choice) const;

  std::string cell_;
  std::vector<std::string> clusters_;      // every spec cluster's name
  std::vector<std::string> refusals_;      // why each spec cluster is refused; "" = permitted
  std::vector<BridgeCrossing> crossings_;  // the bridges crossed; fixed before bridges_ point in
  std::vector<std::string> names_;         // every cluster's failover order, back to back
  std::vector<std::string> services_;      // the service of each names_ entry
  std::vector<const BridgeCrossing*> bridges_;  // the bridge of each names_ entry (or null)
  std::vector<Choice> choices_;                 // every route's weighted choices, back to back
  std::string salts_;                           // every route's weights salt, back to back
  NameMap<Span> failover_;                      // cluster -> its failover order in names_
  NameMap<RouteEntry> routes_;
};

// The seam to the discovery plane (MeshKit; its client comes in its own
// issue): which clusters have healthy endpoints now. Called on the request
// path: implementations must be cheap, non-blocking and thread-safe.
class IEndpointSource {
 public:
  virtual ~IEndpointSource() = default;
  // The feed generation the answers come from (ConfigHost::SetDiscoveryGeneration).
  virtual std::int64_t generation() const = 0;
  virtual bool HasHealthyEndpoints(std::string_view cluster) const = 0;
};

// The first cluster of `decision.failover` with healthy endpoints (counted
// by CountRouted), or kUnavailable when none has any.
Result<std::string_view> SelectReachable(const RouteDecision& decision,
                                         const IEndpointSource& endpoints);

// Counts a request sent to decision.failover[failover_index], and its mirror
// when `mirrored`, in omnirelay_relay_bridge_routed_total when they cross a
// bridge (rule 6). A caller sending to the decision as it is counts
// CountRouted(d, 0, !d.shadow_cluster.empty()). One relaxed atomic add per
// crossing, nothing for a local one: cross-cell traffic is the exception and
// bounded by the bridge's quota, so a shared counter costs less than per-thread
// shards and a sum at render time.
inline void CountRouted(const RouteDecision& decision, std::size_t failover_index, bool mirrored) {
  if (failover_index < decision.failover_bridges.size()) {
    const BridgeCrossing* bridge = decision.failover_bridges[failover_index];
    if (bridge != nullptr && bridge->requests != nullptr) bridge->requests->Inc();
  }
  if (mirrored && decision.shadow_bridge != nullptr && decision.shadow_bridge->mirrors != nullptr) {
    decision.shadow_bridge->mirrors->Inc();
  }
}

// Attaches routing tables to a host's snapshots and reads them back.
class Router {
 public:
  // Registers the routing-table listener on `host` (at start, or later: the
  // current snapshot is then republished with its table). Each table applies
  // the bridge rules for the cell of its snapshot's chain (rule 1) and counts
  // in `metrics` (rule 6; null: nowhere; must outlive the host), where the
  // listener also sets omnirelay_relay_bridge_rules_applied on each swap.
  static Result<Router> Attach(ConfigHost& host, MetricsRegistry* metrics = nullptr,
                               std::string_view node_id = {});

  // The table of `snapshot`; null only for a snapshot published before Attach.
  const RoutingTable* Table(const AppliedSnapshot& snapshot) const { return snapshot.state(slot_); }
  // RoutingTable::Route on `snapshot`'s table (kUnavailable when it has none).
  Result<RouteDecision> Route(const AppliedSnapshot& snapshot, std::string_view route,
                              std::string_view key) const;

 private:
  explicit Router(StateSlot<RoutingTable> slot) : slot_(slot) {}
  StateSlot<RoutingTable> slot_;
};

}  // namespace omnirelay::relay
