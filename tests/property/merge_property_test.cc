// RFC 7386 merge-patch laws over random JSON objects.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/merge.h"

namespace omnirelay {
namespace {

using Json = nlohmann::json;

// Random JSON with a small key alphabet, so patches and targets overlap often.
Json GenJson(int depth, bool allow_null) {
  const int kind = *rc::gen::inRange(0, depth > 0 ? 7 : 5);
  switch (kind) {
    case 0:
      return *rc::gen::inRange(-1000, 1000);
    case 1:
      return *rc::gen::element<std::string>("a", "b", "billing", "");
    case 2:
      return *rc::gen::arbitrary<bool>();
    case 3:
      if (allow_null) return nullptr;
      return 7;
    case 4:
      return Json::array({*rc::gen::inRange(0, 3), "x"});
    default: {
      Json obj = Json::object();
      const int n = *rc::gen::inRange(0, 4);
      for (int i = 0; i < n; ++i) {
        obj[*rc::gen::element<std::string>("k1", "k2", "k3", "k4")] =
            GenJson(depth - 1, allow_null);
      }
      return obj;
    }
  }
}

Json GenObject(bool allow_null) {
  Json obj = Json::object();
  const int n = *rc::gen::inRange(0, 5);
  for (int i = 0; i < n; ++i) {
    obj[*rc::gen::element<std::string>("k1", "k2", "k3", "k4")] = GenJson(3, allow_null);
  }
  return obj;
}

// Merging the empty patch {} is the identity (on the canonical form).
RC_GTEST_PROP(MergeProperty, EmptyPatchIsIdentity, ()) {
  const std::string target = GenObject(false).dump();
  auto merged = MergePatch(target, "{}");
  RC_ASSERT(merged.ok());
  RC_ASSERT(*merged == *CanonicalJson(target));
}

// Applying the same patch twice equals applying it once.
RC_GTEST_PROP(MergeProperty, PatchIsIdempotent, ()) {
  const std::string target = GenObject(false).dump();
  const std::string patch = GenObject(true).dump();
  auto once = MergePatch(target, patch);
  RC_ASSERT(once.ok());
  auto twice = MergePatch(*once, patch);
  RC_ASSERT(twice.ok());
  RC_ASSERT(*twice == *once);
}

// Merging layers onto {} never leaves a null member behind.
RC_GTEST_PROP(MergeProperty, MergedSpecsHaveNoNulls, ()) {
  const std::vector<std::string> layers = {GenObject(true).dump(), GenObject(true).dump(),
                                           GenObject(true).dump()};
  auto merged = MergeSpecs(layers);
  RC_ASSERT(merged.ok());
  RC_ASSERT(merged->find("null") == std::string::npos);
}

// RFC 7386 §2 as the RFC writes it, kept here as the reference the library's
// merge (nlohmann::json::merge_patch since it proved equal) is checked against.
Json ReferenceMergePatch(Json target, const Json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      Json current = target.contains(key) ? target[key] : Json(nullptr);
      target[key] = ReferenceMergePatch(std::move(current), value);
    }
  }
  return target;
}

// MergePatch equals the RFC's algorithm on random targets and patches of any
// JSON type (objects, arrays, scalars, nulls), and so does nlohmann's merge_patch.
RC_GTEST_PROP(MergeProperty, EqualsRfc7386Reference, ()) {
  const Json target = *rc::gen::element(0, 1, 2) == 0 ? GenJson(3, false) : GenObject(false);
  const Json patch = *rc::gen::element(0, 1, 2) == 0 ? GenJson(3, true) : GenObject(true);
  const std::string expected = ReferenceMergePatch(target, patch).dump();
  auto merged = MergePatch(target.dump(), patch.dump());
  RC_ASSERT(merged.ok());
  RC_ASSERT(*merged == expected);
  Json library = target;
  library.merge_patch(patch);
  RC_ASSERT(library.dump() == expected);
}

// A chain's merge reads each layer's kept tree (ParseLayer's spec_tree)
// instead of its text: the same bytes as merging the texts, whether every
// layer, some or none keep a tree, and the tree ParseLayer keeps is its
// spec_json parsed.
RC_GTEST_PROP(MergeProperty, MergingKeptTreesEqualsMergingTexts, ()) {
  std::vector<std::string> texts;
  std::vector<ParsedLayer> layers;
  const int n = *rc::gen::inRange(1, 5);
  for (int i = 0; i < n; ++i) {
    Json spec = GenObject(true);
    // Numbers the other generators leave out: where a tree and a text
    // could part ways if a value did not survive its dump and parse.
    if (*rc::gen::arbitrary<bool>()) spec["k5"] = *rc::gen::arbitrary<double>();
    if (*rc::gen::arbitrary<bool>()) spec["k6"] = *rc::gen::arbitrary<std::uint64_t>();
    if (*rc::gen::arbitrary<bool>()) spec["k7"] = *rc::gen::arbitrary<std::int64_t>();
    const Json doc = {{"apiVersion", "omnirelay.config/v1"},
                      {"kind", "ConfigLayer"},
                      {"metadata", {{"scope", "global"}}},
                      {"spec", spec}};
    auto parsed = ParseLayer(doc.dump());
    RC_ASSERT(parsed.ok());
    RC_ASSERT(parsed->spec_tree != nullptr);
    RC_ASSERT(parsed->spec_tree->dump() == parsed->spec_json);
    if (*rc::gen::arbitrary<bool>()) parsed->spec_tree.reset();  // as a layer made by hand
    texts.push_back(parsed->spec_json);
    layers.push_back(std::move(parsed).value());
  }
  auto from_texts = MergeSpecs(texts);
  auto from_layers = MergeLayerSpecs(layers);
  RC_ASSERT(from_texts.ok());
  RC_ASSERT(from_layers.ok());
  RC_ASSERT(*from_layers == *from_texts);
}

}  // namespace
}  // namespace omnirelay
