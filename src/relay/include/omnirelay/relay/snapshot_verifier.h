// SnapshotVerifier: everything a node checks before it uses a snapshot
// (DESIGN.md §3.3), in this order, the first failure being the refusal:
//
//   1. signature and key id against the trusted key set (VerifyEnvelope):
//      bad_signature, unknown_key, revoked_key; invalid_argument / too_large
//      for an envelope that is not one;
//   2. hash: ContentId(payload) equals the announced hash, when one is given:
//      hash_mismatch. The content id of the applied snapshot means "already
//      applied": an OK no-op (the payload is not even decoded);
//   3. decoding (schema): invalid; but a snapshot this build cannot read
//      because of its apiVersion or a required feature it does not know is
//      missing_feature, as in step 6. A field a node feature defines
//      (metadata.rollout: rolloutInfo) is read only when
//      `capabilities.features` has the feature, else refused as unknown_field
//      (invalid), as a build older than the field refuses it;
//   3b. scope chain: when the node configured its own chain
//      (VerifierOptions::scope_chain), the snapshot's metadata.scopeChain
//      must equal it: scope_mismatch (a snapshot rendered for another node);
//   4. version, never lower than the applied one nor than `version_floor`
//      (the highest version this node ever applied, persisted across
//      restarts): rollback. The applied version with other content is
//      accepted only as a re-signing — identical spec, scope chain and
//      required features, strictly later expiresAt (the control plane
//      re-renders and re-signs a snapshot as it nears expiry), or the same
//      createdAt and expiresAt with another metadata.rollout (the same
//      signing named by another rollout wave, or by none) — and refused as
//      rollback otherwise;
//   5. expiry against the injected clock, with a skew tolerance (default
//      60 s): refused as expired when now > expiresAt + skew — unless its
//      content id is `in_force_hash`, the snapshot that was in force when the
//      node stopped (a keep-serving restart, config_host.h rule 6);
//   6. apiVersion and required features vs the node's capabilities:
//      missing_feature;
//   7. graph validation (ValidateSpec; with step 3 this is
//      DecodeAndValidateSnapshot): invalid, with diagnostics.
//
// Thread safety: Verify is const and reentrant; set_trusted_keys must not run
// concurrently with Verify (ConfigHost serialises both under its apply lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/capability.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/config/status.h"

namespace omnirelay::relay {

class AppliedSnapshot;

inline constexpr std::int64_t kDefaultExpirySkewMs = 60'000;

struct VerifierOptions {
  // What the node supports: checked against each snapshot's apiVersion and
  // requiredFeatures (step 6), and the node features it reads fields of
  // (step 3; unless decode.reader_features says otherwise).
  NodeCapabilities capabilities = LocalCapabilities();
  // How far past expiresAt a snapshot is still accepted: bounds the damage of
  // a node clock running ahead of the control plane's.
  std::int64_t expiry_skew_ms = kDefaultExpirySkewMs;
  // Envelope size limit; the payload limit is decode.max_bytes.
  std::size_t max_envelope_bytes = 16u << 20;
  DecodeOptions decode;
  // The node's own scope chain, e.g. {"global", "region:us-east"}; when not
  // empty, a snapshot rendered for another chain is refused (scope_mismatch).
  std::vector<std::string> scope_chain;
};

enum class Verdict {
  kNew,             // a higher version: apply it
  kAlreadyApplied,  // the applied content itself: nothing to do
  kResigned,        // the applied version re-signed with a later expiry: swap, keep listener state
};

struct VerifiedSnapshot {
  Verdict verdict = Verdict::kNew;
  Snapshot snapshot;    // decoded (default for kAlreadyApplied)
  std::string payload;  // the exact signed bytes
  std::string hash;     // ContentId(payload)
  std::string key_id;   // the key whose signature verified
};

class SnapshotVerifier {
 public:
  // `clock` must outlive the verifier.
  SnapshotVerifier(TrustedKeySet keys, const Clock& clock, VerifierOptions options = {});

  // Verifies `envelope_json` against what is applied (`current`, null when
  // nothing is) and the persisted `version_floor`. `announced_hash` is the
  // "sha256:<hex>" the control plane announced, or empty. `in_force_hash`:
  // see step 5 (empty: no exception).
  Result<VerifiedSnapshot> Verify(std::string_view envelope_json, std::string_view announced_hash,
                                  const AppliedSnapshot* current, std::int64_t version_floor,
                                  std::string_view in_force_hash = {}) const;

  const VerifierOptions& options() const { return options_; }
  const TrustedKeySet& trusted_keys() const { return keys_; }
  void set_trusted_keys(TrustedKeySet keys) { keys_ = std::move(keys); }

 private:
  TrustedKeySet keys_;
  const Clock& clock_;
  VerifierOptions options_;
  DecodeOptions decode_;  // options_.decode, reading the fields of capabilities' features
};

}  // namespace omnirelay::relay
