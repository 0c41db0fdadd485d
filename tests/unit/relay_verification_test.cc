// Verification before use (DESIGN.md §3.3): every refusal keeps the applied
// snapshot in force, returns its reason as the status code, and is counted
// under omnirelay_relay_snapshot_refusals_total{reason=...}.
#include <gtest/gtest.h>

#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::Json;
using testing::kFakeNowUnixS;
using testing::SnapshotDoc;
using testing::TestSigner;

constexpr std::int64_t kBaseVersion = 10;

class RelayVerificationTest : public ::testing::Test {
 protected:
  void SetUp() override { host_ = MakeHost(signer_.keys()); }

  std::unique_ptr<ConfigHost> MakeHost(TrustedKeySet keys,
                                       NodeCapabilities caps = LocalCapabilities()) {
    ConfigHostOptions options;
    options.trusted_keys = std::move(keys);
    options.verify.capabilities = std::move(caps);
    return std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }

  // Applies version kBaseVersion and returns its hash.
  std::string ApplyBase() {
    auto applied = host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion)));
    EXPECT_TRUE(applied.ok()) << applied.status().ToString();
    return applied.ok() ? applied->snapshot->hash() : "";
  }

  std::uint64_t Refusals(std::string_view reason) {
    return metrics_
        .counter("omnirelay_relay_snapshot_refusals_total", "",
                 "reason=\"" + std::string(reason) + "\"")
        .value();
  }

  // The apply was refused with `code`, counted, and `hash` is still current.
  void ExpectRefused(const Result<ApplyOutcome>& outcome, StatusCode code,
                     const std::string& hash) {
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.status().code(), code) << outcome.status().ToString();
    EXPECT_EQ(Refusals(status_code_name(code)), 1u);
    ASSERT_NE(host_->Current(), nullptr);
    EXPECT_EQ(host_->Current()->hash(), hash);
    EXPECT_EQ(host_->Current()->version(), kBaseVersion);
    EXPECT_EQ(host_->health().last_error.code(), code);
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
  std::unique_ptr<ConfigHost> host_;
};

// A payload changed after signing fails the signature over the exact bytes.
TEST_F(RelayVerificationTest, TamperedPayloadIsBadSignature) {
  const std::string hash = ApplyBase();
  Json envelope = Json::parse(signer_.Sign(SnapshotDoc(kBaseVersion + 1)));
  Json doc = SnapshotDoc(kBaseVersion + 1);
  doc["spec"]["routes"]["billing"]["weights"] = {{"billing-v1", 10}, {"billing-v2", 90}};
  envelope["payload"] = Base64Encode(doc.dump());
  ExpectRefused(host_->Apply(envelope.dump()), StatusCode::kBadSignature, hash);
}

// A signature by a key the trusted set does not list.
TEST_F(RelayVerificationTest, UnknownKeyIsRefused) {
  const std::string hash = ApplyBase();
  TestSigner stranger;
  ExpectRefused(host_->Apply(stranger.Sign(SnapshotDoc(kBaseVersion + 1))), StatusCode::kUnknownKey,
                hash);
}

// A signature by a key the trusted set revoked.
TEST_F(RelayVerificationTest, RevokedKeyIsRefused) {
  const std::string hash = ApplyBase();
  TrustedKeySet revoked = signer_.keys();
  ASSERT_TRUE(revoked.Revoke(signer_.key().key_id()).ok());
  host_->SetTrustedKeys(revoked);
  ExpectRefused(host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion + 1))), StatusCode::kRevokedKey,
                hash);
}

// Text that is not an envelope is refused without touching the snapshot.
TEST_F(RelayVerificationTest, MalformedEnvelopeIsRefused) {
  const std::string hash = ApplyBase();
  ExpectRefused(host_->Apply("{\"payloadType\": 1}"), StatusCode::kInvalidArgument, hash);
}

// Content whose id is not the announced one.
TEST_F(RelayVerificationTest, HashMismatchIsRefused) {
  const std::string hash = ApplyBase();
  ExpectRefused(
      host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion + 1)), "sha256:" + std::string(64, '0')),
      StatusCode::kHashMismatch, hash);
}

