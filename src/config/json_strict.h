// Internal: the one strict JSON entry point of omni_config. Every document,
// envelope and key file is parsed here, so the rules are the same everywhere:
// size limit, nesting limit, valid UTF-8, no duplicate object keys.
//
// Includes simdjson: keep this header out of the public include tree.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <optional>
#include <string_view>

#include "omnirelay/config/diagnostic.h"

namespace omnirelay::internal {

struct JsonLimits {
  std::size_t max_bytes;
  std::size_t max_depth;
};

// Parses `text` into `parser`'s document. On success returns std::nullopt and
// sets *root; the element is valid while `parser` lives and is not reused.
// On failure returns one parse_error diagnostic (path "" or the duplicate key's pointer).
std::optional<Diagnostic> ParseStrict(std::string_view text, const JsonLimits& limits,
                                      simdjson::dom::parser& parser, simdjson::dom::element* root);

// The JSON type name of an element, for messages: "object", "string", ...
std::string_view JsonTypeName(simdjson::dom::element_type type);

// Unchecked accessors for an element whose type() was already tested. They
// return by value: iterating `el.get_array().value_unsafe()` directly in a
// range-for would bind to a member of a destroyed temporary.
inline simdjson::dom::array ArrayOf(simdjson::dom::element el) {
  simdjson::dom::array a = el.get_array().value_unsafe();
  return a;
}
inline simdjson::dom::object ObjectOf(simdjson::dom::element el) {
  simdjson::dom::object o = el.get_object().value_unsafe();
  return o;
}

}  // namespace omnirelay::internal
