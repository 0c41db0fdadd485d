#include "omnirelay/config/scope_map.h"

#include <algorithm>
#include <utility>

#include "omnirelay/config/decode.h"

namespace omnirelay {
namespace {

Scope Global() {
  return Scope{ScopeLevel::kGlobal, ""};
}

Status Unknown(const std::string& message) {
  return Status(StatusCode::kInvalid, message,
                {{"/metadata/scope", DiagCode::kUnknownScope, message}});
}

}  // namespace

ScopeMap::ScopeMap(const Topology& topology) {
  for (const auto& [region, value] : topology.regions) {
    auto& cells = region_cells_[region];
    for (const std::string& cell : value.cells) {
      // A cell listed by two regions is a validation error; the first wins here.
      if (cell_region_.emplace(cell, region).second) cells.push_back(cell);
    }
    std::sort(cells.begin(), cells.end());
    cells.erase(std::unique(cells.begin(), cells.end()), cells.end());
  }
  for (const auto& [cluster, placement] : topology.placements) {
    if (!cell_region_.contains(placement.cell)) continue;  // unknown_cell when validated
    cluster_cell_.emplace(cluster, placement.cell);
    cell_clusters_[placement.cell].push_back(cluster);
  }
  for (auto& [cell, clusters] : cell_clusters_) std::sort(clusters.begin(), clusters.end());
}

ScopeMap ScopeMap::Unrestricted() {
  ScopeMap map;
  map.unrestricted_ = true;
  return map;
}

Result<ScopeMap> ScopeMap::FromGlobalLayer(std::string_view document) {
  if (document.empty()) return ScopeMap();
  OMNI_ASSIGN_OR_RETURN(ParsedLayer layer, ParseLayer(document));
  OMNI_ASSIGN_OR_RETURN(Spec spec, DecodeSpec(layer.spec_json, layer.metadata.features));
  return ScopeMap(spec.topology);
}

bool ScopeMap::Places(const Scope& scope) const {
  if (unrestricted_) return scope.level != ScopeLevel::kNode;
  switch (scope.level) {
    case ScopeLevel::kGlobal:
      return true;
    case ScopeLevel::kRegion:
      return region_cells_.contains(scope.name);
    case ScopeLevel::kCell:
      return cell_region_.contains(scope.name);
    case ScopeLevel::kCluster:
      return cluster_cell_.contains(scope.name);
    case ScopeLevel::kNode:
      return false;
  }
  return false;
}

Result<std::vector<Scope>> ScopeMap::ChainOf(const Scope& scope) const {
  const std::string text = scope.ToString();
  switch (scope.level) {
    case ScopeLevel::kGlobal:
      return std::vector<Scope>{Global()};
    case ScopeLevel::kRegion:
      if (!region_cells_.contains(scope.name)) {
        return Unknown("the global layer's topology has no region \"" + scope.name +
                       "\" (topology.regions." + scope.name + ")");
      }
      return std::vector<Scope>{Global(), scope};
    case ScopeLevel::kCell: {
      auto it = cell_region_.find(scope.name);
      if (it == cell_region_.end()) {
        return Unknown("no region of the global layer's topology lists cell \"" + scope.name +
                       "\" (topology.regions.<region>.cells)");
      }
      return std::vector<Scope>{Global(), Scope{ScopeLevel::kRegion, it->second}, scope};
    }
    case ScopeLevel::kCluster: {
      auto it = cluster_cell_.find(scope.name);
      if (it == cluster_cell_.end()) {
        return Unknown("the global layer's topology does not place cluster scope \"" + scope.name +
                       "\" in a cell (topology.placements." + scope.name + ".cell)");
      }
      const std::string& region = cell_region_.at(it->second);
      return std::vector<Scope>{Global(), Scope{ScopeLevel::kRegion, region},
                                Scope{ScopeLevel::kCell, it->second}, scope};
    }
    case ScopeLevel::kNode:
      break;
  }
  return Status(StatusCode::kInvalidArgument,
                "the chain of " + text + " comes from the node, not the topology");
}

std::vector<std::vector<Scope>> ScopeMap::ChainsThrough(const Scope& scope) const {
  std::vector<std::vector<Scope>> out;
  auto top = ChainOf(scope);
  if (!top.ok()) return out;
  // Depth-first below `chain`'s last scope, parents before children.
  auto add_cell = [&](std::vector<Scope> chain) {
    const std::string cell = chain.back().name;
    out.push_back(chain);
    auto it = cell_clusters_.find(cell);
    if (it == cell_clusters_.end()) return;
    for (const std::string& cluster : it->second) {
      chain.push_back(Scope{ScopeLevel::kCluster, cluster});
      out.push_back(chain);
      chain.pop_back();
    }
  };
  auto add_region = [&](std::vector<Scope> chain) {
    out.push_back(chain);
    for (const std::string& cell : region_cells_.at(chain.back().name)) {
      chain.push_back(Scope{ScopeLevel::kCell, cell});
      add_cell(chain);
      chain.pop_back();
    }
  };
  switch (scope.level) {
    case ScopeLevel::kGlobal:
      out.push_back(*top);
      for (const auto& [region, cells] : region_cells_) {
        add_region({Global(), Scope{ScopeLevel::kRegion, region}});
      }
      break;
    case ScopeLevel::kRegion:
      add_region(*top);
      break;
    case ScopeLevel::kCell:
      add_cell(*top);
      break;
    case ScopeLevel::kCluster:
      out.push_back(*top);
      break;
    case ScopeLevel::kNode:
      break;
  }
  return out;
}

Status ScopeMap::CheckNodeChain(const std::vector<Scope>& chain, std::string_view node_id) const {
  const std::string text = ScopeChainToString(chain);
  auto mismatch = [&](const std::string& why) {
    return Status(StatusCode::kScopeMismatch, "scope chain " + text + ": " + why);
  };
  if (chain.empty() || chain.front().level != ScopeLevel::kGlobal) {
    return mismatch("a chain starts with global");
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    const Scope& s = chain[i];
    const Scope& above = chain[i - 1];
    if (s.level == ScopeLevel::kNode) {
      if (i + 1 != chain.size()) return mismatch(s.ToString() + " must be last");
      if (s.name != node_id) {
        return mismatch("node \"" + std::string(node_id) + "\" may not use " + s.ToString());
      }
      break;
    }
    const int expected = static_cast<int>(above.level) + 1;
    if (static_cast<int>(s.level) != expected) {
      // The level the chain skipped, named with what the topology says.
      const auto skipped = static_cast<ScopeLevel>(expected);
      auto placed = ChainOf(s);
      std::string hint;
      if (placed.ok()) {
        hint = "; the topology places it under " + ScopeChainToString(*placed);
      }
      return mismatch("it skips the " + std::string(ScopeLevelName(skipped)) + " level above " +
                      s.ToString() + hint);
    }
    if (unrestricted_) continue;  // no topology yet: the shape is all there is to check
    auto placed = ChainOf(s);
    if (!placed.ok()) return mismatch(placed.status().message());
    if ((*placed)[i - 1] != above) {
      return mismatch(s.ToString() + " is placed under " + (*placed)[i - 1].ToString() +
                      ", not under " + above.ToString());
    }
  }
  return Status::Ok();
}

std::vector<std::string> ScopeMap::PlacedScopes() const {
  std::vector<std::string> out;
  for (const auto& [region, cells] : region_cells_) out.push_back("region:" + region);
  for (const auto& [cell, region] : cell_region_) out.push_back("cell:" + cell);
  for (const auto& [cluster, cell] : cluster_cell_) out.push_back("cluster:" + cluster);
  return out;
}

}  // namespace omnirelay
