// The one node state (DESIGN.md §4 Drift): how a node's record, the version
// its chain would render now and the time become what REST, gRPC, the CLI,
// the metrics and (later) rollout gates show. Defined here once.
//
// Contract, first match wins:
//   - not connected: `superseded` when its last stream was ended because
//     another instance with its node id took over (last error code
//     "superseded"); `offline` otherwise. Its assigned version is what its
//     chain would render now when that is newer than what it was last sent
//     (assigned hash then unknown, ""), so drift is computed for it too —
//     unless its chain did not render when it was last seen (last error code
//     "render_failed", still shown): then the assignment stays as it was.
//   - connected, last error code "render_failed": `render_failed`.
//   - connected, applied != assigned (version or hash): `updating` within
//     `updating_grace` of the assignment and without an error since;
//     `drifted` after it, or at once when the node refused it (NACK).
//   - connected, running its assignment after that snapshot's expiry: `stale`.
//   - otherwise `current`.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>

#include "omnirelay/api/types.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

struct NodeStateOptions {
  std::chrono::milliseconds updating_grace{30'000};
};

// `chain_version`: the version the node's chain would render now (0: none
// or unknown).
api::Node NodeView(const NodeRecord& record, std::int64_t chain_version, std::int64_t now_ms,
                   const NodeStateOptions& options = {});

}  // namespace omnirelay::cp