// The announced hash, when it matches, is accepted.
TEST_F(RelayVerificationTest, MatchingAnnouncedHashIsAccepted) {
  ApplyBase();
  const std::string payload = SnapshotDoc(kBaseVersion + 1).dump();
  auto outcome = host_->Apply(signer_.SignBytes(payload), ContentId(payload));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(host_->Current()->version(), kBaseVersion + 1);
  EXPECT_EQ(host_->Current()->hash(), ContentId(payload));
}

// A lower version than the applied one is a rollback.
TEST_F(RelayVerificationTest, LowerVersionIsRollback) {
  const std::string hash = ApplyBase();
  ExpectRefused(host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion - 1))), StatusCode::kRollback,
                hash);
}

// The applied content offered again is an OK no-op: same snapshot, same generation.
TEST_F(RelayVerificationTest, EqualVersionSameContentIsNoOp) {
  const std::string envelope = signer_.Sign(SnapshotDoc(kBaseVersion));
  ASSERT_TRUE(host_->Apply(envelope).ok());
  const std::uint64_t generation = host_->generation();
  auto again = host_->Apply(envelope);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->kind, ApplyKind::kAlreadyApplied);
  EXPECT_EQ(host_->generation(), generation);
  EXPECT_EQ(Refusals("rollback"), 0u);
}

// The applied version with another spec is refused as a rollback.
TEST_F(RelayVerificationTest, EqualVersionOtherSpecIsRollback) {
  const std::string hash = ApplyBase();
  Json doc = SnapshotDoc(kBaseVersion, kFakeNowUnixS + 7200);
  doc["spec"]["dispatcher"]["maxConcurrentRequests"] = 7;
  ExpectRefused(host_->Apply(signer_.Sign(doc)), StatusCode::kRollback, hash);
}

// The applied version re-signed with a later expiry and the same spec replaces it.
TEST_F(RelayVerificationTest, ResigningWithLaterExpiryIsAccepted) {
  const std::string hash = ApplyBase();
  auto outcome = host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion, kFakeNowUnixS + 7200)));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->kind, ApplyKind::kResigned);
  EXPECT_NE(host_->Current()->hash(), hash);
  EXPECT_EQ(host_->Current()->version(), kBaseVersion);
  EXPECT_EQ(host_->Current()->expires_at_ms(), (kFakeNowUnixS + 7200) * 1000);
}

// A re-signing that does not extend the expiry is refused as a rollback.
TEST_F(RelayVerificationTest, ResigningWithEarlierExpiryIsRollback) {
  const std::string hash = ApplyBase();
  ExpectRefused(host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion, kFakeNowUnixS + 1800))),
                StatusCode::kRollback, hash);
}

// A snapshot past expiresAt + skew tolerance is refused.
TEST_F(RelayVerificationTest, ExpiredIsRefused) {
  const std::string hash = ApplyBase();
  const std::int64_t skew_s = kDefaultExpirySkewMs / 1000;
  ExpectRefused(
      host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion + 1, kFakeNowUnixS - skew_s - 1))),
      StatusCode::kExpired, hash);
}

// A snapshot expired by less than the skew tolerance is still accepted.
TEST_F(RelayVerificationTest, ExpiredWithinSkewIsAccepted) {
  ApplyBase();
  const std::int64_t skew_s = kDefaultExpirySkewMs / 1000;
  auto outcome =
      host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion + 1, kFakeNowUnixS - skew_s + 1)));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(host_->Current()->version(), kBaseVersion + 1);
}

// A required feature the node does not offer is refused as missing_feature.
TEST_F(RelayVerificationTest, MissingFeatureIsRefused) {
  host_ = MakeHost(signer_.keys(), NodeCapabilities{{std::string(kApiVersion)}, {}});
  Json plain = SnapshotDoc(kBaseVersion);
  plain["metadata"]["requiredFeatures"] = Json::array();
  plain["spec"]["routes"]["billing"].erase("shadow");
  const auto base = host_->Apply(signer_.Sign(plain));
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  ExpectRefused(host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion + 1))),
                StatusCode::kMissingFeature, base->snapshot->hash());
}

