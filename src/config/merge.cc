#include "omnirelay/config/merge.h"

#include <nlohmann/json.hpp>

#include "json_convert.h"
#include "json_strict.h"

namespace omnirelay {
namespace {

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

// RFC 7386 §2, in place. Depth is bounded by the parser's nesting limit.
void Apply(Json& target, const Json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      Apply(target[key], value);
    }
  }
}

}  // namespace

Result<std::string> MergePatch(std::string_view target_json, std::string_view patch_json,
                               const DecodeOptions& options) {
  auto target = Parse(target_json, options);
  if (!target.ok()) return target.status();
  auto patch = Parse(patch_json, options);
  if (!patch.ok()) return patch.status();
  Apply(*target, *patch);
  return target->dump();
}

Result<std::string> MergeSpecs(const std::vector<std::string>& spec_jsons,
                               const DecodeOptions& options) {
  Json merged = Json::object();
  for (const auto& spec : spec_jsons) {
    auto patch = Parse(spec, options);
    if (!patch.ok()) return patch.status();
    Apply(merged, *patch);
  }
  return merged.dump();
}

Result<std::string> CanonicalJson(std::string_view json, const DecodeOptions& options) {
  auto value = Parse(json, options);
  if (!value.ok()) return value.status();
  return value->dump();
}

}  // namespace omnirelay
