// MeshKit endpoints as OmniRelay holds them: the members of each (service,
// routing cluster) with their health, tagged with the feed's generation
// (proto/meshkit/v1/discovery.proto; docs/knowledge-base/meshkit-feed.md).
//
// EndpointSet is immutable and shared: a consumer routes with one while the
// feed builds the next. EndpointTable applies the feed in order (a snapshot
// replaces everything, a delta must apply to the generation held) and builds
// each new set from the previous one, so the clusters a delta does not touch
// are the same objects in both.
//
// Thread safety: EndpointSet and ClusterEndpoints are immutable and may be
// read from any thread. EndpointTable is not thread-safe (one feed's thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "omnirelay/config/status.h"

namespace omnirelay::meshkit {

enum class Health : std::uint8_t { kUnknown, kHealthy, kUnhealthy, kDraining };
// "unknown", "healthy", "unhealthy", "draining".
std::string_view HealthName(Health health);
std::optional<Health> ParseHealth(std::string_view name);

struct Endpoint {
  std::string member_id;  // stable identity, unique in a feed
  std::string address;
  std::uint16_t port = 0;
  std::string service;
  std::string cluster;  // the routing cluster (a config cluster name)
  std::string cell;
  std::string region;
  std::string zone;  // optional
  Health health = Health::kUnknown;
  std::uint32_t weight = 1;  // relative, >= 1

  // Only healthy members take new requests (draining ones finish theirs).
  bool routable() const { return health == Health::kHealthy; }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The feed's limits on one endpoint; kInvalidArgument naming the field.
Status CheckEndpoint(const Endpoint& endpoint);

// A cross-cell bridge as MeshKit sees it (its bridge relays forward
// membership between two cells). Only the control plane reads these: it
// pauses cross-cell rollout waves while a bridge between their cells is not
// up (docs/knowledge-base/rollouts.md). Unknown counts as not up.
enum class BridgeState : std::uint8_t { kUnknown, kUp, kDown, kFlapping };
// "unknown", "up", "down", "flapping".
std::string_view BridgeStateName(BridgeState state);
std::optional<BridgeState> ParseBridgeState(std::string_view name);

struct BridgeStatus {
  std::string name;                // the topology's bridge name
  std::vector<std::string> cells;  // the two cells it joins
  BridgeState state = BridgeState::kUnknown;
  std::string detail;  // MeshKit's words, e.g. "3 flaps in 60s" (optional)

  bool up() const { return state == BridgeState::kUp; }
  // Whether it joins cells `a` and `b` (either order).
  bool Joins(std::string_view a, std::string_view b) const;
  // For operators: "use1-euw1 (down: relay pair lost)", "use1-euw1 (up)".
  std::string Describe() const;
  friend bool operator==(const BridgeStatus&, const BridgeStatus&) = default;
};

// A name, and exactly two distinct non-empty cells; kInvalidArgument.
Status CheckBridge(const BridgeStatus& bridge);

// The members of one (service, cluster), by member id, with what a weighted
// choice among the routable ones needs (built once, when the cluster
// changes).
struct ClusterEndpoints {
  std::string service;
  std::string cluster;
  std::vector<Endpoint> endpoints;  // sorted by member_id
  std::size_t routable = 0;         // how many are routable()
  // An alias table over the routable members (Vose): slot k keeps member
  // routable_members[k] when the coin falls below keep[k] (out of
  // total_weight), else goes to routable_members[alias[k]]. Each member is
  // chosen in proportion to its weight with two reads, whatever the count.
  std::vector<std::uint32_t> routable_members;  // indexes into `endpoints`
  std::vector<std::uint64_t> keep;
  std::vector<std::uint32_t> alias;  // slots
  std::uint64_t total_weight = 0;

  // A routable member chosen by weight from `hash` (the same hash, the same
  // member while the cluster is unchanged); null when none is routable.
  // Allocation-free, constant time.
  const Endpoint* Pick(std::uint64_t hash) const;
};

class EndpointSet {
 public:
  using Key = std::pair<std::string, std::string>;  // (service, cluster)
  // Orders keys, and finds one by a pair of string_views without a copy.
  struct KeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };
  using Clusters = std::map<Key, std::shared_ptr<const ClusterEndpoints>, KeyLess>;

