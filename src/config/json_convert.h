// Internal: converts a strictly parsed simdjson DOM into nlohmann::json, the
// generic value type used for merging and for writing JSON. nlohmann's object
// type keeps keys sorted, so dump() of the result is canonical.
#pragma once

#include <nlohmann/json.hpp>

#include "json_strict.h"

namespace omnirelay::internal {

nlohmann::json ToNlohmann(simdjson::dom::element el);

}  // namespace omnirelay::internal
