// The layer context read (ControlPlaneService::GetLayerContext): where a
// scope sits, its layer, and what it sees and inherits, read once.
#include <algorithm>
#include <optional>

#include "api_json.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/scope_map.h"
#include "placement_cache.h"
#include "service_read.h"

namespace omnirelay::cp {
namespace {

// The merged spec of `layers` (chain order) through the one render path;
// "{}" when there are none.
Result<std::string> MergedSpec(const std::vector<ParsedLayer>& layers,
                               const std::vector<Scope>& chain) {
  if (layers.empty()) return std::string("{}");
  OMNI_ASSIGN_OR_RETURN(RenderedSpec rendered, RenderLayers(layers, ScopeChainToString(chain)));
  return std::move(rendered.spec_json);
}

}  // namespace

Status UnknownScope(const std::string& why) {
  return Status(StatusCode::kInvalid, why, {{"/metadata/scope", DiagCode::kUnknownScope, why}});
}

Result<std::vector<Scope>> StoredNodeChain(Store& store, const Scope& scope) {
  OMNI_ASSIGN_OR_RETURN(NodeRecord node, store.GetNode(scope.name));
  auto chain = ParseScopeChain(node.scope_chain);
  if (!chain.ok() || std::find(chain->begin(), chain->end(), scope) == chain->end()) {
    return UnknownScope("node \"" + scope.name + "\" uses the chain " + node.scope_chain +
                        ", which has no " + scope.ToString() + ": its layer would not reach it");
  }
  return chain;
}

Result<LayerContext> ControlPlaneService::GetLayerContext(const Principal& who,
                                                          const std::string& scope_text) {
  auto read = [&]() -> Result<LayerContext> {
    OMNI_ASSIGN_OR_RETURN(const Scope scope, ParseScope(scope_text));
    std::vector<Scope> chain;
    if (scope.level == ScopeLevel::kNode) {
      auto stored = StoredNodeChain(store_, scope);
      if (!stored.ok() && stored.status().code() == StatusCode::kNotFound) {
        return UnknownScope("no node \"" + scope.name +
                            "\" has been seen: its chain is known once it connects");
      }
      OMNI_ASSIGN_OR_RETURN(chain, std::move(stored));
    } else {
      // Placed as a write to it would be: by the stored global layer's
      // topology (none without a global layer), never guessed from a name.
      OMNI_ASSIGN_OR_RETURN(std::shared_ptr<const ScopeMap> map, placements_->Current());
      OMNI_ASSIGN_OR_RETURN(chain,
                            map->unrestricted() ? ScopeMap().ChainOf(scope) : map->ChainOf(scope));
    }
    // The chain's layers in one read (one state), merged in chain order.
    OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> stored, ChainLayers(store_, chain));
    LayerContext out;
    out.scope = scope.ToString();
    out.scope_chain = ScopeChainToString(chain);
    std::vector<ParsedLayer> inherited;
    std::optional<ParsedLayer> own;
    for (const LayerRecord& layer : stored) {
      OMNI_ASSIGN_OR_RETURN(ParsedLayer parsed, ParseLayer(layer.document));
      if (layer.scope == out.scope) {
        out.layer = ToApi(layer);
        own = std::move(parsed);
      } else {
        inherited.push_back(std::move(parsed));
      }
    }
    const std::vector<Scope> above(chain.begin(), chain.end() - 1);
    OMNI_ASSIGN_OR_RETURN(out.inherited_spec_json, MergedSpec(inherited, above));
    if (!own) {
      out.effective_spec_json = out.inherited_spec_json;
    } else {
      inherited.push_back(std::move(*own));
      OMNI_ASSIGN_OR_RETURN(out.effective_spec_json, MergedSpec(inherited, chain));
    }
    return out;
  };
  return ReadAudited(who, kScopeConfigRead, "layer.context", scope_text, read,
                     [](const LayerContext& c) { return c.layer ? c.layer->revision : 0; });
}

}  // namespace omnirelay::cp
