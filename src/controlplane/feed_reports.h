// What the node feed believes of a node's status report (DESIGN.md §4,
// controlplane.md "What the node feed believes"): rollout gates read these
// figures, so a report with an impossible one is refused whole.
//
// Contract: InvalidStatus answers "" for a report that may be stored, else
// why not: the discovery generation is non-negative; at most 64 health
// figures, named by 1-64 bytes, finite and within [0, 1e15]; at most 64 SLO
// windows, each with a config version >= 0, a start >= 0, a length in
// (0, 24 h], at most 1e12 requests, no more errors than requests, and no
// latency bucket nor all of them together above its requests.
//
// Thread safety: a pure function.
#pragma once

#include <string>

#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp {

std::string InvalidStatus(const StatusMsg& status);

}  // namespace omnirelay::cp
