#include "write_plan.h"

#include <algorithm>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "omnirelay/config/capability.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/diff.h"
#include "omnirelay/config/digest.h"
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

// A prepared layer keeps its spec's tree (ParsedLayer::spec_tree) only up to
// this size of spec text: a tree takes several times its text's memory.
constexpr std::size_t kMostTreeBytes = 64u << 10;

// Prepares a layer: one parse of its spec answers whether it says anything
// about topology.regions or topology.placements (or replaces topology as a
// whole), which cluster and region names it sets or deletes, and (for the
// global layer) the spec without topology.placements.
std::shared_ptr<const PreparedLayer> Prepare(const std::string& scope, const std::string& document,
                                             Result<ParsedLayer> parsed) {
  PreparedLayer layer{ContentId(document), std::move(parsed), false, std::nullopt, {}, {}};
  if (!layer.parsed.ok()) return std::make_shared<const PreparedLayer>(std::move(layer));
  // The tree ParseLayer kept (a copy only where placements are cut below).
  nlohmann::json parsed_here;
  if (layer.parsed->spec_tree == nullptr) {
    parsed_here = nlohmann::json::parse(layer.parsed->spec_json, nullptr, false);
  }
  const nlohmann::json& spec =
      layer.parsed->spec_tree != nullptr ? *layer.parsed->spec_tree : parsed_here;
  if (spec.is_discarded() || !spec.is_object()) {
    layer.touches_placement = true;
    layer.clusters.replaced = layer.regions.replaced = true;
    return std::make_shared<const PreparedLayer>(std::move(layer));
  }
  auto names = [](const nlohmann::json& map) {
    PreparedLayer::Names out;
    if (!map.is_object()) {
      out.replaced = true;
      return out;
    }
    out.map.emplace();
    for (const auto& [name, value] : map.items()) out.map->emplace(name, value.is_null());
    return out;
  };
  if (auto clusters = spec.find("clusters"); clusters != spec.end())
    layer.clusters = names(*clusters);
  if (auto topology = spec.find("topology"); topology != spec.end()) {
    layer.touches_placement =
        !topology->is_object() || topology->contains("regions") || topology->contains("placements");
    if (!topology->is_object()) {
      layer.regions.replaced = true;
    } else if (auto regions = topology->find("regions"); regions != topology->end()) {
      layer.regions = names(*regions);
    }
    if (scope == "global") {
      ParsedLayer lean = *layer.parsed;
      if (topology->is_object() && topology->contains("placements")) {
        // Copied member by member, all but the placements (the bulk of a
        // large fleet's global layer).
        auto cut = std::make_shared<nlohmann::json>(nlohmann::json::object());
        for (const auto& [key, value] : spec.items()) {
          if (key != "topology") (*cut)[key] = value;
        }
        nlohmann::json& cut_topology = (*cut)["topology"] = nlohmann::json::object();
        for (const auto& [key, value] : topology->items()) {
          if (key != "placements") cut_topology[key] = value;
        }
        lean.spec_json = cut->dump();
        lean.spec_tree = std::move(cut);
      }
      layer.lean = std::move(lean);
    }
  } else if (scope == "global") {
    layer.lean = *layer.parsed;
  }
  // The memo keeps prepared layers by count, not bytes: a large spec keeps
  // its text only (its merges parse it, as before trees were kept).
  if (layer.parsed->spec_json.size() > kMostTreeBytes) layer.parsed->spec_tree.reset();
  if (layer.lean && layer.lean->spec_json.size() > kMostTreeBytes) layer.lean->spec_tree.reset();
  return std::make_shared<const PreparedLayer>(std::move(layer));
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
  Layers(const WritePlanInput& input, std::shared_ptr<const PreparedLayer> written)
      : written_scope_(input.scope.ToString()),
        written_(std::move(written)),
        stored_(input.current_layers) {}

  // The written scope's layer as stored (nullptr when it has none) and as
  // written (nullptr for a deletion).
  const PreparedLayer* StoredWritten() const {
    auto it = stored_.find(written_scope_);
    return it != stored_.end() && it->second->parsed.ok() ? it->second.get() : nullptr;
  }
  const PreparedLayer* Written() const { return written_.get(); }
  const std::shared_ptr<const PreparedLayer>& WrittenShared() const { return written_; }

  // The layers of `chain` in precedence order, before or after the write,
  // and the key naming them (each layer's scope and content id, in order):
  // two chains with one key render the same spec.
  Result<std::vector<ParsedLayer>> Of(const std::vector<Scope>& chain, bool after,
                                      std::string* key) const {
    std::vector<const PreparedLayer*> layers;
    std::vector<std::string> names;
    bool deeper_touch = false;
    for (const Scope& scope : chain) {
      std::string name = scope.ToString();
      const PreparedLayer* layer = nullptr;
      if (after && name == written_scope_) {
        layer = written_.get();
      } else if (auto it = stored_.find(name); it != stored_.end()) {
        layer = it->second.get();
      }
      if (layer == nullptr) continue;
      if (!layer->parsed.ok()) return layer->parsed.status();
      if (name != "global") deeper_touch = deeper_touch || layer->touches_placement;
      layers.push_back(layer);
      names.push_back(std::move(name));
    }
    const bool lean = layers.size() > 1 && chain.front().level == ScopeLevel::kGlobal &&
                      !deeper_touch && names.front() == "global" && layers.front()->lean;
    std::vector<ParsedLayer> out;
    out.reserve(layers.size());
    if (lean) key->append("lean:");
    for (std::size_t i = 0; i < layers.size(); ++i) {
      out.push_back(i == 0 && lean ? *layers[i]->lean : *layers[i]->parsed);
      key->append(names[i]).append("#").append(layers[i]->content_id).push_back(',');
    }
    return out;
  }

 private:
  std::string written_scope_;
  std::shared_ptr<const PreparedLayer> written_;  // null: a deletion
  const std::map<std::string, std::shared_ptr<const PreparedLayer>>& stored_;
};

