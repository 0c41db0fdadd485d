#include "omnirelay/relay/snapshot_verifier.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/validate.h"
#include "omnirelay/relay/applied_snapshot.h"

namespace omnirelay::relay {
namespace {

constexpr std::string_view kRequiredFeaturesPointer = "/metadata/requiredFeatures/";

// A decode failure caused by what this build supports rather than by the
// document: an apiVersion it does not read, or a required feature it does not
// know. Those are capability refusals (missing_feature), so that the control
// plane's NACK statistics tell "upgrade the nodes" from "fix the config".
bool IsCapabilityDiagnostic(const Diagnostic& d) {
  if (d.path == "/apiVersion" && d.code == DiagCode::kOutOfRange) return true;
  return d.code == DiagCode::kUnknownFeature && d.path.starts_with(kRequiredFeaturesPointer);
}

Status ClassifyDecodeFailure(const Status& status) {
  std::string missing;
  for (const Diagnostic& d : status.diagnostics()) {
    if (!IsCapabilityDiagnostic(d)) continue;
    if (!missing.empty()) missing += "; ";
    missing += d.message;
  }
  if (missing.empty()) return status;
  return Status(StatusCode::kMissingFeature, "this node cannot read the snapshot: " + missing);
}

std::string VersionText(std::int64_t v) {
  return "version " + std::to_string(v);
}

std::string JoinChain(const std::vector<std::string>& chain) {
  std::string out;
  for (const std::string& scope : chain) {
    if (!out.empty()) out += ',';
    out += scope;
  }
  return out.empty() ? "(empty)" : out;
}

bool SameContent(const Snapshot& candidate, const Snapshot& applied) {
  return candidate.metadata.scope_chain == applied.metadata.scope_chain &&
         candidate.metadata.required_features == applied.metadata.required_features &&
         candidate.spec == applied.spec;
}

// A re-signing: the same snapshot content under a later expiry; or the same
// signing (createdAt, expiresAt) naming another rollout wave, or none
// (metadata.rollout alone differs: the control plane renders a version with
// and without it).
bool IsResigningOf(const Snapshot& candidate, const Snapshot& applied) {
  if (!SameContent(candidate, applied)) return false;
  const SnapshotMetadata& c = candidate.metadata;
  const SnapshotMetadata& a = applied.metadata;
  if (c.expires_at > a.expires_at) return true;
  return c.expires_at == a.expires_at && c.created_at == a.created_at && c.rollout != a.rollout;
}

DecodeOptions ReaderOptions(const VerifierOptions& options) {
  DecodeOptions decode = options.decode;
  if (!decode.reader_features) decode.reader_features = options.capabilities.features;
  return decode;
}

}  // namespace

SnapshotVerifier::SnapshotVerifier(TrustedKeySet keys, const Clock& clock, VerifierOptions options)
    : keys_(std::move(keys)),
      clock_(clock),
      options_(std::move(options)),
      decode_(ReaderOptions(options_)) {}

Result<VerifiedSnapshot> SnapshotVerifier::Verify(std::string_view envelope_json,
                                                  std::string_view announced_hash,
                                                  const AppliedSnapshot* current,
                                                  std::int64_t version_floor,
                                                  std::string_view in_force_hash) const {
  // 1. Signature and key.
  Result<VerifiedPayload> verified =
      VerifyEnvelope(envelope_json, keys_, kSnapshotPayloadType, options_.max_envelope_bytes);
  if (!verified.ok()) return verified.status();
  VerifiedSnapshot out;
  out.payload = std::move(verified->payload);
  out.key_id = std::move(verified->key_id);

  // 2. Hash.
  out.hash = ContentId(out.payload);
  if (!announced_hash.empty() && announced_hash != out.hash) {
    return Status(StatusCode::kHashMismatch,
                  "content is " + out.hash + ", announced " + std::string(announced_hash));
  }
  if (current != nullptr && out.hash == current->hash()) {
    out.verdict = Verdict::kAlreadyApplied;
    return out;
  }

  // 3. Decode (schema).
  Result<Snapshot> decoded = DecodeSnapshot(out.payload, decode_);
  if (!decoded.ok()) return ClassifyDecodeFailure(decoded.status());
  out.snapshot = std::move(decoded).value();
  const SnapshotMetadata& meta = out.snapshot.metadata;

  // 3b. Scope chain: rendered for this node's chain.
  if (!options_.scope_chain.empty() && meta.scope_chain != options_.scope_chain) {
    return Status(StatusCode::kScopeMismatch, VersionText(meta.version) + " is for scope chain " +
                                                  JoinChain(meta.scope_chain) + ", this node is " +
                                                  JoinChain(options_.scope_chain));
  }

  // 4. Version.
  if (meta.version < version_floor) {
    return Status(StatusCode::kRollback, VersionText(meta.version) +
                                             " is older than the highest applied, " +
                                             std::to_string(version_floor));
  }
  if (current != nullptr) {
    if (meta.version < current->version()) {
      return Status(StatusCode::kRollback, VersionText(meta.version) +
                                               " is older than the applied " +
                                               std::to_string(current->version()));
    }
    if (meta.version == current->version()) {
      if (!IsResigningOf(out.snapshot, current->snapshot())) {
        return Status(StatusCode::kRollback,
                      VersionText(meta.version) + " is applied already with other content (" +
                          current->hash() +
                          "); only a re-signing with a later expiry may replace it");
      }
      out.verdict = Verdict::kResigned;
    }
  }

  // 5. Expiry.
  const std::int64_t now_ms = clock_.NowUnixMs();
  const std::int64_t expires_ms = meta.expires_at * 1000;
  if (now_ms > expires_ms + options_.expiry_skew_ms &&
      (in_force_hash.empty() || in_force_hash != out.hash)) {
    return Status(StatusCode::kExpired, VersionText(meta.version) + " expired at " +
                                            FormatRfc3339(meta.expires_at) + ", " +
                                            std::to_string((now_ms - expires_ms) / 1000) +
                                            " s ago (skew tolerance " +
                                            std::to_string(options_.expiry_skew_ms / 1000) + " s)");
  }

  // 6. Capabilities (decoding accepted the apiVersion kApiVersion only).
  OMNI_RETURN_IF_ERROR(
      RequireCapabilities(kApiVersion, meta.required_features, options_.capabilities));

  // 7. Graph validation.
  std::vector<Diagnostic> problems = ValidateSpec(out.snapshot.spec);
  if (!problems.empty()) {
    const std::size_t n = problems.size();
    return Status(StatusCode::kInvalid,
                  "snapshot is invalid: " + std::to_string(n) + (n == 1 ? " problem" : " problems"),
                  std::move(problems));
  }
  return out;
}

}  // namespace omnirelay::relay