  EndpointSet(std::string feed_id, std::uint64_t generation, Clusters clusters,
              std::vector<BridgeStatus> bridges = {});
  EndpointSet(const EndpointSet&) = delete;  // index_ points into clusters_
  EndpointSet& operator=(const EndpointSet&) = delete;

  const std::string& feed_id() const { return feed_id_; }
  std::uint64_t generation() const { return generation_; }
  std::size_t size() const { return size_; }  // endpoints in all clusters
  const Clusters& clusters() const { return clusters_; }
  // The bridges the feed reports, sorted by name.
  const std::vector<BridgeStatus>& bridges() const { return bridges_; }
  // The members of (service, cluster); null when it has none. One hash
  // lookup, no allocation.
  const ClusterEndpoints* Find(std::string_view service, std::string_view cluster) const;

 private:
  using ViewKey = std::pair<std::string_view, std::string_view>;
  struct ViewHash {
    std::size_t operator()(const ViewKey& k) const {
      const std::size_t a = std::hash<std::string_view>{}(k.first);
      return a ^ (std::hash<std::string_view>{}(k.second) + 0x9e3779b97f4a7c15ULL + (a << 6) +
                  (a >> 2));
    }
  };

  std::string feed_id_;
  std::uint64_t generation_;
  Clusters clusters_;
  std::vector<BridgeStatus> bridges_;
  std::size_t size_ = 0;
  // Views into clusters_' keys (map nodes do not move).
  std::unordered_map<ViewKey, const ClusterEndpoints*, ViewHash> index_;
};

struct Limits {
  std::size_t max_endpoints = 100'000;  // a snapshot or delta beyond it is refused
};

// A delta as applied: removed, then upserted, then health changes; bridges
// the same way (a bridge's new record replaces the one of its name).
struct EndpointsDelta {
  std::uint64_t base_generation = 0;
  std::uint64_t generation = 0;
  std::vector<std::string> removed;
  std::vector<Endpoint> upserted;
  std::vector<std::pair<std::string, Health>> health;  // member id, new health
  std::vector<std::string> removed_bridges{};          // bridge names
  std::vector<BridgeStatus> bridges{};                 // new or changed bridges
};

class EndpointTable {
 public:
  explicit EndpointTable(Limits limits = {});

  // Replaces everything. kInvalidArgument (nothing changed) for a malformed
  // snapshot: generation 0, an invalid endpoint or bridge, a member id or
  // bridge name twice, over the limit.
  Status ApplySnapshot(const std::string& feed_id, std::uint64_t generation,
                       std::vector<Endpoint> endpoints, std::vector<BridgeStatus> bridges = {});
  // kConflict when the delta does not apply to the generation held (a gap:
  // watch again from a snapshot), kInvalidArgument when it is malformed
  // (generation not above its base, an invalid endpoint or bridge, a
  // removal or health change of an unknown member, the removal of an
  // unknown bridge, over the limit); nothing changes on an error.
  Status ApplyDelta(const EndpointsDelta& delta);

  // The newest set; null before the first snapshot.
  const std::shared_ptr<const EndpointSet>& current() const { return current_; }
  std::uint64_t generation() const { return current_ ? current_->generation() : 0; }
  const std::string& feed_id() const;
  // Forgets everything (the next message must be a snapshot).
  void Clear();

 private:
  // Rebuilds the clusters named in `touched` from members_ on top of the
  // current set.
  void Publish(const std::string& feed_id, std::uint64_t generation,
               const std::set<EndpointSet::Key>& touched, bool from_scratch);

  const Limits limits_;
  std::unordered_map<std::string, Endpoint> members_;             // by member id
  std::map<EndpointSet::Key, std::set<std::string>> by_cluster_;  // member ids
  std::map<std::string, BridgeStatus> bridges_;                   // by name
  std::shared_ptr<const EndpointSet> current_;
};

}  // namespace omnirelay::meshkit
