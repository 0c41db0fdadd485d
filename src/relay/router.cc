#include "omnirelay/relay/router.h"

#include <algorithm>
#include <utility>

#include "omnirelay/config/scope.h"
#include "omnirelay/config/shadow.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/config_listener.h"
#include "relay_metrics.h"

namespace omnirelay::relay {
namespace {

constexpr std::string_view kWeightsSaltPrefix = "weights:";
constexpr std::string_view kRefusals = "omnirelay_relay_bridge_refusals_total";
constexpr std::string_view kRefusalsHelp =
    "Routing decisions whose weighted choice (kind=request) or sampled shadow target "
    "(kind=shadow) lies across a bridge that does not let its service through, by reason "
    "(not_exported, denied, no_bridge).";
constexpr std::string_view kRouted = "omnirelay_relay_bridge_routed_total";
constexpr std::string_view kRoutedHelp =
    "Requests (kind=request) and mirrors (kind=shadow) this relay sent across each bridge; "
    "the bridge's quota is MeshKit's to enforce.";
constexpr std::string_view kRulesApplied = "omnirelay_relay_bridge_rules_applied";
constexpr std::string_view kRulesAppliedHelp =
    "1 when this relay's scope chain names its cell and bridge export/deny rules apply; 0 "
    "when it names none and every cluster is treated as reachable.";

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

bool Lists(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// What rule 2 says of a cluster in `to_cell`, seen from `from_cell`.
struct BridgeVerdict {
  std::string_view reason;                // "" = permitted
  const Named<Bridge>* bridge = nullptr;  // crossed, or the one refusing; null: local / no_bridge
};

BridgeVerdict Judge(const Topology& topology, std::string_view from_cell, const Cluster& cluster) {
  if (from_cell.empty() || cluster.cell.empty() || cluster.cell == from_cell) return {};
  const Named<Bridge>* joining = nullptr;
  const Named<Bridge>* denying = nullptr;
  for (const Named<Bridge>& b : topology.bridges) {
    if (!Lists(b.value.cells, from_cell) || !Lists(b.value.cells, cluster.cell)) continue;
    if (Lists(b.value.deny_services, cluster.service)) {
      if (denying == nullptr) denying = &b;
    } else if (Lists(b.value.export_services, cluster.service)) {
      return {"", &b};
    }
    if (joining == nullptr) joining = &b;
  }
  if (denying != nullptr) return {"denied", denying};
  if (joining != nullptr) return {"not_exported", joining};
  return {"no_bridge", nullptr};
}

// Why a refused cluster is refused, for no_route messages.
std::string RefusalText(const BridgeVerdict& v, std::string_view from_cell, const Cluster& c) {
  std::string out = "service " + c.service + " does not cross from cell " + std::string(from_cell) +
                    " to cell " + c.cell + ": ";
  if (v.reason == "no_bridge") return out + "no bridge joins the cells";
  return out + "bridge " + v.bridge->name +
         (v.reason == "denied" ? " denies" : " does not export") + " it";
}

class RoutingListener final : public ConfigListener<RoutingTable> {
 public:
  RoutingListener(MetricsRegistry* metrics, std::string_view node_id)
      : metrics_(metrics), node_id_(node_id) {}
  std::string_view name() const override { return "routing"; }
  Result<std::shared_ptr<const RoutingTable>> PrepareState(
      const AppliedSnapshot& candidate) override {
    return RoutingTable::Build(
        candidate.spec(),
        {RelayCell(candidate.snapshot().metadata.scope_chain), metrics_, node_id_});
  }
  void Commit(const AppliedSnapshot& applied) override {
    if (metrics_ == nullptr) return;
    const bool applies = !RelayCell(applied.snapshot().metadata.scope_chain).empty();
    metrics_->gauge(kRulesApplied, kRulesAppliedHelp, LabelSet(node_id_, {})).Set(applies ? 1 : 0);
  }

 private:
  MetricsRegistry* const metrics_;
  const std::string node_id_;
};

}  // namespace

std::string RelayCell(const std::vector<std::string>& scope_chain) {
  for (const std::string& text : scope_chain) {
    Result<Scope> scope = ParseScope(text);
    if (scope.ok() && scope->level == ScopeLevel::kCell) return scope->name;
  }
  return {};
}

std::shared_ptr<const RoutingTable> RoutingTable::Build(const Spec& spec,
                                                        const RoutingOptions& options) {
  std::shared_ptr<RoutingTable> table(new RoutingTable());  // private constructor
  table->cell_ = options.cell;
  ClusterIndex index;
  index.reserve(spec.clusters.size());
  for (std::uint32_t i = 0; i < spec.clusters.size(); ++i) {
    index.emplace(spec.clusters[i].name, i);
  }
  auto count = [&](std::string_view name, std::string_view help,
                   std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
    return options.metrics == nullptr
               ? nullptr
               : &options.metrics->counter(name, help, LabelSet(options.node_id, labels));
  };

  // Rule 2 per cluster; crossings_ is complete before bridges_ points into it.
  std::vector<BridgeVerdict> verdicts;
  verdicts.reserve(spec.clusters.size());
  std::vector<std::int32_t> crossing(spec.clusters.size(), -1);
  table->clusters_.reserve(spec.clusters.size());
  table->refusals_.reserve(spec.clusters.size());
  for (std::uint32_t i = 0; i < spec.clusters.size(); ++i) {
    const Cluster& c = spec.clusters[i].value;
    verdicts.push_back(Judge(spec.topology, options.cell, c));
    const BridgeVerdict& v = verdicts.back();
    table->clusters_.push_back(spec.clusters[i].name);
    table->refusals_.push_back(v.reason.empty() ? "" : RefusalText(v, options.cell, c));
    if (!v.reason.empty() || v.bridge == nullptr) continue;
    auto same = [&](const BridgeCrossing& b) { return b.bridge == v.bridge->name; };
    auto it = std::find_if(table->crossings_.begin(), table->crossings_.end(), same);
    if (it == table->crossings_.end()) {
      table->crossings_.push_back(
          {v.bridge->name, c.cell,
           count(kRouted, kRoutedHelp, {{"bridge", v.bridge->name}, {"kind", "request"}}),
           count(kRouted, kRoutedHelp, {{"bridge", v.bridge->name}, {"kind", "shadow"}})});
      it = table->crossings_.end() - 1;
    }
    crossing[i] = static_cast<std::int32_t>(it - table->crossings_.begin());
  }
  auto refusal_counter = [&](std::uint32_t cluster, std::string_view kind) -> Counter* {
    const BridgeVerdict& v = verdicts[cluster];
    if (v.reason.empty()) return nullptr;
    return count(kRefusals, kRefusalsHelp,
                 {{"bridge", v.bridge == nullptr ? std::string_view() : v.bridge->name},
                  {"to_cell", spec.clusters[cluster].value.cell},
                  {"reason", v.reason},
                  {"kind", kind}});
  };

  // Failover orders without refused clusters (rule 3), back to back in names_.
  table->names_.reserve(spec.clusters.size() * 2);
  table->services_.reserve(spec.clusters.size() * 2);
  table->bridges_.reserve(spec.clusters.size() * 2);
  table->failover_.reserve(spec.clusters.size());
  std::vector<std::uint32_t> order;
  for (std::uint32_t i = 0; i < spec.clusters.size(); ++i) {
    ComputeFailoverOrder(spec, index, i, order);
    Span span{static_cast<std::uint32_t>(table->names_.size()), 0};
    for (std::uint32_t c : order) {
      if (!verdicts[c].reason.empty()) continue;
      table->names_.push_back(spec.clusters[c].name);
      table->services_.push_back(spec.clusters[c].value.service);
      table->bridges_.push_back(crossing[c] < 0 ? nullptr : &table->crossings_[crossing[c]]);
      ++span.size;
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
      auto it = index.find(w.cluster);
      if (w.weight <= 0 || it == index.end()) continue;
      entry.total_weight += static_cast<std::uint64_t>(w.weight);
      table->choices_.push_back({entry.total_weight, table->failover_.find(w.cluster)->second,
                                 it->second, refusal_counter(it->second, "request")});
    }
    entry.choices.size = static_cast<std::uint32_t>(table->choices_.size()) - entry.choices.begin;
    if (entry.choices.size == 0) continue;  // nowhere to send it: as unknown
    entry.weights_salt = {static_cast<std::uint32_t>(table->salts_.size()),
                          static_cast<std::uint32_t>(kWeightsSaltPrefix.size() + r.name.size())};
    table->salts_ += kWeightsSaltPrefix;
    table->salts_ += r.name;
    if (r.value.shadow && r.value.shadow->basis_points > 0) {
      auto it = index.find(r.value.shadow->cluster);
      if (it == index.end()) {
        // dangling: no shadow
      } else if (!verdicts[it->second].reason.empty()) {  // rule 4
        entry.shadow_refused = refusal_counter(it->second, "shadow");
        if (entry.shadow_refused != nullptr) {
          entry.refused_shadow_basis_points = r.value.shadow->basis_points;
        }
      } else {
        entry.shadow_cluster = table->failover_.find(r.value.shadow->cluster)->second.begin;
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
  if (choice.refused != nullptr) choice.refused->Inc();  // rule 6: only on a refusal
  if (choice.failover.size == 0) return NoRoute(route, choice);
  RouteDecision decision;
  decision.key_hash = key_hash;
  decision.failover = Names(choice.failover);
  decision.failover_services = Services(choice.failover);
  decision.failover_bridges = Bridges(choice.failover);
  decision.cluster = decision.failover.front();
  if (omnirelay::ShouldShadow(key, entry->shadow_basis_points, route)) {
    decision.shadow_cluster = names_[entry->shadow_cluster];
    decision.shadow_service = services_[entry->shadow_cluster];
    decision.shadow_bridge = bridges_[entry->shadow_cluster];
  } else if (entry->refused_shadow_basis_points > 0 &&
             omnirelay::ShouldShadow(key, entry->refused_shadow_basis_points, route)) {
    entry->shadow_refused->Inc();  // rule 4: sampled, not mirrored
  }
  return decision;
}

Status RoutingTable::NoRoute(std::string_view route, const Choice& choice) const {
  return Status(StatusCode::kUnavailable,
                "no_route: route \"" + std::string(route) + "\" chose cluster \"" +
                    clusters_[choice.weighted] + "\"; " + refusals_[choice.weighted] +
                    ", and no cluster in its failover order is permitted");
}

Result<std::string_view> RoutingTable::PickCluster(std::string_view route,
                                                   std::string_view key) const {
  const RouteEntry* entry = Find(route);
  if (entry == nullptr) return UnknownRoute(route);
  return std::string_view(clusters_[Pick(*entry, key).weighted]);
}

Result<std::string_view> RoutingTable::PickClusterRandom(std::string_view route,
                                                         std::uint64_t random) const {
  const RouteEntry* entry = Find(route);
  if (entry == nullptr) return UnknownRoute(route);
  return std::string_view(clusters_[Pick(*entry, random).weighted]);
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
  for (std::size_t i = 0; i < decision.failover.size(); ++i) {
    if (!endpoints.HasHealthyEndpoints(decision.failover[i])) continue;
    CountRouted(decision, i, !decision.shadow_cluster.empty());
    return std::string_view(decision.failover[i]);
  }
  return Status(StatusCode::kUnavailable, "no cluster in the failover order of \"" +
                                              std::string(decision.cluster) +
                                              "\" has healthy endpoints");
}

Result<Router> Router::Attach(ConfigHost& host, MetricsRegistry* metrics,
                              std::string_view node_id) {
  Result<StateSlot<RoutingTable>> slot =
      host.AddStateListener<RoutingTable>(std::make_shared<RoutingListener>(metrics, node_id));
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
