// Artefacts (relay/artefacts.h, rules 1-5): the host service's view of the
// rotated artefacts of the snapshot in force. An expired artefact fails
// closed for its capability only; routing and the other capabilities go on;
// a renewal brings it back. Snapshots are signed and applied for real; time
// is a FakeClock.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/rfc3339.h"
#include "omnirelay/relay/artefacts.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"
#include "test_certificate.h"

namespace omnirelay::relay {
namespace {

using testing::Json;
using testing::kFakeNowUnixS;
using testing::SnapshotDoc;
using testing::TempDir;
using testing::TestSigner;
using Strings = std::vector<std::string>;

constexpr std::int64_t kJwtTtlS = 600;       // jwks.idp's notAfter, from the clock's start
constexpr std::int64_t kOtherTtlS = 86'400;  // every other artefact's
constexpr std::int64_t kCertTtlS = 864'000;  // the certificates themselves

const omnirelay::testing::TestCertificate& Ca() {
  static const auto ca =
      omnirelay::testing::MakeTestCertificate("mesh-root", kFakeNowUnixS + kCertTtlS);
  return ca;
}

std::string At(std::int64_t ttl_s) {
  return FormatRfc3339(kFakeNowUnixS + ttl_s);
}

// SnapshotDoc(version) carrying one artefact of each kind; jwks.idp expires
// after `jwt_ttl_s`.
Json ArtefactDoc(std::int64_t version, std::int64_t jwt_ttl_s = kJwtTtlS) {
  Json doc = SnapshotDoc(version, kFakeNowUnixS + 7 * 86'400);
  doc["metadata"]["requiredFeatures"].push_back("artefacts");
  Json& security = doc["spec"]["security"];
  security["caBundles"]["mesh"] = {{"pem", Ca().cert_pem}, {"notAfter", At(kOtherTtlS)}};
  security["certificates"]["billing"] = {{"chainPem", Ca().cert_pem}, {"notAfter", At(kOtherTtlS)}};
  security["jwks"]["idp"] = {
      {"keys", {{{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "idp-1"}, {"x", "AAAA"}}}},
      {"notAfter", At(jwt_ttl_s)}};
  security["extAuthz"]["opa"] = {{"endpoint", "opa.internal:9191"}, {"notAfter", At(kOtherTtlS)}};
  return doc;
}

class RelayArtefactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    host_ = std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }

  std::unique_ptr<Artefacts> Attach(ArtefactOptions options = {}) {
    options.log = [this](const std::string& line) { log_.push_back(line); };
    auto artefacts = Artefacts::Attach(*host_, std::move(options), clock_, &metrics_);
    EXPECT_TRUE(artefacts.ok()) << artefacts.status().ToString();
    return artefacts.ok() ? std::move(artefacts).value() : nullptr;
  }

  Status Apply(const Json& doc) { return host_->Apply(signer_.Sign(doc)).status(); }

  std::int64_t ExpiredGauge(const std::string& capability) {
    return metrics_
        .gauge("omnirelay_relay_artefact_expired", "", "capability=\"" + capability + "\"")
        .value();
  }
  std::uint64_t Expirations(const std::string& capability) {
    return metrics_
        .counter("omnirelay_relay_artefact_expirations_total", "",
                 "capability=\"" + capability + "\"")
        .value();
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
  std::unique_ptr<ConfigHost> host_;
  Strings log_;
};

// Rule 1: each artefact guards its capability; the set exposes them by name.
TEST_F(RelayArtefactsTest, CapabilitiesOfASnapshot) {
  auto artefacts = Attach();
  ASSERT_TRUE(Apply(ArtefactDoc(1)).ok());
  auto set = artefacts->Current();
  ASSERT_NE(set, nullptr);
  Strings names;
  for (const auto& c : set->capabilities()) names.push_back(c.capability);
  EXPECT_EQ(names, (Strings{"ca:mesh", "ext_authz:opa", "jwt:idp", "mtls:billing"}));
  EXPECT_EQ(set->Find("jwt:idp")->artefact, "/spec/security/jwks/idp");
  EXPECT_EQ(set->Find("jwt:idp")->not_after_ms, (kFakeNowUnixS + kJwtTtlS) * 1000);
  ASSERT_NE(set->ext_authz("opa"), nullptr);
  EXPECT_EQ(set->ext_authz("opa")->endpoint, "opa.internal:9191");
  ASSERT_NE(set->certificate("billing"), nullptr);
  EXPECT_EQ(set->certificate("billing")->chain_pem, Ca().cert_pem);
  EXPECT_EQ(set->version(), 1);
  for (const auto& name : names) EXPECT_TRUE(artefacts->Check(name).ok()) << name;
}

// The test the issue asks for: an expired artefact fails closed for its
// capability only — the others and ordinary routing keep serving, and the
// health report (FailingClosed) and metrics say which capability and why.
TEST_F(RelayArtefactsTest, ExpiredArtefactFailsClosedForItsCapabilityOnly) {
  auto router = Router::Attach(*host_);
  ASSERT_TRUE(router.ok());
  auto artefacts = Attach();
  ASSERT_TRUE(Apply(ArtefactDoc(1)).ok());
  EXPECT_EQ(artefacts->CheckExpiry().next_expiry_in_ms, kJwtTtlS * 1000 + 1);
  clock_.AdvanceMs(kJwtTtlS * 1000);  // exactly notAfter: still valid
  EXPECT_TRUE(artefacts->Check("jwt:idp").ok());
  clock_.AdvanceMs(1);

  const Status refused = artefacts->Check("jwt:idp");
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.message().rfind("artefact_expired: ", 0), 0u) << refused.message();
  for (const char* other : {"ca:mesh", "mtls:billing", "ext_authz:opa"}) {
    EXPECT_TRUE(artefacts->Check(other).ok()) << other;
  }
  const auto& snapshot = host_->Current();
  ASSERT_NE(snapshot, nullptr);
  EXPECT_TRUE(host_->ready());
  EXPECT_TRUE(router->Route(*snapshot, "billing", "request-1").ok());

