// Rotated artefacts in spec.security (feature "artefacts"): decoding, the
// codes private_key_material and invalid_certificate with their pointers,
// the feature gate, and per-entry merge (override / delete one artefact).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "omnirelay/config/decode.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/validate.h"
#include "test_certificate.h"
#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Json;
using testdocs::LayerDoc;
using testdocs::One;
using testdocs::Problems;
using testdocs::SnapshotDoc;
using testdocs::ValidSpecJson;
using Strings = std::vector<std::string>;

constexpr std::int64_t kCertExpiry = 1'924'992'000;  // 2031-01-01T00:00:00Z
constexpr const char* kNotAfter = "2030-06-01T00:00:00Z";
const std::vector<std::string> kFeatures = {"shadowing", "artefacts"};

const testing::TestCertificate& Ca() {
  static const auto ca = testing::MakeTestCertificate("mesh-root", kCertExpiry);
  return ca;
}
const testing::TestCertificate& Leaf() {
  static const auto leaf = testing::MakeTestCertificate("billing", kCertExpiry);
  return leaf;
}

Json PublicJwk() {
  return {{"kty", "OKP"},
          {"crv", "Ed25519"},
          {"kid", "idp-1"},
          {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
}

// ValidSpecJson() with one artefact of each kind.
Json ArtefactSpec() {
  Json spec = ValidSpecJson();
  spec["security"]["caBundles"]["mesh"] = {{"pem", Ca().cert_pem}, {"notAfter", kNotAfter}};
  spec["security"]["certificates"]["billing"] = {{"chainPem", Leaf().cert_pem + Ca().cert_pem},
                                                 {"notAfter", kNotAfter}};
  spec["security"]["jwks"]["idp"] = {{"keys", Json::array({PublicJwk()})}, {"notAfter", kNotAfter}};
  spec["security"]["extAuthz"]["opa"] = {{"endpoint", "opa.internal:9191"},
                                         {"notAfter", kNotAfter}};
  return spec;
}

// The snapshot of ArtefactSpec() with `value` at `pointer` (under /spec).
Strings SnapshotWith(const std::string& pointer, Json value) {
  Json doc = SnapshotDoc(ArtefactSpec(), kFeatures);
  doc[Json::json_pointer(pointer)] = std::move(value);
  return Problems(DecodeSnapshot(doc.dump()));
}

// Every artefact kind decodes with its notAfter; JWKs keep their canonical JSON.
TEST(DecodeArtefactsTest, EveryKindDecodes) {
  auto snap = DecodeAndValidateSnapshot(SnapshotDoc(ArtefactSpec(), kFeatures).dump());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  const Security& s = snap->spec.security;
  const std::int64_t not_after = *ParseRfc3339(kNotAfter);
  ASSERT_EQ(s.ca_bundles.size(), 1u);
  EXPECT_EQ(s.ca_bundles[0].name, "mesh");
  EXPECT_EQ(s.ca_bundles[0].value.pem, Ca().cert_pem);
  EXPECT_EQ(s.ca_bundles[0].value.not_after, not_after);
  ASSERT_EQ(s.certificates.size(), 1u);
  EXPECT_EQ(s.certificates[0].value.chain_pem, Leaf().cert_pem + Ca().cert_pem);
  ASSERT_EQ(s.jwks.size(), 1u);
  EXPECT_EQ(s.jwks[0].value.keys, Strings{PublicJwk().dump()});
  ASSERT_EQ(s.ext_authz.size(), 1u);
  EXPECT_EQ(s.ext_authz[0].value.endpoint, "opa.internal:9191");
  EXPECT_EQ(s.ext_authz[0].value.not_after, not_after);
}

// Without "artefacts" in requiredFeatures, each artefact map is unknown_field
// (what a node older than the feature reports, so none is ever sent one).
TEST(DecodeArtefactsTest, FeatureGated) {
  auto snap = DecodeSnapshot(SnapshotDoc(ArtefactSpec(), {"shadowing"}).dump());
  EXPECT_EQ(Problems(snap), (Strings{"unknown_field /spec/security/caBundles",
                                     "unknown_field /spec/security/certificates",
                                     "unknown_field /spec/security/extAuthz",
                                     "unknown_field /spec/security/jwks"}));
  EXPECT_TRUE(IsKnownFeature("artefacts"));
}

// A PEM private key in a CA bundle is private_key_material at its pem.
TEST(DecodeArtefactsTest, PrivateKeyInCaBundle) {
  EXPECT_EQ(SnapshotWith("/spec/security/caBundles/mesh/pem", Ca().cert_pem + Ca().key_pem),
            One("private_key_material", "/spec/security/caBundles/mesh/pem"));
}

// A leaf chain with the leaf's key is private_key_material at chainPem.
TEST(DecodeArtefactsTest, PrivateKeyInCertificateChain) {
  EXPECT_EQ(SnapshotWith("/spec/security/certificates/billing/chainPem",
                         Leaf().key_pem + Leaf().cert_pem),
            One("private_key_material", "/spec/security/certificates/billing/chainPem"));
  // Any flavour of private key block: RSA, EC, encrypted.
  EXPECT_EQ(SnapshotWith("/spec/security/caBundles/mesh/pem",
                         "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
            One("private_key_material", "/spec/security/caBundles/mesh/pem"));
}

// A JWK with a private member is private_key_material at that member.
TEST(DecodeArtefactsTest, PrivateJwkMember) {
  Json key = PublicJwk();
  key["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/idp/keys/0", key),
            One("private_key_material", "/spec/security/jwks/idp/keys/0/d"));
}

// A symmetric (oct) JWK is a secret: private_key_material.
TEST(DecodeArtefactsTest, SymmetricJwk) {
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/idp/keys/0", {{"kty", "oct"}, {"k", "c2VjcmV0"}}),
            (Strings{"private_key_material /spec/security/jwks/idp/keys/0/k",
                     "private_key_material /spec/security/jwks/idp/keys/0/kty"}));
}

// A JWK without kty is missing_field; an unknown kty out_of_range; no keys out_of_range.
TEST(DecodeArtefactsTest, JwkShape) {
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/idp/keys/0", {{"x", "abc"}}),
            One("missing_field", "/spec/security/jwks/idp/keys/0/kty"));
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/idp/keys/0/kty", "DSA"),
            One("out_of_range", "/spec/security/jwks/idp/keys/0/kty"));
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/idp/keys", Json::array()),
            One("out_of_range", "/spec/security/jwks/idp/keys"));
}

