#include "rollout_discovery.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "rollout_engine.h"

namespace omnirelay::cp {
namespace {

std::vector<NodePlace> PlacesOf(const std::vector<std::string>& node_ids,
                                const std::map<std::string, std::string>& chains) {
  std::vector<NodePlace> out;
  out.reserve(node_ids.size());
  for (const std::string& id : node_ids) {
    const auto it = chains.find(id);
    out.push_back(it == chains.end() ? NodePlace{} : PlaceOfChain(it->second));
  }
  return out;
}

std::vector<std::string> CellsOf(const std::vector<NodePlace>& places) {
  std::set<std::string> cells;
  for (const NodePlace& p : places) {
    if (!p.cell.empty()) cells.insert(p.cell);
  }
  return {cells.begin(), cells.end()};
}

}  // namespace

NodePlace PlaceOfChain(const std::string& chain) {
  NodePlace out;
  for (const std::string& scope : ScopesOfChain(chain)) {
    const std::string_view s = scope;
    if (s.starts_with("region:")) out.region = scope.substr(7);
    if (s.starts_with("cell:")) out.cell = scope.substr(5);
  }
  return out;
}

std::vector<ClusterHealthFigure> TargetClusters(const meshkit::EndpointSet& set,
                                                const std::vector<NodePlace>& places,
                                                std::vector<std::string>* uncovered) {
  bool everywhere = false;
  std::set<std::string, std::less<>> cells, regions;
  for (const NodePlace& p : places) {
    if (!p.cell.empty()) {
      cells.insert(p.cell);
    } else if (!p.region.empty()) {
      regions.insert(p.region);
    } else {
      everywhere = true;
    }
  }
  std::set<std::string, std::less<>> seen_cells, seen_regions;  // places with an endpoint
  std::vector<ClusterHealthFigure> out;
  for (const auto& [key, members] : set.clusters()) {
    ClusterHealthFigure figure{key.first, key.second, 0, 0};
    for (const meshkit::Endpoint& e : members->endpoints) {
      const bool in_cell = cells.count(e.cell) != 0;
      const bool in_region = regions.count(e.region) != 0;
      if (in_cell) seen_cells.insert(e.cell);
      if (in_region) seen_regions.insert(e.region);
      if (!everywhere && !in_cell && !in_region) continue;
      ++figure.total;
      if (e.routable()) ++figure.healthy;
    }
    if (figure.total > 0) out.push_back(std::move(figure));  // the map is sorted by key
  }
  if (uncovered != nullptr) {
    uncovered->clear();
    for (const std::string& c : cells) {
      if (seen_cells.count(c) == 0) uncovered->push_back("cell:" + c);
    }
    for (const std::string& r : regions) {
      if (seen_regions.count(r) == 0) uncovered->push_back("region:" + r);
    }
    std::sort(uncovered->begin(), uncovered->end());
  }
  return out;
}

std::vector<std::string> BridgesDown(const meshkit::EndpointSet* set, bool connected,
                                     const std::vector<std::string>& cells) {
  std::vector<std::string> out;
  if (cells.size() < 2) return out;
  if (set == nullptr) {
    out.push_back("every bridge unknown: MeshKit has sent no endpoint set yet");
    return out;
  }
  if (!connected) out.push_back("every bridge unknown: the MeshKit feed is disconnected");
  const std::set<std::string, std::less<>> wanted(cells.begin(), cells.end());
  for (const meshkit::BridgeStatus& b : set->bridges()) {  // sorted by name
    if (b.up() || b.cells.size() != 2) continue;
    if (wanted.count(b.cells[0]) != 0 && wanted.count(b.cells[1]) != 0) {
      out.push_back(b.Describe());
    }
  }
  return out;
}

WaveDiscovery DiscoveryForWave(const FeedView& feed, const RolloutState& state,
                               const std::map<std::string, std::string>& chains) {
  WaveDiscovery out;
  const meshkit::EndpointSet* set = feed.set.get();
  if (set != nullptr) {
    out.received = true;
    out.feed_id = set->feed_id();
    out.generation = static_cast<std::int64_t>(set->generation());
    out.history = feed.history;
  }
  if (state.current_wave < state.waves.size()) {
    const std::vector<NodePlace> places =
        PlacesOf(state.waves[state.current_wave].node_ids, chains);
    if (set != nullptr) out.clusters = TargetClusters(*set, places, &out.uncovered);
    const std::vector<std::string> cells = CellsOf(places);
    out.cross_cell = cells.size() >= 2;
    out.bridges_down = BridgesDown(set, feed.connected, cells);
  }
  // The wave a promotion enters: empty ones are passed through (rollout_state.cc).
  std::size_t next = state.current_wave + 1;
  while (next < state.waves.size() && state.waves[next].node_ids.empty()) ++next;
  if (next < state.waves.size()) {
    out.next_wave = next;
    out.next_wave_bridges_down =
        BridgesDown(set, feed.connected, CellsOf(PlacesOf(state.waves[next].node_ids, chains)));
  }
  return out;
}

}  // namespace omnirelay::cp
