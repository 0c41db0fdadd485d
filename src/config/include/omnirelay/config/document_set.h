// Validating what an operator hands in: one document, or several layers
// merged in the order given (DESIGN.md §3.1, §3.2). This is the one code path
// behind `omnirctl config validate` and the control plane's validate/dry-run.
//
// Thread safety: reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

struct DocumentInput {
  std::string source;  // a file name or "-"; names the document in diagnostics
  std::string text;
};

struct SourcedDiagnostic {
  std::string source;  // the input the problem is attributed to
  Diagnostic diagnostic;
};

struct DocumentSetReport {
  std::vector<SourcedDiagnostic> errors;  // empty when valid
  std::optional<Spec> spec;               // the merged, validated spec when valid

  bool valid() const { return errors.empty(); }
};

// The effective spec of layers in precedence order: merged spec JSON
// (canonical) and the union of the layers' features, in first-seen order.
struct EffectiveSpec {
  std::string spec_json;
  std::vector<std::string> features;
};
Result<EffectiveSpec> MergeLayers(const std::vector<ParsedLayer>& layers,
                                  const DecodeOptions& options = {});

// The effective config of layers in precedence order, merged, decoded and
// validated: the one render path of the control plane (its snapshot renderer
// and its write planning). kInvalid with the diagnostics when it does not
// validate; `subject` names it in that message (e.g. the scope chain).
struct RenderedSpec {
  std::string spec_json;  // canonical merged spec
  std::vector<std::string> features;
  Spec spec;
};
Result<RenderedSpec> RenderLayers(const std::vector<ParsedLayer>& layers, std::string_view subject,
                                  const DecodeOptions& options = {});

// Validates one Snapshot, or one or more ConfigLayers merged in order (their
// scopes must go from least to most specific). Problems in the merged result
// are attributed to the most specific input that defines the offending path.
DocumentSetReport ValidateDocuments(const std::vector<DocumentInput>& inputs,
                                    const DecodeOptions& options = {});

}  // namespace omnirelay
