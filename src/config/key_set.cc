#include "omnirelay/config/key_set.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "json_strict.h"
#include "key_list.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::size_t kMaxKeySetBytes = 256 << 10;
constexpr std::size_t kKeySetMaxDepth = 8;

constexpr std::string_view kKeySet = "key set";

Status KeySetInvalid(std::string path, DiagCode code, std::string message) {
  return internal::KeyDocumentInvalid(kKeySet, std::move(path), code, std::move(message));
}

Status WrongType(const std::string& at, std::string_view want, element value) {
  return KeySetInvalid(at, DiagCode::kTypeMismatch,
                       "expected " + std::string(want) + ", got " +
                           std::string(internal::JsonTypeName(value.type())));
}

nlohmann::ordered_json KeyList(const TrustedKeySet& keys, bool with_revoked) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const TrustedKey& key : keys.keys()) {
    nlohmann::ordered_json entry{{"keyId", key.key_id},
                                 {"algorithm", "ed25519"},
                                 {"publicKey", Base64Encode(key.public_key)}};
    if (with_revoked) entry["revoked"] = key.revoked;
    list.push_back(std::move(entry));
  }
  return list;
}

Status DecodeKeys(element value, const std::string& at, TrustedKeySet* out) {
  if (value.type() != element_type::ARRAY) return WrongType(at, "an array", value);
  simdjson::dom::array list = internal::ArrayOf(value);
  if (list.size() == 0 || list.size() > kMaxKeySetKeys) {
    return KeySetInvalid(at, DiagCode::kOutOfRange,
                         "expected 1 to " + std::to_string(kMaxKeySetKeys) + " keys, got " +
                             std::to_string(list.size()));
  }
  return internal::DecodeTrustedKeyList(list, at, kKeySet, out);
}

// How many of `keys` signed validly, with what went wrong for the message.
struct RoleCheck {
  std::size_t verified = 0;
  std::string detail;  // "; <key> did not verify" etc.
  bool any_bad = false;
};

RoleCheck CountRole(const SignersReport& signers, const TrustedKeySet& role) {
  RoleCheck check;
  for (const std::string& id : signers.verified) {
    if (role.Find(id) != nullptr) ++check.verified;
  }
  for (const std::string& id : signers.bad) {
    if (role.Find(id) != nullptr) {
      check.any_bad = true;
      check.detail += "; the signature of " + id + " does not verify";
    }
  }
  return check;
}

// Rule 3 for one role: `signers` (verified against the union of roles)
// must include `threshold` keys of `role`.
Status CheckThreshold(std::string_view what, const SignersReport& signers,
                      const TrustedKeySet& role, int threshold) {
  const RoleCheck check = CountRole(signers, role);
  if (check.verified >= static_cast<std::size_t>(threshold)) return Status::Ok();
  std::string message = "signed by " + std::to_string(check.verified) + " of the " +
                        std::to_string(role.keys().size()) + " root keys of " + std::string(what) +
                        ", " + std::to_string(threshold) + " needed" + check.detail;
  return Status(check.any_bad ? StatusCode::kBadSignature : StatusCode::kUnknownKey,
                std::move(message));
}

// The roots of both sets in one key set, so one pass reports every signer.
TrustedKeySet UnionOfRoots(const TrustedKeySet& a, const TrustedKeySet& b) {
  TrustedKeySet all = a;
  for (const TrustedKey& key : b.keys()) {
    if (all.Find(key.key_id) == nullptr) (void)all.Add(key.public_key);
  }
  return all;
}

Result<std::pair<KeySet, SignersReport>> OpenEnvelope(std::string_view envelope,
                                                      const TrustedKeySet& signers_of_interest) {
  Result<SignersReport> signers =
      VerifyEnvelopeSigners(envelope, signers_of_interest, kKeySetPayloadType, kMaxKeySetBytes);
  if (!signers.ok()) return signers.status();
  Result<KeySet> set = ParseKeySetPayload(signers->payload);
  if (!set.ok()) return set.status();
  return std::pair{std::move(set).value(), std::move(signers).value()};
}

}  // namespace