  const auto failing = artefacts->FailingClosed();
  ASSERT_EQ(failing.size(), 1u);
  EXPECT_EQ(failing[0].capability, "jwt:idp");
  EXPECT_EQ(failing[0].reason, "artefact_expired");
  EXPECT_EQ(failing[0].artefact, "/spec/security/jwks/idp");

  EXPECT_EQ(artefacts->CheckExpiry().newly_expired, Strings{"jwt:idp"});
  EXPECT_TRUE(artefacts->CheckExpiry().newly_expired.empty());  // counted once
  EXPECT_EQ(Expirations("jwt:idp"), 1u);
  EXPECT_EQ(ExpiredGauge("jwt:idp"), 1);
  EXPECT_EQ(ExpiredGauge("ca:mesh"), 0);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("jwt:idp"), std::string::npos) << log_[0];
}

// Rule 3: a new snapshot with a later notAfter renews the artefact: the
// capability serves again, the gauge drops to 0, the listener hears of it.
TEST_F(RelayArtefactsTest, RenewedArtefactBringsTheCapabilityBack) {
  auto artefacts = Attach();
  ASSERT_TRUE(Apply(ArtefactDoc(1)).ok());
  clock_.AdvanceMs(kJwtTtlS * 1000 + 1);
  artefacts->CheckExpiry();
  ASSERT_FALSE(artefacts->Check("jwt:idp").ok());
  Strings changed;
  artefacts->AddChangeListener([&](const ArtefactSet&, const Strings& c) { changed = c; });
  ASSERT_TRUE(Apply(ArtefactDoc(2, 2 * kJwtTtlS)).ok());
  EXPECT_TRUE(artefacts->Check("jwt:idp").ok());
  EXPECT_TRUE(artefacts->FailingClosed().empty());
  EXPECT_EQ(ExpiredGauge("jwt:idp"), 0);
  EXPECT_EQ(changed, Strings{"jwt:idp"});
}

