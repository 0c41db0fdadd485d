#include "omnirelay/config/document_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Entry;
using testdocs::Json;
using testdocs::LayerDoc;
using testdocs::ValidSpecJson;

using Strings = std::vector<std::string>;

// samples/layers of this source tree (OMNI_SAMPLES_DIR is set by CMake).
std::filesystem::path SamplesDir() {
  return std::filesystem::path(OMNI_SAMPLES_DIR) / "layers";
}

DocumentInput Sample(const std::string& file) {
  std::ifstream in(SamplesDir() / file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(in.good() || in.eof()) << "cannot read " << (SamplesDir() / file);
  return {file, text.str()};
}

// "source: code path" for each reported error.
Strings Errors(const DocumentSetReport& report) {
  Strings out;
  for (const auto& e : report.errors) {
    out.push_back(e.source + ": " + std::string(diag_code_name(e.diagnostic.code)) + " " +
                  e.diagnostic.path);
  }
  return out;
}

ParsedLayer Parsed(std::string spec_json, Strings features) {
  ParsedLayer layer;
  layer.metadata.scope = "global";
  layer.metadata.features = std::move(features);
  layer.spec_json = std::move(spec_json);
  return layer;
}

// ---- the samples --------------------------------------------------------------

// samples/layers/00-global.json validates on its own.
TEST(ValidateDocumentsTest, GlobalSampleAlone) {
  DocumentSetReport report = ValidateDocuments({Sample("00-global.json")});
  EXPECT_EQ(Errors(report), Strings{});
  ASSERT_TRUE(report.valid());
  ASSERT_TRUE(report.spec.has_value());
  EXPECT_EQ(report.spec->clusters.size(), 6u);
}

// The four sample layers merge in order into a valid spec.
TEST(ValidateDocumentsTest, AllSamplesInOrder) {
  DocumentSetReport report =
      ValidateDocuments({Sample("00-global.json"), Sample("10-region-eu-west.json"),
                         Sample("20-cell-euw1-a.json"), Sample("30-cluster-euw1-a-prod.json")});
  EXPECT_EQ(Errors(report), Strings{});
  ASSERT_TRUE(report.spec.has_value());
  Spec& spec = *report.spec;
  const Route& billing = Entry(spec.routes, "billing");
  EXPECT_EQ(billing.weights, (std::vector<RouteWeight>{{"billing-eu", 100}}));
  EXPECT_EQ(billing.shadow, (Shadow{"billing-dr", 1250}));
  EXPECT_EQ(Entry(spec.routes, "auth").weights, (std::vector<RouteWeight>{{"auth-eu", 100}}));
  EXPECT_EQ(Entry(spec.clusters, "billing-eu").timeout_ms, 350);
  EXPECT_EQ(spec.dispatcher.max_concurrent_requests, 400);
  EXPECT_EQ(Entry(spec.topology.bridges, "use1-euw1").quota_rps, 250);
}

// Files starting with the global layer form a chain by its topology: a
// cluster scope placed in another cell than the one given is
// scope_mismatch; one it does not place is unknown_scope.
TEST(ValidateDocumentsTest, SeveralFilesFollowTheGlobalTopology) {
  const DocumentInput use1_cell{"use1.json",
                                R"({"apiVersion": "omnirelay.config/v1", "kind": "ConfigLayer",
                      "metadata": {"scope": "cell:use1-a", "author": "t"}, "spec": {}})"};
  DocumentSetReport mismatch = ValidateDocuments(
      {Sample("00-global.json"), use1_cell, Sample("30-cluster-euw1-a-prod.json")});
  EXPECT_EQ(Errors(mismatch),
            Strings{"30-cluster-euw1-a-prod.json: scope_mismatch /metadata/scope"});
  const DocumentInput unplaced{"k.json",
                               R"({"apiVersion": "omnirelay.config/v1", "kind": "ConfigLayer",
                   "metadata": {"scope": "cluster:billing-eu", "author": "t"}, "spec": {}})"};
  DocumentSetReport unknown = ValidateDocuments({Sample("00-global.json"), unplaced});
  EXPECT_EQ(Errors(unknown), Strings{"k.json: unknown_scope /metadata/scope"});
  // A level without a file has no layer: global + cell is fine.
  EXPECT_EQ(Errors(ValidateDocuments({Sample("00-global.json"), Sample("20-cell-euw1-a.json")})),
            Strings{});
}

