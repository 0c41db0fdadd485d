// The one logging setup of the daemon: spdlog to stderr, as text or as one
// JSON object per line. Messages never carry secrets (tokens, keys, documents).
#pragma once

#include <string>

#include "omnirelay/config/status.h"

namespace omnirelay::cp {

// format: "text" or "json"; level: trace, debug, info, warn, error.
Status SetupLogging(const std::string& format, const std::string& level);

}  // namespace omnirelay::cp
