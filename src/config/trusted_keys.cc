#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "json_strict.h"
#include "key_list.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/signing.h"
#include "openssl_util.h"

namespace omnirelay {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kAlgorithmEd25519 = "ed25519";
constexpr std::size_t kMaxKeyFileBytes = 1 << 20;
constexpr std::size_t kKeyFileMaxDepth = 8;

constexpr std::string_view kTrustedKeySet = "trusted key set";

Status KeyFileInvalid(std::string path, DiagCode code, std::string message) {
  return internal::KeyDocumentInvalid(kTrustedKeySet, std::move(path), code, std::move(message));
}

Status DecodeKeyEntry(element entry, const std::string& at, std::string_view document,
                      TrustedKey* out) {
  if (entry.type() != element_type::OBJECT) {
    return internal::KeyDocumentInvalid(
        document, at, DiagCode::kTypeMismatch,
        "expected an object, got " + std::string(internal::JsonTypeName(entry.type())));
  }
  std::optional<std::string_view> key_id, algorithm, public_key_b64;
  bool revoked = false;
  for (auto field : internal::ObjectOf(entry)) {
    const std::string field_at = JoinPointer(at, field.key);
    auto want_string = [&](std::optional<std::string_view>* slot) -> Status {
      if (field.value.type() != element_type::STRING) {
        return internal::KeyDocumentInvalid(
            document, field_at, DiagCode::kTypeMismatch,
            "expected a string, got " + std::string(internal::JsonTypeName(field.value.type())));
      }
      *slot = field.value.get_string().value_unsafe();
      return Status::Ok();
    };
    if (field.key == "keyId") {
      OMNI_RETURN_IF_ERROR(want_string(&key_id));
    } else if (field.key == "algorithm") {
      OMNI_RETURN_IF_ERROR(want_string(&algorithm));
    } else if (field.key == "publicKey") {
      OMNI_RETURN_IF_ERROR(want_string(&public_key_b64));
    } else if (field.key == "revoked") {
      if (field.value.type() != element_type::BOOL) {
        return internal::KeyDocumentInvalid(
            document, field_at, DiagCode::kTypeMismatch,
            "expected a boolean, got " + std::string(internal::JsonTypeName(field.value.type())));
      }
      revoked = field.value.get_bool().value_unsafe();
    } else {
      return internal::KeyDocumentInvalid(
          document, field_at, DiagCode::kUnknownField,
          "unknown field \"" + std::string(field.key) + "\" in a trusted key");
    }
  }
  for (auto [name, value] : {std::pair{"keyId", &key_id}, std::pair{"algorithm", &algorithm},
                             std::pair{"publicKey", &public_key_b64}}) {
    if (!value->has_value()) {
      return internal::KeyDocumentInvalid(
          document, JoinPointer(at, name), DiagCode::kMissingField,
          "required field \"" + std::string(name) + "\" is missing");
    }
  }
  if (*algorithm != kAlgorithmEd25519) {
    return internal::KeyDocumentInvalid(
        document, JoinPointer(at, "algorithm"), DiagCode::kOutOfRange,
        "unsupported algorithm \"" + std::string(*algorithm) + "\" (only \"ed25519\")");
  }
  Result<std::string> raw = Base64Decode(*public_key_b64);
  if (!raw.ok()) {
    return internal::KeyDocumentInvalid(document, JoinPointer(at, "publicKey"),
                                        DiagCode::kOutOfRange, std::string(raw.status().message()));
  }
  if (raw->size() != kEd25519PublicKeyBytes) {
    return internal::KeyDocumentInvalid(
        document, JoinPointer(at, "publicKey"), DiagCode::kOutOfRange,
        "an ed25519 public key has 32 bytes, got " + std::to_string(raw->size()));
  }
  std::string derived = KeyIdFor(*raw);
  if (*key_id != derived) {
    return internal::KeyDocumentInvalid(
        document, JoinPointer(at, "keyId"), DiagCode::kInvalidName,
        "keyId \"" + std::string(*key_id) + "\" does not match its public key (" + derived + ")");
  }
  *out = TrustedKey{std::move(derived), std::move(raw).value(), revoked};
  return Status::Ok();
}

}  // namespace

Status internal::KeyDocumentInvalid(std::string_view document, std::string path, DiagCode code,
                                    std::string message) {
  std::string summary = std::string(document) + " is invalid: " + message;
  if (!path.empty()) summary += " (at " + path + ")";
  return Status(StatusCode::kInvalid, std::move(summary),
                {Diagnostic{std::move(path), code, std::move(message)}});
}

