#include "omnirelay/config/decode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Json;
using testdocs::LayerDoc;
using testdocs::MinimalLayerJson;
using testdocs::One;
using testdocs::Problems;
using testdocs::SnapshotDoc;
using testdocs::ValidLayerDoc;
using testdocs::ValidSpecJson;

using Strings = std::vector<std::string>;

// `doc` with the value at `pointer` set (created if absent).
Json With(Json doc, const std::string& pointer, Json value) {
  doc[Json::json_pointer(pointer)] = std::move(value);
  return doc;
}

// `doc` without the member at `pointer`.
Json Without(Json doc, const std::string& pointer) {
  Json::json_pointer p(pointer);
  doc.at(p.parent_pointer()).erase(p.back());
  return doc;
}

Strings SnapshotProblems(const Json& doc) {
  return Problems(DecodeSnapshot(doc.dump()));
}
Strings LayerProblems(const Json& doc) {
  return Problems(ParseLayer(doc.dump()));
}
Strings SpecProblems(const Json& spec, const std::vector<std::string>& features = {"shadowing"}) {
  return Problems(DecodeSpec(spec.dump(), features));
}

// A valid snapshot with the value at `pointer` replaced, decoded.
Strings SnapshotWith(const std::string& pointer, Json value) {
  return SnapshotProblems(With(SnapshotDoc(), pointer, std::move(value)));
}

