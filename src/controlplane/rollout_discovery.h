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
//     endpoints in those places; sorted by (service, cluster).
//  3. Bridges down for a set of cells: every bridge the feed reports not up
//     (down, flapping, unknown) joining two of them, as "name (state)" sorted
//     by name; none for fewer than two cells. A cell pair the feed reports no
//     bridge for is not paused (MeshKit decides what crosses; the relays
//     enforce export/deny lists).
//  4. DiscoveryForWave: received = a set has arrived; then feed id and
//     generation, the current wave's targets and bridges down among its
//     nodes' cells, and bridges down among the next wave's nodes' cells
//     (none after the last wave).
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <map>
#include <memory>
#include <string>
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

// Contract 2.
std::vector<ClusterHealthFigure> TargetClusters(const meshkit::EndpointSet& set,
                                                const std::vector<NodePlace>& places);
// Contract 3.
std::vector<std::string> BridgesDown(const meshkit::EndpointSet& set,
                                     const std::vector<std::string>& cells);

// Contract 4. `chains`: node id -> canonical chain text (RolloutRun::chains).
WaveDiscovery DiscoveryForWave(const std::shared_ptr<const meshkit::EndpointSet>& set,
                               const RolloutState& state,
                               const std::map<std::string, std::string>& chains);

}  // namespace omnirelay::cp
