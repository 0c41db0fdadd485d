// Rotated artefacts through every face (api_cases.h): a write carrying a
// private key is refused (private_key_material, with its pointer) and never
// stored or audited with the key; a layer with artefacts is refused while a
// targeted node does not advertise "artefacts" (so no old node is ever sent
// one) and accepted for a node that does.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "api_cases.h"
#include "test_certificate.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

const Json& Errors(const Reply& r) {
  static const Json kNone = Json::array();
  if (r.body.contains("details") && r.body["details"].is_object()) {
    return r.body["details"]["errors"];
  }
  return r.body.contains("errors") ? r.body["errors"] : kNone;
}

// The global sample without its shadow, so nodes without "shadowing" take it.
std::string PlainGlobal() {
  Json doc = Json::parse(LayerDoc("global"));
  for (auto& [name, route] : doc["spec"]["routes"].items()) route.erase("shadow");
  doc["metadata"]["features"] = Json::array();
  return doc.dump();
}

// A layer at `scope` carrying a CA bundle and a leaf chain (with `extra_pem`
// appended to the chain), enabling "artefacts": only those for a node scope,
// PlainGlobal() with them for global.
std::string ArtefactLayer(const std::string& scope, const std::string& extra_pem = "") {
  static const auto cert = omnirelay::testing::MakeTestCertificate("billing", 1'924'992'000);
  Json doc = {{"apiVersion", "omnirelay.config/v1"}, {"kind", "ConfigLayer"}};
  if (scope == "global") doc = Json::parse(PlainGlobal());
  doc["metadata"] = {{"scope", scope}, {"author", "pki"}, {"features", {"artefacts"}}};
  doc["spec"]["security"]["caBundles"]["mesh"] = {{"pem", cert.cert_pem},
                                                  {"notAfter", "2030-06-01T00:00:00Z"}};
  doc["spec"]["security"]["certificates"]["billing"] = {{"chainPem", cert.cert_pem + extra_pem},
                                                        {"notAfter", "2030-06-01T00:00:00Z"}};
  return doc.dump();
}

std::string PrivateKey() {
  return omnirelay::testing::MakeTestCertificate("billing", 1'924'992'000).key_pem;
}

void RefusedPrivateKey(const Reply& r) {
  const Json& errors = Errors(r);
  ASSERT_EQ(errors.size(), 1u) << r.body.dump();
  EXPECT_EQ(errors[0]["code"], "private_key_material");
  EXPECT_EQ(errors[0]["path"], "/spec/security/certificates/billing/chainPem");
  EXPECT_EQ(r.body.dump().find("PRIVATE KEY-----"), std::string::npos) << "the key is echoed";
}

}  // namespace

void RunArtefactCases(Stack& stack, ApiClient& client) {
  const std::string admin = stack.Token({"admin"});
  for (const auto& [id, features] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"old-1", {}}, {"new-1", {"shadowing", "artefacts"}}}) {
    NodeRecord node;
    node.node_id = id;
    node.scope_chain = "global,node:" + id;  // so a node:<id> layer reaches it
    node.api_version = "omnirelay.config/v1";
    node.features = features;
    ASSERT_TRUE(stack.store().UpsertNode(node).ok());
  }
  const std::int64_t audit_before = LastAuditId(stack);
  const std::string with_key = ArtefactLayer("node:new-1", PrivateKey());

  Run(client, admin,
      {{"global at revision 1", {Op::kPutLayer, "global", PlainGlobal()}, StatusCode::kOk, ""},
       {"a write carrying a private key is refused at the key's pointer",
        {Op::kPutLayer, "node:new-1", with_key},
        StatusCode::kInvalid,
        "private_key_material",
        RefusedPrivateKey},
       {"its dry run is refused the same way",
        {Op::kPutLayer, "node:new-1", with_key, std::nullopt, /*dry_run=*/true},
        StatusCode::kInvalid,
        "private_key_material",
        RefusedPrivateKey},
       {"validate reports it",
        {Op::kValidate, "", with_key},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["valid"], false);
          EXPECT_EQ(r.body["errors"][0]["code"], "private_key_material");
          EXPECT_EQ(r.body["errors"][0]["path"], "/spec/security/certificates/billing/chainPem");
        }},
       {"nothing was stored", {Op::kGetLayer, "node:new-1"}, StatusCode::kNotFound, "not_found"},
       {"artefacts for every global node are refused: old-1 lacks the feature",
        {Op::kPutLayer, "global", ArtefactLayer("global")},
        StatusCode::kMissingFeature,
        "missing_feature",
        [](const Reply& r) {
          const std::string body = r.body.dump();
          EXPECT_NE(body.find("old-1"), std::string::npos) << body;
          EXPECT_EQ(body.find("new-1"), std::string::npos) << body;
        }},
       {"artefacts for the node that advertises the feature are written",
        {Op::kPutLayer, "node:new-1", ArtefactLayer("node:new-1")},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 2); }},
       {"its effective config carries them and needs the feature",
        {Op::kEffective, "global,node:new-1"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_TRUE(r.body["spec"]["security"]["caBundles"].contains("mesh")) << r.body.dump();
          EXPECT_EQ(r.body["features"], Json::array({"artefacts"})) << r.body.dump();
        }}});

  for (const AuditEntry& e : AuditSince(stack, audit_before)) {
    EXPECT_EQ(e.summary.find("PRIVATE KEY"), std::string::npos) << e.summary;
  }
}

}  // namespace omnirelay::cp::testing
