// ControlPlaneService's planning of a layer write (service.h PutLayer,
// service_write.h): what the store says the write must keep valid — the
// fleet, the chains through the scope, their stored layers — gathered for
// PlanWrite (write_plan.h), and how a plan that is not ok() is refused.
#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "omnirelay/config/scope.h"
#include "omnirelay/config/scope_map.h"
#include "placement_cache.h"
#include "service_read.h"
#include "service_write.h"
#include "write_plan.h"

namespace omnirelay::cp {
namespace {

// The chains of known nodes that pass through `scope` and agree with `map`.
void AddNodeChains(const Scope& scope, const ScopeMap& map,
                   const std::vector<NodeProfile>& profiles,
                   std::vector<std::vector<Scope>>& chains, std::set<std::string>& seen) {
  for (const auto& profile : profiles) {
    auto chain = ParseScopeChain(profile.scope_chain);
    if (!chain.ok() || std::find(chain->begin(), chain->end(), scope) == chain->end()) continue;
    const std::string node = NodeIdOf(*chain);
    if (!map.CheckNodeChain(*chain, node).ok()) continue;
    if (seen.insert(profile.scope_chain).second) chains.push_back(std::move(chain).value());
  }
}

// A global write that un-places a stored layer or the chain of a known node
// strands it (DESIGN.md §3.1): destructive, named.
std::vector<Diagnostic> Stranded(const ScopeMap& before, const ScopeMap& after,
                                 const std::vector<LayerRecord>& layers,
                                 const std::vector<NodeProfile>& profiles) {
  std::vector<Diagnostic> out;
  for (const auto& layer : layers) {
    auto scope = ParseScope(layer.scope);
    if (!scope.ok() || scope->level == ScopeLevel::kGlobal || scope->level == ScopeLevel::kNode) {
      continue;
    }
    if (before.Places(*scope) && !after.Places(*scope)) {
      out.push_back({"/spec/topology", DiagCode::kDestructiveChange,
                     "the new topology no longer places " + layer.scope +
                         ", which has a stored layer (revision " + std::to_string(layer.revision) +
                         "); delete that layer first"});
    }
  }
  for (const auto& profile : profiles) {
    auto chain = ParseScopeChain(profile.scope_chain);
    if (!chain.ok()) continue;
    const std::string node = NodeIdOf(*chain);
    if (!before.CheckNodeChain(*chain, node).ok()) continue;
    if (Status now = after.CheckNodeChain(*chain, node); !now.ok()) {
      out.push_back({"/spec/topology", DiagCode::kDestructiveChange,
                     "the new topology strands " + std::to_string(profile.nodes) +
                         " node(s) on chain " + profile.scope_chain + " (" + now.message() + ")"});
    }
  }
  return out;
}

// The chains through a region, cell or cluster `scope` on `map`: every
// chain the topology forms through it plus the known nodes' chains through
// it. A scope `map` does not place is unknown_scope for a write (a stranded
// layer may still be deleted).
Status TopologyChains(const Scope& scope, const ScopeMap& map, bool writes_document,
                      const std::vector<NodeProfile>& profiles,
                      std::vector<std::vector<Scope>>& chains, std::set<std::string>& seen) {
  if (!map.Places(scope) && writes_document) return map.ChainOf(scope).status();
  for (auto& chain : map.ChainsThrough(scope)) {
    if (seen.insert(ScopeChainToString(chain)).second) chains.push_back(std::move(chain));
  }
  AddNodeChains(scope, map, profiles, chains, seen);
  return Status::Ok();
}

// The scopes of `chains` not in `have`, each once, in chain order.
std::vector<std::string> LayersToRead(
    const std::vector<std::vector<Scope>>& chains,
    const std::map<std::string, std::shared_ptr<const PreparedLayer>>& have) {
  std::vector<std::string> wanted;
  for (const auto& chain : chains) {
    for (const Scope& member : chain) {
      std::string name = member.ToString();
      if (have.count(name) > 0) continue;
      if (std::find(wanted.begin(), wanted.end(), name) == wanted.end()) {
        wanted.push_back(std::move(name));
      }
    }
  }
  return wanted;
}

// Scope -> the revision of its stored layer a plan used (0: none): the
// write's LayerWrite::checked_layers.
using Checked = std::map<std::string, std::int64_t>;

// Every scope of `wanted` read fresh: its layer in `input` (prepared through
// the memo, which also learns which have none) and in `checked`. A scope
// `checked` holds already keeps the revision an earlier read of this plan
// saw: if the two reads disagree, the commit conflicts and the write is
// planned again.
void KeepRead(PlanMemo& memo, const std::vector<std::string>& wanted,
              const std::vector<LayerRecord>& stored, WritePlanInput& input, Checked& checked) {
  std::set<std::string> found;
  for (const LayerRecord& layer : stored) {
    found.insert(layer.scope);
    checked.emplace(layer.scope, layer.revision);
    input.current_layers.emplace(layer.scope,
                                 memo.Stored(layer.scope, layer.revision, layer.document));
  }
  for (const std::string& name : wanted) {
    if (found.count(name) > 0) continue;
    checked.emplace(name, 0);
    memo.NoteNone(name);
  }
}

// The layers of `wanted` as this process last read or wrote them (no store
// read), when it remembers every one and the global layer it remembers is
// the one `global_revision` names (the map the chains were formed on).
bool FromMemo(PlanMemo& memo, const std::vector<std::string>& wanted, std::int64_t global_revision,
              WritePlanInput& input, Checked& checked) {
  Checked seen;
  std::map<std::string, std::shared_ptr<const PreparedLayer>> layers;
  for (const std::string& name : wanted) {
    std::optional<PlanMemo::Latest> latest = memo.LatestOf(name);
    if (!latest) return false;
    seen[name] = latest->revision;
    if (latest->layer) layers.emplace(name, std::move(latest->layer));
  }
  if (seen["global"] != global_revision) return false;
  input.current_layers = std::move(layers);
  checked = std::move(seen);
  return true;
}

// The common write, at most one round trip for its layers: a region, cell
// or cluster scope under the topology the placement cache holds. The chains
// are worked out on that map; with `from_memo`, their layers (and the
// global layer's) are the ones the memo remembers, when it remembers every
// one and that global layer is the map's (`*used_memo`: no read at all);
// else they are read together with the global layer, and when that global
// layer is the one the map came from, `input` is complete (true).
// Otherwise (the topology changed since) nothing is kept and the caller
// reads as usual.
Result<bool> GatherOnCachedTopology(Store& store, PlacementCache& placements, PlanMemo& memo,
                                    const Scope& scope, bool from_memo, WritePlanInput& input,
                                    Checked& checked, bool* used_memo) {
  if (scope.level == ScopeLevel::kGlobal || scope.level == ScopeLevel::kNode) return false;
  const auto [guess, global_revision] = placements.CachedWithRevision();
  if (!guess || guess->unrestricted()) return false;
  std::vector<std::vector<Scope>> chains;
  std::set<std::string> seen;
  if (!TopologyChains(scope, *guess, input.document.has_value(), input.profiles, chains, seen)
           .ok()) {
    return false;  // the usual path says why, on the topology as stored now
  }
  std::vector<std::string> wanted = LayersToRead(chains, {});
  if (std::find(wanted.begin(), wanted.end(), "global") == wanted.end()) {
    wanted.push_back("global");
  }
  if (from_memo && FromMemo(memo, wanted, global_revision, input, checked)) {
    input.chains = std::move(chains);
    *used_memo = true;
    return true;
  }
  OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> stored, store.GetLayers(wanted));
  const auto global_it = std::find_if(stored.begin(), stored.end(),
                                      [](const LayerRecord& l) { return l.scope == "global"; });
  const Result<LayerRecord> global =
      global_it == stored.end()
          ? Result<LayerRecord>(Status(StatusCode::kNotFound, "scope \"global\" has no layer"))
          : Result<LayerRecord>(*global_it);
  OMNI_ASSIGN_OR_RETURN(std::shared_ptr<const ScopeMap> before, placements.Of(global));
  if (before != guess) return false;
  input.chains = std::move(chains);
  KeepRead(memo, wanted, stored, input, checked);
  return true;
}

// What PlanWrite needs from the store (DESIGN.md §3.1): the fleet by profile
// (chain, api version, features — a cost that does not grow with the number
// of nodes); the chains the write affects: every chain the topology forms
// through the scope (for a global write, the new topology's) plus the known
// nodes' chains through it, never one that skips a level; and the stored
// layer of every scope on them. A region, cell or cluster scope the topology
// does not place, or a node never seen (unless `allow_unknown_node`), is
// unknown_scope.
Result<WritePlanInput> GatherWriteInput(Store& store, PlacementCache& placements, PlanMemo& memo,
                                        const Scope& scope,
                                        const std::optional<std::string>& document, bool confirm,
                                        bool allow_unknown_node, bool from_memo, Checked& checked,
                                        bool* used_memo) {
  WritePlanInput input;
  input.scope = scope;
  input.document = document;
  input.confirm = confirm;
  input.memo = &memo;
  OMNI_ASSIGN_OR_RETURN(input.profiles, store.NodeProfiles());
  OMNI_ASSIGN_OR_RETURN(
      const bool gathered,
      GatherOnCachedTopology(store, placements, memo, scope, from_memo, input, checked, used_memo));
  if (gathered) return input;
  checked.clear();
  // The stored global layer's placement (a stored global that no longer
  // decodes places nothing), parsed once per global revision.
  auto global = store.GetLayer("global");
  if (!global.ok() && global.status().code() != StatusCode::kNotFound) return global.status();
  OMNI_ASSIGN_OR_RETURN(std::shared_ptr<const ScopeMap> before, placements.Of(global));
  checked["global"] = global.ok() ? global->revision : 0;
  if (global.ok()) {
    input.current_layers.emplace("global",
                                 memo.Stored("global", global->revision, global->document));
  }
  // Writes are placed by a real topology only (no global layer: none).
  // (Shared, not copied: the map of a large topology is not small.)
  std::shared_ptr<const ScopeMap> placed =
      before->unrestricted() ? std::make_shared<const ScopeMap>() : before;
  if (scope.level == ScopeLevel::kGlobal) {
    // The new topology decides; a document that does not decode is refused
    // by PlanWrite with its diagnostics.
    auto after = document ? ScopeMap::FromGlobalLayer(*document) : Result<ScopeMap>(ScopeMap());
    const bool decoded = after.ok();
    placed = std::make_shared<const ScopeMap>(decoded ? std::move(after).value() : ScopeMap());
    OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, store.ListLayers());
    if (decoded) input.stranded = Stranded(*before, *placed, layers, input.profiles);
    // Every stored layer as listed (the stranded check's view), and every
    // scope the old topology places that had none: a layer another writer
    // stores there before this commit makes it conflict (and plan again), so
    // no layer is stranded unseen.
    for (const LayerRecord& layer : layers) checked.emplace(layer.scope, layer.revision);
    if (!before->unrestricted()) {
      for (const auto& chain : before->ChainsThrough(scope)) {
        for (const Scope& member : chain) checked.emplace(member.ToString(), 0);
      }
    }
  }
  const ScopeMap& map = *placed;

