// Generated inputs shared by the benchmark programs.
#pragma once

#include <cstddef>
#include <string>

#include "omnirelay/config/model.h"

namespace omnirelay::bench {

// A valid Snapshot document (JSON text) of about `target_bytes` bytes: a
// multi-region topology with as many clusters and routes as fit.
std::string MakeSnapshotJson(std::size_t target_bytes);

// A valid Spec with `clusters` clusters and `routes` routes (each route splits
// weight across two clusters of its service, some with failover and shadow).
Spec MakeSpec(std::size_t clusters, std::size_t routes);

}  // namespace omnirelay::bench
