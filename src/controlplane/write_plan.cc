#include "write_plan.h"

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "omnirelay/config/capability.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/diff.h"
#include "omnirelay/config/document_set.h"

namespace omnirelay::cp {
namespace {

// Rule 1: the new document, checked and parsed once.
Result<ParsedLayer> ParseWrittenLayer(const std::string& document, const std::string& scope) {
  auto parsed = ParseLayer(document);
  if (!parsed.ok()) {
    if (document.size() > kDefaultMaxDocumentBytes) {
      return Status(StatusCode::kTooLarge,
                    "layer of " + std::to_string(document.size()) + " bytes is over the limit of " +
                        std::to_string(kDefaultMaxDocumentBytes),
                    parsed.status().diagnostics());
    }
    return parsed.status();
  }
  if (parsed->metadata.scope != scope) {
    return Status(StatusCode::kInvalid,
                  "the document's metadata.scope does not match the scope it is written to",
                  {{"/metadata/scope", DiagCode::kInvalidScope,
                    "document is for scope \"" + parsed->metadata.scope +
                        "\" but is written to \"" + scope + "\""}});
  }
  return parsed;
}

// True when a layer's spec says anything about topology.regions or
// topology.placements (or replaces topology as a whole).
bool TouchesPlacement(const ParsedLayer& layer) {
  const nlohmann::json spec = nlohmann::json::parse(layer.spec_json, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) return true;
  auto topology = spec.find("topology");
  if (topology == spec.end()) return false;
  return !topology->is_object() || topology->contains("regions") ||
         topology->contains("placements");
}

// The global layer without topology.placements.
ParsedLayer WithoutPlacements(const ParsedLayer& global) {
  nlohmann::json spec = nlohmann::json::parse(global.spec_json, nullptr, false);
  ParsedLayer out = global;
  if (spec.is_object() && spec.contains("topology") && spec["topology"].is_object()) {
    spec["topology"].erase("placements");
    out.spec_json = spec.dump();
  }
  return out;
}

// Every layer a chain may need, parsed once: the stored ones, and the
// written scope's new layer (or its absence) for the state after the write.
//
// Placements are checked once (rule 3, cost): only the global layer places
// scopes, so a chain whose deeper layers say nothing about topology.regions
// or topology.placements has exactly the global layer's placements and
// regions, whose validity the chain [global] decides. Such chains render
// with a global layer stripped of its placements — with a thousand cluster
// scopes, the bulk of every spec.
class Layers {
 public:
  Layers(const WritePlanInput& input, std::optional<ParsedLayer> written)
      : written_scope_(input.scope.ToString()), written_(std::move(written)) {
    for (const auto& [scope, document] : input.current_layers) {
      auto parsed = ParseLayer(document);
      if (parsed.ok()) touches_[scope] = TouchesPlacement(*parsed);
      stored_.emplace(scope, std::move(parsed));
    }
    written_touches_ = written_ && TouchesPlacement(*written_);
    if (written_scope_ == "global" && written_) lean_global_after_ = WithoutPlacements(*written_);
    auto global = stored_.find("global");
    if (global != stored_.end() && global->second.ok()) {
      lean_global_before_ = WithoutPlacements(*global->second);
      if (written_scope_ != "global") lean_global_after_ = lean_global_before_;
    }
  }

  // The written scope's layer as stored (nullptr when it has none) and as
  // written (nullptr for a deletion).
  const ParsedLayer* StoredWritten() const {
    auto it = stored_.find(written_scope_);
    return it != stored_.end() && it->second.ok() ? &*it->second : nullptr;
  }
  const ParsedLayer* Written() const { return written_ ? &*written_ : nullptr; }

