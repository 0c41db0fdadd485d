#include "bus_codec.h"

#include <openssl/rand.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace omnirelay::cp::bus_codec {

using Json = nlohmann::json;

std::string EventToJson(const ChangeEvent& e) {
  return Json{{"revision", e.revision},
              {"scopes", e.scopes},
              {"hashes", e.hashes},
              {"revokedTokens", e.revoked_tokens}}
      .dump();
}

std::optional<ChangeEvent> EventFromJson(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    ChangeEvent e;
    e.revision = j.value("revision", std::int64_t{0});
    e.scopes = j.value("scopes", std::vector<std::string>{});
    e.hashes = j.value("hashes", std::vector<std::string>{});
    e.revoked_tokens = j.value("revokedTokens", std::vector<std::string>{});
    return e;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::string RandomOrigin() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "replica";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace omnirelay::cp::bus_codec
