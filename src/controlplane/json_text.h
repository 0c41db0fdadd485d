// Writing large JSON documents as text, byte for byte as nlohmann's compact
// dump() writes them, without building a json value per element first: for
// the rollout records, whose bulk is one entry per member node (thousands),
// rewritten on every change. Small parts still go through nlohmann.
//
// Thread safety: pure functions.
#pragma once

#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace omnirelay::cp::json_text {

// `text` as a JSON string: printable ASCII without quotes or backslashes is
// copied; anything else is escaped by nlohmann (which also checks UTF-8).
inline void AppendString(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
      out += nlohmann::json(std::string(text)).dump();
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

template <typename Int>
void AppendInt(std::string& out, Int value) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, end);
}

// `"key":` after a ',' unless it opens the object.
inline void AppendKey(std::string& out, std::string_view key) {
  if (out.back() != '{') out += ',';
  AppendString(out, key);
  out += ':';
}

// An array of strings.
template <typename Strings>
void AppendStrings(std::string& out, const Strings& items) {
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    AppendString(out, item);
  }
  out += ']';
}

}  // namespace omnirelay::cp::json_text