// A render, or why there is none.
struct Render {
  std::shared_ptr<const RenderedSpec> spec;  // null when it failed
  Status status;
  bool ok() const { return spec != nullptr; }
};

// Renders chains, once per set of layers (rule 3), and through the memo
// once per set of layer contents across writes.
class Renders {
 public:
  Renders(const Layers& layers, PlanMemo* memo, bool keep)
      : layers_(layers), memo_(memo), keep_(keep) {}

  // The render of `chain` and the key of its layer set.
  std::pair<const Render*, std::string> Of(const std::vector<Scope>& chain,
                                           const std::string& chain_text, bool after) {
    std::string key;
    auto parsed = layers_.Of(chain, after, &key);
    if (!parsed.ok()) {
      failures_.push_back({nullptr, parsed.status()});
      return {&failures_.back(), key};
    }
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      Render render;
      if (memo_ != nullptr) render.spec = memo_->FindRender(key);
      if (!render.ok()) {
        auto rendered = RenderLayers(*parsed, chain_text);
        if (rendered.ok()) {
          render.spec = std::make_shared<const RenderedSpec>(std::move(rendered).value());
          // Failures are not kept: their messages name the chain.
          if (memo_ != nullptr && keep_) memo_->KeepRender(key, render.spec);
        } else {
          render.status = rendered.status();
        }
      }
      it = cache_.emplace(key, std::move(render)).first;
    }
    return {&it->second, key};
  }

 private:
  const Layers& layers_;
  PlanMemo* memo_;
  const bool keep_;
  std::map<std::string, Render> cache_;
  std::deque<Render> failures_;
};

