#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "json_strict.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/files.h"
#include "omnirelay/config/signing.h"
#include "openssl_util.h"

namespace omnirelay {
namespace {

using internal::CryptoError;
using internal::MdCtxPtr;
using internal::TakeOpensslError;
using internal::VerifyEd25519;
using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::size_t kEnvelopeMaxDepth = 16;
// Bounds the work one envelope can ask for: each signature of a trusted key
// costs a hash of the whole payload.
constexpr std::size_t kMaxSignatures = 16;
// Envelopes up to this size are parsed with a per-thread parser whose buffers
// are kept between calls (repeat verifications then touch no new pages);
// larger ones get a parser of their own, so no thread keeps a huge buffer.
constexpr std::size_t kReusableParserBytes = 4 << 20;

// DSSE pre-authentication encoding: "DSSEv1 <len(type)> <type> <len(body)> <body>".
std::string PaeHeader(std::string_view payload_type, std::size_t payload_size) {
  std::string header = "DSSEv1 ";
  header += std::to_string(payload_type.size());
  header += ' ';
  header += payload_type;
  header += ' ';
  header += std::to_string(payload_size);
  header += ' ';
  return header;
}

Status Malformed(std::string message) {
  return Status(StatusCode::kInvalidArgument, "malformed envelope: " + std::move(message));
}

struct EnvelopeSignature {
  std::string_view key_id;
  std::string_view sig_b64;
};

struct EnvelopeFields {
  std::string_view payload_type;
  std::string_view payload_b64;
  std::vector<EnvelopeSignature> signatures;
};

Status WantString(element value, std::string_view name, std::string_view* out) {
  if (value.type() != element_type::STRING) {
    return Malformed("\"" + std::string(name) + "\" must be a string, got " +
                     std::string(internal::JsonTypeName(value.type())));
  }
  *out = value.get_string().value_unsafe();
  return Status::Ok();
}

Status DecodeSignatureEntry(element entry, std::size_t index, EnvelopeSignature* out) {
  const std::string where = "signatures[" + std::to_string(index) + "]";
  if (entry.type() != element_type::OBJECT) {
    return Malformed(where + " must be an object, got " +
                     std::string(internal::JsonTypeName(entry.type())));
  }
  bool have_key_id = false, have_sig = false;
  for (auto field : internal::ObjectOf(entry)) {
    if (field.key == "keyid") {
      OMNI_RETURN_IF_ERROR(WantString(field.value, where + ".keyid", &out->key_id));
      have_key_id = true;
    } else if (field.key == "sig") {
      OMNI_RETURN_IF_ERROR(WantString(field.value, where + ".sig", &out->sig_b64));
      have_sig = true;
    } else {
      return Malformed("unknown field \"" + std::string(field.key) + "\" in " + where);
    }
  }
  if (!have_key_id) return Malformed(where + " lacks \"keyid\"");
  if (!have_sig) return Malformed(where + " lacks \"sig\"");
  return Status::Ok();
}

Status DecodeEnvelopeFields(element root, EnvelopeFields* out) {
  if (root.type() != element_type::OBJECT) {
    return Malformed("expected an object, got " + std::string(internal::JsonTypeName(root.type())));
  }
  bool have_type = false, have_payload = false, have_signatures = false;
  for (auto field : internal::ObjectOf(root)) {
    if (field.key == "payloadType") {
      OMNI_RETURN_IF_ERROR(WantString(field.value, "payloadType", &out->payload_type));
      have_type = true;
    } else if (field.key == "payload") {
      OMNI_RETURN_IF_ERROR(WantString(field.value, "payload", &out->payload_b64));
      have_payload = true;
    } else if (field.key == "signatures") {
      if (field.value.type() != element_type::ARRAY) {
        return Malformed("\"signatures\" must be an array, got " +
                         std::string(internal::JsonTypeName(field.value.type())));
      }
      simdjson::dom::array list = internal::ArrayOf(field.value);
      if (list.size() == 0) return Malformed("\"signatures\" is empty");
      if (list.size() > kMaxSignatures) {
        return Malformed("more than " + std::to_string(kMaxSignatures) + " signatures");
      }
      out->signatures.resize(list.size());
      std::size_t i = 0;
      for (element entry : list) {
        OMNI_RETURN_IF_ERROR(DecodeSignatureEntry(entry, i, &out->signatures[i]));
        ++i;
      }
      have_signatures = true;
    } else {
      return Malformed("unknown field \"" + std::string(field.key) + "\"");
    }
  }
  if (!have_type) return Malformed("missing \"payloadType\"");
  if (!have_payload) return Malformed("missing \"payload\"");
  if (!have_signatures) return Malformed("missing \"signatures\"");
  return Status::Ok();
}

}  // namespace

Result<std::string> SignEnvelope(const SigningKey& key, std::string_view payload_type,
                                 std::string_view payload) {
  return SignEnvelopeWithAll({&key}, payload_type, payload);
}

Result<std::string> SignEnvelopeWithAll(const std::vector<const SigningKey*>& keys,
                                        std::string_view payload_type, std::string_view payload) {
  if (keys.empty() || keys.size() > kMaxSignatures) {
    return Status(StatusCode::kInvalidArgument,
                  "an envelope carries 1 to " + std::to_string(kMaxSignatures) +
                      " signatures, asked for " + std::to_string(keys.size()));
  }
  // Escaping goes through nlohmann; it throws on invalid UTF-8, which must
  // not cross this API. The base64 texts need no escaping.
  std::string type_json;
  std::vector<std::string> key_id_json(keys.size());
  try {
    type_json = nlohmann::json(payload_type).dump();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      key_id_json[i] = nlohmann::json(keys[i]->key_id()).dump();
    }
  } catch (const nlohmann::json::exception&) {
    return Status(StatusCode::kInvalidArgument, "payload type is not valid UTF-8");
  }
  std::string pae = PaeHeader(payload_type, payload.size());
  pae.reserve(pae.size() + payload.size());
  pae += payload;
  std::vector<std::string> sig_b64(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Result<std::string> sig = keys[i]->Sign(pae);
    if (!sig.ok()) return sig.status();
    sig_b64[i] = Base64Encode(*sig);
  }
  pae.clear();
  pae.shrink_to_fit();