// A document whose deepest nesting is exactly `depth` containers (the root
// object counts as one): {"kind":"x","a":[[...]]}.
std::string NestedKindDoc(std::size_t depth) {
  return "{\"kind\":\"x\",\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

// A layer whose spec holds arrays nested so the document is `depth` deep.
std::string NestedSpecLayer(std::size_t depth) {
  const std::string header = MinimalLayerJson();  // {"apiVersion":..,"spec":{}}
  const std::string prefix = header.substr(0, header.rfind("{}"));
  return prefix + "{\"x\":" + std::string(depth - 2, '[') + std::string(depth - 2, ']') + "}}";
}

// ---- parse_error ----------------------------------------------------------

// Text that is not JSON is parse_error at the whole document.
TEST(DecodeParseErrorTest, NotJson) {
  EXPECT_EQ(Problems(ParseLayer("apiVersion: v1")), One("parse_error", ""));
}

// Truncated JSON is parse_error.
TEST(DecodeParseErrorTest, Truncated) {
  const std::string text = MinimalLayerJson();
  EXPECT_EQ(Problems(ParseLayer(text.substr(0, text.size() - 1))), One("parse_error", ""));
}

// The empty document is parse_error.
TEST(DecodeParseErrorTest, Empty) {
  EXPECT_EQ(Problems(ParseLayer("")), One("parse_error", ""));
}

// The failure is a kInvalid Status, so it becomes a diagnostic, not an exception.
TEST(DecodeParseErrorTest, IsInvalidStatus) {
  auto r = ParseLayer("{");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
}

// Invalid UTF-8 inside a string is parse_error.
TEST(DecodeParseErrorTest, InvalidUtf8InString) {
  const std::string text = With(ValidLayerDoc(), "/metadata/author", "AUTHOR").dump();
  std::string bad = text;
  bad.replace(bad.find("AUTHOR"), 6, "ops\xff");
  auto r = ParseLayer(bad);
  EXPECT_EQ(Problems(r), One("parse_error", ""));
  EXPECT_NE(r.status().diagnostics().at(0).message.find("UTF-8"), std::string::npos);
}

// Invalid UTF-8 outside any string (between tokens) is parse_error.
TEST(DecodeParseErrorTest, InvalidUtf8OutsideString) {
  std::string text = MinimalLayerJson();
  text.insert(1, "\xc3\x28");
  EXPECT_EQ(Problems(ParseLayer(text)), One("parse_error", ""));
}

// An overlong UTF-8 encoding ("/" as C0 AF) inside a string is parse_error.
TEST(DecodeParseErrorTest, OverlongUtf8) {
  EXPECT_EQ(Problems(PeekKind("{\"kind\":\"a\xc0\xaf\"}")), One("parse_error", ""));
}

// A UTF-8 encoded surrogate (ED A0 80) inside a string is parse_error.
TEST(DecodeParseErrorTest, EncodedSurrogate) {
  EXPECT_EQ(Problems(PeekKind("{\"kind\":\"a\xed\xa0\x80\"}")), One("parse_error", ""));
}

// A duplicate key is parse_error at the pointer of the duplicate.
TEST(DecodeParseErrorTest, DuplicateKeyNamesTheDuplicate) {
  const std::string text =
      R"({"apiVersion":"omnirelay.config/v1","kind":"ConfigLayer","metadata":{"scope":"global"},)"
      R"("spec":{"clusters":{"billing-v1":{"service":"billing"},"billing-v1":{"service":"x"}}}})";
  EXPECT_EQ(Problems(ParseLayer(text)), One("parse_error", "/spec/clusters/billing-v1"));
}

// A duplicate top-level key is parse_error at "/key".
TEST(DecodeParseErrorTest, DuplicateTopLevelKey) {
  EXPECT_EQ(Problems(PeekKind(R"({"kind":"ConfigLayer","kind":"Snapshot"})")),
            One("parse_error", "/kind"));
}

// A duplicate inside an array element is located by the element's index.
TEST(DecodeParseErrorTest, DuplicateKeyInArrayElement) {
  EXPECT_EQ(Problems(PeekKind(R"({"kind":"x","a":[1,{"b":1,"b":2}]})")),
            One("parse_error", "/a/1/b"));
}

// The duplicate's pointer escapes '/' and '~' in the key (RFC 6901).
TEST(DecodeParseErrorTest, DuplicateKeyPointerIsEscaped) {
  EXPECT_EQ(Problems(PeekKind(R"({"kind":"x","m":{"a/b~c":1,"a/b~c":2}})")),
            One("parse_error", "/m/a~1b~0c"));
}

// Duplicates are found in large objects too (more than 16 members).
TEST(DecodeParseErrorTest, DuplicateKeyInLargeObject) {
  std::string text = R"({"kind":"x","m":{)";
  for (int i = 0; i < 40; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += R"("k17":0}})";
  EXPECT_EQ(Problems(PeekKind(text)), One("parse_error", "/m/k17"));
}

// Keys that differ only in case are not duplicates.
TEST(DecodeParseErrorTest, CaseDifferentKeysAreDistinct) {
  EXPECT_TRUE(PeekKind(R"({"kind":"x","m":{"a":1,"A":2}})").ok());
}

// Nesting of exactly the limit (64, root included) is accepted.
TEST(DecodeParseErrorTest, DepthAtLimitAccepted) {
  auto r = PeekKind(NestedKindDoc(64));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "x");
}

// Nesting one deeper than the limit (65) is parse_error.
TEST(DecodeParseErrorTest, DepthOverLimitRejected) {
  EXPECT_EQ(Problems(PeekKind(NestedKindDoc(65))), One("parse_error", ""));
}

// A layer whose spec brings the document to depth 64 parses.
TEST(DecodeParseErrorTest, LayerSpecDepthAtLimitAccepted) {
  auto r = ParseLayer(NestedSpecLayer(64));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

// A layer whose spec brings the document to depth 65 is parse_error.
TEST(DecodeParseErrorTest, LayerSpecDepthOverLimitRejected) {
  EXPECT_EQ(Problems(ParseLayer(NestedSpecLayer(65))), One("parse_error", ""));
}

// DecodeOptions::max_depth replaces the default limit.
TEST(DecodeParseErrorTest, CustomMaxDepth) {
  DecodeOptions options;
  options.max_depth = 3;
  EXPECT_TRUE(PeekKind(NestedKindDoc(3), options).ok());
  EXPECT_EQ(Problems(PeekKind(NestedKindDoc(4), options)), One("parse_error", ""));
}

// A million unclosed '[' is parse_error, without crashing or recursing.
TEST(DecodeParseErrorTest, MillionOpenBrackets) {
  EXPECT_EQ(Problems(ParseLayer(std::string(1'000'000, '['))), One("parse_error", ""));
}

// A million balanced '[' ']' is parse_error (too deep), without crashing.
TEST(DecodeParseErrorTest, MillionBalancedBrackets) {
  const std::string text = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  EXPECT_EQ(Problems(ParseLayer(text)), One("parse_error", ""));
  EXPECT_EQ(Problems(DecodeSnapshot(text)), One("parse_error", ""));
}

// A document of exactly max_bytes is accepted.
TEST(DecodeParseErrorTest, SizeAtLimitAccepted) {
  const std::string text = MinimalLayerJson();
  DecodeOptions options;
  options.max_bytes = text.size();
  EXPECT_TRUE(ParseLayer(text, options).ok());
}

// A document one byte over max_bytes is parse_error.
TEST(DecodeParseErrorTest, SizeOverLimitRejected) {
  const std::string text = MinimalLayerJson();
  DecodeOptions options;
  options.max_bytes = text.size() - 1;
  EXPECT_EQ(Problems(ParseLayer(text, options)), One("parse_error", ""));
}

// The default size limit is 8 MiB: one byte more is parse_error.
TEST(DecodeParseErrorTest, DefaultSizeLimit) {
  std::string text = MinimalLayerJson();
  text.append(kDefaultMaxDocumentBytes + 1 - text.size(), ' ');
  EXPECT_EQ(Problems(ParseLayer(text)), One("parse_error", ""));
}

// DecodeSpec reports parse errors under its pointer prefix.
TEST(DecodeParseErrorTest, DecodeSpecPrefixesParseErrors) {
  EXPECT_EQ(Problems(DecodeSpec(R"({"clusters":{},"clusters":{}})", {})),
            One("parse_error", "/spec/clusters"));
  EXPECT_EQ(Problems(DecodeSpec("nope", {})), One("parse_error", "/spec"));
}

// ---- unknown_field --------------------------------------------------------

struct PointerCase {
  const char* name;
  const char* pointer;
};
std::string CaseName(const ::testing::TestParamInfo<PointerCase>& info) {
  return info.param.name;
}

class UnknownFieldTest : public ::testing::TestWithParam<PointerCase> {};

// A field the schema does not know is unknown_field at its own pointer.
TEST_P(UnknownFieldTest, ReportedAtItsPointer) {
  const std::string pointer = std::string(GetParam().pointer) + "/bogus";
  EXPECT_EQ(SnapshotWith(pointer, 1), One("unknown_field", pointer));
}

INSTANTIATE_TEST_SUITE_P(
    EveryLevel, UnknownFieldTest,
    ::testing::Values(PointerCase{"document", ""}, PointerCase{"metadata", "/metadata"},
                      PointerCase{"spec", "/spec"},
                      PointerCase{"cluster", "/spec/clusters/billing-v1"},
                      PointerCase{"route", "/spec/routes/billing"},
                      PointerCase{"shadow", "/spec/routes/billing/shadow"},
                      PointerCase{"dispatcher", "/spec/dispatcher"},
                      PointerCase{"topology", "/spec/topology"},
                      PointerCase{"region", "/spec/topology/regions/us-east"},
                      PointerCase{"bridge", "/spec/topology/bridges/use1-euw1"},
                      PointerCase{"security", "/spec/security"}),
    CaseName);

// An unknown field at the top of a layer is unknown_field.
TEST(DecodeUnknownFieldTest, LayerDocument) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/status", "x")), One("unknown_field", "/status"));
}

// An unknown field in a layer's metadata is unknown_field.
TEST(DecodeUnknownFieldTest, LayerMetadata) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/version", 3)),
            One("unknown_field", "/metadata/version"));
}

// Field names are case-sensitive: "Service" is not "service".
TEST(DecodeUnknownFieldTest, CaseSensitive) {
  Json spec = With(ValidSpecJson(), "/clusters/auth-v1/Service", "auth");
  EXPECT_EQ(SpecProblems(spec), One("unknown_field", "/spec/clusters/auth-v1/Service"));
}

// Every problem is reported, in document order, not only the first.
TEST(DecodeUnknownFieldTest, AllProblemsReported) {
  Json spec = With(ValidSpecJson(), "/clusters/billing-v1/bogus", 1);
  spec = With(spec, "/security/bogus", 2);
  EXPECT_EQ(SpecProblems(spec), (Strings{"unknown_field /spec/clusters/billing-v1/bogus",
                                         "unknown_field /spec/security/bogus"}));
}

// ---- feature gate ---------------------------------------------------------

// routes.*.shadow without "shadowing" enabled is unknown_field at the shadow.
TEST(DecodeFeatureGateTest, ShadowWithoutFeatureRejected) {
  EXPECT_EQ(SpecProblems(ValidSpecJson(), {}), One("unknown_field", "/spec/routes/billing/shadow"));
}

