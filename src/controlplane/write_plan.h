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
//  4b. Except a chain that already failed to render before the write, with
//     every (path, code) it fails with after it, when the written scope is
//     not the chain's deepest: that chain's problems are not the write's
//     (ChainPlan::already_failing; the diff summary says how many and the
//     first). A write to a failing chain's deepest layer must fix it.
//  5. A change that removes a cluster or region still receiving traffic
//     (diff.h CheckDestructive), and each `stranded` finding, is a
//     destructive_change diagnostic unless `confirm`; the findings are listed
//     either way.
//  6. A node profile whose chain is checked and which lacks the apiVersion or
//     a feature the chain's new config needs is blocked.
//  7. The diff summary is that of the first chain valid both before and
//     after; "no changes", or "not computed: ..." when nothing validated.
//  8. A change whose diff (rule 7's, SpecDiff::EntryCount: named entries
//     added, removed or changed) counts more than `max_change_entries` (> 0)
//     is large: a change_too_large diagnostic at /spec unless
//     `allow_large_change` (then only `large_change` says so, for the audit).
//
// Cost: a service plans every write with one PlanMemo, which keeps each
// stored layer parsed per (scope, revision) and the successful renders by the
// content of their layers, so a write's "before" render is usually the one
// the previous write on that chain made as its "after" (memoisation only: a
// plan is the same with or without it).
//
// Thread safety: PlanWrite is reentrant; PlanMemo may be used concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/diagnostic.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

// A layer document as the planner uses it, prepared once.
struct PreparedLayer {
  // The names a layer's spec gives in one map (clusters, topology.regions):
  // name -> whether it is set to null (a deletion in RFC 7386 terms).
  struct Names {
    std::optional<std::map<std::string, bool>> map;  // nullopt: the spec has no such map
    bool replaced = false;  // the map (or topology) is null or not an object
  };
  std::string content_id;  // ContentId of the document: its identity in render keys
  // A stored layer that no longer parses fails its chains. Its spec_tree is
  // kept only for a spec of at most 64 KiB of text (write_plan.cc).
  Result<ParsedLayer> parsed;
  bool touches_placement = false;   // says anything about topology.regions/placements
  std::optional<ParsedLayer> lean;  // a global layer without topology.placements
  Names clusters, regions;
};
std::shared_ptr<const PreparedLayer> PrepareLayer(const std::string& scope,
                                                  const std::string& document);

// Prepared stored layers and successful renders, shared by one service's
// writes. Bounded: past `max_layers` prepared layers they are all dropped
// (they are re-prepared on use); past `max_none` scopes known to have no
// layer (a cluster's node scopes, mostly) those are dropped, apart from the
// layers; past `max_render_bytes` of rendered spec text the oldest renders
// go first.
class PlanMemo {
 public:
  explicit PlanMemo(std::size_t max_layers = 4096, std::size_t max_render_bytes = 32u << 20,
                    std::size_t max_none = 65536)
      : max_layers_(max_layers), max_render_bytes_(max_render_bytes), max_none_(max_none) {}

  // The stored layer of `scope` at `revision`, prepared on first use.
  std::shared_ptr<const PreparedLayer> Stored(const std::string& scope, std::int64_t revision,
                                              const std::string& document) EXCLUDES(mu_);
  // `layer` is what `scope` holds from `revision` on (a write just committed;
  // null: the layer was deleted).
  void Remember(const std::string& scope, std::int64_t revision,
                std::shared_ptr<const PreparedLayer> layer) EXCLUDES(mu_);
  // A read found no layer at `scope` (it replaces what was remembered: a
  // read is newer than a layer another replica may have deleted since).
  void NoteNone(const std::string& scope) EXCLUDES(mu_);
  // What `scope` held when this process last read or wrote it: the revision
  // (0 and a null layer: none), or nullopt when it does not remember. Only
  // a guess at the current layer: another replica may have written since.
  struct Latest {
    std::int64_t revision = 0;
    std::shared_ptr<const PreparedLayer> layer;
  };
  std::optional<Latest> LatestOf(const std::string& scope) EXCLUDES(mu_);

  // The render keyed `key`, or null.
  std::shared_ptr<const RenderedSpec> FindRender(const std::string& key) EXCLUDES(mu_);
  void KeepRender(const std::string& key, std::shared_ptr<const RenderedSpec> render) EXCLUDES(mu_);