  // The layers of `chain` in precedence order, before or after the write,
  // and the key naming them (the scopes that have a layer, in order): two
  // chains with one key render the same spec.
  Result<std::vector<ParsedLayer>> Of(const std::vector<Scope>& chain, bool after,
                                      std::string* key) const {
    std::vector<ParsedLayer> out;
    bool deeper_touch = false;
    for (const Scope& scope : chain) {
      const std::string name = scope.ToString();
      if (after && name == written_scope_) {
        if (written_) {
          out.push_back(*written_);
          key->append(name).push_back(',');
          if (name != "global") deeper_touch = deeper_touch || written_touches_;
        }
        continue;
      }
      auto it = stored_.find(name);
      if (it == stored_.end()) continue;
      if (!it->second.ok()) return it->second.status();
      out.push_back(*it->second);
      key->append(name).push_back(',');
      if (name != "global") deeper_touch = deeper_touch || touches_.at(name);
    }
    const auto& lean = after ? lean_global_after_ : lean_global_before_;
    if (out.size() > 1 && chain.front().level == ScopeLevel::kGlobal && !deeper_touch && lean &&
        out.front().metadata.scope == "global") {
      out.front() = *lean;
      key->insert(0, "lean:");
    }
    return out;
  }

 private:
  std::string written_scope_;
  std::optional<ParsedLayer> written_;
  std::map<std::string, Result<ParsedLayer>> stored_;
  std::map<std::string, bool> touches_;  // stored layer -> TouchesPlacement
  bool written_touches_ = false;
  std::optional<ParsedLayer> lean_global_before_, lean_global_after_;
};

// Renders chains, once per set of layers (rule 3).
class Renders {
 public:
  explicit Renders(const Layers& layers) : layers_(layers) {}

  // The render of `chain` and the key of its layer set.
  std::pair<const Result<RenderedSpec>*, std::string> Of(const std::vector<Scope>& chain,
                                                         const std::string& chain_text,
                                                         bool after) {
    std::string key(after ? "after:" : "before:");
    auto parsed = layers_.Of(chain, after, &key);
    if (!parsed.ok()) {
      failures_.push_back(parsed.status());
      return {&failures_.back(), key};
    }
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, RenderLayers(*parsed, chain_text)).first;
    return {&it->second, key};
  }

 private:
  const Layers& layers_;
  std::map<std::string, Result<RenderedSpec>> cache_;
  std::deque<Result<RenderedSpec>> failures_;
};

// Whether replacing the layer `before` with `after` (null: none) can take a
// cluster or region name out of any merged spec — the only thing
// CheckDestructive looks for. It cannot when the new layer keeps every
// cluster and region the old one had and deletes (null) none that the old
// one did not; then no chain needs its "before" render for rule 5 (RFC 7386:
// the deeper layers are the same before and after, so a name present in a
// merged spec before is present after).
bool MayRemoveNames(const ParsedLayer* before, const ParsedLayer* after) {
  if (after == nullptr) return before != nullptr;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json old_spec =
      before ? nlohmann::json::parse(before->spec_json, nullptr, false) : empty;
  const nlohmann::json new_spec = nlohmann::json::parse(after->spec_json, nullptr, false);
  if (old_spec.is_discarded() || new_spec.is_discarded()) return true;
  auto at = [](const nlohmann::json& spec, bool regions) -> const nlohmann::json* {
    if (!regions) return spec.contains("clusters") ? &spec["clusters"] : nullptr;
    if (!spec.contains("topology")) return nullptr;
    const nlohmann::json& topology = spec["topology"];
    if (!topology.is_object()) return &topology;  // null or wrong: treated as a removal
    return topology.contains("regions") ? &topology["regions"] : nullptr;
  };
  for (const bool regions : {false, true}) {
    const nlohmann::json* old_map = at(old_spec, regions);
    const nlohmann::json* new_map = at(new_spec, regions);
    if (new_map != nullptr && !new_map->is_object()) return true;  // null deletes them all
    if (new_map != nullptr) {
      for (const auto& [name, value] : new_map->items()) {
        const bool was_null = old_map != nullptr && old_map->is_object() &&
                              old_map->contains(name) && (*old_map)[name].is_null();
        if (value.is_null() && !was_null) return true;
      }
    }
    if (old_map != nullptr && old_map->is_object()) {
      for (const auto& [name, value] : old_map->items()) {
        if (value.is_null()) continue;
        if (new_map == nullptr || !new_map->contains(name) || (*new_map)[name].is_null()) {
          return true;
        }
      }
    }
  }
  return false;
}

// Rule 6 for one chain: the node profiles on it that lack what it needs.
void AddBlocked(const WritePlanInput& input, const ChainPlan& chain_plan, const RenderedSpec& after,
                std::vector<BlockedProfile>& blocked) {
  for (const auto& profile : input.profiles) {
    if (profile.scope_chain != chain_plan.chain) continue;
    const CapabilityGap gap = CheckCapabilities(
        kApiVersion, after.features, NodeCapabilities{{profile.api_version}, profile.features});
    if (!gap.ok()) blocked.push_back({profile, chain_plan.chain, gap.ToString()});
  }
}

// "message" -> "message (chain global,region:eu-west)": what an operator
// needs to find the failing combination.
Diagnostic InChain(Diagnostic d, const std::string& chain) {
  d.message += " (chain " + chain + ")";
  return d;
}

// The first diagnostic of each (path, code) over all chains (rule 4).
class FirstOfEach {
 public:
  explicit FirstOfEach(std::vector<Diagnostic>& out) : out_(out) {}
  void Add(const Diagnostic& d) {
    if (seen_.insert({d.path, static_cast<int>(d.code)}).second) out_.push_back(d);
  }