  std::set<std::string> seen;
  if (scope.level == ScopeLevel::kNode) {
    auto chain = StoredNodeChain(store, scope);
    if (!chain.ok() && chain.status().code() != StatusCode::kNotFound) return chain.status();
    if (!chain.ok()) {
      if (document && !allow_unknown_node) {
        return UnknownScope("no node \"" + scope.name +
                            "\" has been seen; to stage its layer anyway (checked when the "
                            "node joins) write with --allow-unknown-node (REST "
                            "?allowUnknownNode=true)");
      }
    } else {
      seen.insert(ScopeChainToString(*chain));
      input.chains.push_back(std::move(chain).value());
    }
  } else {
    OMNI_RETURN_IF_ERROR(
        TopologyChains(scope, map, document.has_value(), input.profiles, input.chains, seen));
  }
  // The chains' other stored layers, in one read.
  const std::vector<std::string> wanted = LayersToRead(input.chains, input.current_layers);
  OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> stored, store.GetLayers(wanted));
  KeepRead(memo, wanted, stored, input, checked);
  return input;
}

}  // namespace

Result<PlannedWrite> ControlPlaneService::PlanLayerWrite(const Scope& scope,
                                                         const std::optional<std::string>& document,
                                                         bool confirm, bool allow_unknown_node,
                                                         bool keep_renders, bool allow_large_change,
                                                         bool from_memo) {
  Checked checked;
  bool used_memo = false;
  auto input = GatherWriteInput(store_, *placements_, *plan_memo_, scope, document, confirm,
                                allow_unknown_node, from_memo, checked, &used_memo);
  if (!input.ok()) return input.status();
  input->keep_renders = keep_renders;
  input->max_change_entries = options_.max_change_entries;
  input->allow_large_change = allow_large_change;
  auto plan = PlanWrite(*input);
  if (used_memo && (!plan.ok() || !plan->diagnostics.empty() || !plan->blocked.empty())) {
    // What the memo remembers is a guess (the store's check at the commit
    // makes a write on it safe): a write it would refuse is planned again on
    // layers read now, so nothing is refused for a stale memory.
    return PlanLayerWrite(scope, document, confirm, allow_unknown_node, keep_renders,
                          allow_large_change, /*from_memo=*/false);
  }
  if (!plan.ok()) {
    if (plan.status().code() == StatusCode::kInvalid) validation_failures_.Inc();
    return plan.status();
  }
  PlannedWrite out;
  const ChainPlan* failing = FirstFailingChain(*plan);
  out.failing_chain = failing ? " in chain " + failing->chain : "";
  out.outcome.diagnostics = std::move(plan->diagnostics);
  out.outcome.diff_summary = std::move(plan->diff_summary);
  for (const auto& chain : plan->chains) out.outcome.chains_checked.push_back(chain.chain);
  for (const auto& blocked : plan->blocked) {
    auto ids = store_.NodesWithProfile(blocked.profile);
    if (!ids.ok()) return ids.status();
    for (auto& id : *ids)
      out.outcome.blocked_nodes.push_back(
          {std::move(id), blocked.chain, blocked.reason, blocked.missing});
  }
  out.written = std::move(plan->written);
  out.large_change = plan->large_change;
  out.changed_entries = plan->changed_entries;
  for (const auto& [name, revision] : checked) out.checked.push_back({name, revision});
  return out;
}

