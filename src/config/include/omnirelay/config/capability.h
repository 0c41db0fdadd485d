// Capability gating (DESIGN.md §4): a snapshot's apiVersion and required
// features against what a node reports it supports. The control plane uses
// it to refuse (and dry-run) publishes; a node uses it to refuse snapshots.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

struct NodeCapabilities {
  std::vector<std::string> api_versions;  // e.g. {"omnirelay.config/v1"}
  std::vector<std::string> features;      // e.g. {"shadowing"}
};

struct CapabilityGap {
  bool api_version_unsupported = false;
  std::string api_version;                    // the one the snapshot needs
  std::vector<std::string> missing_features;  // in the snapshot's order, no duplicates

  bool ok() const { return !api_version_unsupported && missing_features.empty(); }
  // "needs apiVersion omnirelay.config/v1; missing features: shadowing"
  std::string ToString() const;
};

CapabilityGap CheckCapabilities(std::string_view api_version,
                                const std::vector<std::string>& required_features,
                                const NodeCapabilities& node);

// kMissingFeature with CapabilityGap::ToString() as message, or OK.
Status RequireCapabilities(std::string_view api_version,
                           const std::vector<std::string>& required_features,
                           const NodeCapabilities& node);

// What this build of the library supports: used by nodes to report themselves.
// Its features: the document features (shadowing) and rolloutInfo.
NodeCapabilities LocalCapabilities();

// Whether `features` (a node's advertised list) names `feature`.
bool HasFeature(const std::vector<std::string>& features, std::string_view feature);

}  // namespace omnirelay