// routes.*.shadow with "shadowing" enabled decodes, percent in basis points.
TEST(DecodeFeatureGateTest, ShadowWithFeatureAccepted) {
  auto spec = DecodeSpec(ValidSpecJson().dump(), {"shadowing"});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const Route& billing = testdocs::Entry(spec->routes, "billing");
  ASSERT_TRUE(billing.shadow.has_value());
  EXPECT_EQ(*billing.shadow, (Shadow{"billing-dr", 500}));
}

// A route without shadow needs no feature.
TEST(DecodeFeatureGateTest, NoShadowNoFeatureNeeded) {
  EXPECT_EQ(SpecProblems(Without(ValidSpecJson(), "/routes/billing/shadow"), {}), Strings{});
}

// A Snapshot's gate is metadata.requiredFeatures: shadow without it is unknown_field.
TEST(DecodeFeatureGateTest, SnapshotWithoutRequiredFeatureRejected) {
  EXPECT_EQ(SnapshotProblems(SnapshotDoc(ValidSpecJson(), {})),
            One("unknown_field", "/spec/routes/billing/shadow"));
}

// A Snapshot requiring "shadowing" may carry a shadow.
TEST(DecodeFeatureGateTest, SnapshotWithRequiredFeatureAccepted) {
  EXPECT_EQ(SnapshotProblems(SnapshotDoc(ValidSpecJson(), {"shadowing"})), Strings{});
}

// A Snapshot has no metadata.features: it is unknown_field and does not open the gate.
TEST(DecodeFeatureGateTest, SnapshotFeaturesFieldIsUnknown) {
  Json doc =
      With(SnapshotDoc(ValidSpecJson(), {}), "/metadata/features", Json::array({"shadowing"}));
  EXPECT_EQ(SnapshotProblems(doc), (Strings{"unknown_field /metadata/features",
                                            "unknown_field /spec/routes/billing/shadow"}));
}

// ---- type_mismatch ----------------------------------------------------------

// A fractional weight is type_mismatch: weights are integers.
TEST(DecodeTypeMismatchTest, FractionalWeight) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/weights/billing-v1", 90.5),
            One("type_mismatch", "/spec/routes/billing/weights/billing-v1"));
}

// A weight written as a number with a fraction part (90.0) is type_mismatch.
TEST(DecodeTypeMismatchTest, WholeDoubleWeight) {
  EXPECT_EQ(SpecProblems(R"({"routes":{"r":{"service":"s","weights":{"c":90.0}}}})"_json),
            One("type_mismatch", "/spec/routes/r/weights/c"));
}

// A weight given as a string is type_mismatch.
TEST(DecodeTypeMismatchTest, StringWeight) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/weights/billing-v1", "90"),
            One("type_mismatch", "/spec/routes/billing/weights/billing-v1"));
}

// timeoutMs given as a string is type_mismatch.
TEST(DecodeTypeMismatchTest, StringTimeout) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/timeoutMs", "500"),
            One("type_mismatch", "/spec/clusters/billing-v1/timeoutMs"));
}

// A layer's metadata.features that is not an array is type_mismatch.
TEST(DecodeTypeMismatchTest, LayerFeaturesNotArray) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/features", "shadowing")),
            One("type_mismatch", "/metadata/features"));
}

// A Snapshot's requiredFeatures that is not an array is type_mismatch.
TEST(DecodeTypeMismatchTest, RequiredFeaturesNotArray) {
  Json doc = With(SnapshotDoc(Json::object(), {}), "/metadata/requiredFeatures", "shadowing");
  EXPECT_EQ(SnapshotProblems(doc), One("type_mismatch", "/metadata/requiredFeatures"));
}

// A feature that is not a string is type_mismatch at its index.
TEST(DecodeTypeMismatchTest, FeatureNotString) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/features", Json::array({1}))),
            One("type_mismatch", "/metadata/features/0"));
}

// A document that is not an object is type_mismatch at "".
TEST(DecodeTypeMismatchTest, RootNotObject) {
  EXPECT_EQ(Problems(DecodeSnapshot("[]")), One("type_mismatch", ""));
  EXPECT_EQ(Problems(ParseLayer("\"ConfigLayer\"")), One("type_mismatch", ""));
}

// metadata that is not an object is type_mismatch.
TEST(DecodeTypeMismatchTest, MetadataNotObject) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata", Json::array())),
            One("type_mismatch", "/metadata"));
  EXPECT_EQ(SnapshotProblems(With(SnapshotDoc(Json::object(), {}), "/metadata", "m")),
            One("type_mismatch", "/metadata"));
}

// A layer's spec that is not an object is type_mismatch.
TEST(DecodeTypeMismatchTest, LayerSpecNotObject) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/spec", Json::array())),
            One("type_mismatch", "/spec"));
}

// A Snapshot's spec that is not an object is type_mismatch.
TEST(DecodeTypeMismatchTest, SnapshotSpecNotObject) {
  EXPECT_EQ(SnapshotWith("/spec", nullptr), One("type_mismatch", "/spec"));
}

// A bare spec that is not an object is type_mismatch at the prefix.
TEST(DecodeTypeMismatchTest, BareSpecNotObject) {
  EXPECT_EQ(Problems(DecodeSpec("[]", {})), One("type_mismatch", "/spec"));
}

// clusters that is not an object (map keyed by name) is type_mismatch.
TEST(DecodeTypeMismatchTest, ClustersNotObject) {
  EXPECT_EQ(SnapshotWith("/spec/clusters", Json::array({"billing-v1"})),
            One("type_mismatch", "/spec/clusters"));
}

// A cluster that is not an object is type_mismatch.
TEST(DecodeTypeMismatchTest, ClusterNotObject) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/auth-v1", "auth"),
            One("type_mismatch", "/spec/clusters/auth-v1"));
}

// A service that is not a string is type_mismatch.
TEST(DecodeTypeMismatchTest, ServiceNotString) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/auth-v1/service", 7),
            One("type_mismatch", "/spec/clusters/auth-v1/service"));
}

// failover that is not an array is type_mismatch.
TEST(DecodeTypeMismatchTest, FailoverNotArray) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/failover", "billing-dr"),
            One("type_mismatch", "/spec/clusters/billing-v1/failover"));
}

// A shadow percent given as a string is type_mismatch.
TEST(DecodeTypeMismatchTest, PercentString) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/percent", "5"),
            One("type_mismatch", "/spec/routes/billing/shadow/percent"));
}

