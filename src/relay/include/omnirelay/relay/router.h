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

#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/applied_snapshot.h"

namespace omnirelay::relay {

class ConfigHost;

// Failover orders stop after this many clusters (a chain that long is a
// configuration mistake, and the order is precomputed per cluster).
inline constexpr std::size_t kMaxFailoverOrder = 32;

struct RouteDecision {
  std::string_view cluster;               // chosen by weight
  std::span<const std::string> failover;  // `cluster`, then where to go when it fails
  std::string_view shadow_cluster;        // where to mirror this request; "" = not mirrored
  // The service of each cluster in `failover` (same index), and of the
  // shadow cluster: what MeshKit's endpoints are keyed by (endpoint_join.h).
  std::span<const std::string> failover_services;
  std::string_view shadow_service;
  // The request key's hash the weights used: the join picks the member from
  // it, so the key is hashed once per request.
  std::uint64_t key_hash = 0;
};

class RoutingTable {
 public:
  // Never fails on a validated spec; on any other it skips what is dangling.
  static std::shared_ptr<const RoutingTable> Build(const Spec& spec);

  RoutingTable(const RoutingTable&) = delete;
  RoutingTable& operator=(const RoutingTable&) = delete;

  // Cluster (by key hash), failover order and shadow decision for one
  // request; kNotFound for an unknown route.
  Result<RouteDecision> Route(std::string_view route, std::string_view key) const;
  // Cluster by key hash / by a uniformly random 64-bit value.
  Result<std::string_view> PickCluster(std::string_view route, std::string_view key) const;
  Result<std::string_view> PickClusterRandom(std::string_view route, std::uint64_t random) const;
  // `cluster`, then its failover list, then those clusters' lists
  // (breadth-first), without duplicates, stopping at cycles and after
  // kMaxFailoverOrder clusters. Empty for an unknown cluster.
  std::span<const std::string> FailoverOrder(std::string_view cluster) const;
  // Whether a request with `key` is mirrored, and where ("" = no shadow, or at 0%).
  bool ShouldShadow(std::string_view route, std::string_view key) const;
  std::string_view ShadowCluster(std::string_view route) const;

  std::size_t route_count() const { return routes_.size(); }

 private:
  // Everything lives in a few flat arrays (the table is rebuilt per snapshot:
  // few allocations make it cheap to build and to free).
  struct Span {
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
  };
  struct Choice {
    std::uint64_t upper;  // cumulative weight: chosen when bucket < upper
    Span failover;        // in names_; the chosen cluster is its first name
  };
  struct RouteEntry {
    Span choices;  // in choices_
    std::uint64_t total_weight = 0;
    Span weights_salt;  // in salts_
    std::uint32_t shadow_basis_points = 0;
    std::uint32_t shadow_cluster = 0;  // in names_; only when shadow_basis_points > 0
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

  std::vector<std::string> names_;     // every cluster's failover order, back to back
  std::vector<std::string> services_;  // the service of each names_ entry
  std::vector<Choice> choices_;        // every route's weighted choices, back to back
  std::string salts_;                  // every route's weights salt, back to back
  NameMap<Span> failover_;             // cluster -> its failover order in names_
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

// The first cluster of `decision.failover` with healthy endpoints, or
// kUnavailable when none has any.
Result<std::string_view> SelectReachable(const RouteDecision& decision,
                                         const IEndpointSource& endpoints);

// Attaches routing tables to a host's snapshots and reads them back.
class Router {
 public:
  // Registers the routing-table listener on `host` (at start, or later: the
  // current snapshot is then republished with its table).
  static Result<Router> Attach(ConfigHost& host);

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
