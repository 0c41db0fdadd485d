// RFC 3339 timestamps: the one place that writes and reads them. Snapshots,
// REST bodies and omnirctl's JSON all print UTC with whole seconds, e.g.
// "2026-11-27T07:31:49Z".
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "omnirelay/config/status.h"

namespace omnirelay {

// "2026-11-27T07:31:49Z" (optional fraction, 'T'/'Z' in either case, UTC
// only, no leap second) -> unix seconds; kInvalidArgument otherwise.
Result<std::int64_t> ParseRfc3339(std::string_view text);

// Unix seconds -> "2026-11-27T07:31:49Z"; clamps to years 0000-9999.
std::string FormatRfc3339(std::int64_t unix_seconds);

// Unix milliseconds -> the same text, the milliseconds dropped (a time of
// 0 is 1970-01-01T00:00:00Z: callers decide what "none" looks like).
std::string FormatRfc3339Ms(std::int64_t unix_ms);

}  // namespace omnirelay