// PEM that is not certificates is invalid_certificate at the pem.
TEST(DecodeArtefactsTest, NotCertificates) {
  const std::string pointer = "/spec/security/caBundles/mesh/pem";
  EXPECT_EQ(SnapshotWith(pointer, "hello"), One("invalid_certificate", pointer));
  EXPECT_EQ(SnapshotWith(pointer, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            One("invalid_certificate", pointer));
  EXPECT_EQ(
      SnapshotWith(pointer,
                   "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"),
      One("invalid_certificate", pointer));
}

// An artefact whose notAfter is after a certificate in it expires is
// invalid_certificate at its notAfter; up to the certificate's expiry is fine.
TEST(DecodeArtefactsTest, NotAfterBeyondCertificate) {
  EXPECT_EQ(SnapshotWith("/spec/security/certificates/billing/notAfter", "2031-01-01T00:00:01Z"),
            One("invalid_certificate", "/spec/security/certificates/billing/notAfter"));
  EXPECT_EQ(SnapshotWith("/spec/security/certificates/billing/notAfter", "2031-01-01T00:00:00Z"),
            Strings{});
}

// notAfter is required and RFC 3339; fields are checked like any object's.
TEST(DecodeArtefactsTest, SchemaOfAnEntry) {
  Json doc = SnapshotDoc(ArtefactSpec(), kFeatures);
  doc["spec"]["security"]["extAuthz"]["opa"].erase("notAfter");
  EXPECT_EQ(Problems(DecodeSnapshot(doc.dump())),
            One("missing_field", "/spec/security/extAuthz/opa/notAfter"));
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/idp/notAfter", "tomorrow"),
            One("out_of_range", "/spec/security/jwks/idp/notAfter"));
  EXPECT_EQ(SnapshotWith("/spec/security/caBundles/mesh/bogus", 1),
            One("unknown_field", "/spec/security/caBundles/mesh/bogus"));
  EXPECT_EQ(SnapshotWith("/spec/security/jwks/Bad_Name", {{"keys", {PublicJwk()}}}),
            One("invalid_name", "/spec/security/jwks/Bad_Name"));
}

