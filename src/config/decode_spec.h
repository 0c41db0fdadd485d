// Internal: the schema of a spec object (model.h Spec), read by field tables.
#pragma once

#include "decode_primitives.h"
#include "omnirelay/config/model.h"

namespace omnirelay::internal {

// Reads a spec object into *spec, reporting every schema problem under the
// decoder's current pointer. Feature-gated fields follow d's features.
void DecodeSpecObject(Decoder& d, element el, Spec& spec);

}  // namespace omnirelay::internal