// A cell that is not a string is type_mismatch at its index.
TEST(DecodeTypeMismatchTest, CellNotString) {
  EXPECT_EQ(SnapshotWith("/spec/topology/regions/us-east/cells", Json::array({"use1-a", 2})),
            One("type_mismatch", "/spec/topology/regions/us-east/cells/1"));
}

// quotaRps given as a string is type_mismatch.
TEST(DecodeTypeMismatchTest, QuotaString) {
  EXPECT_EQ(SnapshotWith("/spec/topology/bridges/use1-euw1/quotaRps", "1000"),
            One("type_mismatch", "/spec/topology/bridges/use1-euw1/quotaRps"));
}

// maxConcurrentRequests as a fractional number is type_mismatch.
TEST(DecodeTypeMismatchTest, MaxConcurrentRequestsFraction) {
  EXPECT_EQ(SnapshotWith("/spec/dispatcher/maxConcurrentRequests", 10.5),
            One("type_mismatch", "/spec/dispatcher/maxConcurrentRequests"));
}

// apiVersion that is not a string is type_mismatch.
TEST(DecodeTypeMismatchTest, ApiVersionNotString) {
  EXPECT_EQ(SnapshotWith("/apiVersion", 1), One("type_mismatch", "/apiVersion"));
}

// A Snapshot's version given as a string is type_mismatch.
TEST(DecodeTypeMismatchTest, VersionString) {
  EXPECT_EQ(SnapshotWith("/metadata/version", "42"), One("type_mismatch", "/metadata/version"));
}

// createdAt given as a number is type_mismatch.
TEST(DecodeTypeMismatchTest, TimestampNumber) {
  EXPECT_EQ(SnapshotWith("/metadata/createdAt", 0), One("type_mismatch", "/metadata/createdAt"));
}

// scopeChain given as a comma-separated string is type_mismatch.
TEST(DecodeTypeMismatchTest, ScopeChainString) {
  EXPECT_EQ(SnapshotWith("/metadata/scopeChain", "global,region:us-east"),
            One("type_mismatch", "/metadata/scopeChain"));
}

// A layer scope that is not a string is type_mismatch.
TEST(DecodeTypeMismatchTest, LayerScopeNotString) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/scope", 1)),
            One("type_mismatch", "/metadata/scope"));
}

// ---- missing_field --------------------------------------------------------

class MissingFieldTest : public ::testing::TestWithParam<PointerCase> {};

// Removing a required field of a Snapshot is missing_field at that field's pointer.
TEST_P(MissingFieldTest, ReportedAtTheField) {
  EXPECT_EQ(SnapshotProblems(Without(SnapshotDoc(), GetParam().pointer)),
            One("missing_field", GetParam().pointer));
}

INSTANTIATE_TEST_SUITE_P(
    EveryRequiredField, MissingFieldTest,
    ::testing::Values(PointerCase{"apiVersion", "/apiVersion"}, PointerCase{"kind", "/kind"},
                      PointerCase{"metadata", "/metadata"}, PointerCase{"spec", "/spec"},
                      PointerCase{"version", "/metadata/version"},
                      PointerCase{"scopeChain", "/metadata/scopeChain"},
                      PointerCase{"createdAt", "/metadata/createdAt"},
                      PointerCase{"expiresAt", "/metadata/expiresAt"},
                      PointerCase{"cluster_service", "/spec/clusters/auth-v1/service"},
                      PointerCase{"route_service", "/spec/routes/auth/service"},
                      PointerCase{"route_weights", "/spec/routes/auth/weights"},
                      PointerCase{"shadow_cluster", "/spec/routes/billing/shadow/cluster"},
                      PointerCase{"shadow_percent", "/spec/routes/billing/shadow/percent"},
                      PointerCase{"region_cells", "/spec/topology/regions/us-east/cells"},
                      PointerCase{"bridge_cells", "/spec/topology/bridges/use1-euw1/cells"},
                      PointerCase{"bridge_quotaRps", "/spec/topology/bridges/use1-euw1/quotaRps"}),
    CaseName);

// A layer without metadata.scope is missing_field.
TEST(DecodeMissingFieldTest, LayerScope) {
  EXPECT_EQ(LayerProblems(Without(ValidLayerDoc(), "/metadata/scope")),
            One("missing_field", "/metadata/scope"));
}

// A layer without spec is missing_field.
TEST(DecodeMissingFieldTest, LayerSpec) {
  EXPECT_EQ(LayerProblems(Without(ValidLayerDoc(), "/spec")), One("missing_field", "/spec"));
}

// An empty object misses all four top-level fields, each reported.
TEST(DecodeMissingFieldTest, EmptyObjectMissesEverything) {
  EXPECT_EQ(Problems(DecodeSnapshot("{}")),
            (Strings{"missing_field /apiVersion", "missing_field /kind", "missing_field /metadata",
                     "missing_field /spec"}));
}

class OptionalFieldTest : public ::testing::TestWithParam<PointerCase> {};

// An optional field may be left out of a Snapshot.
TEST_P(OptionalFieldTest, MayBeOmitted) {
  EXPECT_EQ(SnapshotProblems(Without(SnapshotDoc(), GetParam().pointer)), Strings{});
}

INSTANTIATE_TEST_SUITE_P(
    EveryOptionalField, OptionalFieldTest,
    ::testing::Values(
        PointerCase{"author", "/metadata/author"}, PointerCase{"clusters", "/spec/clusters"},
        PointerCase{"routes", "/spec/routes"}, PointerCase{"dispatcher", "/spec/dispatcher"},
        PointerCase{"topology", "/spec/topology"}, PointerCase{"security", "/spec/security"},
        PointerCase{"cluster_region", "/spec/clusters/billing-v1/region"},
        PointerCase{"cluster_cell", "/spec/clusters/billing-v1/cell"},
        PointerCase{"cluster_failover", "/spec/clusters/billing-v1/failover"},
        PointerCase{"cluster_timeoutMs", "/spec/clusters/billing-v1/timeoutMs"},
        PointerCase{"route_procedure", "/spec/routes/billing/procedure"},
        PointerCase{"route_shadow", "/spec/routes/billing/shadow"},
        PointerCase{"bridge_exportServices", "/spec/topology/bridges/use1-euw1/exportServices"},
        PointerCase{"bridge_denyServices", "/spec/topology/bridges/use1-euw1/denyServices"},
        PointerCase{"regions", "/spec/topology/regions"},
        PointerCase{"bridges", "/spec/topology/bridges"},
        PointerCase{"maxConcurrentRequests", "/spec/dispatcher/maxConcurrentRequests"},
        PointerCase{"jwksUri", "/spec/security/jwksUri"}),
    CaseName);

