#include "omnirelay/config/validate.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace omnirelay {
namespace {

constexpr std::string_view kClusters = "/spec/clusters";
constexpr std::string_view kRoutes = "/spec/routes";
constexpr std::string_view kBridges = "/spec/topology/bridges";
constexpr std::string_view kRegions = "/spec/topology/regions";
constexpr std::string_view kPlacements = "/spec/topology/placements";

std::string Ptr(std::string_view base, std::string_view a, std::string_view b, std::string_view c);
std::string Ptr(std::string_view base, std::string_view a, std::string_view b) {
  return JoinPointer(JoinPointer(base, a), b);
}
std::string Ptr(std::string_view base, std::string_view a, std::string_view b, std::string_view c) {
  return JoinPointer(Ptr(base, a, b), c);
}

class GraphValidator {
 public:
  explicit GraphValidator(const Spec& spec) : spec_(spec) {}

  std::vector<Diagnostic> Run() {
    Index();
    CheckClusters();
    CheckFailoverCycles();
    CheckRoutes();
    CheckBridges();
    CheckPlacements();
    return std::move(diags_);
  }

 private:
  void Add(std::string path, DiagCode code, std::string message) {
    diags_.push_back(Diagnostic{std::move(path), code, std::move(message)});
  }

  void Index() {
    clusters_.reserve(spec_.clusters.size());
    for (std::size_t i = 0; i < spec_.clusters.size(); ++i) {
      clusters_.emplace(spec_.clusters[i].name, i);
      services_.insert(spec_.clusters[i].value.service);
    }
    for (const auto& region : spec_.topology.regions) {
      regions_.emplace(region.name, &region.value);
      for (std::size_t i = 0; i < region.value.cells.size(); ++i) {
        const std::string& cell = region.value.cells[i];
        auto [it, inserted] = cells_.emplace(cell, region.name);
        if (!inserted && it->second != region.name) {
          shared_cells_.insert(cell);
          Add(Ptr(kRegions, region.name, "cells", std::to_string(i)), DiagCode::kOutOfRange,
              "cell \"" + cell + "\" is already listed by region \"" + std::string(it->second) +
                  "\"; a cell belongs to exactly one region");
        }
      }
    }
  }

  const Cluster* FindCluster(std::string_view name) const {
    auto it = clusters_.find(name);
    return it == clusters_.end() ? nullptr : &spec_.clusters[it->second].value;
  }

  void CheckClusters() {
    for (const auto& [name, c] : spec_.clusters) {
      if (!c.region.empty() && !regions_.contains(c.region)) {
        Add(Ptr(kClusters, name, "region"), DiagCode::kUnknownRegion,
            "cluster \"" + name + "\" names region \"" + c.region +
                "\" which spec.topology.regions does not define");
      }
      if (!c.cell.empty()) {
        auto it = cells_.find(c.cell);
        if (it == cells_.end()) {
          Add(Ptr(kClusters, name, "cell"), DiagCode::kUnknownCell,
              "cluster \"" + name + "\" names cell \"" + c.cell +
                  "\" which no region of spec.topology lists");
        } else if (!c.region.empty() && regions_.contains(c.region) && it->second != c.region &&
                   !shared_cells_.contains(c.cell)) {
          Add(Ptr(kClusters, name, "cell"), DiagCode::kUnknownCell,
              "cell \"" + c.cell + "\" belongs to region \"" + std::string(it->second) +
                  "\", not to the cluster's region \"" + c.region + "\"");
        }
      }
      for (std::size_t i = 0; i < c.failover.size(); ++i) {
        const std::string& target = c.failover[i];
        const Cluster* t = FindCluster(target);
        if (t == nullptr) {
          Add(Ptr(kClusters, name, "failover", std::to_string(i)), DiagCode::kDanglingCluster,
              "failover names cluster \"" + target + "\" which does not exist");
        } else if (t->service != c.service) {
          Add(Ptr(kClusters, name, "failover", std::to_string(i)), DiagCode::kServiceMismatch,
              "cluster \"" + name + "\" (service \"" + c.service + "\") fails over to \"" + target +
                  "\" of service \"" + t->service + "\"");
        }
      }
    }
  }