// extAuthz endpoints: https URLs or host:port; anything else out_of_range.
TEST(DecodeArtefactsTest, ExtAuthzEndpoint) {
  const std::string pointer = "/spec/security/extAuthz/opa/endpoint";
  for (const char* good : {"https://authz.example/check", "https://authz.example:8443",
                           "opa.internal:9191", "[::1]:9000", "10.0.0.7:50051"}) {
    EXPECT_EQ(SnapshotWith(pointer, good), Strings{}) << good;
  }
  for (const char* bad : {"http://authz.example/check", "opa.internal", "opa.internal:0",
                          "opa.internal:70000", "https://", ":9191", "https://a b/"}) {
    EXPECT_EQ(SnapshotWith(pointer, bad), One("out_of_range", pointer)) << bad;
  }
}

// A layer with a private key anywhere is refused before it is merged or
// stored, with or without the feature, at the key's pointer.
TEST(DecodeArtefactsTest, LayerWithPrivateKeyIsRefusedBeforeMerge) {
  Json spec = Json::object();
  spec["security"]["certificates"]["billing"]["chainPem"] = Leaf().cert_pem + Leaf().key_pem;
  EXPECT_EQ(Problems(ParseLayer(LayerDoc("node:n-1", spec).dump())),
            One("private_key_material", "/spec/security/certificates/billing/chainPem"));
  Json jwk = PublicJwk();
  jwk["d"] = "secret";
  Json anywhere = {{"clusters", {{"billing-v1", {{"notes", {jwk}}}}}}};
  EXPECT_EQ(Problems(ParseLayer(LayerDoc("global", anywhere, {"artefacts"}).dump())),
            One("private_key_material", "/spec/clusters/billing-v1/notes/0/d"));
  // ValidateDocuments (omnirctl config validate) reports it the same way.
  DocumentSetReport report = ValidateDocuments({{"layer.json", LayerDoc("node:n-1", spec).dump()}});
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].diagnostic.code, DiagCode::kPrivateKeyMaterial);
}

// A more specific layer overrides one artefact and deletes another (null):
// the others are untouched.
TEST(DecodeArtefactsTest, MergeOverridesAndDeletesOneEntry) {
  Json global_spec = ArtefactSpec();
  global_spec["security"]["jwks"]["partner"] = {{"keys", {PublicJwk()}}, {"notAfter", kNotAfter}};
  Json node_spec = Json::object();
  node_spec["security"]["jwks"]["idp"]["notAfter"] = "2030-07-01T00:00:00Z";
  node_spec["security"]["jwks"]["partner"] = nullptr;
  auto global = ParseLayer(LayerDoc("global", global_spec, kFeatures).dump());
  auto node = ParseLayer(LayerDoc("node:n-1", node_spec).dump());
  ASSERT_TRUE(global.ok() && node.ok());
  auto rendered = RenderLayers({*global, *node}, "global,node:n-1");
  ASSERT_TRUE(rendered.ok()) << rendered.status().ToString();
  const Security& s = rendered->spec.security;
  ASSERT_EQ(s.jwks.size(), 1u);
  EXPECT_EQ(s.jwks[0].name, "idp");
  EXPECT_EQ(s.jwks[0].value.not_after, *ParseRfc3339("2030-07-01T00:00:00Z"));
  EXPECT_EQ(s.jwks[0].value.keys, Strings{PublicJwk().dump()});
  ASSERT_EQ(s.ca_bundles.size(), 1u);
  EXPECT_EQ(s.ca_bundles[0].value.not_after, *ParseRfc3339(kNotAfter));
  EXPECT_EQ(rendered->features, kFeatures);
}

}  // namespace
}  // namespace omnirelay