// ---- invalid_name -----------------------------------------------------------

// A cluster map key with uppercase is invalid_name at the key.
TEST(DecodeInvalidNameTest, ClusterKeyUppercase) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/Billing", R"({"service":"billing"})"_json),
            One("invalid_name", "/spec/clusters/Billing"));
}

// A route map key with '_' is invalid_name at the key.
TEST(DecodeInvalidNameTest, RouteKeyUnderscore) {
  EXPECT_EQ(
      SnapshotWith("/spec/routes/a_b", R"({"service":"auth","weights":{"auth-v1":100}})"_json),
      One("invalid_name", "/spec/routes/a_b"));
}

// A weights key (a cluster name) with uppercase is invalid_name.
TEST(DecodeInvalidNameTest, WeightKey) {
  EXPECT_EQ(SnapshotWith("/spec/routes/auth/weights", R"({"Auth-V1":100})"_json),
            One("invalid_name", "/spec/routes/auth/weights/Auth-V1"));
}

// A region map key ending in '-' is invalid_name.
TEST(DecodeInvalidNameTest, RegionKey) {
  EXPECT_EQ(SnapshotWith("/spec/topology/regions/ap-", R"({"cells":[]})"_json),
            One("invalid_name", "/spec/topology/regions/ap-"));
}

// A bridge map key with a '.' is invalid_name.
TEST(DecodeInvalidNameTest, BridgeKey) {
  EXPECT_EQ(SnapshotWith("/spec/topology/bridges/a.b", R"({"cells":[],"quotaRps":1})"_json),
            One("invalid_name", "/spec/topology/bridges/a.b"));
}

// The empty key is invalid_name, at the pointer ending in an empty token.
TEST(DecodeInvalidNameTest, EmptyKey) {
  EXPECT_EQ(SpecProblems(R"({"clusters":{"":{"service":"auth"}}})"_json),
            One("invalid_name", "/spec/clusters/"));
}

// A 64-character key is invalid_name; 63 characters is fine.
TEST(DecodeInvalidNameTest, KeyLength) {
  const std::string ok(63, 'c'), too_long(64, 'c');
  EXPECT_EQ(SpecProblems(With(Json::object(), "/clusters/" + ok, R"({"service":"a"})"_json)),
            Strings{});
  EXPECT_EQ(SpecProblems(With(Json::object(), "/clusters/" + too_long, R"({"service":"a"})"_json)),
            One("invalid_name", "/spec/clusters/" + too_long));
}

// A cluster's service value is a name: "Billing" is invalid_name.
TEST(DecodeInvalidNameTest, ServiceValue) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/service", "Billing"),
            One("invalid_name", "/spec/clusters/billing-v1/service"));
}

// A route's service value is a name.
TEST(DecodeInvalidNameTest, RouteServiceValue) {
  EXPECT_EQ(SnapshotWith("/spec/routes/auth/service", "a_b"),
            One("invalid_name", "/spec/routes/auth/service"));
}

// A cluster's region and cell values are names.
TEST(DecodeInvalidNameTest, RegionAndCellValues) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/region", "us_east"),
            One("invalid_name", "/spec/clusters/billing-v1/region"));
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/cell", "USE1-A"),
            One("invalid_name", "/spec/clusters/billing-v1/cell"));
}

// A failover entry is a cluster name, checked at its index.
TEST(DecodeInvalidNameTest, FailoverEntry) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/failover", Json::array({"billing-dr", "DR"})),
            One("invalid_name", "/spec/clusters/billing-v1/failover/1"));
}

// A shadow cluster is a name.
TEST(DecodeInvalidNameTest, ShadowCluster) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/cluster", "-dr"),
            One("invalid_name", "/spec/routes/billing/shadow/cluster"));
}

// A region's cells are names.
TEST(DecodeInvalidNameTest, RegionCell) {
  EXPECT_EQ(SnapshotWith("/spec/topology/regions/us-east/cells", Json::array({"use1_a"})),
            One("invalid_name", "/spec/topology/regions/us-east/cells/0"));
}

// A bridge's cells, exportServices and denyServices entries are names.
TEST(DecodeInvalidNameTest, BridgeLists) {
  const std::string b = "/spec/topology/bridges/use1-euw1";
  EXPECT_EQ(SnapshotWith(b + "/cells", Json::array({"use1-a", "Euw1-a"})),
            One("invalid_name", b + "/cells/1"));
  EXPECT_EQ(SnapshotWith(b + "/exportServices", Json::array({"Auth"})),
            One("invalid_name", b + "/exportServices/0"));
  EXPECT_EQ(SnapshotWith(b + "/denyServices", Json::array({"led ger"})),
            One("invalid_name", b + "/denyServices/0"));
}

// ---- out_of_range -----------------------------------------------------------

// A weight over 100 is out_of_range.
TEST(DecodeOutOfRangeTest, WeightOver100) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/weights/billing-v1", 101),
            One("out_of_range", "/spec/routes/billing/weights/billing-v1"));
}

// A negative weight is out_of_range.
TEST(DecodeOutOfRangeTest, NegativeWeight) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/weights/billing-v1", -1),
            One("out_of_range", "/spec/routes/billing/weights/billing-v1"));
}

// Weights 0 and 100 are in range.
TEST(DecodeOutOfRangeTest, WeightBounds) {
  auto spec = DecodeSpec(R"({"routes":{"r":{"service":"s","weights":{"a":0,"b":100}}}})", {});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->routes.at(0).value.weights, (std::vector<RouteWeight>{{"a", 0}, {"b", 100}}));
}

// An integer beyond int64 is out_of_range, not wrapped.
TEST(DecodeOutOfRangeTest, WeightBeyondInt64) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/weights/billing-v1",
                         std::numeric_limits<std::uint64_t>::max()),
            One("out_of_range", "/spec/routes/billing/weights/billing-v1"));
}

// timeoutMs 0 is out_of_range.
TEST(DecodeOutOfRangeTest, TimeoutZero) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/timeoutMs", 0),
            One("out_of_range", "/spec/clusters/billing-v1/timeoutMs"));
}