std::string LargeChangeNote(const PlannedWrite& planned, std::size_t limit) {
  if (!planned.large_change || !planned.outcome.diagnostics.empty()) return "";
  return "allow-large-change: " + std::to_string(planned.changed_entries) +
         " named entries, limit " + std::to_string(limit) + "; ";
}

Status PlanRefusal(WriteOutcome& outcome, const std::string& failing_chain) {
  if (!outcome.diagnostics.empty()) {
    const std::size_t n = outcome.diagnostics.size();
    auto has = [&](DiagCode code) {
      return std::any_of(outcome.diagnostics.begin(), outcome.diagnostics.end(),
                         [code](const Diagnostic& d) { return d.code == code; });
    };
    // Read before the diagnostics are moved into the status.
    const std::string needs =
        std::string(has(DiagCode::kDestructiveChange) ? " (a destructive change needs confirm)"
                                                      : "") +
        (has(DiagCode::kChangeTooLarge) ? " (a large change needs allow-large-change)" : "");
    return Status(StatusCode::kInvalid,
                  "the write would leave " + std::to_string(n) +
                      (n == 1 ? " problem" : " problems") + failing_chain + needs,
                  std::move(outcome.diagnostics));
  }
  if (!outcome.blocked_nodes.empty()) {
    std::string msg = std::to_string(outcome.blocked_nodes.size()) +
                      " node(s) lack a capability the new config needs: ";
    for (std::size_t i = 0; i < outcome.blocked_nodes.size() && i < 5; ++i) {
      if (i > 0) msg += "; ";
      msg += outcome.blocked_nodes[i].node_id + " (" + outcome.blocked_nodes[i].reason + ")";
    }
    return Status(StatusCode::kMissingFeature, msg);
  }
  return Status::Ok();
}

}  // namespace omnirelay::cp