// Layers given out of precedence order are invalid_scope at /metadata/scope of the later file.
TEST(ValidateDocumentsTest, OutOfOrderLayers) {
  DocumentSetReport report = ValidateDocuments(
      {Sample("00-global.json"), Sample("20-cell-euw1-a.json"), Sample("10-region-eu-west.json")});
  EXPECT_FALSE(report.valid());
  EXPECT_EQ(Errors(report), Strings{"10-region-eu-west.json: invalid_scope /metadata/scope"});
  EXPECT_FALSE(report.spec.has_value());
}

// Two layers of the same level cannot both be in one chain.
TEST(ValidateDocumentsTest, SameLevelTwice) {
  DocumentSetReport report =
      ValidateDocuments({Sample("00-global.json"),
                         Sample("10-region-eu-west.json"),
                         {"us.json", testdocs::MinimalLayerJson("region:us-east")}});
  EXPECT_EQ(Errors(report), Strings{"us.json: invalid_scope /metadata/scope"});
}

// A Snapshot cannot be merged with layers: it is refused at /kind.
TEST(ValidateDocumentsTest, SnapshotPlusLayer) {
  DocumentSetReport report = ValidateDocuments(
      {{"snap.json", testdocs::ValidSnapshotJson()}, {"layer.json", testdocs::ValidLayerJson()}});
  EXPECT_FALSE(report.valid());
  EXPECT_EQ(Errors(report), Strings{"snap.json: out_of_range /kind"});
}

// A single Snapshot validates on its own.
TEST(ValidateDocumentsTest, SingleSnapshot) {
  DocumentSetReport report = ValidateDocuments({{"snap.json", testdocs::ValidSnapshotJson()}});
  EXPECT_EQ(Errors(report), Strings{});
  ASSERT_TRUE(report.spec.has_value());
  EXPECT_EQ(*report.spec, testdocs::ValidSpec());
}

// A single invalid Snapshot reports its problems under its source.
TEST(ValidateDocumentsTest, SingleInvalidSnapshot) {
  Json doc = testdocs::SnapshotDoc();
  doc["spec"]["topology"]["bridges"]["use1-euw1"]["quotaRps"] = 0;
  DocumentSetReport report = ValidateDocuments({{"snap.json", doc.dump()}});
  EXPECT_EQ(Errors(report),
            Strings{"snap.json: bridge_invalid /spec/topology/bridges/use1-euw1/quotaRps"});
  EXPECT_FALSE(report.spec.has_value());
}

// A single valid layer validates; its spec is the layer's spec.
TEST(ValidateDocumentsTest, SingleLayer) {
  DocumentSetReport report = ValidateDocuments({{"-", testdocs::ValidLayerJson()}});
  EXPECT_EQ(Errors(report), Strings{});
  ASSERT_TRUE(report.spec.has_value());
  EXPECT_EQ(*report.spec, testdocs::ValidSpec());
}

// A layer with a shadow but without "shadowing" in metadata.features is unknown_field.
TEST(ValidateDocumentsTest, ShadowWithoutFeature) {
  DocumentSetReport report =
      ValidateDocuments({{"g.json", LayerDoc("global", ValidSpecJson()).dump()}});
  EXPECT_EQ(Errors(report), Strings{"g.json: unknown_field /spec/routes/billing/shadow"});
}

// A feature enabled by an earlier layer also gates a later layer's fields.
TEST(ValidateDocumentsTest, FeatureFromEarlierLayer) {
  Json spec = ValidSpecJson();
  spec["routes"]["billing"].erase("shadow");
  const Json shadow =
      R"({"routes":{"billing":{"shadow":{"cluster":"billing-dr","percent":1}}}})"_json;
  DocumentSetReport report =
      ValidateDocuments({{"g.json", LayerDoc("global", spec, {"shadowing"}).dump()},
                         {"r.json", LayerDoc("region:us-east", shadow).dump()}});
  EXPECT_EQ(Errors(report), Strings{});
}

// ---- attribution ------------------------------------------------------------

// A dangling weight added by the second layer is attributed to the second input.
TEST(ValidateDocumentsTest, AttributedToLayerThatAddsTheProblem) {
  const Json patch = R"({"routes":{"billing":{"weights":{"billing-v1":80,"billing-v3":10}}}})"_json;
  DocumentSetReport report =
      ValidateDocuments({{"global.json", testdocs::ValidLayerJson()},
                         {"region.json", LayerDoc("region:us-east", patch).dump()}});
  EXPECT_EQ(Errors(report),
            Strings{"region.json: dangling_cluster /spec/routes/billing/weights/billing-v3"});
}