// timeoutMs is capped at one hour (3,600,000 ms).
TEST(DecodeOutOfRangeTest, TimeoutUpperBound) {
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/timeoutMs", 3'600'000), Strings{});
  EXPECT_EQ(SnapshotWith("/spec/clusters/billing-v1/timeoutMs", 3'600'001),
            One("out_of_range", "/spec/clusters/billing-v1/timeoutMs"));
}

// A percent over 100 (100.01) is out_of_range.
TEST(DecodeOutOfRangeTest, PercentOver100) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/percent", 100.01),
            One("out_of_range", "/spec/routes/billing/shadow/percent"));
}

// A negative percent is out_of_range.
TEST(DecodeOutOfRangeTest, NegativePercent) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/percent", -1),
            One("out_of_range", "/spec/routes/billing/shadow/percent"));
}

// A percent with three decimals (5.123) is out_of_range.
TEST(DecodeOutOfRangeTest, PercentThreeDecimals) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/percent", 5.123),
            One("out_of_range", "/spec/routes/billing/shadow/percent"));
}

// A percent with more than two decimals is out_of_range, however small the excess.
TEST(DecodeOutOfRangeTest, PercentTinyExcessDecimals) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/percent", 12.340000001),
            One("out_of_range", "/spec/routes/billing/shadow/percent"));
}

// A huge integer percent is out_of_range.
TEST(DecodeOutOfRangeTest, PercentBeyondInt64) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/shadow/percent",
                         std::numeric_limits<std::uint64_t>::max()),
            One("out_of_range", "/spec/routes/billing/shadow/percent"));
}

// Percents with up to two decimals convert exactly to basis points.
TEST(DecodeOutOfRangeTest, PercentToBasisPoints) {
  const std::vector<std::pair<Json, std::uint32_t>> cases = {
      {0, 0}, {100, 10000}, {12.5, 1250}, {12.34, 1234}, {0.29, 29}, {0.01, 1}, {99.99, 9999}};
  for (const auto& [percent, bp] : cases) {
    auto spec = DecodeSpec(With(ValidSpecJson(), "/routes/billing/shadow/percent", percent).dump(),
                           {"shadowing"});
    ASSERT_TRUE(spec.ok()) << percent << ": " << spec.status().ToString();
    EXPECT_EQ(testdocs::Entry(spec->routes, "billing").shadow->basis_points, bp) << percent;
  }
}

// maxConcurrentRequests 0 is out_of_range; 1 is the least allowed.
TEST(DecodeOutOfRangeTest, MaxConcurrentRequestsZero) {
  EXPECT_EQ(SnapshotWith("/spec/dispatcher/maxConcurrentRequests", 0),
            One("out_of_range", "/spec/dispatcher/maxConcurrentRequests"));
  EXPECT_EQ(SnapshotWith("/spec/dispatcher/maxConcurrentRequests", 1), Strings{});
}

// maxConcurrentRequests over 10,000,000 is out_of_range.
TEST(DecodeOutOfRangeTest, MaxConcurrentRequestsUpperBound) {
  EXPECT_EQ(SnapshotWith("/spec/dispatcher/maxConcurrentRequests", 10'000'001),
            One("out_of_range", "/spec/dispatcher/maxConcurrentRequests"));
}

// A jwksUri over plain http:// is out_of_range.
TEST(DecodeOutOfRangeTest, JwksUriHttp) {
  EXPECT_EQ(SnapshotWith("/spec/security/jwksUri", "http://idp.example/jwks.json"),
            One("out_of_range", "/spec/security/jwksUri"));
}

// A jwksUri of just "https://" is out_of_range.
TEST(DecodeOutOfRangeTest, JwksUriWithoutHost) {
  EXPECT_EQ(SnapshotWith("/spec/security/jwksUri", "https://"),
            One("out_of_range", "/spec/security/jwksUri"));
}

// A jwksUri over 2048 bytes is out_of_range.
TEST(DecodeOutOfRangeTest, JwksUriTooLong) {
  EXPECT_EQ(SnapshotWith("/spec/security/jwksUri", "https://" + std::string(2041, 'a')),
            One("out_of_range", "/spec/security/jwksUri"));
  EXPECT_EQ(SnapshotWith("/spec/security/jwksUri", "https://" + std::string(2040, 'a')), Strings{});
}

// An apiVersion other than omnirelay.config/v1 is out_of_range.
TEST(DecodeOutOfRangeTest, WrongApiVersion) {
  EXPECT_EQ(SnapshotWith("/apiVersion", "omnirelay.config/v2"), One("out_of_range", "/apiVersion"));
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/apiVersion", "v1")),
            One("out_of_range", "/apiVersion"));
}

// A Snapshot document declaring another kind is out_of_range at /kind.
TEST(DecodeOutOfRangeTest, SnapshotWrongKind) {
  EXPECT_EQ(SnapshotWith("/kind", "ConfigLayer"), One("out_of_range", "/kind"));
}

// A layer document declaring another kind is out_of_range at /kind.
TEST(DecodeOutOfRangeTest, LayerWrongKind) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/kind", "Snapshot")),
            One("out_of_range", "/kind"));
}

// expiresAt before createdAt is out_of_range at expiresAt.
TEST(DecodeOutOfRangeTest, ExpiresBeforeCreated) {
  EXPECT_EQ(SnapshotWith("/metadata/expiresAt", "2026-11-27T07:31:48Z"),
            One("out_of_range", "/metadata/expiresAt"));
}

// expiresAt equal to createdAt is allowed.
TEST(DecodeOutOfRangeTest, ExpiresEqualCreated) {
  EXPECT_EQ(SnapshotWith("/metadata/expiresAt", "2026-11-27T07:31:49Z"), Strings{});
}

// A timestamp that is not RFC 3339 UTC is out_of_range.
TEST(DecodeOutOfRangeTest, BadTimestamp) {
  EXPECT_EQ(SnapshotWith("/metadata/createdAt", "yesterday"),
            One("out_of_range", "/metadata/createdAt"));
}

// An unparseable expiresAt gives one diagnostic, not also "before createdAt".
TEST(DecodeOutOfRangeTest, BadExpiresAtReportedOnce) {
  EXPECT_EQ(SnapshotWith("/metadata/expiresAt", "tomorrow"),
            One("out_of_range", "/metadata/expiresAt"));
}