std::string KeySetPayload(const KeySet& set) {
  nlohmann::ordered_json doc{{"apiVersion", kKeySetApiVersion},
                             {"kind", "KeySet"},
                             {"version", set.version},
                             {"createdAt", set.created_at},
                             {"threshold", set.threshold},
                             {"rootKeys", KeyList(set.root_keys, false)},
                             {"onlineKeys", KeyList(set.online_keys, true)}};
  return doc.dump();
}

Result<KeySet> ParseKeySetPayload(std::string_view payload) {
  simdjson::dom::parser parser;
  element root;
  if (auto diag =
          internal::ParseStrict(payload, {kMaxKeySetBytes, kKeySetMaxDepth}, parser, &root)) {
    return KeySetInvalid(diag->path, diag->code, diag->message);
  }
  if (root.type() != element_type::OBJECT) return WrongType("", "an object", root);
  KeySet set;
  std::optional<element> api_version, kind, version, created_at, threshold, roots, online;
  for (auto field : internal::ObjectOf(root)) {
    std::optional<element>* slot = field.key == "apiVersion"   ? &api_version
                                   : field.key == "kind"       ? &kind
                                   : field.key == "version"    ? &version
                                   : field.key == "createdAt"  ? &created_at
                                   : field.key == "threshold"  ? &threshold
                                   : field.key == "rootKeys"   ? &roots
                                   : field.key == "onlineKeys" ? &online
                                                               : nullptr;
    if (slot == nullptr) {
      return KeySetInvalid(JoinPointer("", field.key), DiagCode::kUnknownField,
                           "unknown field \"" + std::string(field.key) + "\"");
    }
    *slot = field.value;
  }
  for (auto [name, slot] : {std::pair{"apiVersion", &api_version}, std::pair{"kind", &kind},
                            std::pair{"version", &version}, std::pair{"createdAt", &created_at},
                            std::pair{"threshold", &threshold}, std::pair{"rootKeys", &roots},
                            std::pair{"onlineKeys", &online}}) {
    if (!slot->has_value()) {
      return KeySetInvalid(JoinPointer("", name), DiagCode::kMissingField,
                           "required field \"" + std::string(name) + "\" is missing");
    }
  }
  if (api_version->type() != element_type::STRING ||
      api_version->get_string().value_unsafe() != kKeySetApiVersion) {
    return KeySetInvalid("/apiVersion", DiagCode::kOutOfRange,
                         "expected \"" + std::string(kKeySetApiVersion) + "\"");
  }
  if (kind->type() != element_type::STRING || kind->get_string().value_unsafe() != "KeySet") {
    return KeySetInvalid("/kind", DiagCode::kOutOfRange, "expected \"KeySet\"");
  }
  if (version->type() != element_type::INT64) return WrongType("/version", "an integer", *version);
  set.version = version->get_int64().value_unsafe();
  if (set.version < 1) {
    return KeySetInvalid("/version", DiagCode::kOutOfRange,
                         "version must be >= 1, got " + std::to_string(set.version));
  }
  if (created_at->type() != element_type::STRING) {
    return WrongType("/createdAt", "a string", *created_at);
  }
  set.created_at = std::string(created_at->get_string().value_unsafe());
  if (!ParseRfc3339(set.created_at).ok()) {
    return KeySetInvalid("/createdAt", DiagCode::kOutOfRange,
                         "\"" + set.created_at + "\" is not an RFC 3339 time");
  }
  OMNI_RETURN_IF_ERROR(DecodeKeys(*roots, "/rootKeys", &set.root_keys));
  OMNI_RETURN_IF_ERROR(DecodeKeys(*online, "/onlineKeys", &set.online_keys));
  if (threshold->type() != element_type::INT64) {
    return WrongType("/threshold", "an integer", *threshold);
  }
  const std::int64_t t = threshold->get_int64().value_unsafe();
  const auto roots_count = static_cast<std::int64_t>(set.root_keys.keys().size());
  if (t < 1 || t > roots_count) {
    return KeySetInvalid("/threshold", DiagCode::kOutOfRange,
                         "threshold must be 1.." + std::to_string(roots_count) +
                             " (the number of root keys), got " + std::to_string(t));
  }
  set.threshold = static_cast<int>(t);
  for (std::size_t i = 0; i < set.root_keys.keys().size(); ++i) {
    const TrustedKey& key = set.root_keys.keys()[i];
    const std::string at = "/rootKeys/" + std::to_string(i);
    if (key.revoked) {
      return KeySetInvalid(at + "/revoked", DiagCode::kOutOfRange,
                           "a root key is retired by leaving it out, not by revoking it");
    }
    if (set.online_keys.Find(key.key_id) != nullptr) {
      return KeySetInvalid(
          at + "/keyId", DiagCode::kInvalidName,
          "key " + key.key_id + " is both a root and an online key; the roles need separate keys");
    }
  }
  return set;
}

