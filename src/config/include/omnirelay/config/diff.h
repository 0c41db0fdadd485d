// Differences between two specs: the summary that audit entries and dry-runs
// show, and the destructive_change guardrail (DESIGN.md §3.2, §4).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "omnirelay/config/diagnostic.h"
#include "omnirelay/config/model.h"

namespace omnirelay {

struct NamedChanges {
  std::vector<std::string> added, removed, changed;  // names, sorted
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

struct SpecDiff {
  NamedChanges clusters, routes, regions, bridges;
  bool dispatcher_changed = false;
  bool security_changed = false;

  bool empty() const;
  // The named entries added, removed or changed, over clusters, routes,
  // regions and bridges: what the change_too_large guardrail counts (the
  // dispatcher and security blocks are not named entries).
  std::size_t EntryCount() const;
  // One line, no document content beyond names, e.g.
  // "clusters +1 -0 ~2 (+billing-v3 ~auth-v1 ~billing-v1); routes +0 -0 ~1 (~billing)".
  // "no changes" when empty.
  std::string Summary() const;
};

SpecDiff DiffSpecs(const Spec& before, const Spec& after);

// destructive_change diagnostics: a cluster that `before` routed traffic to
// (weight > 0, shadow or failover target) is gone from `after`, or a region
// that held such a cluster is gone. Such a change needs explicit confirmation.
std::vector<Diagnostic> CheckDestructive(const Spec& before, const Spec& after);

}  // namespace omnirelay
