// RFC 7386 merge-patch laws over random JSON objects.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace omnirelay