Result<std::string> SignKeySet(const KeySet& set, const std::vector<const SigningKey*>& root_keys) {
  return SignEnvelopeWithAll(root_keys, kKeySetPayloadType, KeySetPayload(set));
}

Result<SignedKeySet> VerifyKeySetSelf(std::string_view envelope) {
  // The roots are only known once the payload is read: parse, then verify
  // against the roots it names.
  Result<std::pair<KeySet, SignersReport>> opened = OpenEnvelope(envelope, TrustedKeySet());
  if (!opened.ok()) return opened.status();
  const KeySet& set = opened->first;
  Result<SignersReport> signers =
      VerifyEnvelopeSigners(envelope, set.root_keys, kKeySetPayloadType, kMaxKeySetBytes);
  if (!signers.ok()) return signers.status();
  Status enough = CheckThreshold("version " + std::to_string(set.version) + " itself", *signers,
                                 set.root_keys, set.threshold);
  if (!enough.ok()) {
    return Status(enough.code(),
                  "key set version " + std::to_string(set.version) + ": " + enough.message());
  }
  return SignedKeySet{std::move(opened->first), std::string(envelope)};
}

Result<SignedKeySet> VerifyNextKeySet(const KeySet& trusted, std::string_view envelope) {
  Result<std::pair<KeySet, SignersReport>> opened = OpenEnvelope(envelope, TrustedKeySet());
  if (!opened.ok()) return opened.status();
  KeySet& next = opened->first;
  const std::string name = "key set version " + std::to_string(next.version);
  if (next.version <= trusted.version) {
    return Status(StatusCode::kRollback, name + " is not newer than the trusted version " +
                                             std::to_string(trusted.version));
  }
  if (next.version != trusted.version + 1) {
    return Status(StatusCode::kConflict,
                  name + " does not follow the trusted version " + std::to_string(trusted.version) +
                      " (versions " + std::to_string(trusted.version + 1) + ".." +
                      std::to_string(next.version - 1) + " are needed first)");
  }
  Result<SignersReport> signers =
      VerifyEnvelopeSigners(envelope, UnionOfRoots(trusted.root_keys, next.root_keys),
                            kKeySetPayloadType, kMaxKeySetBytes);
  if (!signers.ok()) return signers.status();
  Status enough = CheckThreshold("the trusted version " + std::to_string(trusted.version), *signers,
                                 trusted.root_keys, trusted.threshold);
  if (enough.ok()) {
    enough = CheckThreshold("version " + std::to_string(next.version) + " itself", *signers,
                            next.root_keys, next.threshold);
  }
  if (!enough.ok()) return Status(enough.code(), name + ": " + enough.message());
  for (const TrustedKey& old : trusted.online_keys.keys()) {
    if (!old.revoked) continue;
    const TrustedKey* now = next.online_keys.Find(old.key_id);
    if (now == nullptr || !now->revoked) {
      return Status(StatusCode::kRevokedKey,
                    name + " " + (now == nullptr ? "drops" : "un-revokes") + " the revoked key " +
                        old.key_id + "; a revoked key stays listed as revoked");
    }
  }
  return SignedKeySet{std::move(next), std::string(envelope)};
}

Result<SignedKeySet> VerifyKeySetChain(const SignedKeySet& trusted,
                                       const std::vector<std::string>& envelopes) {
  SignedKeySet at = trusted;
  for (const std::string& envelope : envelopes) {
    Result<SignedKeySet> next = VerifyNextKeySet(at.set, envelope);
    if (!next.ok()) return next.status();
    at = std::move(next).value();
  }
  return at;
}

bool LooksLikeKeySetEnvelope(std::string_view text) {
  return text.find("\"payloadType\"") != std::string_view::npos &&
         text.find(kKeySetPayloadType) != std::string_view::npos;
}

}  // namespace omnirelay
