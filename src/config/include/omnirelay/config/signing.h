// Ed25519 signing keys, the trusted key set, and DSSE envelopes: how
// snapshots travel signed (DESIGN.md §3.3).
//
// Envelope (DSSE v1, https://github.com/secure-systems-lab/dsse):
//   {"payloadType":"...","payload":"<base64>","signatures":[{"keyid":"...","sig":"<base64>"}]}
// Each signature is Ed25519 over
//   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
// (LEN: ASCII decimal byte count) where body is the exact decoded payload:
// verifiers never re-serialise.
//
// Thread safety: SigningKey and TrustedKeySet are values; their const methods
// may be called from any number of threads at once. The free functions share
// no state beyond a per-thread parse buffer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/file_system.h"
#include "omnirelay/config/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace omnirelay {

inline constexpr std::string_view kSnapshotPayloadType = "application/vnd.omnirelay.snapshot+json";

inline constexpr std::size_t kEd25519PublicKeyBytes = 32;
inline constexpr std::size_t kEd25519SignatureBytes = 64;

// The id of an Ed25519 public key: "ed25519:" + the first 16 bytes of
// SHA-256(raw 32-byte public key) as 32 lowercase hex characters.
std::string KeyIdFor(std::string_view raw_public_key);

// An Ed25519 private key. Move-only; a moved-from key signs nothing.
class SigningKey {
 public:
  // A fresh key from the system's CSPRNG.
  static Result<SigningKey> Generate();
  // The key whose RFC 8032 private key (seed) is these 32 bytes. For keys
  // derived elsewhere (KMS) and for deterministic test fixtures.
  static Result<SigningKey> FromSeed(std::string_view seed);
  // An unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY") holding an Ed25519 key.
  static Result<SigningKey> FromPem(std::string_view pem);
  static Result<SigningKey> LoadPem(const std::string& path, FileSystem& fs = RealFileSystem());

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey() = default;

  // Writes the key as unencrypted PKCS#8 PEM: to a temporary file created
  // with mode 0600 in the same directory, fsync'd, then renamed over `path`.
  // The file is never readable by others, not even briefly.
  Status SavePem(const std::string& path, FileSystem& fs = RealFileSystem()) const;

  const std::string& key_id() const { return key_id_; }
  // The 32-byte raw public key.
  const std::string& public_key_raw() const { return public_key_; }
  // The 64-byte Ed25519 signature of `message`.
  Result<std::string> Sign(std::string_view message) const;

 private:
  struct PkeyDeleter {
    void operator()(evp_pkey_st* pkey) const;
  };
  using PkeyPtr = std::unique_ptr<evp_pkey_st, PkeyDeleter>;

  static Result<SigningKey> FromPkey(PkeyPtr pkey);
  SigningKey(PkeyPtr pkey, std::string public_key);

  PkeyPtr pkey_;
  std::string public_key_;
  std::string key_id_;
};

struct TrustedKey {
  std::string key_id;      // KeyIdFor(public_key)
  std::string public_key;  // 32 raw bytes
  bool revoked = false;
};

// The public keys a node accepts snapshot signatures from. Its file form,
// trusted-keys.json (written by the control plane, read by nodes):
//
//   {"keys": [{"keyId": "ed25519:<32 hex>", "algorithm": "ed25519",
//              "publicKey": "<base64 of the 32 raw bytes>", "revoked": false}]}
//
// Every field is required except "revoked" (default false); unknown fields,
// an algorithm other than "ed25519", a key that is not 32 bytes, a keyId
// that is not KeyIdFor(publicKey) and a keyId listed twice are rejected with
// kInvalid (one diagnostic pointing at the field). A revoked key stays listed
// so that its signatures are reported as revoked_key, not unknown_key.
class TrustedKeySet;
namespace internal {
struct KeyListAccess;
}

class TrustedKeySet {
 public:
  TrustedKeySet() = default;

  static Result<TrustedKeySet> FromJson(std::string_view json);
  // Reads and parses a trusted-keys.json file (kIoError when unreadable).
  static Result<TrustedKeySet> Load(const std::string& path, FileSystem& fs = RealFileSystem());
  // The canonical file form: keys in insertion order, all fields written.
  std::string ToJson() const;
  // Writes ToJson() atomically (temporary file, fsync, rename; mode 0644).
  Status Save(const std::string& path, FileSystem& fs = RealFileSystem()) const;

  // Trusts a 32-byte Ed25519 public key. kInvalidArgument for a wrong
  // length; kConflict if the key is already listed (revoked or not: a revoked
  // key is never trusted again by adding it).
  Status Add(std::string_view raw_public_key);
  // Marks a listed key revoked (idempotent); kNotFound if it is not listed.
  Status Revoke(std::string_view key_id);
  // The entry for `key_id`, or nullptr. Valid until the set is modified.
  const TrustedKey* Find(std::string_view key_id) const;
  const std::vector<TrustedKey>& keys() const { return keys_; }

 private:
  friend struct internal::KeyListAccess;
  std::vector<TrustedKey> keys_;
};

// Signs `payload` with `key` and returns the envelope JSON text (compact,
// fields in the order payloadType, payload, signatures).
Result<std::string> SignEnvelope(const SigningKey& key, std::string_view payload_type,
                                 std::string_view payload);

// Signs `payload` once with each of `keys` (1 to 16, in order): one envelope
// carrying one signature per key (a key set signed by several root keys).
Result<std::string> SignEnvelopeWithAll(const std::vector<const SigningKey*>& keys,
                                        std::string_view payload_type, std::string_view payload);

// Who signed an envelope, for callers that count signatures against a
// threshold (key sets) instead of accepting any one.
struct SignersReport {
  std::string payload;                // the exact signed bytes
  std::vector<std::string> verified;  // distinct listed, non-revoked keys whose signature verifies
  std::vector<std::string> bad;       // listed keys whose signature does not verify
  std::vector<std::string> revoked;   // signatures by keys the set has revoked (never counted)
  std::vector<std::string> unknown;   // signatures by keys the set does not list
};
// Parses an envelope like VerifyEnvelope (same kTooLarge / kInvalidArgument
// refusals) and reports every signature against `keys` without deciding:
// an envelope no key verifies is still returned, with `verified` empty.
Result<SignersReport> VerifyEnvelopeSigners(std::string_view envelope_json,
                                            const TrustedKeySet& keys,
                                            std::string_view expected_payload_type,
                                            std::size_t max_envelope_bytes = 1 << 20);

struct VerifiedPayload {
  std::string payload;  // the exact signed bytes
  std::string key_id;   // the key whose signature verified
};

// Verifies a DSSE envelope and returns its payload. Refuses with:
//  - kTooLarge: over max_envelope_bytes;
//  - kInvalidArgument: not strict JSON (duplicate keys, bad UTF-8, nesting
//    over 16), missing or unknown fields, wrong JSON types, invalid base64,
//    no signatures or more than 16, or a payloadType other than expected;
//  - otherwise, when no signature from a trusted, non-revoked key verifies
//    over PAE(payloadType, payload), the most specific failure among the
//    signatures: kBadSignature, then kRevokedKey, then kUnknownKey.
// Any one verifying signature accepts the envelope.
Result<VerifiedPayload> VerifyEnvelope(std::string_view envelope_json, const TrustedKeySet& keys,
                                       std::string_view expected_payload_type,
                                       std::size_t max_envelope_bytes = 64 << 20);

}  // namespace omnirelay
