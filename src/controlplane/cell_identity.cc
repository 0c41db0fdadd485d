#include "cell_identity.h"

#include <nlohmann/json.hpp>
#include <string>

namespace omnirelay::cp {

Status ClaimCellKey(Store& store, const SigningKey& key, std::string_view key_file,
                    std::int64_t now_ms) {
  AuditEntry audit;
  audit.time_ms = now_ms;
  audit.principal = "controlplane";
  audit.action = "cell.key.record";
  audit.outcome = "ok";
  audit.summary = "the cell signs with key " + key.key_id();
  const std::string value = nlohmann::json{{"keyId", key.key_id()}}.dump();
  OMNI_ASSIGN_OR_RETURN(SettingRecord recorded,
                        store.PutSettingIfAbsent(kCellKeySettingKey, value, now_ms, audit));
  const nlohmann::json j = nlohmann::json::parse(recorded.value, nullptr, false);
  const std::string cell_key = j.is_object() && j.value("keyId", nlohmann::json()).is_string()
                                   ? j["keyId"].get<std::string>()
                                   : "(unreadable: " + recorded.value.substr(0, 100) + ")";
  if (cell_key == key.key_id()) return Status::Ok();
  return Status(StatusCode::kConflict,
                "this replica signs with key " + key.key_id() + " (" + std::string(key_file) +
                    ") but its store records that the cell signs with key " + cell_key +
                    ": every replica of a cell must sign with the cell's key, or nodes that fail "
                    "over to this one would refuse its snapshots (unknown_key). Provision the "
                    "cell's key: copy signing-key.pem and trusted-keys.json from a running "
                    "replica into this replica's data dir (or pass --signing-key with that key's "
                    "file), then start again");
}

}  // namespace omnirelay::cp
