#include "json_strict.h"

#include <algorithm>
#include <string>
#include <vector>

namespace omnirelay::internal {
namespace {

// Objects in config documents are small; a linear scan beats hashing below this size.
constexpr std::size_t kLinearScanLimit = 16;

std::optional<Diagnostic> FindDuplicateKey(simdjson::dom::element el, std::string& path) {
  using simdjson::dom::element_type;
  switch (el.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object obj = ObjectOf(el);
      const std::size_t n = obj.size();
      if (n > 1) {
        std::vector<std::string_view> keys;
        keys.reserve(n);
        for (auto field : obj) keys.push_back(field.key);
        std::optional<std::string_view> dup;
        if (n <= kLinearScanLimit) {
          for (std::size_t i = 1; i < n && !dup; ++i) {
            for (std::size_t j = 0; j < i; ++j) {
              if (keys[i] == keys[j]) {
                dup = keys[i];
                break;
              }
            }
          }
        } else {
          std::sort(keys.begin(), keys.end());
          auto it = std::adjacent_find(keys.begin(), keys.end());
          if (it != keys.end()) dup = *it;
        }
        if (dup) {
          std::string at = JoinPointer(path, *dup);
          return Diagnostic{at, DiagCode::kParseError,
                            "duplicate object key \"" + std::string(*dup) + "\""};
        }
      }
      for (auto field : obj) {
        if (!field.value.is_object() && !field.value.is_array()) continue;
        const std::size_t mark = path.size();
        AppendPointerToken(path, field.key);
        if (auto d = FindDuplicateKey(field.value, path)) return d;
        path.resize(mark);
      }
      return std::nullopt;
    }
    case element_type::ARRAY: {
      std::size_t index = 0;
      for (auto item : ArrayOf(el)) {
        if (item.is_object() || item.is_array()) {
          const std::size_t mark = path.size();
          AppendPointerToken(path, std::to_string(index));
          if (auto d = FindDuplicateKey(item, path)) return d;
          path.resize(mark);
        }
        ++index;
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::string DescribeError(simdjson::error_code code, const JsonLimits& limits) {
  switch (code) {
    case simdjson::DEPTH_ERROR:
      return "nesting deeper than the limit of " + std::to_string(limits.max_depth) + " levels";
    case simdjson::UTF8_ERROR:
      return "invalid UTF-8";
    case simdjson::CAPACITY:
      return "document over the size limit of " + std::to_string(limits.max_bytes) + " bytes";
    case simdjson::EMPTY:
      return "empty document";
    default:
      return std::string("not valid JSON: ") + simdjson::error_message(code);
  }
}

}  // namespace

std::optional<Diagnostic> ParseStrict(std::string_view text, const JsonLimits& limits,
                                      simdjson::dom::parser& parser, simdjson::dom::element* root) {
  if (text.size() > limits.max_bytes) {
    return Diagnostic{"", DiagCode::kParseError,
                      "document of " + std::to_string(text.size()) +
                          " bytes is over the size limit of " + std::to_string(limits.max_bytes)};
  }
  if (parser.max_depth() != limits.max_depth || parser.capacity() < text.size()) {
    std::size_t capacity = std::max<std::size_t>(text.size(), parser.capacity());
    if (auto err = parser.allocate(std::max<std::size_t>(capacity, 64), limits.max_depth)) {
      return Diagnostic{"", DiagCode::kParseError, DescribeError(err, limits)};
    }
  }
  simdjson::dom::element el;
  if (auto err = parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(el)) {
    return Diagnostic{"", DiagCode::kParseError, DescribeError(err, limits)};
  }
  std::string path;
  if (auto dup = FindDuplicateKey(el, path)) return dup;
  *root = el;
  return std::nullopt;
}

std::string_view JsonTypeName(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
      return "integer";
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "value";
}

}  // namespace omnirelay::internal