  const std::string payload_b64 = Base64Encode(payload);
  std::string out;
  out.reserve(payload_b64.size() + type_json.size() + keys.size() * 160 + 64);
  out += "{\"payloadType\":";
  out += type_json;
  out += ",\"payload\":\"";
  out += payload_b64;
  out += "\",\"signatures\":[";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"keyid\":";
    out += key_id_json[i];
    out += ",\"sig\":\"";
    out += sig_b64[i];
    out += "\"}";
  }
  out += "]}";
  return out;
}

namespace {

// An envelope parsed, its payload type checked and PAE(type, payload) built:
// what both verifiers start from. `env`'s views point into the parser.
struct PreparedEnvelope {
  EnvelopeFields env;
  std::string pae;  // header + payload, the signed bytes
  std::size_t header_size = 0;
  std::vector<std::string> sigs;  // decoded, one per env.signatures entry
};

Status PrepareEnvelope(std::string_view envelope_json, std::string_view expected_payload_type,
                       std::size_t max_envelope_bytes, simdjson::dom::parser& parser,
                       PreparedEnvelope* out) {
  if (envelope_json.size() > max_envelope_bytes) {
    return Status(StatusCode::kTooLarge, "envelope of " + std::to_string(envelope_json.size()) +
                                             " bytes is over the limit of " +
                                             std::to_string(max_envelope_bytes));
  }
  element root;
  if (auto diag = internal::ParseStrict(envelope_json, {max_envelope_bytes, kEnvelopeMaxDepth},
                                        parser, &root)) {
    return Malformed(diag->path.empty() ? diag->message : diag->message + " at " + diag->path);
  }
  EnvelopeFields& env = out->env;
  OMNI_RETURN_IF_ERROR(DecodeEnvelopeFields(root, &env));
  if (env.payload_type != expected_payload_type) {
    return Status(StatusCode::kInvalidArgument, "payload type \"" + std::string(env.payload_type) +
                                                    "\" is not the expected \"" +
                                                    std::string(expected_payload_type) + "\"");
  }
  // PAE(type, payload) in one buffer, the payload decoded in place after the
  // header: the signed bytes are exactly the bytes returned.
  const std::size_t payload_size = Base64DecodedSize(env.payload_b64);
  out->pae = PaeHeader(env.payload_type, payload_size);
  out->header_size = out->pae.size();
  out->pae.reserve(out->header_size + payload_size);
  if (Status s = Base64DecodeAppend(env.payload_b64, out->pae); !s.ok()) {
    return Malformed("payload: " + s.message());
  }
  out->sigs.resize(env.signatures.size());
  for (std::size_t i = 0; i < out->sigs.size(); ++i) {
    Result<std::string> sig = Base64Decode(env.signatures[i].sig_b64);
    if (!sig.ok()) {
      return Malformed("signatures[" + std::to_string(i) + "].sig: " + sig.status().message());
    }
    out->sigs[i] = std::move(sig).value();
  }
  return Status::Ok();
}

}  // namespace