// Whether replacing the layer `before` with `after` (null: none) can take a
// cluster or region name out of any merged spec — the only thing
// CheckDestructive looks for. It cannot when the new layer keeps every
// cluster and region the old one had and deletes (null) none that the old
// one did not; then no chain needs its "before" render for rule 5 (RFC 7386:
// the deeper layers are the same before and after, so a name present in a
// merged spec before is present after).
bool MayRemoveNames(const PreparedLayer* before, const PreparedLayer* after) {
  if (after == nullptr) return before != nullptr;
  const PreparedLayer::Names none;
  for (const bool regions : {false, true}) {
    const PreparedLayer::Names& old_names =
        before == nullptr ? none : (regions ? before->regions : before->clusters);
    const PreparedLayer::Names& new_names = regions ? after->regions : after->clusters;
    if (new_names.replaced) return true;  // null deletes them all
    if (new_names.map) {
      for (const auto& [name, is_null] : *new_names.map) {
        if (!is_null) continue;
        bool was_null = false;
        if (old_names.map) {
          auto old = old_names.map->find(name);
          was_null = old != old_names.map->end() && old->second;
        }
        if (!was_null) return true;
      }
    }
    if (old_names.map) {
      for (const auto& [name, is_null] : *old_names.map) {
        if (is_null) continue;
        if (!new_names.map) return true;
        auto now = new_names.map->find(name);
        if (now == new_names.map->end() || now->second) return true;
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
    if (gap.ok()) continue;
    std::vector<std::string> missing = gap.missing_features;
    if (gap.api_version_unsupported)
      missing.insert(missing.begin(), "apiVersion " + gap.api_version);
    blocked.push_back({profile, chain_plan.chain, gap.ToString(), std::move(missing)});
  }
}

// "message" -> "message (chain global,region:eu-west)": what an operator
// needs to find the failing combination.
Diagnostic InChain(Diagnostic d, const std::string& chain) {
  d.message += " (chain " + chain + ")";
  return d;
}

// Rule 8's refusal: the count, the limit and the way past it.
Diagnostic TooLarge(std::size_t entries, std::size_t limit) {
  return {"/spec", DiagCode::kChangeTooLarge,
          "the change touches " + std::to_string(entries) +
              " named entries (clusters, routes, regions, bridges added, removed or changed), "
              "over the limit of " +
              std::to_string(limit) +
              "; to write it anyway pass allow-large-change (omnirctl --allow-large-change, "
              "REST ?allowLargeChange=true)"};
}

// Rule 4b: a chain that fails after the write only as it failed before it,
// because of a layer deeper than the one written, is not the write's doing
// (a broken node layer must not hold every write above it). A write to the
// chain's deepest layer owns the chain and must make it render.
bool AlreadyFailing(const WritePlanInput& input, const std::vector<Scope>& chain,
                    const ChainPlan& chain_plan, const Render& after, Renders& renders) {
  if (chain.empty() || chain.back() == input.scope) return false;
  const Render& before = *renders.Of(chain, chain_plan.chain, /*after=*/false).first;
  if (before.ok()) return false;
  std::set<std::pair<std::string, int>> old_problems;
  for (const auto& d : before.status.diagnostics()) {
    old_problems.insert({d.path, static_cast<int>(d.code)});
  }
  const auto& now = after.status.diagnostics();
  return std::all_of(now.begin(), now.end(), [&](const Diagnostic& d) {
    return old_problems.count({d.path, static_cast<int>(d.code)}) > 0;
  });
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
  std::shared_ptr<const PreparedLayer> written;
  if (input.document) {
    const std::string scope = input.scope.ToString();
    OMNI_ASSIGN_OR_RETURN(ParsedLayer parsed, ParseWrittenLayer(*input.document, scope));
    written = Prepare(scope, *input.document, std::move(parsed));
  }
  const Layers layers(input, std::move(written));

  WritePlan plan;
  FirstOfEach problems(plan.diagnostics);
  for (const auto& d : input.stranded) {
    if (!input.confirm) problems.Add(d);
  }
  Renders renders(layers, input.memo, input.keep_renders);
  // Rule 5 needs each chain's "before" render only when the write can remove
  // a name; otherwise only the first valid chain's, for the diff (rule 7).
  const bool may_remove = MayRemoveNames(layers.StoredWritten(), layers.Written());
  std::map<std::string, std::vector<Diagnostic>> destructive_by_pair;
  std::string summary;
  for (const auto& chain : input.chains) {
    ChainPlan& chain_plan = plan.chains.emplace_back();
    chain_plan.chain = ScopeChainToString(chain);
    auto [after_result, after_key] = renders.Of(chain, chain_plan.chain, /*after=*/true);
    const Render& after = *after_result;
    if (!after.ok()) {
      if (after.status.diagnostics().empty()) return after.status;
      if (AlreadyFailing(input, chain, chain_plan, after, renders)) {
        chain_plan.already_failing = after.status.diagnostics();
        if (!plan.already_failing) {
          plan.already_failing = InChain(chain_plan.already_failing[0], chain_plan.chain);
        }
        ++plan.already_failing_chains;
        continue;
      }
      chain_plan.diagnostics = after.status.diagnostics();
      for (const auto& d : chain_plan.diagnostics) problems.Add(InChain(d, chain_plan.chain));
      continue;
    }
    if (!may_remove && !summary.empty()) {
      AddBlocked(input, chain_plan, *after.spec, plan.blocked);
      chain_plan.spec_json = after.spec->spec_json;
      chain_plan.features = after.spec->features;
      continue;
    }
    auto [before_result, before_key] = renders.Of(chain, chain_plan.chain, /*after=*/false);
    const Render& before = *before_result;
    if (before.ok()) {
      if (summary.empty()) {
        const SpecDiff diff = DiffSpecs(before.spec->spec, after.spec->spec);
        summary = diff.Summary();
        plan.changed_entries = diff.EntryCount();
      }
      auto pair = destructive_by_pair.find(before_key + "|" + after_key);
      if (pair == destructive_by_pair.end()) {
        pair = destructive_by_pair
                   .emplace(before_key + "|" + after_key,
                            CheckDestructive(before.spec->spec, after.spec->spec))
                   .first;
      }
      chain_plan.destructive = pair->second;
      if (!input.confirm) {
        for (const auto& d : chain_plan.destructive) problems.Add(InChain(d, chain_plan.chain));
      }
    }
    AddBlocked(input, chain_plan, *after.spec, plan.blocked);
    chain_plan.spec_json = after.spec->spec_json;
    chain_plan.features = after.spec->features;
  }
  // A chain that does not validate has no effective config to diff against:
  // say so rather than "no changes".
  if (input.chains.empty()) {
    // A node layer staged for a node never seen: nothing renders it yet.
    plan.written = layers.WrittenShared();
    plan.diff_summary = "not computed: no chain holds this scope yet";
    return plan;
  }
  plan.written = layers.WrittenShared();
  if (input.max_change_entries > 0 && plan.changed_entries > input.max_change_entries) {
    plan.large_change = true;
    if (!input.allow_large_change) {
      problems.Add(TooLarge(plan.changed_entries, input.max_change_entries));
    }
  }
  plan.diff_summary =
      !summary.empty() ? summary
      : !plan.diagnostics.empty()
          ? "not computed: the result does not validate"
          : (plan.already_failing_chains > 0 ? "not computed: no chain it touches renders"
                                             : "no changes");
  if (plan.already_failing_chains > 0) {
    plan.diff_summary += "; " + std::to_string(plan.already_failing_chains) +
                         " chain(s) failed to render before this write and still do, no worse "
                         "(first: " +
                         plan.already_failing->path + " " +
                         std::string(diag_code_name(plan.already_failing->code)) + ": " +
                         plan.already_failing->message + ")";
  }
  return plan;
}

std::shared_ptr<const PreparedLayer> PrepareLayer(const std::string& scope,
                                                  const std::string& document) {
  return Prepare(scope, document, ParseLayer(document));
}

std::shared_ptr<const PreparedLayer> PlanMemo::Stored(const std::string& scope,
                                                      std::int64_t revision,
                                                      const std::string& document) {
  {
    MutexLock lock(mu_);
    auto it = stored_.find(scope);
    if (it != stored_.end() && it->second.revision == revision) return it->second.layer;
  }
  auto layer = PrepareLayer(scope, document);  // outside the lock: a parse
  Remember(scope, revision, layer);
  return layer;
}

void PlanMemo::Remember(const std::string& scope, std::int64_t revision,
                        std::shared_ptr<const PreparedLayer> layer) {
  // What it replaces is freed after the lock (a layer's tree is thousands
  // of small blocks), so that other writes' plans do not wait on it.
  std::unordered_map<std::string, Latest> dropped;
  Latest replaced;
  MutexLock lock(mu_);
  none_.erase(scope);
  if (stored_.size() >= max_layers_ && stored_.count(scope) == 0) dropped.swap(stored_);
  Latest& entry = stored_[scope];
  if (revision >= entry.revision) {
    replaced = std::move(entry);
    entry = {revision, std::move(layer)};
  }
  lock.Unlock();
}

void PlanMemo::NoteNone(const std::string& scope) {
  MutexLock lock(mu_);
  stored_.erase(scope);
  if (none_.size() >= max_none_) none_.clear();
  none_.insert(scope);
}

std::optional<PlanMemo::Latest> PlanMemo::LatestOf(const std::string& scope) {
  MutexLock lock(mu_);
  auto it = stored_.find(scope);
  if (it == stored_.end()) {
    if (none_.count(scope) > 0) return Latest{};
    return std::nullopt;
  }
  if (!it->second.layer) return Latest{};  // deleted at that revision: none
  return it->second;
}

std::shared_ptr<const RenderedSpec> PlanMemo::FindRender(const std::string& key) {
  MutexLock lock(mu_);
  auto it = renders_.find(key);
  if (it == renders_.end()) {
    ++render_misses_;
    return nullptr;
  }
  ++render_hits_;
  return it->second;
}

PlanMemo::Counts PlanMemo::counts() {
  MutexLock lock(mu_);
  return {render_hits_, render_misses_, renders_.size(), render_bytes_, stored_.size()};
}

void PlanMemo::KeepRender(const std::string& key, std::shared_ptr<const RenderedSpec> render) {
  const std::size_t bytes = render->spec_json.size() + key.size();
  if (bytes > max_render_bytes_) return;
  MutexLock lock(mu_);
  if (!renders_.emplace(key, std::move(render)).second) return;
  render_order_.push_back(key);
  render_bytes_ += bytes;
  while (render_bytes_ > max_render_bytes_ && !render_order_.empty()) {
    auto oldest = renders_.find(render_order_.front());
    render_bytes_ -= oldest->second->spec_json.size() + oldest->first.size();
    renders_.erase(oldest);
    render_order_.pop_front();
  }
}

const ChainPlan* FirstFailingChain(const WritePlan& plan) {
  for (const auto& chain : plan.chains) {
    if (!chain.diagnostics.empty()) return &chain;
  }
  return nullptr;
}

}  // namespace omnirelay::cp