// A negative version is out_of_range.
TEST(DecodeOutOfRangeTest, NegativeVersion) {
  EXPECT_EQ(SnapshotWith("/metadata/version", -1), One("out_of_range", "/metadata/version"));
}

// An empty procedure is out_of_range ("*" means all).
TEST(DecodeOutOfRangeTest, EmptyProcedure) {
  EXPECT_EQ(SnapshotWith("/spec/routes/billing/procedure", ""),
            One("out_of_range", "/spec/routes/billing/procedure"));
}

// author is free text of at most 256 bytes.
TEST(DecodeOutOfRangeTest, AuthorLength) {
  EXPECT_EQ(SnapshotWith("/metadata/author", std::string(256, 'a')), Strings{});
  EXPECT_EQ(SnapshotWith("/metadata/author", std::string(257, 'a')),
            One("out_of_range", "/metadata/author"));
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/author", std::string(257, 'a'))),
            One("out_of_range", "/metadata/author"));
}

// ---- unknown_feature, invalid_scope ---------------------------------------

// A layer feature this build does not know is unknown_feature at its index.
TEST(DecodeUnknownFeatureTest, LayerFeature) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/features",
                               Json::array({"shadowing", "teleport"}))),
            One("unknown_feature", "/metadata/features/1"));
}

// A required feature this build does not know is unknown_feature at its index.
TEST(DecodeUnknownFeatureTest, RequiredFeature) {
  EXPECT_EQ(SnapshotWith("/metadata/requiredFeatures", Json::array({"shadowing", "teleport"})),
            One("unknown_feature", "/metadata/requiredFeatures/1"));
}

// Feature names are case-sensitive.
TEST(DecodeUnknownFeatureTest, CaseSensitive) {
  EXPECT_TRUE(IsKnownFeature("shadowing"));
  EXPECT_FALSE(IsKnownFeature("Shadowing"));
  EXPECT_FALSE(IsKnownFeature(""));
}

// A layer scope that is not a scope is invalid_scope.
TEST(DecodeInvalidScopeTest, LayerScope) {
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/scope", "planet:earth")),
            One("invalid_scope", "/metadata/scope"));
  EXPECT_EQ(LayerProblems(With(ValidLayerDoc(), "/metadata/scope", "region:US")),
            One("invalid_scope", "/metadata/scope"));
}

// Every valid scope level is accepted as a layer scope.
TEST(DecodeInvalidScopeTest, EveryLevelAccepted) {
  for (const char* scope :
       {"global", "region:us-east", "cell:use1-a", "cluster:billing-v1", "node:n-1.x"}) {
    EXPECT_TRUE(ParseLayer(MinimalLayerJson(scope)).ok()) << scope;
  }
}

// An invalid entry of scopeChain is invalid_scope at its index.
TEST(DecodeInvalidScopeTest, ChainEntry) {
  EXPECT_EQ(SnapshotWith("/metadata/scopeChain", Json::array({"global", "planet:x"})),
            One("invalid_scope", "/metadata/scopeChain/1"));
}

// A scopeChain out of precedence order is invalid_scope at the chain.
TEST(DecodeInvalidScopeTest, ChainOrder) {
  EXPECT_EQ(SnapshotWith("/metadata/scopeChain", Json::array({"region:us-east", "global"})),
            One("invalid_scope", "/metadata/scopeChain"));
}

// An empty scopeChain is invalid_scope.
TEST(DecodeInvalidScopeTest, EmptyChain) {
  EXPECT_EQ(SnapshotWith("/metadata/scopeChain", Json::array()),
            One("invalid_scope", "/metadata/scopeChain"));
}

// ---- decoded values -------------------------------------------------------

// A valid spec decodes to the expected model, names in document order.
TEST(DecodeModelTest, SpecDecodesToModel) {
  auto spec = DecodeSpec(ValidSpecJson().dump(), {"shadowing"});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(*spec, testdocs::ValidSpec());
}

// Named entries keep the order the document lists them in.
TEST(DecodeModelTest, DocumentOrderKept) {
  auto spec = DecodeSpec(R"({"clusters":{"zz":{"service":"s"},"aa":{"service":"s"}}})", {});
  ASSERT_TRUE(spec.ok());
  ASSERT_EQ(spec->clusters.size(), 2u);
  EXPECT_EQ(spec->clusters[0].name, "zz");
  EXPECT_EQ(spec->clusters[1].name, "aa");
}

// Omitted optional values take their documented defaults.
TEST(DecodeModelTest, Defaults) {
  auto spec = DecodeSpec(
      R"({"clusters":{"c":{"service":"s"}},"routes":{"r":{"service":"s","weights":{"c":100}}}})",
      {});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->clusters[0].value, testdocs::MakeCluster("s"));
  EXPECT_EQ(spec->routes[0].value.procedure, "*");
  EXPECT_FALSE(spec->routes[0].value.shadow.has_value());
  EXPECT_FALSE(spec->dispatcher.max_concurrent_requests.has_value());
  EXPECT_EQ(spec->security.jwks_uri, "");
}

// An empty spec object is a valid (empty) spec.
TEST(DecodeModelTest, EmptySpec) {
  auto spec = DecodeSpec("{}", {});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(*spec, Spec{});
}

// DecodeSpec roots its diagnostics at the given prefix.
TEST(DecodeModelTest, PointerPrefix) {
  auto spec = DecodeSpec(R"({"bogus":1})", {}, {}, "/effective");
  EXPECT_EQ(Problems(spec), One("unknown_field", "/effective/bogus"));
}

// DecodeSnapshot fills the metadata: version, chain, times, author, features.
TEST(DecodeModelTest, SnapshotMetadata) {
  auto snap = DecodeSnapshot(testdocs::ValidSnapshotJson());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->metadata.version, 42);
  EXPECT_EQ(snap->metadata.scope_chain,
            (Strings{"global", "region:us-east", "cell:use1-a", "node:n-1"}));
  EXPECT_EQ(snap->metadata.created_at, 1795764709);
  EXPECT_EQ(snap->metadata.expires_at, 1795764709 + 86400);
  EXPECT_EQ(snap->metadata.author, "controlplane");
  EXPECT_EQ(snap->metadata.required_features, Strings{"shadowing"});
  EXPECT_EQ(snap->spec, testdocs::ValidSpec());
}

