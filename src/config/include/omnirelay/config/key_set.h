// Key sets: whom nodes trust to sign snapshots, rotated TUF style with
// separated roles (docs/knowledge-base/signing.md, "Key rotation").
//
// Two kinds of keys, never the same key in both roles:
//  - root keys, held offline by operators, sign key-set documents — and
//    nothing else; a key set names them and how many must sign (threshold);
//  - online keys, held by the control plane, sign snapshots only. A leaked
//    online key can sign snapshots until it is revoked, but it cannot sign a
//    key set a node accepts, so it cannot change whom nodes trust.
//
// A key set travels in a DSSE envelope (payload type kKeySetPayloadType),
// signed by root keys. Its payload, canonical JSON:
//
//   {"apiVersion": "omnirelay.keys/v1", "kind": "KeySet", "version": 3,
//    "createdAt": "2026-12-06T18:00:00Z", "threshold": 2,
//    "rootKeys":   [{"keyId", "algorithm": "ed25519", "publicKey"}, ...],
//    "onlineKeys": [{"keyId", "algorithm": "ed25519", "publicKey", "revoked"}, ...]}
//
// Rules (VerifyNextKeySet):
//  1. A node starts from a key set it is given by configuration (any version),
//     which must carry `threshold` verifying signatures of its own root keys.
//  2. It accepts a new set only with exactly the next version (older or
//     equal: kRollback; a skipped version: kConflict — fetch the ones between).
//  3. The new set must carry verifying signatures of at least the trusted
//     set's threshold of the trusted set's root keys (those in charge now),
//     and of its own threshold of its own root keys (those taking over);
//     otherwise kBadSignature (a listed root's signature did not verify),
//     kUnknownKey (not enough signatures from listed roots).
//  4. An online key revoked in the trusted set stays listed and revoked in
//     every later set (kRevokedKey otherwise): revocation is for good.
//  5. Revoked online keys are refused at once: a snapshot signed only by
//     one fails with revoked_key (VerifyEnvelope with `online`).
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/signing.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

inline constexpr std::string_view kKeySetPayloadType = "application/vnd.omnirelay.keyset+json";
inline constexpr std::string_view kKeySetApiVersion = "omnirelay.keys/v1";
// A key set has at most this many keys in each role.
inline constexpr std::size_t kMaxKeySetKeys = 16;

struct KeySet {
  std::int64_t version = 0;   // >= 1
  std::string created_at;     // RFC 3339, informational
  int threshold = 1;          // root signatures needed, 1..root_keys
  TrustedKeySet root_keys;    // sign key sets; none revoked
  TrustedKeySet online_keys;  // sign snapshots; revoked ones stay listed
};

// The canonical payload of `set` (compact JSON, fields in the order above).
std::string KeySetPayload(const KeySet& set);
// Parses and checks a payload: strict JSON, every field required and typed,
// version >= 1, createdAt RFC 3339, 1 <= threshold <= root keys, 1..16 keys
// per role, no revoked root key, no key in both roles. kInvalid with a
// diagnostic (JSON Pointer, code) otherwise.
Result<KeySet> ParseKeySetPayload(std::string_view payload);

// A key set and the envelope it came in (kept byte for byte: it is what is
// persisted and served).
struct SignedKeySet {
  KeySet set;
  std::string envelope;
};

// Signs `set` with each of `root_keys` (operators' offline keys).
Result<std::string> SignKeySet(const KeySet& set, const std::vector<const SigningKey*>& root_keys);

// Rule 1: a set given by configuration, checked against its own roots.
Result<SignedKeySet> VerifyKeySetSelf(std::string_view envelope);
// Rules 2-4: `envelope` as the successor of `trusted`.
Result<SignedKeySet> VerifyNextKeySet(const KeySet& trusted, std::string_view envelope);
// Walks `envelopes` (versions trusted+1, trusted+2, ... in order) from
// `trusted`; returns the newest accepted set, or the first refusal (its
// message names the version). An empty list returns `trusted`.
Result<SignedKeySet> VerifyKeySetChain(const SignedKeySet& trusted,
                                       const std::vector<std::string>& envelopes);

// Whether `text` (a trusted keys file's contents) is a key-set envelope
// rather than a plain trusted-keys.json: it names kKeySetPayloadType.
bool LooksLikeKeySetEnvelope(std::string_view text);

}  // namespace omnirelay
