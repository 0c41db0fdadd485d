// Planning a layer write (DESIGN.md §3.1, §3.2, §4 Guardrails): everything a
// write decides before its CAS, as a pure function of what it is given. No
// store, no clock, no I/O: the service gathers the inputs, plans, and commits
// only a plan that is ok().
//
// Contract:
//  1. The new document is checked first: over kDefaultMaxDocumentBytes it is
//     refused with too_large carrying the same parse_error diagnostic that
//     offline validation reports; then it is parsed once, and its
//     metadata.scope must be the scope written to (kInvalid otherwise).
//  2. Only the chains given are checked; how they are found is the caller's.
//  3. Each chain is rendered (merged, decoded, validated) with the write
//     applied and as it stands; each layer document is parsed once. Chains
//     whose scopes with a layer are the same render the same spec, so each
//     such set is rendered once (a fleet of 1,000 chains over a few layered
//     scopes costs a few renders). Placements are validated once: a chain
//     whose deeper layers say nothing about topology.regions or
//     topology.placements renders without the global layer's placements
//     (the chain [global], when checked, validates them).
//  4. A problem in a chain is kept with that chain (ChainPlan); the plan's
//     diagnostics hold the first of each (path, code) over all chains, its
//     message naming the first chain it was found in.
//  5. A change that removes a cluster or region still receiving traffic
//     (diff.h CheckDestructive), and each `stranded` finding, is a
//     destructive_change diagnostic unless `confirm`; the findings are listed
//     either way.
//  6. A node profile whose chain is checked and which lacks the apiVersion or
//     a feature the chain's new config needs is blocked.
//  7. The diff summary is that of the first chain valid both before and
//     after; "no changes", or "not computed: ..." when nothing validated.
//
// Thread safety: reentrant.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "omnirelay/config/diagnostic.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

struct WritePlanInput {
  Scope scope;                          // where the write goes
  std::optional<std::string> document;  // the new layer; nullopt deletes it
  bool confirm = false;                 // destructive changes are intended
  // The stored layer document of every scope on `chains` that has one.
  std::map<std::string, std::string> current_layers;
  std::vector<std::vector<Scope>> chains;  // the chains to keep valid
  std::vector<NodeProfile> profiles;       // the fleet, for capability gating
  // Destructive findings the caller made (a global write that un-places
  // stored layers or nodes, DESIGN.md §3.1).
  std::vector<Diagnostic> stranded;
};

// One chain, rendered with the write applied.
struct ChainPlan {
  std::string chain;                    // "global,region:eu-west"
  std::vector<Diagnostic> diagnostics;  // why it does not validate; empty when it does
  std::string spec_json;                // the new effective spec (when valid; without
                                        // topology.placements when rule 3 left them out)
  std::vector<std::string> features;    // the features it requires (when valid)
  std::vector<Diagnostic> destructive;  // destructive findings against the current one
};

struct BlockedProfile {
  NodeProfile profile;
  std::string chain;
  std::string reason;  // CapabilityGap::ToString()
};

struct WritePlan {
  std::vector<ChainPlan> chains;        // one per input chain, in input order
  std::vector<Diagnostic> diagnostics;  // rule 4 and 5: what refuses the write
  std::vector<BlockedProfile> blocked;  // rule 6
  std::string diff_summary;             // rule 7

  bool ok() const { return diagnostics.empty() && blocked.empty(); }
};

// Plans the write of `input.document` (or the deletion of the scope's layer).
// A refusal before any chain is checked (rule 1, or a failure that is not a
// document problem) is the error; a plan that is not ok() says why in full.
Result<WritePlan> PlanWrite(const WritePlanInput& input);

// The first chain with a problem (the one refusal messages name), or null.
const ChainPlan* FirstFailingChain(const WritePlan& plan);

}  // namespace omnirelay::cp