  struct Counts {
    std::uint64_t render_hits = 0, render_misses = 0;
    std::size_t renders = 0, render_bytes = 0, layers = 0;
  };
  Counts counts() EXCLUDES(mu_);

 private:
  const std::size_t max_layers_, max_render_bytes_, max_none_;
  Mutex mu_;
  std::unordered_map<std::string, Latest> stored_ GUARDED_BY(mu_);  // null layer: deleted
  std::unordered_set<std::string> none_ GUARDED_BY(mu_);  // read and found without a layer
  std::unordered_map<std::string, std::shared_ptr<const RenderedSpec>> renders_ GUARDED_BY(mu_);
  std::deque<std::string> render_order_ GUARDED_BY(mu_);  // oldest first
  std::size_t render_bytes_ GUARDED_BY(mu_) = 0;
  std::uint64_t render_hits_ GUARDED_BY(mu_) = 0, render_misses_ GUARDED_BY(mu_) = 0;
};

struct WritePlanInput {
  Scope scope;                          // where the write goes
  std::optional<std::string> document;  // the new layer; nullopt deletes it
  bool confirm = false;                 // destructive changes are intended
  std::size_t max_change_entries = 0;   // rule 8; 0 = no limit
  bool allow_large_change = false;      // rule 8: a large change is intended
  // The stored layer of every scope on `chains` that has one.
  std::map<std::string, std::shared_ptr<const PreparedLayer>> current_layers;
  void SetCurrentLayer(const std::string& scope, const std::string& document) {
    current_layers[scope] = PrepareLayer(scope, document);
  }
  std::vector<std::vector<Scope>> chains;  // the chains to keep valid
  std::vector<NodeProfile> profiles;       // the fleet, for capability gating
  // Destructive findings the caller made (a global write that un-places
  // stored layers or nodes, DESIGN.md §3.1).
  std::vector<Diagnostic> stranded;
  PlanMemo* memo = nullptr;  // optional: see "Cost" above
  // false: renders are looked up in the memo but this plan's are not kept (a
  // dry run: its layers are never stored, so its renders are nobody's
  // "before", and a large one would evict those that are).
  bool keep_renders = true;
};

// One chain, rendered with the write applied.
struct ChainPlan {
  std::string chain;                    // "global,region:eu-west"
  std::vector<Diagnostic> diagnostics;  // why it does not validate; empty when it does
  std::string spec_json;                // the new effective spec (when valid; without
                                        // topology.placements when rule 3 left them out)
  std::vector<std::string> features;    // the features it requires (when valid)
  std::vector<Diagnostic> destructive;  // destructive findings against the current one
  // Rule 4b: why it did not render before the write and still does not, no
  // worse (then `diagnostics` is empty: not the write's doing).
  std::vector<Diagnostic> already_failing;
};

struct BlockedProfile {
  NodeProfile profile;
  std::string chain;
  std::string reason;                // CapabilityGap::ToString()
  std::vector<std::string> missing;  // api::BlockedNode::missing
};

struct WritePlan {
  std::vector<ChainPlan> chains;        // one per input chain, in input order
  std::vector<Diagnostic> diagnostics;  // rule 4 and 5: what refuses the write
  // Rule 4b: the chains left failing as they were, and the first problem.
  std::size_t already_failing_chains = 0;
  std::optional<Diagnostic> already_failing;
  std::vector<BlockedProfile> blocked;  // rule 6
  std::string diff_summary;             // rule 7
  std::size_t changed_entries = 0;      // rule 8: the diff's named entries
  bool large_change = false;            // rule 8: over the limit (allowed or not)
  // The written layer as prepared (null for a deletion): once committed at a
  // revision, PlanMemo::Remember spares the next write its preparation.
  std::shared_ptr<const PreparedLayer> written;

  bool ok() const { return diagnostics.empty() && blocked.empty(); }
};

// Plans the write of `input.document` (or the deletion of the scope's layer).
// A refusal before any chain is checked (rule 1, or a failure that is not a
// document problem) is the error; a plan that is not ok() says why in full.
Result<WritePlan> PlanWrite(const WritePlanInput& input);

// The first chain with a problem (the one refusal messages name), or null.
const ChainPlan* FirstFailingChain(const WritePlan& plan);

}  // namespace omnirelay::cp