Result<SignersReport> VerifyEnvelopeSigners(std::string_view envelope_json,
                                            const TrustedKeySet& keys,
                                            std::string_view expected_payload_type,
                                            std::size_t max_envelope_bytes) {
  simdjson::dom::parser parser;
  PreparedEnvelope p;
  OMNI_RETURN_IF_ERROR(
      PrepareEnvelope(envelope_json, expected_payload_type, max_envelope_bytes, parser, &p));
  SignersReport report;
  for (std::size_t i = 0; i < p.sigs.size(); ++i) {
    const std::string_view key_id = p.env.signatures[i].key_id;
    const TrustedKey* key = keys.Find(key_id);
    if (key == nullptr) {
      report.unknown.emplace_back(key_id);
    } else if (key->revoked) {
      report.revoked.push_back(key->key_id);
    } else if (!VerifyEd25519(key->public_key, p.sigs[i], p.pae)) {
      report.bad.push_back(key->key_id);
    } else if (std::find(report.verified.begin(), report.verified.end(), key->key_id) ==
               report.verified.end()) {
      report.verified.push_back(key->key_id);  // a key signing twice counts once
    }
  }
  p.pae.erase(0, p.header_size);
  report.payload = std::move(p.pae);
  return report;
}

Result<VerifiedPayload> VerifyEnvelope(std::string_view envelope_json, const TrustedKeySet& keys,
                                       std::string_view expected_payload_type,
                                       std::size_t max_envelope_bytes) {
  thread_local simdjson::dom::parser thread_parser;
  std::optional<simdjson::dom::parser> own_parser;
  simdjson::dom::parser* parser = &thread_parser;
  if (envelope_json.size() > kReusableParserBytes) parser = &own_parser.emplace();
  PreparedEnvelope p;
  OMNI_RETURN_IF_ERROR(
      PrepareEnvelope(envelope_json, expected_payload_type, max_envelope_bytes, *parser, &p));
  EnvelopeFields& env = p.env;
  std::vector<std::string>& sigs = p.sigs;
  std::string& pae = p.pae;
  const std::size_t header_size = p.header_size;

  // The most specific failure wins: bad_signature, then revoked_key, then unknown_key.
  std::optional<Status> failure;
  auto note = [&failure](StatusCode code, std::string message) {
    auto rank = [](StatusCode c) {
      return c == StatusCode::kBadSignature ? 3 : c == StatusCode::kRevokedKey ? 2 : 1;
    };
    if (!failure || rank(code) > rank(failure->code())) failure = Status(code, std::move(message));
  };
  for (std::size_t i = 0; i < sigs.size(); ++i) {
    const std::string_view key_id = env.signatures[i].key_id;
    const TrustedKey* key = keys.Find(key_id);
    if (key == nullptr) {
      note(StatusCode::kUnknownKey,
           "signed by key \"" + std::string(key_id) + "\", which is not in the trusted key set");
    } else if (key->revoked) {
      note(StatusCode::kRevokedKey, "signed by key " + key->key_id + ", which is revoked");
    } else if (!VerifyEd25519(key->public_key, sigs[i], pae)) {
      note(StatusCode::kBadSignature,
           "the signature of key " + key->key_id + " does not verify over the payload");
    } else {
      // In place: no second buffer, no new pages.
      pae.erase(0, header_size);
      return VerifiedPayload{std::move(pae), key->key_id};
    }
  }
  return *failure;
}

}  // namespace omnirelay
