// The rollout policy block lives in omni_config (the document model embeds
// it): omnirelay/config/rollout_policy.h. The control plane's rollout code
// names it in its own namespace.
#pragma once

#include "omnirelay/config/rollout_policy.h"

namespace omnirelay::cp {
using omnirelay::ParseRolloutPolicy;
using omnirelay::Promotion;
using omnirelay::RolloutPolicy;
using omnirelay::RolloutPolicyToJson;
}  // namespace omnirelay::cp