 private:
  std::vector<Diagnostic>& out_;
  std::set<std::pair<std::string, int>> seen_;
};

}  // namespace

Result<WritePlan> PlanWrite(const WritePlanInput& input) {
  std::optional<ParsedLayer> written;
  if (input.document) {
    OMNI_ASSIGN_OR_RETURN(written, ParseWrittenLayer(*input.document, input.scope.ToString()));
  }
  const Layers layers(input, std::move(written));

  WritePlan plan;
  FirstOfEach problems(plan.diagnostics);
  for (const auto& d : input.stranded) {
    if (!input.confirm) problems.Add(d);
  }
  Renders renders(layers);
  // Rule 5 needs each chain's "before" render only when the write can remove
  // a name; otherwise only the first valid chain's, for the diff (rule 7).
  const bool may_remove = MayRemoveNames(layers.StoredWritten(), layers.Written());
  std::map<std::string, std::vector<Diagnostic>> destructive_by_pair;
  std::string summary;
  for (const auto& chain : input.chains) {
    ChainPlan& chain_plan = plan.chains.emplace_back();
    chain_plan.chain = ScopeChainToString(chain);
    auto [after_result, after_key] = renders.Of(chain, chain_plan.chain, /*after=*/true);
    const Result<RenderedSpec>& after = *after_result;
    if (!after.ok()) {
      if (after.status().diagnostics().empty()) return after.status();
      chain_plan.diagnostics = after.status().diagnostics();
      for (const auto& d : chain_plan.diagnostics) problems.Add(InChain(d, chain_plan.chain));
      continue;
    }
    if (!may_remove && !summary.empty()) {
      AddBlocked(input, chain_plan, *after, plan.blocked);
      chain_plan.spec_json = after->spec_json;
      chain_plan.features = after->features;
      continue;
    }
    auto [before_result, before_key] = renders.Of(chain, chain_plan.chain, /*after=*/false);
    const Result<RenderedSpec>& before = *before_result;
    if (before.ok()) {
      if (summary.empty()) summary = DiffSpecs(before->spec, after->spec).Summary();
      auto pair = destructive_by_pair.find(before_key + "|" + after_key);
      if (pair == destructive_by_pair.end()) {
        pair =
            destructive_by_pair
                .emplace(before_key + "|" + after_key, CheckDestructive(before->spec, after->spec))
                .first;
      }
      chain_plan.destructive = pair->second;
      if (!input.confirm) {
        for (const auto& d : chain_plan.destructive) problems.Add(InChain(d, chain_plan.chain));
      }
    }
    AddBlocked(input, chain_plan, *after, plan.blocked);
    chain_plan.spec_json = after->spec_json;
    chain_plan.features = after->features;
  }
  // A chain that does not validate has no effective config to diff against:
  // say so rather than "no changes".
  if (input.chains.empty()) {
    // A node layer staged for a node never seen: nothing renders it yet.
    plan.diff_summary = "not computed: no chain holds this scope yet";
    return plan;
  }
  plan.diff_summary = !summary.empty()           ? summary
                      : plan.diagnostics.empty() ? "no changes"
                                                 : "not computed: the result does not validate";
  return plan;
}

const ChainPlan* FirstFailingChain(const WritePlan& plan) {
  for (const auto& chain : plan.chains) {
    if (!chain.diagnostics.empty()) return &chain;
  }
  return nullptr;
}

}  // namespace omnirelay::cp