  // One failover_cycle per cyclic strongly connected component of the
  // failover graph (Tarjan's algorithm, iterative), reported at the entry that
  // closes a concrete cycle through the component's first cluster.
  void CheckFailoverCycles() {
    const std::size_t n = spec_.clusters.size();
    constexpr std::size_t kUnvisited = SIZE_MAX;
    std::vector<std::size_t> index(n, kUnvisited), low(n, 0), component(n, kUnvisited);
    std::vector<bool> on_stack(n, false);
    std::vector<std::size_t> stack;
    struct Frame {
      std::size_t node;
      std::size_t next_edge;
    };
    std::vector<Frame> dfs;
    std::size_t counter = 0, components = 0;
    for (std::size_t root = 0; root < n; ++root) {
      if (index[root] != kUnvisited) continue;
      dfs.push_back({root, 0});
      index[root] = low[root] = counter++;
      stack.push_back(root);
      on_stack[root] = true;
      while (!dfs.empty()) {
        Frame& top = dfs.back();
        const std::size_t v = top.node;
        const auto& failover = spec_.clusters[v].value.failover;
        if (top.next_edge < failover.size()) {
          auto it = clusters_.find(failover[top.next_edge++]);
          if (it == clusters_.end()) continue;  // dangling: reported elsewhere
          const std::size_t w = it->second;
          if (index[w] == kUnvisited) {
            index[w] = low[w] = counter++;
            stack.push_back(w);
            on_stack[w] = true;
            dfs.push_back({w, 0});
          } else if (on_stack[w]) {
            low[v] = std::min(low[v], index[w]);
          }
          continue;
        }
        if (low[v] == index[v]) {  // v roots a component: pop it
          std::size_t w;
          do {
            w = stack.back();
            stack.pop_back();
            on_stack[w] = false;
            component[w] = components;
          } while (w != v);
          ++components;
        }
        dfs.pop_back();
        if (!dfs.empty()) low[dfs.back().node] = std::min(low[dfs.back().node], low[v]);
      }
    }
    // Report each cyclic component once, from its first cluster in document order.
    std::vector<bool> reported(components, false);
    for (std::size_t u = 0; u < n; ++u) {
      if (reported[component[u]]) continue;
      std::size_t first_edge = 0;
      if (!EdgeWithin(u, component, &first_edge)) continue;  // acyclic singleton
      reported[component[u]] = true;
      ReportCycleFrom(u, component);
    }
  }

  // The first failover entry of `v` that stays inside v's component.
  bool EdgeWithin(std::size_t v, const std::vector<std::size_t>& component,
                  std::size_t* edge) const {
    const auto& failover = spec_.clusters[v].value.failover;
    for (std::size_t e = 0; e < failover.size(); ++e) {
      auto it = clusters_.find(failover[e]);
      if (it != clusters_.end() && component[it->second] == component[v]) {
        *edge = e;
        return true;
      }
    }
    return false;
  }

  // Walks first in-component edges from `start` until a cluster repeats; that
  // closes a cycle (every member of a cyclic component has such an edge).
  void ReportCycleFrom(std::size_t start, const std::vector<std::size_t>& component) {
    std::vector<std::size_t> path{start};
    std::unordered_map<std::size_t, std::size_t> position{{start, 0}};
    while (true) {
      std::size_t edge = 0;
      const std::size_t v = path.back();
      EdgeWithin(v, component, &edge);
      const std::size_t w = clusters_.find(spec_.clusters[v].value.failover[edge])->second;
      auto seen = position.find(w);
      if (seen == position.end()) {
        position.emplace(w, path.size());
        path.push_back(w);
        continue;
      }
      std::string cycle;
      for (std::size_t i = seen->second; i < path.size(); ++i) {
        cycle += spec_.clusters[path[i]].name + " -> ";
      }
      cycle += spec_.clusters[w].name;
      Add(Ptr(kClusters, spec_.clusters[v].name, "failover", std::to_string(edge)),
          DiagCode::kFailoverCycle, "failover cycle: " + cycle);
      return;
    }
  }

