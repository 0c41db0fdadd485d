#include "omnirelay/config/diff.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

namespace omnirelay {
namespace {

template <typename T>
NamedChanges DiffNamed(const std::vector<Named<T>>& before, const std::vector<Named<T>>& after) {
  std::map<std::string_view, const T*> old_by_name;
  for (const auto& n : before) old_by_name.emplace(n.name, &n.value);
  NamedChanges out;
  std::set<std::string_view> seen;
  for (const auto& n : after) {
    seen.insert(n.name);
    auto it = old_by_name.find(n.name);
    if (it == old_by_name.end()) {
      out.added.push_back(n.name);
    } else if (!(*it->second == n.value)) {
      out.changed.push_back(n.name);
    }
  }
  for (const auto& n : before) {
    if (!seen.contains(n.name)) out.removed.push_back(n.name);
  }
  std::sort(out.added.begin(), out.added.end());
  std::sort(out.removed.begin(), out.removed.end());
  std::sort(out.changed.begin(), out.changed.end());
  return out;
}

void AppendSection(std::string& out, std::string_view title, const NamedChanges& c) {
  if (c.empty()) return;
  if (!out.empty()) out += "; ";
  out += std::string(title) + " +" + std::to_string(c.added.size()) + " -" +
         std::to_string(c.removed.size()) + " ~" + std::to_string(c.changed.size()) + " (";
  constexpr std::size_t kMaxNames = 5;
  std::size_t listed = 0, total = c.added.size() + c.removed.size() + c.changed.size();
  auto list = [&](char sign, const std::vector<std::string>& names) {
    for (const auto& n : names) {
      if (listed == kMaxNames) return;
      if (listed > 0) out += ' ';
      out += sign;
      out += n;
      ++listed;
    }
  };
  list('+', c.added);
  list('-', c.removed);
  list('~', c.changed);
  if (total > listed) out += " and " + std::to_string(total - listed) + " more";
  out += ')';
}

}  // namespace

bool SpecDiff::empty() const {
  return clusters.empty() && routes.empty() && regions.empty() && bridges.empty() &&
         !dispatcher_changed && !security_changed;
}

std::size_t SpecDiff::EntryCount() const {
  std::size_t n = 0;
  for (const NamedChanges* c : {&clusters, &routes, &regions, &bridges}) {
    n += c->added.size() + c->removed.size() + c->changed.size();
  }
  return n;
}

std::string SpecDiff::Summary() const {
  std::string out;
  AppendSection(out, "clusters", clusters);
  AppendSection(out, "routes", routes);
  AppendSection(out, "regions", regions);
  AppendSection(out, "bridges", bridges);
  if (dispatcher_changed) out += out.empty() ? "dispatcher changed" : "; dispatcher changed";
  if (security_changed) out += out.empty() ? "security changed" : "; security changed";
  return out.empty() ? "no changes" : out;
}

SpecDiff DiffSpecs(const Spec& before, const Spec& after) {
  SpecDiff d;
  d.clusters = DiffNamed(before.clusters, after.clusters);
  d.routes = DiffNamed(before.routes, after.routes);
  d.regions = DiffNamed(before.topology.regions, after.topology.regions);
  d.bridges = DiffNamed(before.topology.bridges, after.topology.bridges);
  d.dispatcher_changed =
      before.dispatcher.max_concurrent_requests != after.dispatcher.max_concurrent_requests;
  d.security_changed = before.security.jwks_uri != after.security.jwks_uri;
  return d;
}

std::vector<Diagnostic> CheckDestructive(const Spec& before, const Spec& after) {
  // Clusters that carried traffic before: weighted, shadowed to, or failover targets.
  std::set<std::string_view> routed;
  for (const auto& r : before.routes) {
    for (const auto& w : r.value.weights) {
      if (w.weight > 0) routed.insert(w.cluster);
    }
    if (r.value.shadow) routed.insert(r.value.shadow->cluster);
  }
  for (const auto& c : before.clusters) {
    for (const auto& f : c.value.failover) routed.insert(f);
  }
  std::set<std::string_view> kept_clusters, kept_regions;
  for (const auto& c : after.clusters) kept_clusters.insert(c.name);
  for (const auto& r : after.topology.regions) kept_regions.insert(r.name);

  std::vector<Diagnostic> out;
  std::set<std::string_view> routed_regions;
  for (const auto& c : before.clusters) {
    if (!routed.contains(c.name)) continue;
    if (!c.value.region.empty()) routed_regions.insert(c.value.region);
    if (!kept_clusters.contains(c.name)) {
      out.push_back({JoinPointer("/spec/clusters", c.name), DiagCode::kDestructiveChange,
                     "removes cluster \"" + c.name +
                         "\" which currently receives traffic; confirm to proceed"});
    }
  }
  for (const auto& r : before.topology.regions) {
    if (routed_regions.contains(r.name) && !kept_regions.contains(r.name)) {
      out.push_back({JoinPointer("/spec/topology/regions", r.name), DiagCode::kDestructiveChange,
                     "removes region \"" + r.name +
                         "\" whose clusters currently receive traffic; confirm to proceed"});
    }
  }
  return out;
}

}  // namespace omnirelay