// ParseLayer returns the checked metadata.
TEST(DecodeModelTest, LayerMetadata) {
  auto layer = ParseLayer(LayerDoc("region:eu-west", Json::object(), {"shadowing"}).dump());
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->metadata,
            (LayerMetadata{.scope = "region:eu-west", .author = "ops", .features = {"shadowing"}}));
}

// ParseLayer keeps the spec as canonical JSON: sorted keys, no whitespace.
TEST(DecodeModelTest, LayerSpecIsCanonical) {
  const std::string text =
      R"({ "apiVersion" : "omnirelay.config/v1", "kind": "ConfigLayer",
           "metadata": {"scope": "global"},
           "spec": { "routes": {"b": {"weights": {"z": 1, "a": 2}}}, "clusters": {} } })";
  auto layer = ParseLayer(text);
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->spec_json, R"({"clusters":{},"routes":{"b":{"weights":{"a":2,"z":1}}}})");
}

// A layer's spec is a merge patch: nulls are kept for the merge to delete with.
TEST(DecodeModelTest, LayerSpecKeepsNulls) {
  auto layer =
      ParseLayer(LayerDoc("region:eu-west", R"({"clusters":{"billing-v1":null}})"_json).dump());
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->spec_json, R"({"clusters":{"billing-v1":null}})");
}

// ParseLayer leaves the spec's schema to the merged result: a partial spec passes.
TEST(DecodeModelTest, LayerSpecNotSchemaChecked) {
  auto layer = ParseLayer(
      LayerDoc("cell:use1-a", R"({"clusters":{"billing-v1":{"timeoutMs":300}}})"_json).dump());
  EXPECT_TRUE(layer.ok()) << layer.status().ToString();
}

// PeekKind reads "kind" without checking the rest of the document.
TEST(PeekKindTest, ReadsKindOnly) {
  auto kind = PeekKind(R"({"bogus":true,"kind":"Snapshot"})");
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(*kind, "Snapshot");
}

// PeekKind without "kind" is missing_field at /kind.
TEST(PeekKindTest, MissingKind) {
  EXPECT_EQ(Problems(PeekKind(R"({"apiVersion":"omnirelay.config/v1"})")),
            One("missing_field", "/kind"));
}

// PeekKind with a non-string kind is type_mismatch at /kind.
TEST(PeekKindTest, KindNotString) {
  EXPECT_EQ(Problems(PeekKind(R"({"kind":["Snapshot"]})")), One("type_mismatch", "/kind"));
}

// PeekKind of a non-object is type_mismatch at "".
TEST(PeekKindTest, NotObject) {
  EXPECT_EQ(Problems(PeekKind("42")), One("type_mismatch", ""));
}

// ---- RFC 3339 ---------------------------------------------------------------

// A UTC timestamp parses to unix seconds.
TEST(Rfc3339Test, ParsesUtc) {
  auto t = ParseRfc3339("2026-11-27T07:31:49Z");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t, 1795764709);
}

// The epoch parses to 0 and formats back.
TEST(Rfc3339Test, Epoch) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
}

// Formatting renders UTC with a 'Z' and no fraction.
TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(FormatRfc3339(1795764709), "2026-11-27T07:31:49Z");
}

// Parse(Format(t)) == t across eras, leap days included.
TEST(Rfc3339Test, RoundTrip) {
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{951782400},
                         std::int64_t{1795764709}, std::int64_t{4102444799}}) {
    auto back = ParseRfc3339(FormatRfc3339(t));
    ASSERT_TRUE(back.ok()) << t;
    EXPECT_EQ(*back, t);
  }
}

// Format(Parse(s)) == s for a canonical timestamp.
TEST(Rfc3339Test, TextRoundTrip) {
  const std::string s = "2000-02-29T23:59:59Z";
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339(s)), s);
}

// Fractional seconds are accepted and truncated to whole seconds.
TEST(Rfc3339Test, FractionalSeconds) {
  EXPECT_EQ(*ParseRfc3339("2026-11-27T07:31:49.5Z"), 1795764709);
  EXPECT_EQ(*ParseRfc3339("2026-11-27T07:31:49.999999999Z"), 1795764709);
}

// A '.' with no digits is rejected.
TEST(Rfc3339Test, EmptyFractionRejected) {
  EXPECT_FALSE(ParseRfc3339("2026-11-27T07:31:49.Z").ok());
}

// Lowercase 't' and 'z' are accepted (RFC 3339 §5.6 note).
TEST(Rfc3339Test, LowercaseSeparators) {
  EXPECT_EQ(*ParseRfc3339("2026-11-27t07:31:49z"), 1795764709);
}

// Offsets other than 'Z' are rejected: snapshots are written in UTC.
TEST(Rfc3339Test, NonUtcOffsetRejected) {
  auto t = ParseRfc3339("2026-11-27T08:31:49+01:00");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseRfc3339("2026-11-27T02:31:49-05:00").ok());
}

// A timestamp without any zone is rejected.
TEST(Rfc3339Test, MissingZoneRejected) {
  EXPECT_FALSE(ParseRfc3339("2026-11-27T07:31:49").ok());
}

// February 30 is not a real date.
TEST(Rfc3339Test, Feb30Rejected) {
  auto t = ParseRfc3339("2026-02-30T00:00:00Z");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
}

// February 29 exists only in leap years; April 31 never.
TEST(Rfc3339Test, LeapDays) {
  EXPECT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2023-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2100-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-04-31T00:00:00Z").ok());
}

// Fields out of their ranges are rejected.
TEST(Rfc3339Test, FieldRanges) {
  for (const char* s : {"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z",
                        "2026-01-32T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
                        "2026-01-01T00:00:61Z"}) {
    EXPECT_FALSE(ParseRfc3339(s).ok()) << s;
  }
}

// Garbage and near-misses are rejected.
TEST(Rfc3339Test, GarbageRejected) {
  for (const char* s : {"", "garbage", "2026-1-27T07:31:49Z", "2026-11-27", "2026/11/27T07:31:49Z",
                        "2026-11-27T07:31:49Zx", "2026-11-27T07:31:4aZ", "+2026-11-27T07:31:49Z"}) {
    EXPECT_FALSE(ParseRfc3339(s).ok()) << s;
  }
}

// Second 60 only exists as a leap second (23:59:60); 12:00:60 is not a time.
TEST(Rfc3339Test, SecondSixtyOutsideLeapSecondRejected) {
  EXPECT_FALSE(ParseRfc3339("2026-01-01T12:00:60Z").ok());
}

}  // namespace
}  // namespace omnirelay
