// The one duration grammar of the project's flags, query parameters and
// files: a non-negative integer and a unit — "500ms", "30s", "15m", "2h",
// "7d". REST's ?since=, omnirctl's --since/--ttl/--timeout/--bake and the
// daemon's --snapshot-ttl all read it, with the same error.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "omnirelay/config/status.h"

namespace omnirelay::api {

// Milliseconds; kInvalidArgument ("\"soon\" is not a duration like 500ms,
// 30s, 15m, 2h or 7d") for anything else, a missing unit or an overflow.
Result<std::int64_t> ParseDurationMs(std::string_view text);

}  // namespace omnirelay::api
