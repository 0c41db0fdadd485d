// Internal: a planned layer write, shared by plain writes (service.cc) and a
// rollout's change set (service_rollouts.cc).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/controlplane/service.h"
#include "write_plan.h"

namespace omnirelay::cp {

struct PlannedWrite {
  WriteOutcome outcome;                          // diagnostics, blocked nodes, diff, chains checked
  std::string failing_chain;                     // " in chain <chain>" of the first problem, or ""
  std::shared_ptr<const PreparedLayer> written;  // for PlanMemo::Remember
  // write_plan.h rule 8: over the change limit (refused unless allowed).
  bool large_change = false;
  std::size_t changed_entries = 0;
  // The stored layers the plan validated with (LayerWrite::checked_layers).
  std::vector<LayerWrite::CheckedLayer> checked;
};

// The audit note of a large change written anyway (write_plan.h rule 8),
// "allow-large-change: N named entries, limit M; " (a prefix: audit
// summaries may be cut), or "".
std::string LargeChangeNote(const PlannedWrite& planned, std::size_t limit);

// Why a planned write is refused (kInvalid with its diagnostics, moved out of
// `outcome`; kMissingFeature naming blocked nodes), or OK.
Status PlanRefusal(WriteOutcome& outcome, const std::string& failing_chain);

}  // namespace omnirelay::cp