Status internal::DecodeTrustedKeyList(simdjson::dom::array list, const std::string& at,
                                      std::string_view document, TrustedKeySet* out) {
  std::size_t i = 0;
  for (element entry : list) {
    const std::string entry_at = at + "/" + std::to_string(i);
    TrustedKey key;
    OMNI_RETURN_IF_ERROR(DecodeKeyEntry(entry, entry_at, document, &key));
    std::vector<TrustedKey>& keys = KeyListAccess::Keys(*out);
    for (std::size_t j = 0; j < keys.size(); ++j) {
      if (keys[j].key_id == key.key_id) {
        return KeyDocumentInvalid(document, entry_at + "/keyId", DiagCode::kInvalidName,
                                  "key " + key.key_id + " is listed twice (also at " + at + "/" +
                                      std::to_string(j) + ")");
      }
    }
    keys.push_back(std::move(key));
    ++i;
  }
  return Status::Ok();
}

Status TrustedKeySet::Add(std::string_view raw_public_key) {
  if (raw_public_key.size() != kEd25519PublicKeyBytes) {
    return Status(StatusCode::kInvalidArgument, "an ed25519 public key has 32 bytes, got " +
                                                    std::to_string(raw_public_key.size()));
  }
  std::string key_id = KeyIdFor(raw_public_key);
  if (const TrustedKey* existing = Find(key_id)) {
    return Status(StatusCode::kConflict,
                  "key " + key_id + " is already listed" + (existing->revoked ? " (revoked)" : ""));
  }
  keys_.push_back(TrustedKey{std::move(key_id), std::string(raw_public_key), false});
  return Status::Ok();
}

Status TrustedKeySet::Revoke(std::string_view key_id) {
  for (TrustedKey& key : keys_) {
    if (key.key_id == key_id) {
      key.revoked = true;
      return Status::Ok();
    }
  }
  return Status(StatusCode::kNotFound, "no trusted key " + std::string(key_id));
}

const TrustedKey* TrustedKeySet::Find(std::string_view key_id) const {
  for (const TrustedKey& key : keys_) {
    if (key.key_id == key_id) return &key;
  }
  return nullptr;
}

Result<TrustedKeySet> TrustedKeySet::FromJson(std::string_view json) {
  simdjson::dom::parser parser;
  element root;
  if (auto diag =
          internal::ParseStrict(json, {kMaxKeyFileBytes, kKeyFileMaxDepth}, parser, &root)) {
    return KeyFileInvalid(diag->path, diag->code, diag->message);
  }
  if (root.type() != element_type::OBJECT) {
    return KeyFileInvalid(
        "", DiagCode::kTypeMismatch,
        "expected an object, got " + std::string(internal::JsonTypeName(root.type())));
  }
  std::optional<simdjson::dom::array> list;
  for (auto field : internal::ObjectOf(root)) {
    if (field.key != "keys") {
      return KeyFileInvalid(JoinPointer("", field.key), DiagCode::kUnknownField,
                            "unknown field \"" + std::string(field.key) + "\"");
    }
    if (field.value.type() != element_type::ARRAY) {
      return KeyFileInvalid(
          "/keys", DiagCode::kTypeMismatch,
          "expected an array, got " + std::string(internal::JsonTypeName(field.value.type())));
    }
    list = internal::ArrayOf(field.value);
  }
  if (!list) {
    return KeyFileInvalid("/keys", DiagCode::kMissingField, "required field \"keys\" is missing");
  }
  TrustedKeySet set;
  OMNI_RETURN_IF_ERROR(internal::DecodeTrustedKeyList(*list, "/keys", kTrustedKeySet, &set));
  return set;
}

Result<TrustedKeySet> TrustedKeySet::Load(const std::string& path, FileSystem& fs) {
  Result<std::string> text = fs.ReadFile(path, kMaxKeyFileBytes);
  if (!text.ok()) return text.status();
  Result<TrustedKeySet> set = FromJson(*text);
  if (!set.ok()) {
    return Status(set.status().code(), path + ": " + set.status().message(),
                  set.status().diagnostics());
  }
  return set;
}

std::string TrustedKeySet::ToJson() const {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const TrustedKey& key : keys_) {
    list.push_back(nlohmann::ordered_json{{"keyId", key.key_id},
                                          {"algorithm", kAlgorithmEd25519},
                                          {"publicKey", Base64Encode(key.public_key)},
                                          {"revoked", key.revoked}});
  }
  nlohmann::ordered_json doc{{"keys", std::move(list)}};
  return doc.dump(2) + "\n";
}

Status TrustedKeySet::Save(const std::string& path, FileSystem& fs) const {
  return WriteFileAtomically(fs, path, ToJson(), 0644);
}

}  // namespace omnirelay
