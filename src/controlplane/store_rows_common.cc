#include "store_rows_common.h"

#include <nlohmann/json.hpp>

namespace omnirelay::cp::store_rows {

Result<std::string> EncodeStrings(const std::vector<std::string>& values, std::string_view what) {
  try {
    return nlohmann::json(values).dump();
  } catch (const nlohmann::json::exception&) {
    return Status(StatusCode::kInvalidArgument, std::string(what) + " must be valid UTF-8");
  }
}

Result<std::vector<std::string>> DecodeStrings(const std::string& text, std::string_view what,
                                               std::string_view adapter) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> values;
  if (json.is_array()) {
    for (const nlohmann::json& item : json) {
      if (!item.is_string()) break;
      values.push_back(item.get<std::string>());
    }
    if (values.size() == json.size()) return values;
  }
  return Status(StatusCode::kInternal, std::string(adapter) + ": " + std::string(what) +
                                           " is not a JSON array of strings");
}

}  // namespace omnirelay::cp::store_rows
