#include "omnirelay/config/capability.h"

#include <algorithm>

namespace omnirelay {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

std::string CapabilityGap::ToString() const {
  std::string out;
  if (api_version_unsupported) out = "needs apiVersion " + api_version;
  if (!missing_features.empty()) {
    if (!out.empty()) out += "; ";
    out += "missing features: ";
    for (std::size_t i = 0; i < missing_features.size(); ++i) {
      if (i > 0) out += ", ";
      out += missing_features[i];
    }
  }
  return out.empty() ? "capable" : out;
}

CapabilityGap CheckCapabilities(std::string_view api_version,
                                const std::vector<std::string>& required_features,
                                const NodeCapabilities& node) {
  CapabilityGap gap;
  gap.api_version = std::string(api_version);
  gap.api_version_unsupported = !Contains(node.api_versions, api_version);
  for (const auto& f : required_features) {
    if (!Contains(node.features, f) && !Contains(gap.missing_features, f)) {
      gap.missing_features.push_back(f);
    }
  }
  return gap;
}

Status RequireCapabilities(std::string_view api_version,
                           const std::vector<std::string>& required_features,
                           const NodeCapabilities& node) {
  CapabilityGap gap = CheckCapabilities(api_version, required_features, node);
  if (gap.ok()) return Status::Ok();
  return Status(StatusCode::kMissingFeature, gap.ToString());
}

NodeCapabilities LocalCapabilities() {
  return NodeCapabilities{{std::string(kApiVersion)},
                          {std::string(kFeatureShadowing), std::string(kFeatureArtefacts),
                           std::string(kFeatureRolloutInfo)}};
}

bool HasFeature(const std::vector<std::string>& features, std::string_view feature) {
  return Contains(features, feature);
}

}  // namespace omnirelay
