#include "omnirelay/relay/router.h"

#include <algorithm>
#include <utility>

#include "omnirelay/config/shadow.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/config_listener.h"

namespace omnirelay::relay {
namespace {

constexpr std::string_view kWeightsSaltPrefix = "weights:";

Status UnknownRoute(std::string_view route) {
  return Status(StatusCode::kNotFound, "no route \"" + std::string(route) + "\"");
}

using ClusterIndex = std::unordered_map<std::string_view, std::uint32_t>;

// Breadth-first over failover lists from cluster `start`: its own list first
// (the operator's order of preference), then the lists of those clusters.
// Names already in the order (duplicates, cycles) and dangling names are
// skipped. `order` is the queue and the result.
void ComputeFailoverOrder(const Spec& spec, const ClusterIndex& index, std::uint32_t start,
                          std::vector<std::uint32_t>& order) {
  order.assign(1, start);
  for (std::size_t next = 0; next < order.size() && order.size() < kMaxFailoverOrder; ++next) {
    for (const std::string& name : spec.clusters[order[next]].value.failover) {
      auto it = index.find(name);
      if (it == index.end() || std::find(order.begin(), order.end(), it->second) != order.end()) {
        continue;
      }
      order.push_back(it->second);
      if (order.size() == kMaxFailoverOrder) break;
    }
  }
}

class RoutingListener final : public ConfigListener<RoutingTable> {
 public:
  std::string_view name() const override { return "routing"; }
  Result<std::shared_ptr<const RoutingTable>> PrepareState(
      const AppliedSnapshot& candidate) override {
    return RoutingTable::Build(candidate.spec());
  }
};

}  // namespace

std::shared_ptr<const RoutingTable> RoutingTable::Build(const Spec& spec) {
  std::shared_ptr<RoutingTable> table(new RoutingTable());  // private constructor
  ClusterIndex index;
  index.reserve(spec.clusters.size());
  for (std::uint32_t i = 0; i < spec.clusters.size(); ++i) {
    index.emplace(spec.clusters[i].name, i);
  }

  // Failover orders, back to back in names_.
  table->names_.reserve(spec.clusters.size() * 2);
  table->services_.reserve(spec.clusters.size() * 2);
  table->failover_.reserve(spec.clusters.size());
  std::vector<std::uint32_t> order;
  for (std::uint32_t i = 0; i < spec.clusters.size(); ++i) {
    ComputeFailoverOrder(spec, index, i, order);
    const Span span{static_cast<std::uint32_t>(table->names_.size()),
                    static_cast<std::uint32_t>(order.size())};
    for (std::uint32_t c : order) {
      table->names_.push_back(spec.clusters[c].name);
      table->services_.push_back(spec.clusters[c].value.service);
    }
    table->failover_.emplace(spec.clusters[i].name, span);
  }

  std::size_t salt_bytes = 0, choices = 0;
  for (const auto& r : spec.routes) {
    salt_bytes += kWeightsSaltPrefix.size() + r.name.size();
    choices += r.value.weights.size();
  }
  table->salts_.reserve(salt_bytes);
  table->choices_.reserve(choices);
  table->routes_.reserve(spec.routes.size());
  for (const auto& r : spec.routes) {
    RouteEntry entry;
    entry.choices.begin = static_cast<std::uint32_t>(table->choices_.size());
    for (const RouteWeight& w : r.value.weights) {
      auto it = table->failover_.find(w.cluster);
      if (w.weight <= 0 || it == table->failover_.end()) continue;
      entry.total_weight += static_cast<std::uint64_t>(w.weight);
      table->choices_.push_back({entry.total_weight, it->second});
    }
    entry.choices.size = static_cast<std::uint32_t>(table->choices_.size()) - entry.choices.begin;
    if (entry.choices.size == 0) continue;  // nowhere to send it: as unknown
    entry.weights_salt = {static_cast<std::uint32_t>(table->salts_.size()),
                          static_cast<std::uint32_t>(kWeightsSaltPrefix.size() + r.name.size())};
    table->salts_ += kWeightsSaltPrefix;
    table->salts_ += r.name;
    if (r.value.shadow && r.value.shadow->basis_points > 0) {
      auto it = table->failover_.find(r.value.shadow->cluster);
      if (it != table->failover_.end()) {
        entry.shadow_cluster = it->second.begin;
        entry.shadow_basis_points = r.value.shadow->basis_points;
      }
    }
    table->routes_.emplace(r.name, entry);
  }
  return table;
}

const RoutingTable::RouteEntry* RoutingTable::Find(std::string_view route) const {
  auto it = routes_.find(route);
  return it == routes_.end() ? nullptr : &it->second;
}

const RoutingTable::Choice& RoutingTable::Pick(const RouteEntry& entry,
                                               std::string_view key) const {
  const std::string_view salt =
      std::string_view(salts_).substr(entry.weights_salt.begin, entry.weights_salt.size);
  return Pick(entry, ShadowHash(key, salt));
}

const RoutingTable::Choice& RoutingTable::Pick(const RouteEntry& entry, std::uint64_t value) const {
  const std::uint64_t bucket = value % entry.total_weight;
  const Choice* first = choices_.data() + entry.choices.begin;
  const Choice* last = first + entry.choices.size - 1;
  for (const Choice* c = first; c != last; ++c) {
    if (bucket < c->upper) return *c;
  }
  return *last;  // its upper is total_weight
}

Result<RouteDecision> RoutingTable::Route(std::string_view route, std::string_view key) const {
  const RouteEntry* entry = Find(route);
  if (entry == nullptr) return UnknownRoute(route);
  const std::uint64_t key_hash = ShadowHash(
      key, std::string_view(salts_).substr(entry->weights_salt.begin, entry->weights_salt.size));
  const Choice& choice = Pick(*entry, key_hash);
  RouteDecision decision;
  decision.key_hash = key_hash;
  decision.failover = Names(choice.failover);
  decision.failover_services = Services(choice.failover);
  decision.cluster = decision.failover.front();
  if (omnirelay::ShouldShadow(key, entry->shadow_basis_points, route)) {
    decision.shadow_cluster = names_[entry->shadow_cluster];
    decision.shadow_service = services_[entry->shadow_cluster];
  }
  return decision;
}

Result<std::string_view> RoutingTable::PickCluster(std::string_view route,
                                                   std::string_view key) const {
  const RouteEntry* entry = Find(route);
  if (entry == nullptr) return UnknownRoute(route);
  return std::string_view(names_[Pick(*entry, key).failover.begin]);
}

Result<std::string_view> RoutingTable::PickClusterRandom(std::string_view route,
                                                         std::uint64_t random) const {
  const RouteEntry* entry = Find(route);
  if (entry == nullptr) return UnknownRoute(route);
  return std::string_view(names_[Pick(*entry, random).failover.begin]);
}

std::span<const std::string> RoutingTable::FailoverOrder(std::string_view cluster) const {
  auto it = failover_.find(cluster);
  if (it == failover_.end()) return {};
  return Names(it->second);
}

bool RoutingTable::ShouldShadow(std::string_view route, std::string_view key) const {
  const RouteEntry* entry = Find(route);
  return entry != nullptr && omnirelay::ShouldShadow(key, entry->shadow_basis_points, route);
}

std::string_view RoutingTable::ShadowCluster(std::string_view route) const {
  const RouteEntry* entry = Find(route);
  if (entry == nullptr || entry->shadow_basis_points == 0) return {};
  return names_[entry->shadow_cluster];
}

Result<std::string_view> SelectReachable(const RouteDecision& decision,
                                         const IEndpointSource& endpoints) {
  for (const std::string& cluster : decision.failover) {
    if (endpoints.HasHealthyEndpoints(cluster)) return std::string_view(cluster);
  }
  return Status(StatusCode::kUnavailable, "no cluster in the failover order of \"" +
                                              std::string(decision.cluster) +
                                              "\" has healthy endpoints");
}

Result<Router> Router::Attach(ConfigHost& host) {
  Result<StateSlot<RoutingTable>> slot =
      host.AddStateListener<RoutingTable>(std::make_shared<RoutingListener>());
  if (!slot.ok()) return slot.status();
  return Router(*slot);
}

Result<RouteDecision> Router::Route(const AppliedSnapshot& snapshot, std::string_view route,
                                    std::string_view key) const {
  const RoutingTable* table = Table(snapshot);
  if (table == nullptr) {
    return Status(StatusCode::kUnavailable,
                  "snapshot generation " + std::to_string(snapshot.generation()) +
                      " has no routing table (published before the router attached)");
  }
  return table->Route(route, key);
}

}  // namespace omnirelay::relay
