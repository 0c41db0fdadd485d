#include "key_sets.h"

#include <utility>

namespace omnirelay::cp {
namespace {

// Refusals of a key set keep their code (rollback, conflict, bad_signature,
// unknown_key, revoked_key, invalid) and say what was offered.
// (A set not newer than the stored one is a conflict with what is stored:
// 409, as a CAS write that lost.)
Status WhyRefused(const Status& why) {
  const StatusCode code = why.code() == StatusCode::kRollback ? StatusCode::kConflict : why.code();
  return Status(code, "key set refused: " + why.message(), why.diagnostics());
}

}  // namespace

std::string KeySetSettingKey(std::int64_t version) {
  return "keyset.v" + std::to_string(version);
}

Result<std::optional<SignedKeySet>> LatestKeySet(Store& store, std::int64_t hint) {
  std::optional<std::string> newest;
  std::int64_t version = hint > 0 ? hint : 1;
  for (;; ++version) {
    Result<SettingRecord> found = store.GetSetting(KeySetSettingKey(version));
    if (found.status().code() == StatusCode::kNotFound) break;
    if (!found.ok()) return found.status();
    newest = std::move(found->value);
  }
  if (!newest) {
    if (hint > 1) return LatestKeySet(store, 0);  // the hint was wrong: walk from the start
    return std::optional<SignedKeySet>();
  }
  // What the store holds was checked when it was stored; parse it again
  // (and check its own signatures) rather than trust the bytes blindly.
  Result<SignedKeySet> set = VerifyKeySetSelf(*newest);
  if (!set.ok()) {
    return Status(StatusCode::kInternal, "the stored key set " + KeySetSettingKey(version - 1) +
                                             " does not verify: " + set.status().message());
  }
  return std::optional<SignedKeySet>(std::move(set).value());
}

Result<std::vector<std::string>> KeySetsAfter(Store& store, std::int64_t after_version) {
  std::vector<std::string> out;
  for (std::int64_t version = std::max<std::int64_t>(after_version, 0) + 1;; ++version) {
    Result<SettingRecord> found = store.GetSetting(KeySetSettingKey(version));
    if (found.status().code() == StatusCode::kNotFound) break;
    if (!found.ok()) return found.status();
    out.push_back(std::move(found->value));
  }
  return out;
}

Result<SignedKeySet> PublishKeySet(Store& store, std::string_view envelope,
                                   std::string_view signing_key_id, std::int64_t now_ms,
                                   AuditEntry audit) {
  OMNI_ASSIGN_OR_RETURN(std::optional<SignedKeySet> current, LatestKeySet(store));
  Result<SignedKeySet> next =
      current ? VerifyNextKeySet(current->set, envelope) : VerifyKeySetSelf(envelope);
  if (!next.ok()) return WhyRefused(next.status());
  if (!current && next->set.version != 1) {
    return Status(StatusCode::kConflict,
                  "key set refused: the cell has no key set yet, so the first one must be "
                  "version 1, got version " +
                      std::to_string(next->set.version));
  }
  const TrustedKey* mine = next->set.online_keys.Find(signing_key_id);
  if (mine == nullptr || mine->revoked) {
    return Status(StatusCode::kConflict,
                  "key set refused: version " + std::to_string(next->set.version) +
                      (mine == nullptr ? " does not list " : " revokes ") + "the key " +
                      std::string(signing_key_id) +
                      " this replica signs snapshots with, so nodes would refuse every snapshot "
                      "it serves. Start the replicas with a key the set lists first "
                      "(controlplane --signing-key), then publish the set that revokes the old "
                      "one");
  }
  audit.outcome = "ok";
  audit.summary = "key set version " + std::to_string(next->set.version) + ": " +
                  std::to_string(next->set.online_keys.keys().size()) + " online key(s), " +
                  std::to_string(next->set.root_keys.keys().size()) + " root key(s), threshold " +
                  std::to_string(next->set.threshold);
  OMNI_ASSIGN_OR_RETURN(
      SettingRecord kept,
      store.PutSettingIfAbsent(KeySetSettingKey(next->set.version), next->envelope, now_ms, audit));
  if (kept.value != next->envelope) {
    return Status(StatusCode::kConflict, "key set refused: another key set version " +
                                             std::to_string(next->set.version) +
                                             " was stored first; fetch it and try again");
  }
  return next;
}

Result<bool> CheckKeyAgainstKeySets(Store& store, const SigningKey& key,
                                    std::string_view key_file) {
  OMNI_ASSIGN_OR_RETURN(std::optional<SignedKeySet> latest, LatestKeySet(store));
  if (!latest) return false;
  const TrustedKey* listed = latest->set.online_keys.Find(key.key_id());
  if (listed != nullptr && !listed->revoked) return true;
  return Status(StatusCode::kConflict,
                "this replica signs with key " + key.key_id() + " (" + std::string(key_file) +
                    "), which the cell's key set version " + std::to_string(latest->set.version) +
                    (listed == nullptr ? " does not list" : " revokes") +
                    ": nodes would refuse its snapshots. Start it with an online key the key "
                    "set lists (omnirctl keys list), or publish a key set that adds this one "
                    "(omnirctl keys rotate --online-key)");
}

}  // namespace omnirelay::cp
