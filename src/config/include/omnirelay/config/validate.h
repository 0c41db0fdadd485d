// Graph validation of a decoded spec (DESIGN.md §3.2): dangling_cluster,
// failover_cycle, weights_sum, shadow_to_primary, service_mismatch,
// unknown_region, unknown_cell, bridge_invalid. Schema checks happen while
// decoding (decode.h); destructive_change needs a diff (diff.h).
//
// Runs in time linear in the size of the spec (10,000 clusters and 100,000
// routes validate in tens of milliseconds; bench/bench_graph_validate).
//
// Thread safety: reentrant.
#pragma once

#include <string_view>
#include <vector>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

// All graph problems of `spec`, pointers rooted at "/spec". Empty when valid.
std::vector<Diagnostic> ValidateSpec(const Spec& spec);

// Decode (schema) + graph validation of a Snapshot document: what a node runs
// on every candidate snapshot and what `omnirctl config validate` runs on one.
Result<Snapshot> DecodeAndValidateSnapshot(std::string_view json,
                                           const DecodeOptions& options = {});

}  // namespace omnirelay
