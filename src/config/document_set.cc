#include "omnirelay/config/document_set.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "omnirelay/config/merge.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/scope_map.h"
#include "omnirelay/config/validate.h"

namespace omnirelay {
namespace {

using Json = nlohmann::json;

void AddAll(DocumentSetReport& report, const std::string& source, const Status& status) {
  if (status.diagnostics().empty()) {
    report.errors.push_back({source, {"", DiagCode::kParseError, status.message()}});
    return;
  }
  for (const auto& d : status.diagnostics()) report.errors.push_back({source, d});
}

// How many leading reference tokens of `pointer` exist in `doc`.
std::size_t ExistingDepth(const Json& doc, const std::string& pointer) {
  std::size_t depth = 0, pos = 0;
  while (pos < pointer.size()) {
    std::size_t next = pointer.find('/', pos + 1);
    if (next == std::string::npos) next = pointer.size();
    try {
      if (!doc.contains(Json::json_pointer(pointer.substr(0, next)))) break;
    } catch (const Json::exception&) {
      break;
    }
    ++depth;
    pos = next;
  }
  return depth;
}

// The input whose layer defines the deepest part of `path`; later inputs win ties.
const std::string& Attribute(const std::vector<DocumentInput>& inputs,
                             const std::vector<Json>& layer_docs, const std::string& path) {
  std::size_t best = inputs.size() - 1, best_depth = 0;
  for (std::size_t i = 0; i < layer_docs.size(); ++i) {
    const std::size_t d = ExistingDepth(layer_docs[i], path);
    if (d >= best_depth && d > 0) {
      best = i;
      best_depth = d;
    }
  }
  return inputs[best].source;
}

// Several layers starting with global form a chain: each scope must sit
// where the global layer's topology places it (DESIGN.md §3.1). A level
// without a file is taken to have no layer.
void CheckPlacement(const std::vector<DocumentInput>& inputs, const std::vector<Scope>& scopes,
                    DocumentSetReport& report) {
  if (inputs.size() < 2 || scopes.size() != inputs.size()) return;
  if (scopes.front().level != ScopeLevel::kGlobal) return;
  auto map = ScopeMap::FromGlobalLayer(inputs.front().text);
  if (!map.ok()) return;  // the merge reports what is wrong with the global layer
  for (std::size_t i = 1; i < scopes.size(); ++i) {
    const Scope& s = scopes[i];
    if (s.level == ScopeLevel::kNode) continue;
    auto placed = map->ChainOf(s);
    if (!placed.ok()) {
      report.errors.push_back(
          {inputs[i].source,
           {"/metadata/scope", DiagCode::kUnknownScope, placed.status().message()}});
      continue;
    }
    for (std::size_t j = 1; j < i; ++j) {
      const Scope& above = scopes[j];
      const auto at = static_cast<std::size_t>(above.level);
      if (above.level == ScopeLevel::kNode || at >= placed->size()) continue;
      if ((*placed)[at] != above) {
        report.errors.push_back({inputs[i].source,
                                 {"/metadata/scope", DiagCode::kScopeMismatch,
                                  s.ToString() + " is placed under " + ScopeChainToString(*placed) +
                                      ", not under " + above.ToString()}});
        break;
      }
    }
  }
}

}  // namespace

Result<EffectiveSpec> MergeLayers(const std::vector<ParsedLayer>& layers,
                                  const DecodeOptions& options) {
  EffectiveSpec out;
  for (const auto& layer : layers) {
    for (const auto& f : layer.metadata.features) {
      if (std::find(out.features.begin(), out.features.end(), f) == out.features.end()) {
        out.features.push_back(f);
      }
    }
  }
  auto merged = MergeLayerSpecs(layers, options);
  if (!merged.ok()) return merged.status();
  out.spec_json = std::move(merged).value();
  return out;
}

Result<RenderedSpec> RenderLayers(const std::vector<ParsedLayer>& layers, std::string_view subject,
                                  const DecodeOptions& options) {
  OMNI_ASSIGN_OR_RETURN(EffectiveSpec merged, MergeLayers(layers, options));
  OMNI_ASSIGN_OR_RETURN(Spec spec, DecodeSpec(merged.spec_json, merged.features, options));
  auto diags = ValidateSpec(spec);
  if (!diags.empty()) {
    const std::size_t n = diags.size();
    return Status(StatusCode::kInvalid,
                  "the effective config of " + std::string(subject) +
                      " is invalid: " + std::to_string(n) + (n == 1 ? " problem" : " problems"),
                  std::move(diags));
  }
  return RenderedSpec{std::move(merged.spec_json), std::move(merged.features), std::move(spec)};
}

DocumentSetReport ValidateDocuments(const std::vector<DocumentInput>& inputs,
                                    const DecodeOptions& options) {
  DocumentSetReport report;
  if (inputs.empty()) {
    report.errors.push_back({"", {"", DiagCode::kParseError, "no documents to validate"}});
    return report;
  }

  // A single Snapshot is validated as it is; it cannot be merged with anything.
  std::vector<std::string> kinds;
  for (const auto& in : inputs) {
    auto kind = PeekKind(in.text, options);
    if (!kind.ok()) {
      AddAll(report, in.source, kind.status());
      kinds.emplace_back();
      continue;
    }
    kinds.push_back(*kind);
  }
  if (!report.valid()) return report;
  if (inputs.size() == 1 && kinds[0] == kKindSnapshot) {
    auto snap = DecodeAndValidateSnapshot(inputs[0].text, options);
    if (!snap.ok()) {
      AddAll(report, inputs[0].source, snap.status());
    } else {
      report.spec = std::move(snap->spec);
    }
    return report;
  }

  std::vector<ParsedLayer> layers;
  std::vector<Scope> scopes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (kinds[i] == kKindSnapshot) {
      report.errors.push_back({inputs[i].source,
                               {"/kind", DiagCode::kOutOfRange,
                                "a Snapshot is already merged; validate it on its own"}});
      continue;
    }
    auto layer = ParseLayer(inputs[i].text, options);
    if (!layer.ok()) {
      AddAll(report, inputs[i].source, layer.status());
      continue;
    }
    auto scope = ParseScope(layer->metadata.scope);
    if (scope.ok()) {
      if (!scopes.empty() &&
          static_cast<int>(scope->level) <= static_cast<int>(scopes.back().level)) {
        report.errors.push_back(
            {inputs[i].source,
             {"/metadata/scope", DiagCode::kInvalidScope,
              "layers must be given from least to most specific: \"" + scope->ToString() +
                  "\" cannot follow \"" + scopes.back().ToString() + "\""}});
      }
      scopes.push_back(*scope);
    }
    layers.push_back(std::move(layer).value());
  }
  if (!report.valid()) return report;
  CheckPlacement(inputs, scopes, report);
  if (!report.valid()) return report;

  auto effective = MergeLayers(layers, options);
  if (!effective.ok()) {
    AddAll(report, inputs.back().source, effective.status());
    return report;
  }
  std::vector<Diagnostic> diags;
  auto spec = DecodeSpec(effective->spec_json, effective->features, options, "/spec");
  if (!spec.ok()) {
    diags = spec.status().diagnostics();
  } else {
    diags = ValidateSpec(*spec);
  }
  if (diags.empty()) {
    report.spec = std::move(spec).value();
    return report;
  }
  // Attribute each problem to an input (only matters when there are several).
  std::vector<Json> layer_docs;
  if (inputs.size() > 1) {
    for (const auto& layer : layers) {
      Json spec_doc = Json::parse(layer.spec_json);
      layer_docs.push_back(Json{{"spec", std::move(spec_doc)}});
    }
  }
  for (auto& d : diags) {
    const std::string& source =
        inputs.size() > 1 ? Attribute(inputs, layer_docs, d.path) : inputs[0].source;
    report.errors.push_back({source, std::move(d)});
  }
  return report;
}

}  // namespace omnirelay