// A problem only the first layer defines stays attributed to the first input.
TEST(ValidateDocumentsTest, AttributedToFirstLayer) {
  Json spec = ValidSpecJson();
  spec["clusters"]["billing-v1"]["failover"] = Json::array({"billing-zz"});
  const Json patch = R"({"dispatcher":{"maxConcurrentRequests":5}})"_json;
  DocumentSetReport report =
      ValidateDocuments({{"global.json", LayerDoc("global", spec, {"shadowing"}).dump()},
                         {"region.json", LayerDoc("region:us-east", patch).dump()}});
  EXPECT_EQ(Errors(report),
            Strings{"global.json: dangling_cluster /spec/clusters/billing-v1/failover/0"});
}

// When both layers define the offending path, the more specific (later) one is blamed.
TEST(ValidateDocumentsTest, TiesGoToTheLaterLayer) {
  const Json patch = R"({"routes":{"billing":{"weights":{"billing-v1":85}}}})"_json;
  DocumentSetReport report =
      ValidateDocuments({{"global.json", testdocs::ValidLayerJson()},
                         {"cell.json", LayerDoc("cell:use1-a", patch).dump()}});
  EXPECT_EQ(Errors(report), Strings{"cell.json: weights_sum /spec/routes/billing/weights"});
}

// A later layer deleting a required field with null is blamed for its absence.
TEST(ValidateDocumentsTest, DeletionAttributedToDeletingLayer) {
  const Json patch = R"({"clusters":{"auth-v1":{"service":null}}})"_json;
  DocumentSetReport report =
      ValidateDocuments({{"global.json", testdocs::ValidLayerJson()},
                         {"cell.json", LayerDoc("cell:use1-a", patch).dump()}});
  EXPECT_EQ(Errors(report), Strings{"cell.json: missing_field /spec/clusters/auth-v1/service"});
}

// A schema problem in the merged spec is attributed to the layer that wrote it.
TEST(ValidateDocumentsTest, SchemaProblemAttributed) {
  const Json patch = R"({"clusters":{"billing-v1":{"timeoutMs":"fast"}}})"_json;
  DocumentSetReport report =
      ValidateDocuments({{"global.json", testdocs::ValidLayerJson()},
                         {"cell.json", LayerDoc("cell:use1-a", patch).dump()}});
  EXPECT_EQ(Errors(report),
            Strings{"cell.json: type_mismatch /spec/clusters/billing-v1/timeoutMs"});
}

// A problem in one layer's own header is reported under that layer.
TEST(ValidateDocumentsTest, LayerHeaderProblem) {
  Json bad = LayerDoc("region:us-east");
  bad["metadata"]["features"] = Json::array({"teleport"});
  DocumentSetReport report =
      ValidateDocuments({{"global.json", testdocs::ValidLayerJson()}, {"bad.json", bad.dump()}});
  EXPECT_EQ(Errors(report), Strings{"bad.json: unknown_feature /metadata/features/0"});
}

// An input that is not JSON is parse_error under its own source.
TEST(ValidateDocumentsTest, NotJsonInput) {
  DocumentSetReport report = ValidateDocuments(
      {{"global.json", testdocs::ValidLayerJson()}, {"broken.json", "{\"kind\": "}});
  EXPECT_EQ(Errors(report), Strings{"broken.json: parse_error "});
}

// ---- MergeLayers --------------------------------------------------------------

// MergeLayers unions the layers' features in first-seen order, without repeats.
TEST(MergeLayersTest, UnionsFeatures) {
  auto merged = MergeLayers({Parsed("{}", {"b", "a"}), Parsed("{}", {}), Parsed("{}", {"a", "c"})});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(merged->features, (Strings{"b", "a", "c"}));
}

// MergeLayers merges the specs in order into canonical JSON.
TEST(MergeLayersTest, MergesSpecsInOrder) {
  auto merged = MergeLayers({Parsed(R"({"dispatcher":{"maxConcurrentRequests":1000}})", {}),
                             Parsed(R"({"dispatcher":{"maxConcurrentRequests":400}})", {})});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(merged->spec_json, R"({"dispatcher":{"maxConcurrentRequests":400}})");
}

// No layers merge to an empty spec with no features.
TEST(MergeLayersTest, NoLayers) {
  auto merged = MergeLayers({});
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->spec_json, "{}");
  EXPECT_TRUE(merged->features.empty());
}

// A layer whose spec_json is not JSON fails the merge.
TEST(MergeLayersTest, InvalidSpecJson) {
  auto merged = MergeLayers({Parsed("{", {})});
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().code(), StatusCode::kInvalid);
}

// Validating no documents at all is an error, not a vacuous success.
TEST(DocumentSetTest, NoInputsIsAnError) {
  EXPECT_FALSE(ValidateDocuments({}).valid());
}

}  // namespace
}  // namespace omnirelay
