// Shadow-first rollouts (docs/knowledge-base/rollouts.md, "Shadow-first"):
// the layer documents of the generated first wave. Before any node is cut
// over, every targeted node gets the routing it has today, with a share of
// each changed route's requests mirrored to the cluster the change moves the
// route's weight to — so the replacement sees real traffic while nothing
// depends on its answers.
//
// Contract (per layer of the change set that exists today and is put, not
// deleted; JSON in, JSON out):
//  1. A route of the new document that the old document also defines is
//     mirrored when its new weights give a positive weight to a cluster the
//     old weights did not (absent, 0 or null): the replacement. Of several,
//     the one with the largest new weight, then the smallest name.
//  2. The shadow document is the old document with, for each mirrored route,
//     `shadow: {"cluster": <replacement>, "percent": <percent>}` (replacing a
//     shadow the route had: a route mirrors to one cluster), every cluster
//     the new document defines and the old does not copied in (so the
//     replacement and the clusters it fails over to exist), and the feature
//     `shadowing` in metadata.features.
//  3. A layer with no mirrored route has no shadow document. The result
//     lists the shadow documents in change-set order; empty when nothing in
//     the change set can be mirrored (the caller refuses shadow-first then).
//  4. Deterministic: the same inputs give the same bytes.
//
// The documents are checked by the caller like any write (validation,
// capability gating: nodes without `shadowing` refuse them).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "omnirelay/config/status.h"

namespace omnirelay::cp {

struct ShadowInput {
  std::string scope;
  std::optional<std::string> before;  // the layer in force; nullopt: it does not exist
  std::optional<std::string> after;   // the change set's document; nullopt: deleted
};

struct ShadowLayer {
  std::string scope;
  std::string document;
  std::vector<std::string> mirrored;  // "route -> cluster", in the new document's order
};

// kInvalidArgument when a document is not a JSON object (callers pass
// documents that already passed validation).
Result<std::vector<ShadowLayer>> ShadowFirstLayers(const std::vector<ShadowInput>& inputs,
                                                   double percent);

}  // namespace omnirelay::cp