// A required feature this build does not even know is missing_feature, not invalid.
TEST_F(RelayVerificationTest, UnknownRequiredFeatureIsMissingFeature) {
  const std::string hash = ApplyBase();
  Json doc = SnapshotDoc(kBaseVersion + 1);
  doc["metadata"]["requiredFeatures"].push_back("teleportation");
  ExpectRefused(host_->Apply(signer_.Sign(doc)), StatusCode::kMissingFeature, hash);
}

// An apiVersion this build does not read is missing_feature.
TEST_F(RelayVerificationTest, UnsupportedApiVersionIsMissingFeature) {
  const std::string hash = ApplyBase();
  Json doc = SnapshotDoc(kBaseVersion + 1);
  doc["apiVersion"] = "omnirelay.config/v2";
  ExpectRefused(host_->Apply(signer_.Sign(doc)), StatusCode::kMissingFeature, hash);
}

// A spec failing graph validation is refused as invalid, with its diagnostics.
TEST_F(RelayVerificationTest, InvalidSpecIsRefused) {
  const std::string hash = ApplyBase();
  Json doc = SnapshotDoc(kBaseVersion + 1);
  doc["spec"]["routes"]["billing"]["weights"]["billing-v2"] = 5;  // sums to 95
  auto outcome = host_->Apply(signer_.Sign(doc));
  ExpectRefused(outcome, StatusCode::kInvalid, hash);
  ASSERT_FALSE(outcome.status().diagnostics().empty());
  EXPECT_EQ(outcome.status().diagnostics()[0].code, DiagCode::kWeightsSum);
}

// A spec failing the schema is refused as invalid.
TEST_F(RelayVerificationTest, SchemaViolationIsRefused) {
  const std::string hash = ApplyBase();
  Json doc = SnapshotDoc(kBaseVersion + 1);
  doc["spec"]["clusters"]["billing-v2"]["colour"] = "blue";
  ExpectRefused(host_->Apply(signer_.Sign(doc)), StatusCode::kInvalid, hash);
}

// Checks run in order: a tampered, older snapshot is reported for its signature.
TEST_F(RelayVerificationTest, SignatureIsCheckedBeforeVersion) {
  const std::string hash = ApplyBase();
  Json envelope = Json::parse(signer_.Sign(SnapshotDoc(kBaseVersion - 1)));
  envelope["payload"] = Base64Encode(SnapshotDoc(kBaseVersion - 2).dump());
  ExpectRefused(host_->Apply(envelope.dump()), StatusCode::kBadSignature, hash);
}

// Checks run in order: an older, expired snapshot is reported as a rollback.
TEST_F(RelayVerificationTest, VersionIsCheckedBeforeExpiry) {
  const std::string hash = ApplyBase();
  ExpectRefused(host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion - 1, kFakeNowUnixS - 86400))),
                StatusCode::kRollback, hash);
}

// The first snapshot refused leaves the node not ready.
TEST_F(RelayVerificationTest, RefusedFirstSnapshotLeavesNodeNotReady) {
  auto outcome = host_->Apply(signer_.Sign(SnapshotDoc(1, kFakeNowUnixS - 86400)));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kExpired);
  EXPECT_FALSE(host_->ready());
  EXPECT_EQ(host_->Current(), nullptr);
}

// Refusals are rendered by reason on /metrics.
TEST_F(RelayVerificationTest, RefusalsAreRenderedByReason) {
  ApplyBase();
  ASSERT_FALSE(host_->Apply(signer_.Sign(SnapshotDoc(kBaseVersion - 1))).ok());
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("omnirelay_relay_snapshot_refusals_total{reason=\"rollback\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("omnirelay_relay_snapshot_refusals_total{reason=\"expired\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace omnirelay::relay
