#include "json_convert.h"

#include <string>

namespace omnirelay::internal {

// Recursion is bounded: ParseStrict has already enforced the nesting limit.
nlohmann::json ToNlohmann(simdjson::dom::element el) {
  using simdjson::dom::element_type;
  switch (el.type()) {
    case element_type::OBJECT: {
      nlohmann::json out = nlohmann::json::object();
      for (auto field : ObjectOf(el)) {
        out.emplace(std::string(field.key), ToNlohmann(field.value));
      }
      return out;
    }
    case element_type::ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      for (auto item : ArrayOf(el)) out.push_back(ToNlohmann(item));
      return out;
    }
    case element_type::STRING:
      return std::string(el.get_string().value_unsafe());
    case element_type::INT64:
      return el.get_int64().value_unsafe();
    case element_type::UINT64:
      return el.get_uint64().value_unsafe();
    case element_type::DOUBLE:
      return el.get_double().value_unsafe();
    case element_type::BOOL:
      return el.get_bool().value_unsafe();
    case element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

}  // namespace omnirelay::internal
