#include "omnirelay/config/merge.h"

#include <nlohmann/json.hpp>

#include "json_convert.h"
#include "json_strict.h"

namespace omnirelay {
namespace {

// RFC 7386 is nlohmann::json::merge_patch: a property test
// (tests/property/merge_property_test.cc) holds it equal to the RFC's
// algorithm on random targets and patches. Depth is bounded by the parser's
// nesting limit, so its recursion is too.
using Json = nlohmann::json;

Result<Json> Parse(std::string_view text, const DecodeOptions& options) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err =
          internal::ParseStrict(text, {options.max_bytes, options.max_depth}, parser, &root)) {
    return Status(StatusCode::kInvalid, "cannot merge: " + err->message, {*err});
  }
  return internal::ToNlohmann(root);
}

// `merged` patched with the spec text `spec` (RFC 7386).
Status PatchWith(Json& merged, std::string_view spec, const DecodeOptions& options) {
  auto patch = Parse(spec, options);
  if (!patch.ok()) return patch.status();
  merged.merge_patch(*patch);
  return Status::Ok();
}

}  // namespace

Result<std::string> MergePatch(std::string_view target_json, std::string_view patch_json,
                               const DecodeOptions& options) {
  auto target = Parse(target_json, options);
  if (!target.ok()) return target.status();
  auto patch = Parse(patch_json, options);
  if (!patch.ok()) return patch.status();
  target->merge_patch(*patch);
  return target->dump();
}

Result<std::string> MergeSpecs(const std::vector<std::string>& spec_jsons,
                               const DecodeOptions& options) {
  Json merged = Json::object();
  for (const auto& spec : spec_jsons) OMNI_RETURN_IF_ERROR(PatchWith(merged, spec, options));
  return merged.dump();
}

Result<std::string> MergeLayerSpecs(const std::vector<ParsedLayer>& layers,
                                    const DecodeOptions& options) {
  Json merged = Json::object();
  for (const ParsedLayer& layer : layers) {
    if (layer.spec_tree != nullptr) {
      merged.merge_patch(*layer.spec_tree);
    } else {
      OMNI_RETURN_IF_ERROR(PatchWith(merged, layer.spec_json, options));
    }
  }
  return merged.dump();
}

Result<std::string> CanonicalJson(std::string_view json, const DecodeOptions& options) {
  auto value = Parse(json, options);
  if (!value.ok()) return value.status();
  return value->dump();
}

}  // namespace omnirelay
