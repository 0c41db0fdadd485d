// The API vocabulary of a rollout (REST /v1/rollouts, omnirctl -o json):
// one JSON object per rollout, camelCase, times as RFC 3339 UTC, absent
// fields rather than zeros (docs/knowledge-base/rollouts.md, "Status").
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/service.h"

namespace omnirelay::cp {

struct RolloutRun;

// The rollout's public JSON (a compact dump).
std::string RolloutApiJson(const RolloutRun& run);

// A POST /v1/rollouts body: {"layers": [ConfigLayer, ...], "deletes": ["scope", ...],
// "policy": {rollout block}, "reason": "..."}; each layer's scope is its
// metadata.scope. kInvalidArgument naming what is wrong.
Result<RolloutStartRequest> ParseRolloutStartBody(std::string_view body);

}  // namespace omnirelay::cp
