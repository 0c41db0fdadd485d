// ControlPlaneService: the trusted keys and the key-set chain (key_sets.h).
#include "audit_log.h"
#include "key_sets.h"
#include "omnirelay/controlplane/service.h"
#include "service_read.h"

namespace omnirelay::cp {

Result<std::string> ControlPlaneService::TrustedKeys(const Principal& who) {
  Status allowed = who.Has(kScopeNode) ? Status::Ok() : Require(who, kScopeConfigRead);
  AuditRead(who, "keys.get", "", 0, allowed);
  if (!allowed.ok()) return allowed;
  OMNI_ASSIGN_OR_RETURN(std::optional<SignedKeySet> latest, LatestKeySet(store_));
  return latest ? latest->set.online_keys.ToJson() : trusted_keys_.ToJson();
}

Result<KeySetChain> ControlPlaneService::KeySets(const Principal& who, std::int64_t after_version) {
  Status allowed = who.Has(kScopeNode) ? Status::Ok() : Require(who, kScopeConfigRead);
  if (allowed.ok() && after_version < 0) {
    allowed = Status(StatusCode::kInvalidArgument,
                     "after must be >= 0, got " + std::to_string(after_version));
  }
  if (!allowed.ok()) {
    AuditRead(who, "keysets.get", "", 0, allowed);
    return allowed;
  }
  Result<std::vector<std::string>> after = KeySetsAfter(store_, after_version);
  AuditRead(who, "keysets.get", "", 0, after.status());
  if (!after.ok()) return after.status();
  KeySetChain chain;
  std::int64_t version = after_version;
  for (std::string& envelope : *after) chain.key_sets.emplace_back(++version, std::move(envelope));
  chain.latest_version = version;
  if (chain.key_sets.empty() && after_version > 0) {
    // Asked from a version the cell has not reached, or exactly its newest.
    OMNI_ASSIGN_OR_RETURN(std::optional<SignedKeySet> latest, LatestKeySet(store_, after_version));
    chain.latest_version = latest ? latest->set.version : 0;
  }
  return chain;
}

Result<std::int64_t> ControlPlaneService::PublishKeySet(const Principal& who,
                                                        std::string_view envelope) {
  AuditEntry audit = Entry(who, "keyset.publish", "");
  auto refuse = [&](Status why) { return Refuse(audit, std::move(why)); };
  if (Status denied = Require(who, kScopeAdmin); !denied.ok()) return refuse(denied);
  Result<SignedKeySet> stored =
      cp::PublishKeySet(store_, envelope, options_.signing_key_id, clock_.NowUnixMs(), audit);
  if (!stored.ok()) return refuse(stored.status());
  return stored->set.version;
}

}  // namespace omnirelay::cp
