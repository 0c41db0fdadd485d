#include "omnirelay/meshkit/endpoints.h"

#include <algorithm>
#include <array>

namespace omnirelay::meshkit {
namespace {

constexpr std::size_t kMaxText = 253;  // a DNS name's length; ids and labels too
constexpr std::uint32_t kMaxWeight = 1'000'000;

constexpr std::array<std::string_view, 4> kHealthNames = {"unknown", "healthy", "unhealthy",
                                                          "draining"};
constexpr std::array<std::string_view, 4> kBridgeStateNames = {"unknown", "up", "down", "flapping"};

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

EndpointSet::Key KeyOf(const Endpoint& e) {
  return {e.service, e.cluster};
}

}  // namespace

std::string_view HealthName(Health health) {
  return kHealthNames[static_cast<std::size_t>(health)];
}

std::optional<Health> ParseHealth(std::string_view name) {
  for (std::size_t i = 0; i < kHealthNames.size(); ++i) {
    if (kHealthNames[i] == name) return static_cast<Health>(i);
  }
  return std::nullopt;
}

Status CheckEndpoint(const Endpoint& e) {
  const std::pair<std::string_view, const std::string*> required[] = {{"memberId", &e.member_id},
                                                                      {"address", &e.address},
                                                                      {"service", &e.service},
                                                                      {"cluster", &e.cluster}};
  for (const auto& [name, value] : required) {
    if (value->empty()) return Invalid(std::string(name) + " is required");
  }
  const std::pair<std::string_view, const std::string*> texts[] = {
      {"memberId", &e.member_id}, {"address", &e.address}, {"service", &e.service},
      {"cluster", &e.cluster},    {"cell", &e.cell},       {"region", &e.region},
      {"zone", &e.zone}};
  for (const auto& [name, value] : texts) {
    if (value->size() > kMaxText) {
      return Invalid(std::string(name) + " is longer than " + std::to_string(kMaxText) + " bytes");
    }
  }
  if (e.port == 0) return Invalid("port must be 1-65535");
  if (e.weight == 0 || e.weight > kMaxWeight) {
    return Invalid("weight must be 1-" + std::to_string(kMaxWeight));
  }
  return Status::Ok();
}

const Endpoint* ClusterEndpoints::Pick(std::uint64_t hash) const {
  const std::size_t n = routable_members.size();
  if (n == 0) return nullptr;
  // The high half picks the slot, the low half tosses the coin (multiply and
  // shift: no division, and the same hash always lands the same way).
  const auto slot = static_cast<std::size_t>(((hash >> 32) * n) >> 32);
  __extension__ typedef unsigned __int128 Wide;  // total_weight may pass 2^32
  const auto coin =
      static_cast<std::uint64_t>((static_cast<Wide>(hash & 0xffffffffULL) * total_weight) >> 32);
  const std::size_t k = coin < keep[slot] ? slot : alias[slot];
  return &endpoints[routable_members[k]];
}

namespace {

// Vose's alias method over `weights` (each >= 1), in integers: slot i's own
// share is keep[i] out of `total`, the rest of its slot goes to alias[i].
void BuildAliasTable(const std::vector<std::uint64_t>& weights, std::uint64_t total,
                     std::vector<std::uint64_t>& keep, std::vector<std::uint32_t>& alias) {
  const std::size_t n = weights.size();
  keep.assign(n, total);
  alias.resize(n);
  std::vector<std::uint64_t> scaled(n);  // weight * n: a slot is worth `total`
  std::vector<std::uint32_t> small, large;
  for (std::size_t i = 0; i < n; ++i) {
    alias[i] = static_cast<std::uint32_t>(i);
    scaled[i] = weights[i] * n;
    (scaled[i] < total ? small : large).push_back(static_cast<std::uint32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    const std::uint32_t s = small.back();
    small.pop_back();
    const std::uint32_t l = large.back();
    keep[s] = scaled[s];
    alias[s] = l;
    scaled[l] -= total - scaled[s];
    if (scaled[l] < total) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left holds exactly one slot each (keep = total).
}

}  // namespace

std::string_view BridgeStateName(BridgeState state) {
  return kBridgeStateNames[static_cast<std::size_t>(state)];
}

std::optional<BridgeState> ParseBridgeState(std::string_view name) {
  for (std::size_t i = 0; i < kBridgeStateNames.size(); ++i) {
    if (kBridgeStateNames[i] == name) return static_cast<BridgeState>(i);
  }
  return std::nullopt;
}

bool BridgeStatus::Joins(std::string_view a, std::string_view b) const {
  return cells.size() == 2 &&
         ((cells[0] == a && cells[1] == b) || (cells[0] == b && cells[1] == a));
}

std::string BridgeStatus::Describe() const {
  return name + " (" + std::string(BridgeStateName(state)) + (detail.empty() ? "" : ": " + detail) +
         ")";
}

Status CheckBridge(const BridgeStatus& b) {
  if (b.name.empty() || b.name.size() > kMaxText) {
    return Invalid("a bridge needs a name of 1-" + std::to_string(kMaxText) + " characters");
  }
  if (b.cells.size() != 2 || b.cells[0].empty() || b.cells[1].empty() || b.cells[0] == b.cells[1] ||
      b.cells[0].size() > kMaxText || b.cells[1].size() > kMaxText) {
    return Invalid("bridge \"" + b.name + "\" must join exactly two distinct named cells");
  }
  if (b.detail.size() > 4 * kMaxText) {
    return Invalid("bridge \"" + b.name + "\": detail over " + std::to_string(4 * kMaxText) +
                   " characters");
  }
  return Status::Ok();
}

EndpointSet::EndpointSet(std::string feed_id, std::uint64_t generation, Clusters clusters,
                         std::vector<BridgeStatus> bridges)
    : feed_id_(std::move(feed_id)),
      generation_(generation),
      clusters_(std::move(clusters)),
      bridges_(std::move(bridges)) {
  index_.reserve(clusters_.size());
  for (const auto& [key, members] : clusters_) {
    size_ += members->endpoints.size();
    index_.emplace(ViewKey(key.first, key.second), members.get());
  }
}

const ClusterEndpoints* EndpointSet::Find(std::string_view service,
                                          std::string_view cluster) const {
  const auto it = index_.find(ViewKey(service, cluster));
  return it == index_.end() ? nullptr : it->second;
}

EndpointTable::EndpointTable(Limits limits) : limits_(limits) {}

const std::string& EndpointTable::feed_id() const {
  static const std::string kNone;
  return current_ ? current_->feed_id() : kNone;
}

void EndpointTable::Clear() {
  members_.clear();
  by_cluster_.clear();
  bridges_.clear();
  current_.reset();
}

Status EndpointTable::ApplySnapshot(const std::string& feed_id, std::uint64_t generation,
                                    std::vector<Endpoint> endpoints,
                                    std::vector<BridgeStatus> bridges) {
  if (generation == 0) return Invalid("a snapshot's generation must be at least 1");
  if (endpoints.size() > limits_.max_endpoints) {
    return Invalid("a snapshot of " + std::to_string(endpoints.size()) +
                   " endpoints is over the limit of " + std::to_string(limits_.max_endpoints));
  }
  std::unordered_map<std::string, Endpoint> members;
  members.reserve(endpoints.size());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    Status ok = CheckEndpoint(endpoints[i]);
    if (!ok.ok()) return Invalid("endpoint " + std::to_string(i) + ": " + ok.message());
    const std::string id = endpoints[i].member_id;
    if (!members.emplace(id, std::move(endpoints[i])).second) {
      return Invalid("member \"" + id + "\" appears twice");
    }
  }
  std::map<std::string, BridgeStatus> bridge_map;
  for (BridgeStatus& b : bridges) {
    Status ok = CheckBridge(b);
    if (!ok.ok()) return ok;
    const std::string name = b.name;
    if (!bridge_map.emplace(name, std::move(b)).second) {
      return Invalid("bridge \"" + name + "\" appears twice");
    }
  }
  members_ = std::move(members);
  bridges_ = std::move(bridge_map);
  by_cluster_.clear();
  std::set<EndpointSet::Key> touched;
  for (const auto& [id, e] : members_) {
    by_cluster_[KeyOf(e)].insert(id);
    touched.insert(KeyOf(e));
  }
  Publish(feed_id, generation, touched, /*from_scratch=*/true);
  return Status::Ok();
}

Status EndpointTable::ApplyDelta(const EndpointsDelta& d) {
  if (!current_) return Status(StatusCode::kConflict, "a delta before any snapshot");
  if (d.base_generation != current_->generation()) {
    return Status(StatusCode::kConflict,
                  "a delta on generation " + std::to_string(d.base_generation) +
                      " while this client holds " + std::to_string(current_->generation()));
  }
  if (d.generation <= d.base_generation) {
    return Invalid("a delta's generation " + std::to_string(d.generation) +
                   " is not above its base " + std::to_string(d.base_generation));
  }
  // Check everything before changing anything.
  std::set<std::string> gone;
  for (const std::string& id : d.removed) {
    if (members_.count(id) == 0) return Invalid("the delta removes unknown member \"" + id + "\"");
    gone.insert(id);
  }
  std::set<std::string> upserted;
  std::size_t added = 0;
  for (std::size_t i = 0; i < d.upserted.size(); ++i) {
    Status ok = CheckEndpoint(d.upserted[i]);
    if (!ok.ok()) return Invalid("upserted endpoint " + std::to_string(i) + ": " + ok.message());
    const std::string& id = d.upserted[i].member_id;
    if (!upserted.insert(id).second) return Invalid("member \"" + id + "\" upserted twice");
    if (members_.count(id) == 0 || gone.count(id) != 0) ++added;
  }
  for (const auto& [id, health] : d.health) {
    if (upserted.count(id) == 0 && (members_.count(id) == 0 || gone.count(id) != 0)) {
      return Invalid("the delta changes the health of unknown member \"" + id + "\"");
    }
  }
  for (const std::string& name : d.removed_bridges) {
    if (bridges_.count(name) == 0)
      return Invalid("the delta removes unknown bridge \"" + name + "\"");
  }
  std::set<std::string> bridge_names;
  for (const BridgeStatus& b : d.bridges) {
    Status ok = CheckBridge(b);
    if (!ok.ok()) return ok;
    if (!bridge_names.insert(b.name).second) {
      return Invalid("bridge \"" + b.name + "\" appears twice in the delta");
    }
  }
  const std::size_t after = members_.size() - gone.size() + added;
  if (after > limits_.max_endpoints) {
    return Invalid("the delta would hold " + std::to_string(after) +
                   " endpoints, over the limit of " + std::to_string(limits_.max_endpoints));
  }

  std::set<EndpointSet::Key> touched;
  const auto drop = [&](const std::string& id) {
    auto it = members_.find(id);
    if (it == members_.end()) return;
    const EndpointSet::Key key = KeyOf(it->second);
    touched.insert(key);
    auto members = by_cluster_.find(key);
    members->second.erase(id);
    if (members->second.empty()) by_cluster_.erase(members);
    members_.erase(it);
  };
  for (const std::string& id : d.removed) drop(id);
  for (const Endpoint& e : d.upserted) {
    drop(e.member_id);  // it may have moved to another cluster
    touched.insert(KeyOf(e));
    by_cluster_[KeyOf(e)].insert(e.member_id);
    members_[e.member_id] = e;
  }
  for (const auto& [id, health] : d.health) {
    Endpoint& e = members_.at(id);
    if (e.health == health) continue;
    e.health = health;
    touched.insert(KeyOf(e));
  }
  for (const std::string& name : d.removed_bridges) bridges_.erase(name);
  for (const BridgeStatus& b : d.bridges) bridges_[b.name] = b;
  Publish(current_->feed_id(), d.generation, touched, /*from_scratch=*/false);
  return Status::Ok();
}

void EndpointTable::Publish(const std::string& feed_id, std::uint64_t generation,
                            const std::set<EndpointSet::Key>& touched, bool from_scratch) {
  EndpointSet::Clusters clusters;
  if (!from_scratch && current_) clusters = current_->clusters();  // shares the untouched
  for (const EndpointSet::Key& key : touched) {
    auto ids = by_cluster_.find(key);
    if (ids == by_cluster_.end()) {
      clusters.erase(key);
      continue;
    }
    auto built = std::make_shared<ClusterEndpoints>();
    built->service = key.first;
    built->cluster = key.second;
    built->endpoints.reserve(ids->second.size());
    std::vector<std::uint64_t> weights;
    for (const std::string& id : ids->second) {  // a std::set: sorted by member id
      const Endpoint& e = members_.at(id);
      if (e.routable()) {
        built->routable_members.push_back(static_cast<std::uint32_t>(built->endpoints.size()));
        weights.push_back(e.weight);
        built->total_weight += e.weight;
      }
      built->endpoints.push_back(e);
    }
    built->routable = built->routable_members.size();
    BuildAliasTable(weights, built->total_weight, built->keep, built->alias);
    clusters[key] = std::move(built);
  }
  std::vector<BridgeStatus> bridges;
  bridges.reserve(bridges_.size());
  for (const auto& [name, b] : bridges_) bridges.push_back(b);  // sorted by name
  current_ = std::make_shared<const EndpointSet>(feed_id, generation, std::move(clusters),
                                                 std::move(bridges));
}

}  // namespace omnirelay::meshkit