  void CheckRoutes() {
    for (const auto& [name, r] : spec_.routes) {
      std::int64_t sum = 0;
      for (const auto& w : r.weights) {
        sum += w.weight;
        const Cluster* c = FindCluster(w.cluster);
        if (c == nullptr) {
          Add(Ptr(kRoutes, name, "weights", w.cluster), DiagCode::kDanglingCluster,
              "route \"" + name + "\" weights cluster \"" + w.cluster + "\" which does not exist");
        } else if (c->service != r.service) {
          Add(Ptr(kRoutes, name, "weights", w.cluster), DiagCode::kServiceMismatch,
              "route \"" + name + "\" for service \"" + r.service + "\" sends traffic to \"" +
                  w.cluster + "\" of service \"" + c->service + "\"");
        }
      }
      if (sum != 100) {
        Add(Ptr(kRoutes, name, "weights"), DiagCode::kWeightsSum,
            "route \"" + name + "\" weights sum to " + std::to_string(sum) + ", not 100");
      }
      if (!r.shadow) continue;
      const std::string& target = r.shadow->cluster;
      const Cluster* c = FindCluster(target);
      if (c == nullptr) {
        Add(Ptr(kRoutes, name, "shadow", "cluster"), DiagCode::kDanglingCluster,
            "route \"" + name + "\" shadows to cluster \"" + target + "\" which does not exist");
        continue;
      }
      if (c->service != r.service) {
        Add(Ptr(kRoutes, name, "shadow", "cluster"), DiagCode::kServiceMismatch,
            "route \"" + name + "\" for service \"" + r.service + "\" shadows to \"" + target +
                "\" of service \"" + c->service + "\"");
      }
      for (const auto& w : r.weights) {
        if (w.cluster == target && w.weight > 0) {
          Add(Ptr(kRoutes, name, "shadow", "cluster"), DiagCode::kShadowToPrimary,
              "route \"" + name + "\" shadows to \"" + target + "\" which already carries weight " +
                  std::to_string(w.weight));
        }
      }
    }
  }

  void CheckBridges() {
    for (const auto& [name, b] : spec_.topology.bridges) {
      for (std::size_t i = 0; i < b.cells.size(); ++i) {
        if (!cells_.contains(b.cells[i])) {
          Add(Ptr(kBridges, name, "cells", std::to_string(i)), DiagCode::kUnknownCell,
              "bridge \"" + name + "\" names cell \"" + b.cells[i] +
                  "\" which no region of spec.topology lists");
        }
      }
      if (b.cells.size() != 2 || b.cells[0] == b.cells[1]) {
        Add(Ptr(kBridges, name, "cells"), DiagCode::kBridgeInvalid,
            "bridge \"" + name + "\" must join exactly two distinct cells");
      }
      for (std::size_t i = 0; i < b.export_services.size(); ++i) {
        const std::string& svc = b.export_services[i];
        if (!services_.contains(svc)) {
          Add(Ptr(kBridges, name, "exportServices", std::to_string(i)), DiagCode::kBridgeInvalid,
              "bridge \"" + name + "\" exports service \"" + svc + "\" which no cluster serves");
        }
        for (const auto& denied : b.deny_services) {
          if (denied == svc) {
            Add(Ptr(kBridges, name, "exportServices", std::to_string(i)), DiagCode::kBridgeInvalid,
                "bridge \"" + name + "\" both exports and denies service \"" + svc + "\"");
          }
        }
      }
      if (b.quota_rps <= 0) {
        Add(Ptr(kBridges, name, "quotaRps"), DiagCode::kBridgeInvalid,
            "bridge \"" + name + "\" needs quotaRps > 0, got " + std::to_string(b.quota_rps));
      }
    }
  }

  void CheckPlacements() {
    for (const auto& [name, p] : spec_.topology.placements) {
      if (!cells_.contains(p.cell)) {
        Add(Ptr(kPlacements, name, "cell"), DiagCode::kUnknownCell,
            "placement of cluster scope \"" + name + "\" names cell \"" + p.cell +
                "\" which no region of spec.topology lists");
      }
    }
  }

  const Spec& spec_;
  std::vector<Diagnostic> diags_;
  std::unordered_map<std::string_view, std::size_t> clusters_;
  std::unordered_set<std::string_view> services_;
  std::unordered_map<std::string_view, const Region*> regions_;
  std::unordered_map<std::string_view, std::string_view> cells_;  // cell -> first region
  std::unordered_set<std::string_view> shared_cells_;  // listed by several regions (reported)
};

}  // namespace

std::vector<Diagnostic> ValidateSpec(const Spec& spec) {
  return GraphValidator(spec).Run();
}

Result<Snapshot> DecodeAndValidateSnapshot(std::string_view json, const DecodeOptions& options) {
  auto snap = DecodeSnapshot(json, options);
  if (!snap.ok()) return snap.status();
  auto diags = ValidateSpec(snap->spec);
  if (!diags.empty()) {
    const std::size_t n = diags.size();
    return Status(StatusCode::kInvalid,
                  "snapshot is invalid: " + std::to_string(n) + (n == 1 ? " problem" : " problems"),
                  std::move(diags));
  }
  return snap;
}

}  // namespace omnirelay