// Rule 3: listeners hear of every change of an artefact (new, changed,
// removed), with the capabilities concerned, and of nothing else.
TEST_F(RelayArtefactsTest, ChangeListenerFiresOnArtefactChangesOnly) {
  auto artefacts = Attach();
  std::vector<Strings> calls;
  std::vector<std::int64_t> versions;
  const std::uint64_t id =
      artefacts->AddChangeListener([&](const ArtefactSet& set, const Strings& c) {
        calls.push_back(c);
        versions.push_back(set.version());
      });
  ASSERT_TRUE(Apply(ArtefactDoc(1)).ok());
  Json routing_only = ArtefactDoc(2);
  routing_only["spec"]["routes"]["auth"]["procedure"] = "Login";
  ASSERT_TRUE(Apply(routing_only).ok());  // no artefact changed: no call
  Json rotated = ArtefactDoc(3);
  rotated["spec"]["security"]["extAuthz"]["opa"]["endpoint"] = "opa-2.internal:9191";
  rotated["spec"]["security"].erase("caBundles");
  ASSERT_TRUE(Apply(rotated).ok());
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (Strings{"ca:mesh", "ext_authz:opa", "jwt:idp", "mtls:billing"}));
  EXPECT_EQ(calls[1], (Strings{"ca:mesh", "ext_authz:opa"}));
  EXPECT_EQ(versions, (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(artefacts->Check("ca:mesh").code(), StatusCode::kNotFound);
  artefacts->RemoveChangeListener(id);
  ASSERT_TRUE(Apply(ArtefactDoc(4)).ok());
  EXPECT_EQ(calls.size(), 2u);
}

// Rule 2: an unknown capability, a malformed name, and no snapshot yet.
TEST_F(RelayArtefactsTest, CheckWithoutAnArtefact) {
  auto artefacts = Attach();
  EXPECT_EQ(artefacts->Check("jwt:idp").code(), StatusCode::kUnavailable);  // not_ready
  EXPECT_EQ(artefacts->Current(), nullptr);
  ASSERT_TRUE(Apply(ArtefactDoc(1)).ok());
  const Status missing = artefacts->Check("jwt:partner");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message().rfind("no_artefact: ", 0), 0u) << missing.message();
  EXPECT_EQ(artefacts->Check("tls").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(artefacts->Check("oauth:idp").code(), StatusCode::kInvalidArgument);
}

// Rule 4: an identity whose certificates come from files ignores the
// channel's (left out, logged, counted); its mtls capability is the file
// provider's, so a channel notAfter does not refuse it.
TEST_F(RelayArtefactsTest, FilesIdentityIgnoresTheChannelCertificate) {
  TempDir dir;
  const std::string cert = (dir.path() / "billing.crt").string();
  const std::string key = (dir.path() / "billing.key").string();
  std::ofstream(cert) << Ca().cert_pem;
  std::ofstream(key) << Ca().key_pem;
  ArtefactOptions options;
  options.certificate_sources["billing"] = {CertificateSource::Kind::kFiles, cert, key};
  auto artefacts = Attach(std::move(options));
  ASSERT_TRUE(Apply(ArtefactDoc(1)).ok());
  auto set = artefacts->Current();
  EXPECT_EQ(set->certificate("billing"), nullptr);
  EXPECT_EQ(set->Find("mtls:billing"), nullptr);
  EXPECT_EQ(set->files_identities(), Strings{"billing"});
  EXPECT_EQ(artefacts->SourceOf("billing"), CertificateSource::Kind::kFiles);
  EXPECT_EQ(metrics_
                .counter("omnirelay_relay_artefact_certificates_ignored_total", "",
                         "identity=\"billing\"")
                .value(),
            1u);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("never both"), std::string::npos) << log_[0];
  clock_.AdvanceMs(kOtherTtlS * 1000 + 1);
  EXPECT_TRUE(artefacts->Check("mtls:billing").ok());
  EXPECT_FALSE(artefacts->Check("ca:mesh").ok());
}

// Rule 4, never both: the flag's syntax, and sources refused at start.
TEST_F(RelayArtefactsTest, CertificateSourcesNeverBoth) {
  auto channel = ParseCertificateSource("billing=channel");
  ASSERT_TRUE(channel.ok());
  EXPECT_EQ(channel->first, "billing");
  EXPECT_EQ(channel->second.kind, CertificateSource::Kind::kChannel);
  auto files = ParseCertificateSource("auth=files:/etc/certs/auth.crt,/etc/certs/auth.key");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->second.kind, CertificateSource::Kind::kFiles);
  EXPECT_EQ(files->second.cert_file, "/etc/certs/auth.crt");
  EXPECT_EQ(files->second.key_file, "/etc/certs/auth.key");
  for (const char* bad : {"billing", "billing=", "billing=files:/a.crt", "Billing=channel",
                          "billing=channel:/a.crt,/a.key", "billing=sds"}) {
    EXPECT_EQ(ParseCertificateSource(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  ArtefactOptions both;
  both.certificate_sources["billing"] = {CertificateSource::Kind::kChannel, "/a.crt", ""};
  auto refused = Artefacts::Attach(*host_, std::move(both), clock_, &metrics_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("never both"), std::string::npos);
  ArtefactOptions unreadable;
  unreadable.certificate_sources["billing"] = {CertificateSource::Kind::kFiles, "/nonexistent.crt",
                                               "/nonexistent.key"};
  EXPECT_EQ(Artefacts::Attach(*host_, std::move(unreadable), clock_, &metrics_).status().code(),
            StatusCode::kInvalidArgument);
}

// Compatibility (DESIGN.md §3.3): a node that does not advertise "artefacts"
// refuses a snapshot requiring it (missing_feature), keeping what it has.
TEST_F(RelayArtefactsTest, NodeWithoutTheFeatureRefusesArtefacts) {
  ConfigHostOptions options;
  options.trusted_keys = signer_.keys();
  options.verify.capabilities = {{"omnirelay.config/v1"}, {"shadowing"}};
  ConfigHost old_node(std::move(options), clock_, metrics_);
  ASSERT_TRUE(old_node.Apply(signer_.Sign(SnapshotDoc(1))).ok());
  auto refused = old_node.Apply(signer_.Sign(ArtefactDoc(2)));
  EXPECT_EQ(refused.status().code(), StatusCode::kMissingFeature);
  EXPECT_EQ(old_node.health().config_version, 1);
}

}  // namespace
}  // namespace omnirelay::relay
