// The rollout engine's view of MeshKit (docs/knowledge-base/rollouts.md,
// "MeshKit gates"): what the control plane's optional discovery connection
// says about one wave, for the gates (rollout_gates.h, WaveDiscovery).
//
// Contract:
//  1. Places. A node's place is the cell its chain names, else the region it
//     names, else nowhere (a chain of global and node:<id> only).
//  2. Target clusters of a wave: the routing clusters (service, cluster)
//     with an endpoint in the set placed where one of the wave's nodes is —
//     the endpoint's cell is a node's cell, or its region is the region of a
//     node whose chain names no cell. A wave with a node placed nowhere
//     targets every cluster in the set. Targets are resolved from the live
//     membership each tick, not from the topology, so a cluster MeshKit
//     moves or empties is followed. A target's figures count only its
//     endpoints in those places; sorted by (service, cluster). A place no
//     endpoint of the set is in is *uncovered* ("cell:euw1-a",
//     "region:eu-west"; sorted): the feed does not see it (a cell with its
//     own MeshKit), so nothing there is judged.
//  3. Bridges down for a set of cells: none for fewer than two cells; else
//     every bridge the feed reports not up (down, flapping, unknown) joining
//     two of them, as BridgeStatus::Describe() sorted by name, and, when no
//     set has arrived or the feed is disconnected, that reason first (no
//     bridge is known to be up then). A cell pair the feed reports no bridge
//     for is not paused (MeshKit decides what crosses; relays enforce the
//     export and deny lists).
//  4. DiscoveryForWave: received = a set has arrived; then feed id,
//     generation and `history`; the current wave's targets, uncovered
//     places, whether its nodes' chains name two or more cells, and the
//     bridges down among its cells; the next wave that has nodes (the one a
//     promotion enters: empty waves are passed through) and the bridges down
//     among its cells (none after the last).
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "omnirelay/meshkit/endpoints.h"
#include "rollout_gates.h"
#include "rollout_state.h"

namespace omnirelay::cp {

struct NodePlace {
  std::string region, cell;  // "" when the chain names none
};
// Contract 1, from a canonical chain text ("global,region:us-east,cell:use1-a,...").
NodePlace PlaceOfChain(const std::string& chain);

// Contract 2; `uncovered` (may be null) gets the places no endpoint is in.
std::vector<ClusterHealthFigure> TargetClusters(const meshkit::EndpointSet& set,
                                                const std::vector<NodePlace>& places,
                                                std::vector<std::string>* uncovered = nullptr);
// Contract 3. `set` null: nothing received yet.
std::vector<std::string> BridgesDown(const meshkit::EndpointSet* set, bool connected,
                                     const std::vector<std::string>& cells);

// What the engine knows of its feed at a tick.
struct FeedView {
  std::shared_ptr<const meshkit::EndpointSet> set;  // null: nothing yet
  bool connected = false;                           // FeedStats::connected
  // (unix ms, generation) when each generation was first seen, ascending.
  std::vector<std::pair<std::int64_t, std::int64_t>> history;
};

// Contract 4. `chains`: node id -> canonical chain text (RolloutRun::chains).
WaveDiscovery DiscoveryForWave(const FeedView& feed, const RolloutState& state,
                               const std::map<std::string, std::string>& chains);

}  // namespace omnirelay::cp
